//! Messages written by hand rather than generated: `p4.v1.Replica`.
//!
//! Its `port_kind` oneof has fields 1 and 3 around the plain field 2. The
//! generated code would encode a oneof as one block, giving 3 before 2, while
//! the reference protobuf implementations encode strictly by field number.
//! Both decode the same, but byte-for-byte equality with other
//! implementations needs field-number order, which this impl keeps.

use prost::bytes::{Buf, BufMut};
use prost::encoding::{bytes, skip_field, uint32, DecodeContext, WireType};
use prost::DecodeError;

/// One copy made by a multicast group or a clone session: the egress port
/// and an instance number that tells copies to the same port apart.
#[derive(Clone, PartialEq, Eq, Default, Debug)]
pub struct Replica {
    pub instance: u32,
    pub port_kind: Option<replica::PortKind>,
}

pub mod replica {
    /// How the egress port is given.
    #[derive(Clone, PartialEq, Eq, Debug)]
    pub enum PortKind {
        /// Field 1, deprecated in favour of `Port`.
        EgressPort(u32),
        /// Field 3: the port as a canonical byte string.
        Port(Vec<u8>),
    }
}

use replica::PortKind;

impl prost::Message for Replica {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if let Some(PortKind::EgressPort(port)) = &self.port_kind {
            uint32::encode(1, port, buf);
        }
        if self.instance != 0 {
            uint32::encode(2, &self.instance, buf);
        }
        if let Some(PortKind::Port(port)) = &self.port_kind {
            bytes::encode(3, port, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => {
                let mut port = match self.port_kind {
                    Some(PortKind::EgressPort(port)) => port,
                    _ => 0,
                };
                uint32::merge(wire_type, &mut port, buf, ctx)?;
                self.port_kind = Some(PortKind::EgressPort(port));
                Ok(())
            }
            2 => uint32::merge(wire_type, &mut self.instance, buf, ctx),
            3 => {
                let mut port = match self.port_kind.take() {
                    Some(PortKind::Port(port)) => port,
                    _ => Vec::new(),
                };
                bytes::merge(wire_type, &mut port, buf, ctx)?;
                self.port_kind = Some(PortKind::Port(port));
                Ok(())
            }
            _ => skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let port_len = match &self.port_kind {
            Some(PortKind::EgressPort(port)) => uint32::encoded_len(1, port),
            Some(PortKind::Port(port)) => bytes::encoded_len(3, port),
            None => 0,
        };
        let instance_len = if self.instance != 0 {
            uint32::encoded_len(2, &self.instance)
        } else {
            0
        };
        port_len + instance_len
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

impl prost::Name for Replica {
    const NAME: &'static str = "Replica";
    const PACKAGE: &'static str = "p4.v1";

    fn full_name() -> String {
        "p4.v1.Replica".into()
    }

    fn type_url() -> String {
        "type.googleapis.com/p4.v1.Replica".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn fields_are_encoded_in_number_order_and_decode_back() {
        let replica = Replica {
            instance: 2,
            port_kind: Some(PortKind::Port(vec![7])),
        };
        let wire = replica.encode_to_vec();
        // Field 2 (varint 2), then field 3 (one byte 7).
        assert_eq!(wire, vec![0x10, 0x02, 0x1a, 0x01, 0x07]);
        assert_eq!(Replica::decode(wire.as_slice()), Ok(replica));

        let old = Replica {
            instance: 0,
            port_kind: Some(PortKind::EgressPort(300)),
        };
        let wire = old.encode_to_vec();
        assert_eq!(wire.len(), old.encoded_len());
        assert_eq!(Replica::decode(wire.as_slice()), Ok(old));
    }
}
