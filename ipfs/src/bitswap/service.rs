//! The Bitswap tasks: the service loop, one reader per inbound stream and one writer per
//! peer (which owns our outbound stream to that peer).

use std::sync::Arc;

use bytes::Bytes;

use futures::{Stream, StreamExt as _};
use libp2p::{PeerId, StreamProtocol};
use libp2p_stream::{Control, OpenStreamError};
use tokio::task::JoinSet;

use super::{
    state::{Counters, OutEntry, Shared},
    wire::{self, BlockPresence, Entry, Message, Payload, ReadError, Wantlist},
    PROTOCOL_1_1, PROTOCOL_1_2,
};
use crate::{block::cid_prefix, MAX_BLOCK_SIZE};

/// Bytes read from a stream at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Marks the shared state closed when the service future ends or is dropped.
struct CloseOnDrop(Arc<Shared>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Accepts inbound streams and spawns readers and writers; dropping it stops them all.
pub(crate) async fn run<S>(shared: Arc<Shared>, control: Control, mut incoming: S)
where
    S: Stream<Item = (PeerId, libp2p::Stream)> + Unpin,
{
    let _close = CloseOnDrop(shared.clone());
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            next = incoming.next() => {
                let Some((peer, stream)) = next else {
                    tracing::debug!("bitswap: inbound streams ended, stopping");
                    break;
                };
                if shared.inbound_opened(&peer) {
                    tasks.spawn(reader(shared.clone(), peer, stream));
                } else {
                    tracing::debug!(%peer, "bitswap: refusing an inbound stream over the limits");
                    Counters::add(&shared.counters.streams_refused, 1);
                }
            }
            () = shared.wake_service.notified() => {
                for peer in shared.take_to_spawn() {
                    tasks.spawn(writer(shared.clone(), control.clone(), peer));
                }
            }
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = joined {
                    if e.is_panic() {
                        tracing::error!(error = %e, "bitswap: a task panicked");
                    }
                }
            }
        }
    }
}

/// Reads messages from one inbound stream until it ends or misbehaves.
async fn reader(shared: Arc<Shared>, peer: PeerId, mut stream: libp2p::Stream) {
    let max = shared.config.max_message_size;
    let mut scratch = vec![0u8; READ_CHUNK];
    loop {
        let read = wire::read_message(&mut stream, max, shared.config.io_timeout, &mut scratch);
        match read.await {
            Ok(Some(message)) => shared.handle_message(&peer, message),
            Ok(None) => break,
            Err(ReadError::Io(e)) => {
                tracing::debug!(%peer, error = %e, "bitswap: inbound stream failed");
                break;
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "bitswap: dropping the stream of a bad message");
                Counters::add(&shared.counters.messages_dropped, 1);
                break;
            }
        }
    }
    shared.inbound_closed(&peer);
}

/// An open outbound stream and whether the peer speaks 1.2.0.
struct Outbound {
    stream: libp2p::Stream,
    v1_2: bool,
}

/// Sends `peer` our wants and its answers, on one outbound stream; ends when idle or
/// when the peer cannot be reached.
async fn writer(shared: Arc<Shared>, mut control: Control, peer: PeerId) {
    let mut outbound: Option<Outbound> = None;
    loop {
        let (notify, has_work) = shared.writer_status(&peer);
        if !has_work {
            match tokio::time::timeout(shared.config.idle_timeout, notify.notified()).await {
                Ok(()) => continue,
                Err(_) if shared.writer_idle(&peer) => return,
                Err(_) => continue,
            }
        }
        let out = match outbound.take() {
            Some(out) => out,
            None => match open(&shared, &mut control, peer).await {
                Ok(out) => out,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "bitswap: cannot open a stream to the peer");
                    shared.writer_failed(&peer);
                    return;
                }
            },
        };
        let out = outbound.insert(out);
        let Some(batch) = build_batch(&shared, &peer, out.v1_2) else {
            continue;
        };
        let frame = wire::encode_frame(batch.message);
        if let Err(e) = write(&shared, out, &frame).await {
            // The peer may have closed an idle stream: open a new one, once. A peer too
            // slow to take a message gets no second chance.
            tracing::debug!(%peer, error = %e, "bitswap: write failed; reopening the stream");
            outbound = None;
            let retried = if e.kind() == std::io::ErrorKind::TimedOut {
                Err(e)
            } else {
                match open(&shared, &mut control, peer).await {
                    Ok(out) => {
                        let out = outbound.insert(out);
                        write(&shared, out, &frame).await
                    }
                    Err(e) => Err(e),
                }
            };
            if let Err(e) = retried {
                tracing::debug!(%peer, error = %e, "bitswap: cannot write to the peer");
                shared.writer_failed(&peer);
                return;
            }
        }
        Counters::add(&shared.counters.blocks_sent, batch.blocks);
        Counters::add(&shared.counters.bytes_sent, batch.bytes);
    }
}

