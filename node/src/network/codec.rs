//! The request-response codec: one length-prefixed, size-bounded CBOR message per stream.
//!
//! Requests are small (at most [`MAX_GOSSIP_SIZE`]); responses carry a shard output or a
//! scene bundle (at most [`MAX_RESPONSE_SIZE`]). Anything longer, malformed or not strictly
//! canonical is an I/O error for that one stream: the peer's request fails, nothing else.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use pictor_protocol::{codec, Request, Response, MAX_GOSSIP_SIZE, MAX_RESPONSE_SIZE};

/// The protocol name of Pictor's point-to-point fetches.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/pictor/fetch/1");

/// The request-response codec for [`Request`] and [`Response`].
#[derive(Debug, Clone, Default)]
pub struct Codec;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message of {len} bytes exceeds the limit of {max}"),
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "message too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(bytes).await?;
    io.close().await
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl libp2p::request_response::Codec for Codec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Request>
    where
        T: AsyncRead + Unpin + Send,
    {
        let bytes = read_frame(io, MAX_GOSSIP_SIZE).await?;
        pictor_ipfs::record::input("request", &bytes);
        codec::decode(&bytes, MAX_GOSSIP_SIZE).map_err(invalid)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Response>
    where
        T: AsyncRead + Unpin + Send,
    {
        let bytes = read_frame(io, MAX_RESPONSE_SIZE).await?;
        pictor_ipfs::record::input("response", &bytes);
        codec::decode(&bytes, MAX_RESPONSE_SIZE).map_err(invalid)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Request,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &codec::encode(&request)).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Response,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &codec::encode(&response)).await
    }
}
