//! The CPU port's controller headers, as `simple_switch_grpc` handles them.
//!
//! A program that talks to its controller declares two headers (in P4,
//! with `@controller_header("packet_in")` and `@controller_header("packet_out")`).
//! A packet the pipeline sends to the CPU port starts with the
//! `packet_in` header: its fields become the P4Runtime `PacketIn`
//! metadata and are stripped from the payload. A `PacketOut` from the
//! controller is turned the other way: its metadata is packed into a
//! `packet_out` header put in front of the payload, and the result enters
//! the pipeline on the CPU port.
//!
//! Invariants:
//! * Fields are packed most significant bit first, in declaration order,
//!   with no padding; a controller header is a whole number of bytes.
//! * Metadata ids are those of P4Info: 1, 2, … in field order (as p4c
//!   numbers them), unless the caller gives its own.
//! * Values handed out are P4Runtime's canonical byte strings (the
//!   shortest big-endian form, at least one byte); values taken in may
//!   have leading zero bytes but must fit the field's width.

use crate::{bits, Error, Switch};

/// A field of a controller header, as P4Info lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataField {
    /// The P4Info metadata id.
    pub id: u32,
    pub name: String,
    pub width: u32,
}

/// One metadata value of a packet-in or packet-out (P4Runtime's
/// `PacketMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketMetadata {
    pub id: u32,
    /// Big-endian bytes.
    pub value: Vec<u8>,
}

/// A packet the pipeline sent to the controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketIn {
    /// The packet with the `packet_in` header removed.
    pub payload: Vec<u8>,
    /// The `packet_in` header's fields, in field order.
    pub metadata: Vec<PacketMetadata>,
}

/// A packet the controller injects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketOut {
    /// The packet, without controller header.
    pub payload: Vec<u8>,
    /// Values for the `packet_out` header's fields, by id; a field not
    /// given is zero (as the P4Runtime server of BMv2 leaves it).
    pub metadata: Vec<PacketMetadata>,
}

/// The layout of one controller header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerHeader {
    fields: Vec<MetadataField>,
    bytes: usize,
}

impl ControllerHeader {
    /// A header from its fields (e.g. from P4Info's
    /// `controller_packet_metadata`). Refused when the widths do not add
    /// up to whole bytes, a width is 0 or over 128 bits, or an id repeats.
    pub fn new(fields: Vec<MetadataField>) -> Result<ControllerHeader, Error> {
        let bad = |reason: String| Error::BadController(reason);
        let mut bits = 0u32;
        for (i, f) in fields.iter().enumerate() {
            if f.width == 0 || f.width > 128 {
                return Err(bad(format!(
                    "field `{}`: expected a width of 1 to 128 bits, found {}",
                    f.name, f.width
                )));
            }
            if fields[..i].iter().any(|g| g.id == f.id) {
                return Err(bad(format!("metadata id {} is used twice", f.id)));
            }
            bits += f.width;
        }
        if bits % 8 != 0 {
            return Err(bad(format!(
                "expected a header of whole bytes, found {bits} bits"
            )));
        }
        Ok(ControllerHeader {
            fields,
            bytes: bits as usize / 8,
        })
    }

    /// The layout of a header instance of the loaded program, with ids
    /// 1, 2, … in field order.
    pub fn from_program(sw: &Switch, header: &str) -> Result<ControllerHeader, Error> {
        let fields = sw
            .header_fields(header)
            .ok_or_else(|| Error::UnknownObject {
                kind: "header",
                name: header.into(),
            })?;
        ControllerHeader::new(
            fields
                .into_iter()
                .enumerate()
                .map(|(i, (name, width))| MetadataField {
                    id: i as u32 + 1,
                    name,
                    width,
                })
                .collect(),
        )
    }

    pub fn fields(&self) -> &[MetadataField] {
        &self.fields
    }

