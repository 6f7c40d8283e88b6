//! What the agents put on the wire: the addresses they speak from, the
//! messages they build, and the tally they carry in the aggregate's Path.
//!
//! # Addressing
//!
//! Every address and MAC address is derived from the policy, so that both
//! ends, the tests and a capture reader agree without configuration:
//!
//! * A DC speaks RSVP from its **DC address**: the first address of its
//!   first server's /24 (`a.b.c.1`), or the next one up that no server
//!   holds and no DC declared before it took (east in `examples/metro.fsp`:
//!   10.1.0.1, west 10.2.0.1).
//! * An edge speaks from its **edge address**: the first address of its
//!   first client prefix (network + 1; the address itself for a /31 or
//!   /32).
//! * The **aggregate session** of route (d, e) is SESSION = (edge address,
//!   protocol 0, port 0) with SENDER_TEMPLATE = (DC address, port 0): one
//!   session per edge, one sender per DC, so an edge served by several DCs
//!   holds one Path state per DC, as RSVP does for several senders. Protocol
//!   0 is what tells an aggregate from a flow, whose protocol is TCP or UDP.
//! * A **flow's session** is the server's: SESSION = (client address,
//!   protocol, client port), SENDER_TEMPLATE = (server address, service
//!   port) on the DC's server side; the DC forwards it with SENDER_TEMPLATE
//!   = (VIP, service port), as the client sees the flow after SNAT.
//! * RSVP_HOP is the sending agent's address with the switch port the
//!   message leaves from as the logical interface handle. Path and PathTear
//!   go from the sender address to the session address; Resv, PathErr and
//!   forwarded Resvs go hop by hop to the previous hop's address.
//! * Frames carry the MAC addresses of the code generator's derivation
//!   ([`fairshare_codegen::rules::switch_mac`] for the switch port the frame
//!   leaves from, [`fairshare_codegen::rules::peer_mac`] for the uplink's
//!   far end, [`fairshare_codegen::rules::host_mac`] for a server), and the
//!   IP TTL of the message's send_TTL ([`SEND_TTL`]).
//!
//! # The tally element
//!
//! Every aggregate Path carries, besides SENDER_TSPEC (rate = what is left
//! of the share, bytes per second as IntServ has it), the DC's exact tally
//! for the route in a POLICY_DATA object shaped as RFC 2750 §3.1 has it
//! (C-Type 1, data offset 8, no options) holding one policy element of
//! P-Type [`TALLY_P_TYPE`]:
//!
//! ```text
//! offered b/s (u64) | used b/s (u64) | flows (u32) | sequence (u32) | epoch (u32) | kind (u32)
//! ```
//!
//! The sequence number grows with every change of the DC's book for the
//! route (admission, teardown, expiry, new share); the epoch names the DC
//! agent's run, so that an edge can tell a restarted DC from a reordered
//! message; the kind says whether the Path announces a change (an offer, a
//! release, a grown aggregate: 1) or only refreshes (0). An edge checks its
//! own tally against refreshes only: a release runs ahead of the flow Path
//! that explains it. SENDER_TSPEC's f32 rate cannot hold every bit rate exactly; the
//! tally can.

use std::net::{IpAddr, Ipv4Addr};

use fairshare_codegen::rules::{host_mac, peer_mac, switch_mac, Mac};
use fairshare_policy::model::{Datacenter, Edge, Policy, Switch};
use fairshare_rsvp::frame::{FrameHeader, MacAddr};
use fairshare_rsvp::{
    error_code, Body, ErrorSpec, FfDescriptor, FilterSpec, FlowDescriptors, FlowSpec, Hop, Message,
    Opaque, Path, PathErr, PathTear, Resv, ResvTear, SenderDescriptor, Session, TimeValues,
    TokenBucket,
};

