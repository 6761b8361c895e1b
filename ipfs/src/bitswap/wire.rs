//! Bitswap's protobuf message and its unsigned-varint length framing.

use std::time::Duration;

use bytes::{BufMut as _, Bytes, BytesMut};
use futures::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use prost::Message as _;

/// A Bitswap message (1.0.0 to 1.2.0 fields).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Message {
    /// Wants and cancels.
    #[prost(message, optional, tag = "1")]
    pub(crate) wantlist: Option<Wantlist>,
    /// Bitswap 1.0.0 blocks (CIDv0, sha2-256 dag-pb implied).
    #[prost(bytes = "bytes", repeated, tag = "2")]
    pub(crate) blocks: Vec<Bytes>,
    /// Blocks with their CID prefix (1.1.0+).
    #[prost(message, repeated, tag = "3")]
    pub(crate) payload: Vec<Payload>,
    /// Have / DontHave answers (1.2.0).
    #[prost(message, repeated, tag = "4")]
    pub(crate) block_presences: Vec<BlockPresence>,
    /// Bytes the sender still has queued for us (1.2.0; informational).
    #[prost(int32, tag = "5")]
    pub(crate) pending_bytes: i32,
}

/// The sender's wantlist, whole or as changes.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Wantlist {
    /// Entries.
    #[prost(message, repeated, tag = "1")]
    pub(crate) entries: Vec<Entry>,
    /// Whether this replaces the previous wantlist.
    #[prost(bool, tag = "2")]
    pub(crate) full: bool,
}

/// `WantType.Block`: send me the block.
pub(crate) const WANT_BLOCK: i32 = 0;
/// `WantType.Have`: tell me whether you have it.
pub(crate) const WANT_HAVE: i32 = 1;
/// `BlockPresenceType.Have`.
pub(crate) const PRESENCE_HAVE: i32 = 0;
/// `BlockPresenceType.DontHave`.
pub(crate) const PRESENCE_DONT_HAVE: i32 = 1;

/// One want or cancel.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Entry {
    /// CID bytes.
    #[prost(bytes = "bytes", tag = "1")]
    pub(crate) block: Bytes,
    /// Higher first.
    #[prost(int32, tag = "2")]
    pub(crate) priority: i32,
    /// Revokes an earlier want.
    #[prost(bool, tag = "3")]
    pub(crate) cancel: bool,
    /// [`WANT_BLOCK`] or [`WANT_HAVE`].
    #[prost(int32, tag = "4")]
    pub(crate) want_type: i32,
    /// Answer DontHave when the block is missing.
    #[prost(bool, tag = "5")]
    pub(crate) send_dont_have: bool,
}

/// A block and the prefix of its CID.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Payload {
    /// CID version, codec, multihash code and length.
    #[prost(bytes = "vec", tag = "1")]
    pub(crate) prefix: Vec<u8>,
    /// The block's bytes.
    #[prost(bytes = "bytes", tag = "2")]
    pub(crate) data: Bytes,
}

/// Whether the sender has a block.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct BlockPresence {
    /// CID bytes.
    #[prost(bytes = "bytes", tag = "1")]
    pub(crate) cid: Bytes,
    /// [`PRESENCE_HAVE`] or [`PRESENCE_DONT_HAVE`].
    #[prost(int32, tag = "2")]
    pub(crate) r#type: i32,
}

