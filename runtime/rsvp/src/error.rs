//! The one error type of the crate.

use crate::message::StyleKind;
use crate::wire::{ClassNum, MsgType};

/// Every way bytes or a model can fail to be RSVP. Offsets count from the
/// first byte of the RSVP common header (or of the Ethernet frame, for the
/// `Frame*` variants).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{what} at offset {offset}: need {need} bytes, found {have}")]
    Truncated {
        what: &'static str,
        offset: usize,
        need: usize,
        have: usize,
    },
    #[error("RSVP version: expected 1, found {found}")]
    Version { found: u8 },
    #[error("message type: expected 1 to 7, found {found}")]
    MessageType { found: u8 },
    #[error("message length field: expected {reason}, found {found}")]
    MessageLength { found: usize, reason: &'static str },
    #[error("RSVP checksum: the message sums to {computed:#06x} with the checksum {found:#06x}, expected 0xffff")]
    Checksum { computed: u16, found: u16 },
    #[error("RSVP checksum: found 0 (not transmitted) and zero checksums are not accepted")]
    ZeroChecksum,
    #[error("{class} object at offset {offset}: length {length}: expected {reason}")]
    ObjectLength {
        class: ClassNum,
        offset: usize,
        length: usize,
        reason: &'static str,
    },
    #[error("unknown object class {class_num} (C-Type {c_type}) at offset {offset}: classes of the form 0bbbbbbb reject the message")]
    UnknownClass {
        class_num: u8,
        c_type: u8,
        offset: usize,
    },
    #[error("{class} object at offset {offset}: unknown C-Type {c_type}")]
    UnknownCType {
        class: ClassNum,
        c_type: u8,
        offset: usize,
    },
    #[error("{class} object at offset {offset}: {reason}")]
    BadObject {
        class: ClassNum,
        offset: usize,
        reason: String,
    },
    #[error("STYLE object at offset {offset}: option vector {option_vector:#08x} is none of WF (0x11), FF (0x0a), SE (0x12)")]
    UnknownStyle { offset: usize, option_vector: u32 },
    #[error("{message} message: missing {class} object (expected at offset {offset})")]
    MissingObject {
        message: MsgType,
        class: ClassNum,
        offset: usize,
    },
    #[error("{message} message: {class} object at offset {offset} is out of order: expected {expected} first")]
    OutOfOrder {
        message: MsgType,
        class: ClassNum,
        offset: usize,
        expected: ClassNum,
    },
    #[error("{message} message: unexpected {class} object at offset {offset}")]
    UnexpectedObject {
        message: MsgType,
        class: ClassNum,
        offset: usize,
    },
    #[error("{message} message: {style} flow descriptor list at offset {offset}: {reason}")]
    FlowDescriptor {
        message: MsgType,
        style: StyleKind,
        offset: usize,
        reason: &'static str,
    },
    #[error("buffer too small: need {need} bytes, have {have}")]
    BufferTooSmall { need: usize, have: usize },
    #[error("{what} of {length} bytes does not fit its 16-bit length field")]
    TooLong { what: &'static str, length: usize },
    #[error("cannot emit {message} message: {reason}")]
    InvalidModel {
        message: MsgType,
        reason: &'static str,
    },
    #[error("Ethernet frame: expected EtherType 0x0800 (IPv4), found {found:#06x}")]
    FrameEtherType { found: u16 },
    #[error("IPv4 header: expected {expected}, found {found}")]
    FrameIpv4 {
        expected: &'static str,
        found: usize,
    },
    #[error("IPv4 header checksum: the header sums to {computed:#06x}, expected 0xffff")]
    FrameIpv4Checksum { computed: u16 },
    #[error("IPv4 protocol: expected 46 (RSVP), found {found}")]
    FrameNotRsvp { found: u8 },
}

impl Error {
    /// The ERROR_SPEC code and value (RFC 2205 Appendix B) a node would send
    /// back for this parse error, where the RFC names one.
    pub fn rsvp_error(&self) -> Option<(u8, u16)> {
        match *self {
            Error::UnknownClass {
                class_num, c_type, ..
            } => Some((
                crate::object::error_code::UNKNOWN_OBJECT_CLASS,
                u16::from_be_bytes([class_num, c_type]),
            )),
            Error::UnknownCType { class, c_type, .. } => Some((
                crate::object::error_code::UNKNOWN_C_TYPE,
                u16::from_be_bytes([class.0, c_type]),
            )),
            Error::UnknownStyle { .. } => Some((crate::object::error_code::UNKNOWN_STYLE, 0)),
            Error::BadObject { class, .. } => {
                let value = match class {
                    ClassNum::FLOWSPEC => 3,
                    ClassNum::SENDER_TSPEC => 4,
                    ClassNum::ADSPEC => 5,
                    _ => return None,
                };
                Some((crate::object::error_code::TRAFFIC_CONTROL_ERROR, value))
            }
            _ => None,
        }
    }
}