/// The IP TTL and RSVP send_TTL of every message the agents send.
pub const SEND_TTL: u8 = 64;
/// The protocol number of an aggregate session's SESSION object.
pub const AGGREGATE_PROTOCOL: u8 = 0;
/// The P-Type of the tally policy element: from the top of the 16-bit
/// range, which IANA has not assigned.
pub const TALLY_P_TYPE: u16 = 0xfa15;
/// The POLICY_DATA C-Type of RFC 2750.
const POLICY_DATA_C_TYPE: u8 = 1;
/// Length of the tally policy element: its 4-byte header and 32 bytes.
const TALLY_ELEMENT_LEN: usize = 36;

/// The DC's tally for one route, as the aggregate Path carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub offered_bps: u64,
    pub used_bps: u64,
    pub flows: u32,
    /// Grows with every change of the DC's book for the route.
    pub seq: u32,
    /// The DC agent's run (see [`super::Settings::epoch`]).
    pub epoch: u32,
    /// Whether the Path announces a change of the book (`false`: a
    /// periodic refresh).
    pub change: bool,
}

impl Tally {
    /// What is left for the aggregate: the offer less what flows use.
    pub fn aggregate_bps(&self) -> u64 {
        self.offered_bps.saturating_sub(self.used_bps)
    }

    /// The POLICY_DATA object that carries it.
    pub fn to_policy_data(self) -> Opaque {
        let mut body = Vec::with_capacity(4 + TALLY_ELEMENT_LEN);
        body.extend_from_slice(&8u16.to_be_bytes());
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&(TALLY_ELEMENT_LEN as u16).to_be_bytes());
        body.extend_from_slice(&TALLY_P_TYPE.to_be_bytes());
        body.extend_from_slice(&self.offered_bps.to_be_bytes());
        body.extend_from_slice(&self.used_bps.to_be_bytes());
        body.extend_from_slice(&self.flows.to_be_bytes());
        body.extend_from_slice(&self.seq.to_be_bytes());
        body.extend_from_slice(&self.epoch.to_be_bytes());
        body.extend_from_slice(&u32::from(self.change).to_be_bytes());
        Opaque {
            c_type: POLICY_DATA_C_TYPE,
            body,
        }
    }

    /// Finds the tally among a message's POLICY_DATA objects; `None` when
    /// none holds a well-formed tally element.
    pub fn from_policy_data(objects: &[Opaque]) -> Option<Tally> {
        objects.iter().find_map(|o| {
            if o.c_type != POLICY_DATA_C_TYPE || o.body.len() < 4 {
                return None;
            }
            let offset = usize::from(u16::from_be_bytes([o.body[0], o.body[1]]));
            // The offset counts from the object header (4 bytes) and must
            // at least skip the offset field itself.
            let mut elements = o.body.get(offset.checked_sub(4).filter(|&s| s >= 4)?..)?;
            while elements.len() >= 4 {
                let len = usize::from(u16::from_be_bytes([elements[0], elements[1]]));
                let p_type = u16::from_be_bytes([elements[2], elements[3]]);
                if len < 4 || len > elements.len() {
                    return None;
                }
                if p_type == TALLY_P_TYPE && len == TALLY_ELEMENT_LEN {
                    let d = &elements[4..len];
                    let u64_at = |i: usize| {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(&d[i..i + 8]);
                        u64::from_be_bytes(b)
                    };
                    let u32_at =
                        |i: usize| u32::from_be_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
                    return Some(Tally {
                        offered_bps: u64_at(0),
                        used_bps: u64_at(8),
                        flows: u32_at(16),
                        seq: u32_at(20),
                        epoch: u32_at(24),
                        change: u32_at(28) != 0,
                    });
                }
                // Elements are padded to a multiple of 4 bytes.
                let padded = (len + 3) & !3;
                elements = elements.get(padded..)?;
            }
            None
        })
    }
}

