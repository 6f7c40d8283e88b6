//! RSVP on the wire: the messages of RFC 2205 with the IntServ objects of
//! RFC 2210, parsed and emitted byte for byte.
//!
//! # Boundary
//!
//! No IO. The crate turns bytes into a model and a model into bytes; reading
//! captures, sockets and timers belong to its callers (the `fairshare rsvp`
//! command and the controller).
//!
//! # Two layers
//!
//! * [`MessageView`] and [`ObjectView`] read a message in place. Lengths are
//!   checked once (the header, the message length, each object's length as
//!   the iterator reaches it); the accessors after that cannot read out of
//!   bounds.
//! * [`Message`] is the validated model: one struct per message type with
//!   typed objects in the order of the RFC's grammar. [`Message::parse`]
//!   returns it or a typed [`Error`] naming the object and its offset;
//!   [`Message::emit`] writes it into a buffer of [`Message::buffer_len`]
//!   bytes (or [`Message::emit_vec`] appends to a vector).
//!
//! # Invariants
//!
//! * No input makes a function of this crate panic; every malformed byte
//!   string is an [`Error`].
//! * `Message::parse_with(&m.to_bytes()?, ParseOptions::lenient()) == m`
//!   for every model that [`Message::check`] accepts (floats are never NaN
//!   after a parse, so the equality is an equivalence); the strict
//!   [`Message::parse`] gives the same unless `zero_checksum` is set, which
//!   it refuses (as "not transmitted") when the sum does not verify.
//! * `m.to_bytes()? == b` for every `b` that parses to `m` whose reserved
//!   fields are zero: every other bit of the input is in the model, including
//!   the header flags, a zero checksum and the objects this crate does not
//!   know.
//!
//! # RFC facts encoded, and the choices made
//!
//! * Common header: version 1, 4 flag bits, type 1..=7, Internet checksum
//!   over the whole message, send_TTL, length. Parse verifies the checksum;
//!   a zero field ("not transmitted") is accepted only with
//!   [`ParseOptions::accept_zero_checksum`] or when the sum happens to verify
//!   with it, and is kept either way so that emit writes zero again. Emit
//!   writes a computed checksum of zero as 0xffff, the other form of zero in
//!   one's complement, so that it is not read as "not transmitted".
//! * Objects: SESSION, RSVP_HOP, ERROR_SPEC, SCOPE, RESV_CONFIRM, FILTER_SPEC
//!   and SENDER_TEMPLATE in their IPv4 (C-Type 1) and IPv6 (C-Type 2) forms,
//!   plus the IPv6 flow-label FILTER_SPEC (C-Type 3); TIME_VALUES and STYLE
//!   (C-Type 1; WF 0x11, FF 0x0a, SE 0x12); FLOWSPEC (Controlled-Load and
//!   Guaranteed), SENDER_TSPEC and ADSPEC in the IntServ form (C-Type 2);
//!   POLICY_DATA and INTEGRITY carried opaquely. ERROR_SPEC codes and values
//!   of RFC 2205 Appendix B are in [`error_code`].
//! * Unknown classes follow the top two bits of the Class-Num (§3.10):
//!   `0bbbbbbb` rejects the message ([`Error::UnknownClass`], which maps to
//!   error code 13 through [`Error::rsvp_error`]); `10bbbbbb` is ignored and
//!   not forwarded; `11bbbbbb` is ignored and forwarded unchanged. Both kinds,
//!   and NULL objects, are kept in [`Message::extra`] at their position, so a
//!   parse-emit round trip is exact; [`Message::forwarded`] drops what a
//!   forwarding node must drop. A known class with an unknown C-Type is
//!   [`Error::UnknownCType`] (code 14).
//! * Order: objects must come in the order of the RFC's message grammar.
//!   The RFC asks receivers to accept other orders where unambiguous; this
//!   crate does not, so that a message has one encoding and its flow
//!   descriptor lists one reading. [`Error::OutOfOrder`] says which object
//!   was expected first.
//! * Flow descriptor lists per style: WF one FLOWSPEC; FF pairs of
//!   `[FLOWSPEC] FILTER_SPEC`, the first with its FLOWSPEC; SE one FLOWSPEC
//!   and one or more FILTER_SPECs. ResvTear may omit FLOWSPECs; ResvErr
//!   carries at most one error flow descriptor.
//! * IntServ floats must be non-negative and not NaN (infinity is allowed,
//!   meaning "no limit"). Reserved fields are ignored on parse and sent as
//!   zero.
//! * The [`frame`] module builds and parses Ethernet/IPv4 frames, with the
//!   Router Alert option on Path, PathTear and ResvConf (§3.13).
//!
//! # Example
//!
//! ```
//! use std::net::Ipv4Addr;
//! use fairshare_rsvp::*;
//!
//! let path = Message::new(
//!     64,
//!     Body::Path(Path {
//!         session: Session { dest: Ipv4Addr::new(198, 51, 100, 7).into(), protocol: 17, flags: 0, port: 5004 },
//!         hop: Hop { addr: Ipv4Addr::new(10, 1, 0, 1).into(), lih: 1 },
//!         time_values: TimeValues { refresh_ms: 30_000 },
//!         policy_data: vec![],
//!         sender: Some(SenderDescriptor {
//!             template: FilterSpec::Port { addr: Ipv4Addr::new(10, 1, 0, 11).into(), port: 4000 },
//!             tspec: TokenBucket { rate: 2.5e6, size: 10_000.0, peak: f32::INFINITY, min_policed_unit: 64, max_packet_size: 1500 },
//!             adspec: None,
//!         }),
//!     }),
//! );
//! let bytes = path.to_bytes()?;
//! assert_eq!(bytes.len(), path.buffer_len());
//! assert_eq!(Message::parse(&bytes)?, path);
//!
//! // The raw view reads the same bytes without copying.
//! let view = MessageView::new_checked(&bytes)?;
//! assert!(view.checksum_ok());
//! let classes: Vec<u8> = view.objects().map(|o| o.map(|o| o.class_num().0)).collect::<Result<_, _>>()?;
//! assert_eq!(classes, [1, 3, 5, 11, 12]);
//!
//! // On the wire: Ethernet, IPv4 with Router Alert, RSVP.
//! let header = frame::FrameHeader::for_message(
//!     frame::MacAddr([2, 0, 0, 0, 0, 1]), frame::MacAddr([2, 0, 0, 0, 0, 2]),
//!     Ipv4Addr::new(10, 1, 0, 1), Ipv4Addr::new(198, 51, 100, 7), &path);
//! let f = header.build(&path)?;
//! let parsed = frame::parse_frame(&f)?;
//! assert!(parsed.header.router_alert);
//! assert_eq!(parsed.rsvp, &bytes[..]);
//! # Ok::<(), fairshare_rsvp::Error>(())
//! ```

mod error;
pub mod frame;
mod intserv;
mod message;
mod object;
mod view;
mod wire;

pub use error::Error;
pub use intserv::{
    param, Adspec, AdspecFragment, AdspecParam, FlowSpec, Rspec, TokenBucket,
    PARAM_GUARANTEED_RSPEC, PARAM_TOKEN_BUCKET, SERVICE_CONTROLLED_LOAD, SERVICE_GENERAL,
    SERVICE_GUARANTEED,
};
pub use message::{
    Body, ExtraObject, FfDescriptor, FlowDescriptors, Message, ParseOptions, Path, PathErr,
    PathTear, Resv, ResvConf, ResvErr, ResvTear, SenderDescriptor,
};
pub use object::{
    error_code, ErrorSpec, FilterSpec, Hop, Object, Opaque, ResvConfirm, Scope, Session, Style,
    StyleKind, TimeValues, C_TYPE_INTSERV, C_TYPE_IPV4, C_TYPE_IPV6, C_TYPE_IPV6_FLOW_LABEL,
};
pub use view::{MessageView, ObjectIter, ObjectView, HEADER_LEN, OBJECT_HEADER_LEN};
pub use wire::{internet_checksum, parse_hex, ClassNum, Disposition, MsgType};
