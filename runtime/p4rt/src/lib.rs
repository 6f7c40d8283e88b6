//! P4Runtime v1 for fairshare: the protocol messages and the gRPC service
//! (prost and tonic code generated from this crate's own `.proto` files), and
//! the helpers every P4Runtime client and server needs.
//!
//! - [`proto`]: the generated messages, in the protobuf package layout
//!   (`proto::p4::v1`, `proto::p4::config::v1`, `proto::google::rpc`), with
//!   the tonic client (`p4_runtime_client`) and server (`p4_runtime_server`).
//!   The wire format is that of the official P4Runtime 1.4 definitions: same
//!   packages, names, field numbers, types and enum values. Every message
//!   encodes its fields in field-number order, as the reference protobuf
//!   implementations do, so our bytes equal theirs. (`p4.v1.Replica`, whose
//!   oneof straddles another field, is written by hand for that reason. The
//!   one other such message, `p4.config.v1.MatchField`, differs in byte
//!   order only when a match field has both `other_match_type` and `doc`; it
//!   still decodes the same everywhere.)
//! - [`bytestring`]: `bit<W>` values as byte strings, canonical on output and
//!   checked on input.
//! - [`p4info`]: [`P4InfoIndex`], lookups by id and by name over a checked
//!   P4Info.
//! - [`status`]: per-update Write errors in and out of a gRPC status.
//! - [`text`]: protobuf text format, for `.p4info.txtpb` files.
//! - [`client`]: an async client for one device (connect with backoff,
//!   arbitration, pipeline push, writes, reads, packet IO), as the
//!   controller uses it.
//! - [`codec`]: the gRPC codec of the generated client and server (prost
//!   messages, each decoded from one contiguous buffer).
//! - [`busy`]: busy polling for short round trips (the client's unary
//!   calls, the server's connections).
//! - [`entity`]: table entries, meter, counter and register cells and
//!   replication entries built by name through a [`P4InfoIndex`].
//!
//! Boundary: this crate knows the protocol, not any switch or controller
//! behaviour (the client does what the controller asks, in the order it
//! asks, and decides nothing).
//!
//! ```
//! use fairshare_p4rt::bytestring::{BitString, Form};
//! // A 9-bit port number 5, sent padded by an older client, is read as the
//! // canonical single byte.
//! let port = BitString::from_wire(&[0x00, 0x05], 9, Form::Padded).unwrap();
//! assert_eq!(port.as_bytes(), &[0x05]);
//! assert_eq!(port.to_u128(), Some(5));
//! ```

pub mod busy;
pub mod bytestring;
pub mod client;
pub mod codec;
pub mod entity;
mod error;
mod manual;
pub mod p4info;
pub mod status;
pub mod text;

pub use error::Error;
pub use p4info::{EntityKind, P4InfoIndex};

/// The version of the P4Runtime API these definitions follow.
pub const P4RUNTIME_VERSION: &str = "1.4.1";

/// The generated protocol code.
#[allow(clippy::all, missing_docs, rust_2018_idioms)]
pub mod proto {
    pub mod google {
        pub mod rpc {
            include!(concat!(env!("OUT_DIR"), "/google.rpc.rs"));
        }
        pub mod protobuf {
            pub use prost_types::Any;
        }
    }
    pub mod p4 {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/p4.v1.rs"));
            pub use crate::manual::{replica, Replica};
        }
        pub mod config {
            pub mod v1 {
                include!(concat!(env!("OUT_DIR"), "/p4.config.v1.rs"));
            }
        }
    }
}

impl From<u128> for proto::p4::v1::Uint128 {
    fn from(value: u128) -> Self {
        Self {
            high: (value >> 64) as u64,
            low: value as u64,
        }
    }
}

impl From<proto::p4::v1::Uint128> for u128 {
    fn from(value: proto::p4::v1::Uint128) -> Self {
        (u128::from(value.high) << 64) | u128::from(value.low)
    }
}
