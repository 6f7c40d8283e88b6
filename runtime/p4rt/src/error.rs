//! The crate's error type.

use crate::p4info::EntityKind;

/// Everything that can go wrong in this crate. Messages say what was expected
/// and what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A byte string for a `bit<W>` value was empty.
    #[error("expected a byte string for a {bitwidth}-bit value, found an empty string")]
    EmptyByteString { bitwidth: u32 },

    /// A byte string was longer than the `ceil(W/8)` bytes a `bit<W>` value
    /// can take.
    #[error("expected at most {max} bytes for a {bitwidth}-bit value, found {len} bytes")]
    ByteStringTooLong {
        bitwidth: u32,
        max: usize,
        len: usize,
    },

    /// A value needs more bits than the field has.
    #[error("expected a value that fits in {bitwidth} bits, found one that needs {needed} bits")]
    ValueTooWide { bitwidth: u32, needed: u32 },

    /// A byte string had leading zero bytes where the canonical (shortest)
    /// form was required.
    #[error("expected the canonical (shortest) byte string, found {len} bytes with {leading_zeros} leading zero bytes")]
    NotCanonical { len: usize, leading_zeros: usize },

    /// A bit width of zero, or one too wide for the operation.
    #[error("expected a bit width between 1 and {max}, found {bitwidth}")]
    BadBitwidth { bitwidth: u32, max: u32 },

    /// Two entities of a P4Info share an id.
    #[error("P4Info: expected unique ids, found id {id:#010x} used by {first} and {second}")]
    DuplicateId {
        id: u32,
        first: String,
        second: String,
    },

    /// Two entities of one kind share a name.
    #[error("P4Info: expected unique {kind} names, found \"{name}\" twice")]
    DuplicateName { kind: EntityKind, name: String },

    /// An entity's id does not carry the prefix byte of its kind.
    #[error("P4Info: expected {kind} \"{name}\" to have an id with prefix {expected:#04x}, found id {id:#010x}")]
    WrongIdPrefix {
        kind: EntityKind,
        name: String,
        id: u32,
        expected: u8,
    },

    /// An entity without a preamble, or with id 0.
    #[error("P4Info: expected every {kind} to have a preamble with a non-zero id, found {what}")]
    MissingPreamble { kind: EntityKind, what: String },

    /// Two members (match fields, parameters, metadata) of one entity share
    /// an id or a name.
    #[error("P4Info: expected unique member ids and names in {parent}, found {what} twice")]
    DuplicateMember { parent: String, what: String },

    /// Text that is not a valid protobuf text-format message of the type.
    #[error("text format: expected a valid {message} message, found an error: {detail}")]
    TextFormat { message: String, detail: String },

    /// A message type unknown to the descriptors built into this crate.
    #[error("expected a message type of P4Runtime, found unknown type \"{0}\"")]
    UnknownMessageType(String),

    /// Bytes that do not decode as the message they should hold.
    #[error("expected an encoded {message}, found bytes that do not decode: {detail}")]
    Decode { message: String, detail: String },

    /// A name that the P4Info does not have.
    #[error("P4Info: expected a {kind} named \"{name}\", found none")]
    UnknownName { kind: EntityKind, name: String },

    /// A member (match field, parameter, packet metadata) that the entity
    /// does not have, or one given twice or left out.
    #[error("{parent}: expected {expected}, found {found}")]
    BadMember {
        parent: String,
        expected: String,
        found: String,
    },

    /// A match that does not fit the match kind of its field.
    #[error("match field `{field}` is {kind}: expected a {kind} match, found {found}")]
    WrongMatchKind {
        field: String,
        kind: String,
        found: String,
    },

    /// An operation that needs a P4Info before one was pushed or set.
    #[error("expected a P4Info (push a pipeline or set one), found none")]
    NoP4Info,

    /// The device could not be reached.
    #[error("connecting to {addr}: gave up after {attempts} attempts; the last error was: {last}")]
    Connect {
        addr: String,
        attempts: u32,
        last: String,
    },

    /// The device did not answer an arbitration request in time, or ended
    /// the stream.
    #[error("arbitration: expected an answer from the device, found {0}")]
    Arbitration(String),

    /// A Write or SetForwardingPipelineConfig refused because this client
    /// is not the primary controller of its role.
    #[error("expected to be the primary controller, found the device refusing: {0}")]
    NotPrimary(String),

    /// A Write in which some updates failed: one `p4.v1.Error` per update
    /// of the request, in request order (OK for those that succeeded).
    #[error("{} of {} updates failed: {}", failed_updates(.errors), .errors.len(), .message)]
    UpdatesFailed {
        message: String,
        errors: Vec<crate::proto::p4::v1::Error>,
    },

    /// Any other gRPC failure.
    #[error("{rpc}: the device answered {code:?}: {message}")]
    Rpc {
        rpc: &'static str,
        code: tonic::Code,
        message: String,
    },

    /// The StreamChannel has ended; packet IO and arbitration need a new
    /// connection.
    #[error("expected an open stream channel, found it closed")]
    StreamClosed,
}

fn failed_updates(errors: &[crate::proto::p4::v1::Error]) -> usize {
    errors.iter().filter(|e| e.canonical_code != 0).count()
}