async fn write(shared: &Shared, out: &mut Outbound, frame: &[Bytes]) -> std::io::Result<()> {
    tokio::time::timeout(
        shared.config.io_timeout,
        wire::write_frame(&mut out.stream, frame),
    )
    .await
    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

async fn open(
    shared: &Shared,
    control: &mut Control,
    peer: PeerId,
) -> Result<Outbound, std::io::Error> {
    let timeout = shared.config.io_timeout;
    match open_with(control, peer, PROTOCOL_1_2, timeout).await {
        Ok(stream) => Ok(Outbound { stream, v1_2: true }),
        Err(OpenStreamError::UnsupportedProtocol(_)) => {
            let stream = open_with(control, peer, PROTOCOL_1_1, timeout)
                .await
                .map_err(std::io::Error::other)?;
            Ok(Outbound {
                stream,
                v1_2: false,
            })
        }
        Err(e) => Err(std::io::Error::other(e)),
    }
}

async fn open_with(
    control: &mut Control,
    peer: PeerId,
    protocol: StreamProtocol,
    timeout: std::time::Duration,
) -> Result<libp2p::Stream, OpenStreamError> {
    tokio::time::timeout(timeout, control.open_stream(peer, protocol))
        .await
        .unwrap_or_else(|_| Err(OpenStreamError::Io(std::io::ErrorKind::TimedOut.into())))
}

/// What one message will carry.
#[derive(Default)]
struct Batch {
    message: Message,
    blocks: u64,
    bytes: u64,
}

/// Upper bounds of what each part adds to an encoded message.
const ENTRY_OVERHEAD: usize = 32;
const PAYLOAD_OVERHEAD: usize = 32;
const PRESENCE_OVERHEAD: usize = 16;

/// Takes our pending entries and serves the peer's requests, in priority order, up to the
/// message size and entry limits. Every request looked at is answered or left queued for
/// the next message, so each call makes progress while there is work.
fn build_batch(shared: &Shared, peer: &PeerId, v1_2: bool) -> Option<Batch> {
    let config = &shared.config;
    let budget = config.max_message_size.saturating_sub(64);
    let mut size = 0;
    let mut batch = Batch::default();

    let entries = shared.take_outbox(
        peer,
        config
            .max_wants_per_message
            .clamp(1, config.max_entries_per_message.max(1)),
    );
    if !entries.is_empty() {
        let entries: Vec<Entry> = entries
            .into_iter()
            .map(|e: OutEntry| {
                let block = e.cid.to_bytes();
                size += block.len() + ENTRY_OVERHEAD;
                Entry {
                    block: block.into(),
                    priority: e.priority,
                    cancel: e.cancel,
                    want_type: wire::WANT_BLOCK,
                    send_dont_have: v1_2 && !e.cancel,
                }
            })
            .collect();
        batch.message.wantlist = Some(Wantlist {
            entries,
            full: false,
        });
    }

    let mut answers = 0;
    while answers < config.max_entries_per_message {
        let Some((key, request)) = shared.peek_request(peer) else {
            break;
        };
        let cid = request.cid;
        let found = if request.have_only {
            shared.store.has(&cid).map(|has| has.then(Bytes::new))
        } else {
            shared.store.get(&cid)
        };
        let found = found.unwrap_or_else(|e| {
            tracing::warn!(%cid, error = %e, "bitswap: block store failed; answering as missing");
            None
        });
        let (payload, presence) = match found {
            Some(data) if !request.have_only && data.len() <= MAX_BLOCK_SIZE => {
                let cost = data.len() + PAYLOAD_OVERHEAD;
                if size + cost > budget && answers > 0 {
                    break; // next message
                }
                size += cost;
                let payload = Payload {
                    prefix: cid_prefix(&cid),
                    data,
                };
                (Some(payload), None)
            }
            Some(_) if request.have_only => (None, v1_2.then_some(wire::PRESENCE_HAVE)),
            _ => {
                if !request.have_only {
                    tracing::debug!(%peer, %cid, "bitswap: asked for a block we do not have");
                }
                (
                    None,
                    (v1_2 && request.send_dont_have).then_some(wire::PRESENCE_DONT_HAVE),
                )
            }
        };
        if !shared.take_request(peer, &key) {
            continue; // cancelled while we looked
        }
        answers += 1;
        if let Some(payload) = payload {
            batch.blocks += 1;
            batch.bytes += payload.data.len() as u64;
            batch.message.payload.push(payload);
        }
        if let Some(r#type) = presence {
            let cid = cid.to_bytes();
            size += cid.len() + PRESENCE_OVERHEAD;
            batch.message.block_presences.push(BlockPresence {
                cid: cid.into(),
                r#type,
            });
            if size > budget {
                break;
            }
        }
    }

    let empty = batch.message.wantlist.is_none()
        && batch.message.payload.is_empty()
        && batch.message.block_presences.is_empty();
    (!empty).then_some(batch)
}