/// The address the policy's `index`-th DC speaks RSVP from (see the
/// module doc): the first address of its first server's /24 that no server
/// of any DC holds and no DC before it took. The agents use this one.
pub fn dc_address_in(policy: &Policy, index: usize) -> Ipv4Addr {
    let taken = |a: Ipv4Addr, chosen: &[Ipv4Addr]| {
        chosen.contains(&a)
            || policy
                .datacenters
                .iter()
                .any(|d| d.servers.iter().any(|s| s.address == a))
    };
    let mut chosen: Vec<Ipv4Addr> = Vec::with_capacity(index + 1);
    for dc in policy.datacenters.iter().take(index + 1) {
        let a = first_free(dc, |a| taken(a, &chosen));
        chosen.push(a);
    }
    chosen.last().copied().unwrap_or(Ipv4Addr::UNSPECIFIED)
}

/// The address of a DC taken alone: the first address of its first
/// server's /24 that none of its servers holds. It equals
/// [`dc_address_in`] unless two DCs' first servers share a /24 or a
/// server of another DC holds that address; prefer [`dc_address_in`].
pub fn dc_address(dc: &Datacenter) -> Ipv4Addr {
    first_free(dc, |a| dc.servers.iter().any(|s| s.address == a))
}

fn first_free(dc: &Datacenter, taken: impl Fn(Ipv4Addr) -> bool) -> Ipv4Addr {
    let base = dc
        .servers
        .first()
        .map(|s| u32::from(s.address) & 0xffff_ff00)
        .unwrap_or(u32::from(Ipv4Addr::new(10, 0, 0, 0)));
    (1..255u32)
        .map(|h| Ipv4Addr::from(base | h))
        .find(|a| !taken(*a))
        .unwrap_or(Ipv4Addr::from(base | 0xff))
}

/// The address an edge speaks RSVP from (see the module doc).
pub fn edge_address(edge: &Edge) -> Ipv4Addr {
    match edge.clients.first() {
        Some(p) if p.len >= 31 => p.addr,
        Some(p) => Ipv4Addr::from(u32::from(p.addr) + 1),
        None => Ipv4Addr::UNSPECIFIED,
    }
}

fn mac(m: Mac) -> MacAddr {
    MacAddr(m.0)
}

/// The Ethernet addresses of a frame leaving `sw` by its uplink.
pub fn uplink_macs(sw: &Switch) -> (MacAddr, MacAddr) {
    (
        mac(switch_mac(sw, sw.uplink_port)),
        mac(peer_mac(sw, sw.uplink_port)),
    )
}

/// The Ethernet addresses of a frame leaving `sw` by `port` toward the host
/// at `host`.
pub fn host_macs(sw: &Switch, port: u16, host: Ipv4Addr) -> (MacAddr, MacAddr) {
    (mac(switch_mac(sw, port)), mac(host_mac(host)))
}

/// A whole frame for `msg` from `src` to `dst` between the given MACs.
pub fn frame(
    macs: (MacAddr, MacAddr),
    src: Ipv4Addr,
    dst: Ipv4Addr,
    msg: &Message,
) -> Result<Vec<u8>, fairshare_rsvp::Error> {
    FrameHeader::for_message(macs.0, macs.1, src, dst, msg).build(msg)
}

/// A token bucket at `bps` bits per second: bucket of 10 ms at the rate
/// (at least 3000 bytes, as the route meters have it), no peak limit,
/// 64-byte minimum policed unit, 1500-byte packets.
pub fn bucket(bps: u64) -> TokenBucket {
    let rate = bps as f64 / 8.0;
    TokenBucket {
        rate: rate as f32,
        size: (rate / 100.0).max(3000.0) as f32,
        peak: f32::INFINITY,
        min_policed_unit: 64,
        max_packet_size: 1500,
    }
}

/// Bits per second of a token bucket's rate (bytes per second); `None` for
/// a rate that is not a finite positive number.
pub fn bucket_bps(t: &TokenBucket) -> Option<u64> {
    let bps = f64::from(t.rate) * 8.0;
    (bps.is_finite() && bps >= 1.0 && bps < u64::MAX as f64).then(|| bps.round() as u64)
}

