//! The gRPC codec of the generated client and server: prost messages, as
//! `tonic_prost::ProstCodec` has them, except that a message is decoded
//! from one contiguous `Bytes` rather than through tonic's receive buffer.
//!
//! Decoding through the receive buffer moves it forward byte by byte and
//! splits it for every `bytes` field; a table entry has a dozen such
//! fields, and that bookkeeping cost about as much as the rest of its
//! decoding. Taking the message out of the buffer first (a split, no copy)
//! and decoding the `Bytes` leaves only the work of the message itself.
//! The bytes decoded are the same, so are the messages and the errors.

use std::marker::PhantomData;

use prost::bytes::Buf;
use tonic::codec::{BufferSettings, DecodeBuf, Decoder};
use tonic::Status;

/// Codec of the generated gRPC code: encodes as `tonic_prost` does and
/// decodes from a contiguous copy-free view of each message.
#[derive(Debug, Clone)]
pub struct Codec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for Codec<T, U> {
    fn default() -> Self {
        Codec(PhantomData)
    }
}

impl<T, U> tonic::codec::Codec for Codec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = tonic_prost::ProstEncoder<T>;
    type Decoder = MessageDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::new(buffer_settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        MessageDecoder(PhantomData)
    }
}

/// Decodes a `U` from one whole message of the receive buffer.
#[derive(Debug, Clone)]
pub struct MessageDecoder<U>(PhantomData<U>);

impl<U: prost::Message + Default> Decoder for MessageDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        let message = buf.copy_to_bytes(buf.remaining());
        // Protobuf parse errors are INTERNAL, as gRPC maps them.
        U::decode(message)
            .map(Some)
            .map_err(|e| Status::internal(e.to_string()))
    }

    fn buffer_settings(&self) -> BufferSettings {
        buffer_settings()
    }
}

/// Buffers of every call start small: most P4Runtime messages (a Write of
/// one update, its empty answer) take a few dozen bytes, and the buffers
/// grow as larger ones need. (tonic's default allocates 8 KiB for each.)
/// Streamed answers are still sent in pieces of 32 KiB, as by default.
fn buffer_settings() -> BufferSettings {
    BufferSettings::new(256, 32 * 1024)
}