    /// Length of the header in bytes.
    pub fn len(&self) -> usize {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// Splits a packet sent to the CPU port into its metadata and payload;
    /// `None` when the packet is shorter than the header.
    pub fn decode(&self, packet: &[u8]) -> Option<PacketIn> {
        if packet.len() < self.bytes {
            return None;
        }
        let mut off = 0usize;
        let metadata = self
            .fields
            .iter()
            .map(|f| {
                let v = bits::read_bits(packet, off, f.width);
                off += f.width as usize;
                PacketMetadata {
                    id: f.id,
                    value: canonical(v),
                }
            })
            .collect();
        Some(PacketIn {
            payload: packet[self.bytes..].to_vec(),
            metadata,
        })
    }

    /// The bytes that enter the pipeline for a packet-out: the header,
    /// then the payload.
    pub fn encode(&self, out: &PacketOut) -> Result<Vec<u8>, Error> {
        for m in &out.metadata {
            if !self.fields.iter().any(|f| f.id == m.id) {
                return Err(Error::BadController(format!(
                    "expected metadata ids {:?}, found {}",
                    self.fields.iter().map(|f| f.id).collect::<Vec<_>>(),
                    m.id
                )));
            }
        }
        let mut packet = vec![0u8; self.bytes];
        let mut off = 0usize;
        for f in &self.fields {
            if let Some(m) = out.metadata.iter().find(|m| m.id == f.id) {
                let v = bits::bytes_to_u128(&m.value)
                    .filter(|v| v & !bits::mask(f.width) == 0)
                    .ok_or_else(|| {
                        Error::BadController(format!(
                            "metadata `{}`: expected a value of at most {} bits, found {} bytes {:02x?}",
                            f.name,
                            f.width,
                            m.value.len(),
                            m.value
                        ))
                    })?;
                bits::write_bits(&mut packet, off, f.width, v);
            }
            off += f.width as usize;
        }
        packet.extend_from_slice(&out.payload);
        Ok(packet)
    }
}

/// P4Runtime's canonical form of a value: big-endian, no leading zero
/// bytes, at least one byte.
pub fn canonical(v: u128) -> Vec<u8> {
    let b = v.to_be_bytes();
    let first = b.iter().position(|x| *x != 0).unwrap_or(15);
    b[first..].to_vec()
}

/// The CPU port of a switch: its number and the controller headers of the
/// loaded program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuPort {
    pub port: u32,
    /// `None` when the program has no `packet_in` header: packets go to the
    /// controller whole, without metadata.
    pub packet_in: Option<ControllerHeader>,
    /// `None` when the program has no `packet_out` header: packet-outs
    /// enter the pipeline as they are (metadata is refused).
    pub packet_out: Option<ControllerHeader>,
}

impl CpuPort {
    /// The CPU port with the program's headers named `packet_in` and
    /// `packet_out` (p4c names header instances after the fields of the
    /// headers struct, and these are the names P4 programs use for their
    /// `@controller_header`s; the P4Runtime server, which has P4Info,
    /// builds the layouts from `controller_packet_metadata` instead).
    pub fn detect(sw: &Switch, port: u32) -> Result<CpuPort, Error> {
        let find = |name: &str| match sw.header_fields(name) {
            Some(_) => ControllerHeader::from_program(sw, name).map(Some),
            None => Ok(None),
        };
        Ok(CpuPort {
            port,
            packet_in: find("packet_in")?,
            packet_out: find("packet_out")?,
        })
    }

    /// A packet the pipeline sent to this port, for the controller;
    /// `None` when it is too short to hold the `packet_in` header (the
    /// P4Runtime server of BMv2 drops those too).
    pub fn packet_in(&self, packet: &[u8]) -> Option<PacketIn> {
        match &self.packet_in {
            Some(h) => h.decode(packet),
            None => Some(PacketIn {
                payload: packet.to_vec(),
                metadata: vec![],
            }),
        }
    }

    /// The bytes a packet-out enters the pipeline with.
    pub fn packet_out(&self, out: &PacketOut) -> Result<Vec<u8>, Error> {
        match &self.packet_out {
            Some(h) => h.encode(out),
            None if out.metadata.is_empty() => Ok(out.payload.clone()),
            None => Err(Error::BadController(
                "the program has no packet_out header, so a packet-out takes no metadata".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> ControllerHeader {
        ControllerHeader::new(vec![
            MetadataField {
                id: 1,
                name: "port".into(),
                width: 9,
            },
            MetadataField {
                id: 2,
                name: "reason".into(),
                width: 7,
            },
        ])
        .expect("16 bits")
    }

    #[test]
    fn fields_are_packed_msb_first_and_values_are_canonical() {
        let h = header();
        let pin = h.decode(&[0x80, 0x81, 0xaa]).expect("long enough");
        // 0x8081 = 1_0000_0001 (port 257) then 000_0001 (reason 1).
        assert_eq!(
            pin.metadata,
            vec![
                PacketMetadata {
                    id: 1,
                    value: vec![1, 1]
                },
                PacketMetadata {
                    id: 2,
                    value: vec![1]
                }
            ]
        );
        assert_eq!(pin.payload, vec![0xaa]);
        assert_eq!(h.decode(&[0x80]), None);
        assert_eq!(canonical(0), vec![0]);
    }

    #[test]
    fn encode_takes_padded_values_and_refuses_what_does_not_fit() {
        let h = header();
        let out = |id, value: Vec<u8>| PacketOut {
            payload: vec![0xaa],
            metadata: vec![PacketMetadata { id, value }],
        };
        assert_eq!(
            h.encode(&out(1, vec![0, 0, 1, 1])),
            Ok(vec![0x80, 0x80, 0xaa])
        );
        assert!(h.encode(&out(1, vec![2, 0])).is_err());
        assert!(h.encode(&out(3, vec![1])).is_err());
        let pin = h.decode(&h.encode(&out(2, vec![0x7f])).expect("fits"));
        assert_eq!(pin.expect("decodes").metadata[1].value, vec![0x7f]);
    }

    #[test]
    fn layouts_must_be_whole_bytes() {
        assert!(ControllerHeader::new(vec![MetadataField {
            id: 1,
            name: "x".into(),
            width: 9
        }])
        .is_err());
    }
}
