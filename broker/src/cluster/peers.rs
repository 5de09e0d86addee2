//! Outgoing connections to other nodes: one per peer address, shared by every Raft group.
//!
//! Each peer has a task that owns its socket: callers hand it encoded frames, it writes
//! whatever is queued in one go, and a reader resolves each response by id. A dead peer fails
//! calls at once (openraft backs off and retries); the next call reconnects.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

use super::wire::{self, Frame, Request, Response};
use super::{write_coalesced, FRAME_BYTES_MAX};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// After a failed connect, calls fail fast for this long instead of each trying again.
const RECONNECT_DELAY: Duration = Duration::from_millis(200);

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("peer {0} unreachable: {1}")]
    Unreachable(String, String),
    #[error("peer {0} did not answer within {1:?}")]
    Timeout(String, Duration),
    #[error("encoding a request for {0}: {1}")]
    Encode(String, String),
    #[error("a request of {1} bytes for {0} exceeds the {FRAME_BYTES_MAX}-byte frame cap")]
    TooLarge(String, usize),
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Response>>>>;

/// Every peer this node has talked to, by Raft address.
#[derive(Default)]
pub struct Peers {
    clients: Mutex<HashMap<String, Arc<PeerClient>>>,
}

impl Peers {
    pub fn get(&self, addr: &str) -> Arc<PeerClient> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(addr.to_string())
            .or_insert_with(|| PeerClient::start(addr.to_string()))
            .clone()
    }

    /// Whether `addr` answered any call within `window` (false if never contacted).
    pub fn heard_within(&self, addr: &str, window: Duration) -> bool {
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients.get(addr).is_some_and(|c| c.heard_within(window))
    }
}

pub struct PeerClient {
    addr: String,
    next_id: AtomicU64,
    queue: mpsc::UnboundedSender<Bytes>,
    pending: Pending,
    /// Milliseconds since `epoch` of the last response; 0: never.
    last_heard_ms: Arc<AtomicU64>,
    epoch: Instant,
}

impl PeerClient {
    fn start(addr: String) -> Arc<PeerClient> {
        let (queue, frames) = mpsc::unbounded_channel();
        let client = Arc::new(PeerClient {
            addr: addr.clone(),
            next_id: AtomicU64::new(1),
            queue,
            pending: Pending::default(),
            last_heard_ms: Arc::new(AtomicU64::new(0)),
            epoch: Instant::now(),
        });
        tokio::spawn(run_connection(
            addr,
            frames,
            client.pending.clone(),
            client.last_heard_ms.clone(),
            client.epoch,
        ));
        client
    }

    fn heard_within(&self, window: Duration) -> bool {
        let last = self.last_heard_ms.load(Ordering::Acquire);
        last != 0
            && (self.epoch.elapsed().as_millis() as u64).saturating_sub(last)
                <= window.as_millis() as u64
    }

    pub async fn call(&self, request: Request, timeout: Duration) -> Result<Response, CallError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = wire::encode(&Frame { id, body: request })
            .map_err(|e| CallError::Encode(self.addr.clone(), e.to_string()))?;
        if frame.len() > FRAME_BYTES_MAX {
            // The peer would close the connection every group shares; fail this call alone.
            return Err(CallError::TooLarge(self.addr.clone(), frame.len()));
        }
        let (reply, replied) = oneshot::channel();
        lock(&self.pending).insert(id, reply);
        if self.queue.send(frame).is_err() {
            lock(&self.pending).remove(&id);
            return Err(self.unreachable("connection task stopped"));
        }
        match tokio::time::timeout(timeout, replied).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(_)) => Err(self.unreachable("connection lost")),
            Err(_) => {
                lock(&self.pending).remove(&id);
                Err(CallError::Timeout(self.addr.clone(), timeout))
            }
        }
    }

    fn unreachable(&self, why: &str) -> CallError {
        CallError::Unreachable(self.addr.clone(), why.to_string())
    }
}

fn lock(pending: &Pending) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Response>>> {
    pending.lock().unwrap_or_else(|p| p.into_inner())
}

/// Owns the socket to one peer for the life of the process: connects on demand, writes queued
/// frames, and fails the pending calls whenever the connection drops or cannot be made.
async fn run_connection(
    addr: String,
    mut frames: mpsc::UnboundedReceiver<Bytes>,
    pending: Pending,
    last_heard_ms: Arc<AtomicU64>,
    epoch: Instant,
) {
    while let Some(first) = frames.recv().await {
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr)).await {
            Ok(Ok(stream)) => stream,
            failed => {
                let why = match failed {
                    Ok(Err(error)) => error.to_string(),
                    _ => "connect timed out".to_string(),
                };
                tracing::debug!(peer = %addr, %why, "peer connect failed");
                // Every call queued for this peer fails now; openraft retries with backoff.
                // Calls made during the delay fail too instead of each trying to connect.
                let deadline = tokio::time::Instant::now() + RECONNECT_DELAY;
                loop {
                    while frames.try_recv().is_ok() {}
                    lock(&pending).clear();
                    if tokio::time::Instant::now() >= deadline {
                        break;
                    }
                    tokio::time::sleep_until(deadline).await;
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tracing::debug!(peer = %addr, "connected to peer");
        let (read_half, mut write_half) = stream.into_split();
        let mut reader = tokio::spawn(read_responses(
            read_half,
            pending.clone(),
            last_heard_ms.clone(),
            epoch,
        ));
        let mut buffer = BytesMut::new();
        let mut next = Some(first);
        while let Some(frame) = next.take() {
            if let Err(error) =
                write_coalesced(&mut write_half, &mut buffer, frame, &mut frames).await
            {
                tracing::debug!(peer = %addr, %error, "peer write failed");
                break;
            }
            next = tokio::select! {
                frame = frames.recv() => match frame {
                    Some(frame) => Some(frame),
                    None => { reader.abort(); return; }
                },
                _ = &mut reader => None,
            };
        }
        reader.abort();
        lock(&pending).clear();
    }
}

async fn read_responses(
    read_half: tokio::net::tcp::OwnedReadHalf,
    pending: Pending,
    last_heard_ms: Arc<AtomicU64>,
    epoch: Instant,
) {
    let codec = LengthDelimitedCodec::builder()
        .max_frame_length(FRAME_BYTES_MAX)
        .new_codec();
    let mut frames = FramedRead::new(read_half, codec);
    while let Some(Ok(bytes)) = frames.next().await {
        let Ok(frame) = wire::decode::<Response>(&bytes) else {
            tracing::warn!("undecodable response from peer; dropping the connection");
            return;
        };
        last_heard_ms.store(
            (epoch.elapsed().as_millis() as u64).max(1),
            Ordering::Release,
        );
        if let Some(reply) = lock(&pending).remove(&frame.id) {
            let _ = reply.send(frame.body);
        }
    }
}
