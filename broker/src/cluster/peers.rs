//! Outgoing connections to other nodes: one per peer address, shared by every Raft group.
//!
//! Each peer has a task that owns its socket: callers hand it encoded frames, it writes
//! whatever is queued in one go, and a reader resolves each response by id. A dead peer fails
//! calls at once (openraft backs off and retries); the next call reconnects. With cluster TLS
//! a connection carries frames only once the TLS handshake has authenticated both ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

use super::tls::ClusterTls;
use super::wire::{self, Frame, Request, Response};
use super::{write_coalesced, FRAME_BYTES_MAX};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// After a failed connect, calls fail fast for this long instead of each trying again.
const RECONNECT_DELAY: Duration = Duration::from_millis(200);
/// A peer that keeps refusing the TLS handshake is logged at most this often.
const TLS_WARNING_INTERVAL: Duration = Duration::from_secs(10);

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
    /// Set when the controller listener is SSL: every connection is mutual TLS.
    tls: Option<Arc<ClusterTls>>,
}

impl Peers {
    pub fn new(tls: Option<Arc<ClusterTls>>) -> Peers {
        Peers {
            clients: Mutex::default(),
            tls,
        }
    }

    pub fn get(&self, addr: &str) -> Arc<PeerClient> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry(addr.to_string())
            .or_insert_with(|| PeerClient::start(addr.to_string(), self.tls.clone()))
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
    fn start(addr: String, tls: Option<Arc<ClusterTls>>) -> Arc<PeerClient> {
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
            tls,
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
    tls: Option<Arc<ClusterTls>>,
    mut frames: mpsc::UnboundedReceiver<Bytes>,
    pending: Pending,
    last_heard_ms: Arc<AtomicU64>,
    epoch: Instant,
) {
    let mut tls_warned: Option<Instant> = None;
    while let Some(first) = frames.recv().await {
        let link = Link {
            addr: &addr,
            pending: &pending,
            last_heard_ms: &last_heard_ms,
            epoch,
        };
        // Plaintext keeps the TCP stream's own halves (no lock, as before TLS existed).
        let outcome = match connect(&addr, tls.as_deref()).await {
            Ok(Connection::Plain(stream)) => {
                let (read_half, write_half) = stream.into_split();
                link.exchange(read_half, write_half, first, &mut frames)
                    .await
            }
            Ok(Connection::Tls(stream)) => {
                let (read_half, write_half) = tokio::io::split(*stream);
                link.exchange(read_half, write_half, first, &mut frames)
                    .await
            }
            Err(failure) => {
                match failure {
                    ConnectFailure::Tls(why)
                        if tls_warned.is_none_or(|at| at.elapsed() >= TLS_WARNING_INTERVAL) =>
                    {
                        tls_warned = Some(Instant::now());
                        tracing::warn!(peer = %addr, %why, "TLS handshake with a peer failed");
                    }
                    failure => tracing::debug!(peer = %addr, why = %failure, "peer connect failed"),
                }
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
        lock(&pending).clear();
        if outcome == Exchange::QueueClosed {
            return;
        }
    }
}

/// What one connection's life ended with.
#[derive(PartialEq, Eq)]
enum Exchange {
    /// The connection broke: the next frame reconnects.
    Lost,
    /// The client is gone: stop.
    QueueClosed,
}

/// One peer connection's shared state, for the frames it carries.
struct Link<'a> {
    addr: &'a str,
    pending: &'a Pending,
    last_heard_ms: &'a Arc<AtomicU64>,
    epoch: Instant,
}

impl Link<'_> {
    /// Writes queued frames (from `first` on) while a reader resolves the responses, until the
    /// connection breaks or the queue closes.
    async fn exchange(
        &self,
        read_half: impl AsyncRead + Send + Unpin + 'static,
        mut write_half: impl AsyncWrite + Unpin,
        first: Bytes,
        frames: &mut mpsc::UnboundedReceiver<Bytes>,
    ) -> Exchange {
        tracing::debug!(peer = %self.addr, "connected to peer");
        let mut reader = tokio::spawn(read_responses(
            read_half,
            self.pending.clone(),
            self.last_heard_ms.clone(),
            self.epoch,
        ));
        let mut buffer = BytesMut::new();
        let mut next = Some(first);
        let mut outcome = Exchange::Lost;
        while let Some(frame) = next.take() {
            if let Err(error) = write_coalesced(&mut write_half, &mut buffer, frame, frames).await {
                tracing::debug!(peer = %self.addr, %error, "peer write failed");
                break;
            }
            next = tokio::select! {
                frame = frames.recv() => match frame {
                    Some(frame) => Some(frame),
                    None => { outcome = Exchange::QueueClosed; None }
                },
                _ = &mut reader => None,
            };
        }
        reader.abort();
        outcome
    }
}

enum Connection {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

#[derive(Debug, thiserror::Error)]
enum ConnectFailure {
    #[error("{0}")]
    Tcp(String),
    #[error("TLS handshake: {0}")]
    Tls(String),
}

/// A connection to `addr`, authenticated both ways when the transport is TLS.
async fn connect(addr: &str, tls: Option<&ClusterTls>) -> Result<Connection, ConnectFailure> {
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return Err(ConnectFailure::Tcp(error.to_string())),
        Err(_) => return Err(ConnectFailure::Tcp("connect timed out".to_string())),
    };
    let _ = stream.set_nodelay(true);
    match tls {
        None => Ok(Connection::Plain(stream)),
        Some(tls) => tls
            .connect(addr, stream)
            .await
            .map(|stream| Connection::Tls(Box::new(stream)))
            .map_err(|e| ConnectFailure::Tls(e.to_string())),
    }
}

async fn read_responses(
    read_half: impl AsyncRead + Unpin,
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