/// The IPv4 address of an address-bearing object, if it is IPv4.
pub fn v4(a: IpAddr) -> Option<Ipv4Addr> {
    match a {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

/// The aggregate session of a route whose edge speaks from `edge`.
pub fn aggregate_session(edge: Ipv4Addr) -> Session {
    Session {
        dest: edge.into(),
        protocol: AGGREGATE_PROTOCOL,
        flags: 0,
        port: 0,
    }
}

/// The aggregate's SENDER_TEMPLATE / FILTER_SPEC for a DC at `dc`.
pub fn aggregate_sender(dc: Ipv4Addr) -> FilterSpec {
    FilterSpec::Port {
        addr: dc.into(),
        port: 0,
    }
}

/// The aggregate Path of a route: SENDER_TSPEC at what is left, the tally
/// in POLICY_DATA.
pub fn aggregate_path(
    dc: Ipv4Addr,
    edge: Ipv4Addr,
    lih: u32,
    refresh_ms: u32,
    tally: Tally,
) -> Message {
    Message::new(
        SEND_TTL,
        Body::Path(Path {
            session: aggregate_session(edge),
            hop: Hop {
                addr: dc.into(),
                lih,
            },
            time_values: TimeValues { refresh_ms },
            policy_data: vec![tally.to_policy_data()],
            sender: Some(SenderDescriptor {
                template: aggregate_sender(dc),
                tspec: bucket(tally.aggregate_bps()),
                adspec: None,
            }),
        }),
    )
}

/// A PathTear for a session and sender, sent by the node at `hop`.
pub fn path_tear(session: Session, hop: Hop, sender: Option<SenderDescriptor>) -> Message {
    Message::new(
        SEND_TTL,
        Body::PathTear(PathTear {
            session,
            hop,
            sender,
        }),
    )
}

/// The PathErr that refuses a sender's Path: Admission Control failure,
/// "requested bandwidth unavailable" (RFC 2205 Appendix B, code 1, the
/// globally defined sub-code 2), found at `node`.
pub fn admission_failure(node: Ipv4Addr, session: Session, sender: SenderDescriptor) -> Message {
    Message::new(
        SEND_TTL,
        Body::PathErr(PathErr {
            session,
            error: ErrorSpec {
                node: node.into(),
                flags: 0,
                code: error_code::ADMISSION_CONTROL_FAILURE,
                value: error_code::admission::BANDWIDTH_UNAVAILABLE,
            },
            policy_data: vec![],
            sender: Some(sender),
        }),
    )
}

/// A Fixed-Filter Resv for one sender with a Controlled-Load FLOWSPEC.
pub fn ff_resv(
    session: Session,
    hop: Hop,
    refresh_ms: u32,
    filter: FilterSpec,
    tspec: TokenBucket,
) -> Message {
    Message::new(
        SEND_TTL,
        Body::Resv(Resv {
            session,
            hop,
            time_values: TimeValues { refresh_ms },
            resv_confirm: None,
            scope: None,
            policy_data: vec![],
            style_flags: 0,
            flows: FlowDescriptors::FF {
                descriptors: vec![FfDescriptor {
                    flowspec: Some(FlowSpec::ControlledLoad { tspec }),
                    filter,
                }],
            },
        }),
    )
}

/// A Fixed-Filter ResvTear for one sender (no FLOWSPEC, as RFC 2205
/// allows in a teardown).
pub fn ff_resv_tear(session: Session, hop: Hop, filter: FilterSpec) -> Message {
    Message::new(
        SEND_TTL,
        Body::ResvTear(ResvTear {
            session,
            hop,
            scope: None,
            style_flags: 0,
            flows: FlowDescriptors::FF {
                descriptors: vec![FfDescriptor {
                    flowspec: None,
                    filter,
                }],
            },
        }),
    )
}

/// The FILTER_SPEC and FLOWSPEC rate (bits per second) of a single-sender
/// FF Resv.
pub fn ff_single(flows: &FlowDescriptors) -> Option<(FilterSpec, Option<u64>)> {
    match flows {
        FlowDescriptors::FF { descriptors } if descriptors.len() == 1 => {
            let d = &descriptors[0];
            Some((
                d.filter,
                d.flowspec.as_ref().and_then(|f| bucket_bps(f.tspec())),
            ))
        }
        _ => None,
    }
}

/// A flow as its server names it, for simulated servers (the demo, tests):
/// the server's Path and PathTear, and the frames that carry them on the
/// server's link to its DC switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerFlow {
    pub server: Ipv4Addr,
    pub service_port: u16,
    pub client: Ipv4Addr,
    pub client_port: u16,
    /// 6 (TCP) or 17 (UDP).
    pub protocol: u8,
    pub rate_bps: u64,
}

impl ServerFlow {
    /// SESSION: the client's address, protocol and port.
    pub fn session(&self) -> Session {
        Session {
            dest: self.client.into(),
            protocol: self.protocol,
            flags: 0,
            port: self.client_port,
        }
    }

    /// SENDER_TEMPLATE (the server and service port) and SENDER_TSPEC.
    pub fn sender(&self) -> SenderDescriptor {
        SenderDescriptor {
            template: FilterSpec::Port {
                addr: self.server.into(),
                port: self.service_port,
            },
            tspec: bucket(self.rate_bps),
            adspec: None,
        }
    }

    fn hop(&self) -> Hop {
        Hop {
            addr: self.server.into(),
            lih: 0,
        }
    }

    /// The server's Path, refreshed every `refresh_ms`.
    pub fn path(&self, refresh_ms: u32) -> Message {
        Message::new(
            SEND_TTL,
            Body::Path(Path {
                session: self.session(),
                hop: self.hop(),
                time_values: TimeValues { refresh_ms },
                policy_data: vec![],
                sender: Some(self.sender()),
            }),
        )
    }

    /// The server's PathTear.
    pub fn path_tear(&self) -> Message {
        path_tear(self.session(), self.hop(), Some(self.sender()))
    }

    /// The frame carrying `msg` from the server to port `port` of switch
    /// `sw` (its DC switch), addressed to the client as RSVP has it.
    pub fn frame(
        &self,
        sw: &Switch,
        port: u16,
        msg: &Message,
    ) -> Result<Vec<u8>, fairshare_rsvp::Error> {
        let macs = (mac(host_mac(self.server)), mac(switch_mac(sw, port)));
        frame(macs, self.server, self.client, msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tally_round_trips_through_policy_data() {
        let t = Tally {
            offered_bps: 7_123_456_789,
            used_bps: 40_000_000,
            flows: 2,
            seq: 9,
            epoch: 77,
            change: true,
        };
        let o = t.to_policy_data();
        assert_eq!(o.body.len() % 4, 0);
        assert_eq!(Tally::from_policy_data(std::slice::from_ref(&o)), Some(t));
        let mut short = o.clone();
        short.body.truncate(20);
        assert_eq!(Tally::from_policy_data(&[short]), None);
        let mut bad_offset = o;
        bad_offset.body[1] = 2;
        assert_eq!(Tally::from_policy_data(&[bad_offset]), None);
    }

    #[test]
    fn a_server_flow_names_itself_in_its_messages() {
        let f = ServerFlow {
            server: Ipv4Addr::new(10, 1, 0, 11),
            service_port: 80,
            client: Ipv4Addr::new(198, 51, 100, 9),
            client_port: 4000,
            protocol: 6,
            rate_bps: 20_000_000,
        };
        let bytes = f.path(30_000).to_bytes().expect("encodes");
        let m = Message::parse(&bytes).expect("parses");
        let Body::Path(p) = &m.body else {
            panic!("a Path")
        };
        assert_eq!(p.session, f.session());
        assert_eq!(
            p.sender.as_ref().map(|s| bucket_bps(&s.tspec)),
            Some(Some(20_000_000))
        );
        assert!(matches!(f.path_tear().body, Body::PathTear(_)));
    }

    #[test]
    fn rates_convert_both_ways() {
        assert_eq!(bucket_bps(&bucket(20_000_000)), Some(20_000_000));
        assert_eq!(bucket_bps(&bucket(0)), None);
        let mut t = bucket(8);
        t.rate = f32::NAN;
        assert_eq!(bucket_bps(&t), None);
    }
}