/// Why a message could not be read; the stream is dropped in every case.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// The stream failed or ended inside a message.
    #[error("stream error: {0}")]
    Io(#[from] std::io::Error),
    /// The length prefix is not a varint.
    #[error("invalid length prefix")]
    Prefix,
    /// The message is larger than allowed.
    #[error("message of {size} bytes exceeds the {max}-byte limit")]
    TooLarge { size: u64, max: usize },
    /// The message is not valid protobuf.
    #[error("malformed message: {0}")]
    Decode(#[from] prost::DecodeError),
}

/// Reads one length-prefixed message; `Ok(None)` at a clean end of stream.
///
/// Waiting for a message has no time limit; once its length has arrived, its body must
/// arrive within `body_timeout`. The body's buffer is reserved at the announced length
/// (at most `max`) but only touched, so resident, as bytes arrive; they pass through
/// `scratch`, which the caller reuses from message to message.
pub(crate) async fn read_message<R>(
    io: &mut R,
    max: usize,
    body_timeout: Duration,
    scratch: &mut [u8],
) -> Result<Option<Message>, ReadError>
where
    R: AsyncRead + Unpin,
{
    let Some(len) = read_length(io, max).await? else {
        return Ok(None);
    };
    let mut body = Vec::with_capacity(len);
    let fill = async {
        while body.len() < len {
            let want = (len - body.len()).min(scratch.len());
            let n = io.read(&mut scratch[..want]).await?;
            if n == 0 {
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
            }
            body.extend_from_slice(&scratch[..n]);
        }
        Ok(())
    };
    tokio::time::timeout(body_timeout, fill)
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    if crate::record::enabled() {
        let mut frame = Vec::with_capacity(body.len() + 10);
        let mut prefix = unsigned_varint::encode::usize_buffer();
        frame.extend_from_slice(unsigned_varint::encode::usize(len, &mut prefix));
        frame.extend_from_slice(&body);
        crate::record::input("bitswap", &frame);
    }
    Ok(Some(Message::decode(Bytes::from(body))?))
}

/// Reads a minimal unsigned-varint length of at most `max`; `None` at end of stream.
async fn read_length<R>(io: &mut R, max: usize) -> Result<Option<usize>, ReadError>
where
    R: AsyncRead + Unpin,
{
    let mut len: u64 = 0;
    for i in 0u32..10 {
        let mut byte = [0u8; 1];
        if io.read(&mut byte).await? == 0 {
            if i == 0 {
                return Ok(None);
            }
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        len |= u64::from(byte[0] & 0x7f) << (7 * i);
        if byte[0] & 0x80 == 0 {
            if i > 0 && byte[0] == 0 {
                return Err(ReadError::Prefix); // not minimal
            }
            return match usize::try_from(len) {
                Ok(len) if len <= max => Ok(Some(len)),
                _ => Err(ReadError::TooLarge { size: len, max }),
            };
        }
        // A minimal varint that goes on is at least 2^(7 * (i + 1)).
        if 1u64
            .checked_shl(7 * (i + 1))
            .is_none_or(|least| least > max as u64)
        {
            return Err(ReadError::TooLarge { size: len, max });
        }
    }
    Err(ReadError::Prefix)
}

/// Encodes `message` with its length prefix, as chunks to write in order. Block data is
/// not copied: each payload's bytes are a chunk of their own, after a small header.
pub(crate) fn encode_frame(mut message: Message) -> Vec<Bytes> {
    let payload = std::mem::take(&mut message.payload);
    let field = |len: usize| 1 + prost::length_delimiter_len(len) + len;
    let inner = |p: &Payload| field(p.prefix.len()) + field(p.data.len());
    let total = message.encoded_len() + payload.iter().map(|p| field(inner(p))).sum::<usize>();
    let mut head = BytesMut::with_capacity(message.encoded_len() + 16 + 24 * payload.len());
    // A BytesMut grows as needed, so encoding into it cannot fail.
    let _ = prost::encode_length_delimiter(total, &mut head);
    let _ = message.encode(&mut head);
    let mut chunks = Vec::with_capacity(2 * payload.len() + 1);
    for p in payload {
        // Field 3 (payload), then its fields 1 (prefix) and 2 (data), both always written.
        head.put_u8(0x1a);
        let _ = prost::encode_length_delimiter(inner(&p), &mut head);
        head.put_u8(0x0a);
        let _ = prost::encode_length_delimiter(p.prefix.len(), &mut head);
        head.put_slice(&p.prefix);
        head.put_u8(0x12);
        let _ = prost::encode_length_delimiter(p.data.len(), &mut head);
        chunks.push(head.split().freeze());
        chunks.push(p.data);
    }
    if !head.is_empty() {
        chunks.push(head.freeze());
    }
    chunks
}

/// Writes an encoded message and flushes.
pub(crate) async fn write_frame<W>(io: &mut W, chunks: &[Bytes]) -> std::io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    for chunk in chunks {
        io.write_all(chunk).await?;
    }
    io.flush().await
}

#[cfg(test)]
mod tests {
    use futures::io::Cursor;

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn sample() -> Message {
        Message {
            wantlist: Some(Wantlist {
                entries: vec![Entry {
                    block: Bytes::from_static(b"\x01\x55\x1e\x20abc"),
                    priority: 7,
                    cancel: false,
                    want_type: WANT_HAVE,
                    send_dont_have: true,
                }],
                full: false,
            }),
            blocks: vec![],
            payload: vec![Payload {
                prefix: vec![1, 0x55, 0x1e, 32],
                data: Bytes::from_static(b"data"),
            }],
            block_presences: vec![BlockPresence {
                cid: Bytes::from_static(b"cid"),
                r#type: PRESENCE_DONT_HAVE,
            }],
            pending_bytes: 0,
        }
    }

    fn bytes_of(message: Message) -> Vec<u8> {
        encode_frame(message).concat()
    }

    #[tokio::test]
    async fn frames_roundtrip() {
        let frame = bytes_of(sample());
        let mut empty_block = sample();
        empty_block.payload.push(Payload {
            prefix: vec![1, 0x55, 0x1e, 32],
            data: Bytes::new(),
        });
        let mut io = Cursor::new([frame.clone(), frame, bytes_of(empty_block.clone())].concat());
        for expected in [sample(), sample(), empty_block] {
            let read = read_message(&mut io, 1 << 20, SECOND, &mut [0; 7]).await;
            assert_eq!(read.expect("reads"), Some(expected));
        }
        assert!(matches!(
            read_message(&mut io, 1 << 20, SECOND, &mut [0; 64]).await,
            Ok(None)
        ));
    }

    #[tokio::test]
    async fn oversized_truncated_and_junk_frames_are_errors() {
        let mut big = Cursor::new(vec![0x80, 0x80, 0x80, 0x04]); // 8 MiB
        let result = read_message(&mut big, 4 << 20, SECOND, &mut [0; 64]).await;
        assert!(matches!(result, Err(ReadError::TooLarge { .. })));
        let mut short = Cursor::new(vec![10, 1, 2]);
        assert!(matches!(
            read_message(&mut short, 100, SECOND, &mut [0; 64]).await,
            Err(ReadError::Io(_))
        ));
        let mut junk = Cursor::new(vec![4, 0x0f, 0x0f, 0x0f, 0x0f]);
        assert!(matches!(
            read_message(&mut junk, 100, SECOND, &mut [0; 64]).await,
            Err(ReadError::Decode(_))
        ));
        let mut endless = Cursor::new(vec![0xff; 20]);
        assert!(read_message(&mut endless, usize::MAX, SECOND, &mut [0; 64])
            .await
            .is_err());
    }
}
