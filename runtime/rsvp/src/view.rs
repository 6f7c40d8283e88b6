//! Zero-copy views over RSVP bytes. Lengths are checked once, when a view is
//! made; after that no accessor can read out of bounds.

use crate::error::Error;
use crate::wire::{be16, fold, ones_sum, ClassNum};

/// Length of the RSVP common header.
pub const HEADER_LEN: usize = 8;
/// Length of an object header.
pub const OBJECT_HEADER_LEN: usize = 4;

/// A checked view of one RSVP message: the common header is present, the
/// length field is at least 8, a multiple of 4 and no longer than the
/// buffer. The view covers exactly `length()` bytes; bytes after them are
/// not part of the message.
#[derive(Debug, Clone, Copy)]
pub struct MessageView<'a> {
    bytes: &'a [u8],
}

impl<'a> MessageView<'a> {
    /// Checks the header and the message length against `buf`.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Error> {
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated {
                what: "RSVP common header",
                offset: 0,
                need: HEADER_LEN,
                have: buf.len(),
            });
        }
        let length = usize::from(be16(buf, 6));
        if length < HEADER_LEN {
            return Err(Error::MessageLength {
                found: length,
                reason: "at least 8 (the common header)",
            });
        }
        if length % 4 != 0 {
            return Err(Error::MessageLength {
                found: length,
                reason: "a multiple of 4",
            });
        }
        if length > buf.len() {
            return Err(Error::Truncated {
                what: "RSVP message",
                offset: 0,
                need: length,
                have: buf.len(),
            });
        }
        Ok(MessageView {
            bytes: &buf[..length],
        })
    }

    /// The message's bytes, header included.
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    #[inline]
    pub fn version(&self) -> u8 {
        self.bytes[0] >> 4
    }
    #[inline]
    pub fn flags(&self) -> u8 {
        self.bytes[0] & 0x0f
    }
    /// The message type number, not checked against the seven known types.
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.bytes[1]
    }
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(self.bytes, 2)
    }
    #[inline]
    pub fn send_ttl(&self) -> u8 {
        self.bytes[4]
    }
    #[inline]
    pub fn reserved(&self) -> u8 {
        self.bytes[5]
    }
    #[inline]
    pub fn length(&self) -> usize {
        self.bytes.len()
    }
    /// Whether the checksum field verifies: the one's complement sum over the
    /// whole message, checksum included, is 0xffff. A zero field (checksum
    /// not transmitted) verifies only if the sum happens to work out.
    #[inline]
    pub fn checksum_ok(&self) -> bool {
        self.checksum_sum() == 0xffff
    }
    #[inline]
    pub(crate) fn checksum_sum(&self) -> u16 {
        fold(ones_sum(self.bytes))
    }
    /// The objects after the common header, each length-checked as it is
    /// reached.
    #[inline]
    pub fn objects(&self) -> ObjectIter<'a> {
        ObjectIter {
            bytes: self.bytes,
            pos: HEADER_LEN,
        }
    }
}

/// A checked view of one object: length at least 4, a multiple of 4, and
/// within its message.
#[derive(Debug, Clone, Copy)]
pub struct ObjectView<'a> {
    offset: usize,
    bytes: &'a [u8],
}

impl<'a> ObjectView<'a> {
    /// Offset of the object header from the start of the message.
    #[inline]
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// Whole object length, header included.
    #[inline]
    pub fn length(&self) -> usize {
        self.bytes.len()
    }
    #[inline]
    pub fn class_num(&self) -> ClassNum {
        ClassNum(self.bytes[2])
    }
    #[inline]
    pub fn c_type(&self) -> u8 {
        self.bytes[3]
    }
    /// The object's contents after its 4-byte header.
    #[inline]
    pub fn body(&self) -> &'a [u8] {
        &self.bytes[OBJECT_HEADER_LEN..]
    }
    /// The object's bytes, header included.
    #[inline]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// Iterates the objects of a message. After the first error it yields
/// nothing more.
#[derive(Debug, Clone)]
pub struct ObjectIter<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> ObjectIter<'a> {
    /// Offset of the next object, or the message length at the end.
    #[inline]
    pub fn offset(&self) -> usize {
        self.pos
    }
}

impl<'a> ObjectIter<'a> {
    /// The next object as `Ok(None)` at the end; after an error the
    /// iterator is at the end.
    #[inline]
    pub(crate) fn next_object(&mut self) -> Result<Option<ObjectView<'a>>, Error> {
        let offset = self.pos;
        let Some(rest) = self.bytes.get(offset..) else {
            return Ok(None);
        };
        if rest.is_empty() {
            return Ok(None);
        }
        if rest.len() >= OBJECT_HEADER_LEN {
            let length = usize::from(be16(rest, 0));
            if length >= OBJECT_HEADER_LEN && length % 4 == 0 && length <= rest.len() {
                self.pos = offset + length;
                return Ok(Some(ObjectView {
                    offset,
                    bytes: &rest[..length],
                }));
            }
        }
        // Stop after this error.
        self.pos = self.bytes.len();
        Err(bad_object_header(rest, offset))
    }
}

/// The error for the object header at `offset`, `rest` being the message
/// from there on, which failed the checks of [`ObjectIter::next_object`].
#[cold]
#[inline(never)]
fn bad_object_header(rest: &[u8], offset: usize) -> Error {
    if rest.len() < OBJECT_HEADER_LEN {
        return Error::Truncated {
            what: "object header",
            offset,
            need: OBJECT_HEADER_LEN,
            have: rest.len(),
        };
    }
    let length = usize::from(be16(rest, 0));
    let reason = if length < OBJECT_HEADER_LEN {
        "at least 4 (the object header)"
    } else if length % 4 != 0 {
        "a multiple of 4"
    } else {
        "no more than the bytes left in the message"
    };
    Error::ObjectLength {
        class: ClassNum(rest[2]),
        offset,
        length,
        reason,
    }
}

impl<'a> Iterator for ObjectIter<'a> {
    type Item = Result<ObjectView<'a>, Error>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.next_object().transpose()
    }
}
