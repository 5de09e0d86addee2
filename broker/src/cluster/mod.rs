//! Node-to-node traffic: the internal listener and the clients that carry Raft RPCs (and
//! forwarded metadata proposals) between brokers.
//!
//! Every Raft group of a node talks to a peer through one connection per direction: a group's
//! RPC is one frame tagged with its group id, and frames queued while the socket is busy leave
//! together in one write, so a thousand partitions heartbeating cost a few syscalls, not a
//! thousand.

pub mod peers;
pub mod router;
pub mod server;
pub mod tls;
pub mod wire;

/// Largest frame accepted between nodes; a batch of appended entries is bounded by
/// openraft's `max_payload_entries` times the largest record batch.
pub const FRAME_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Frames written in one syscall at most (roughly): bounds the latency a big batch adds to the
/// small frames queued behind it.
pub const WRITE_COALESCE_BYTES: usize = 1024 * 1024;

/// Requests one peer connection has being handled at once; beyond it the listener stops reading
/// that connection. Above the Raft RPCs a full broker has in flight to one peer (about one per
/// hosted partition, `broker_partitions_max`), so it only holds back a flood.
pub const PEER_REQUESTS_INFLIGHT_MAX: usize = 8192;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

/// Writes `first` and the frames already queued behind it (up to about
/// [`WRITE_COALESCE_BYTES`]) as length-prefixed frames in one write: the batching both ends of
/// a peer connection use.
pub async fn write_coalesced<F: AsRef<[u8]>>(
    writer: &mut (impl AsyncWrite + Unpin),
    buffer: &mut BytesMut,
    first: F,
    queue: &mut mpsc::UnboundedReceiver<F>,
) -> std::io::Result<()> {
    buffer.clear();
    let mut next = Some(first);
    while let Some(frame) = next.take() {
        let frame = frame.as_ref();
        // Never a length prefix that wraps or that the peer refuses: callers check first
        // (`PeerClient::call`), and the peer waiting for this frame times out.
        match u32::try_from(frame.len()) {
            Ok(length) if frame.len() <= FRAME_BYTES_MAX => {
                buffer.put_u32(length);
                buffer.extend_from_slice(frame);
            }
            _ => tracing::error!(bytes = frame.len(), "dropping an oversized frame to a peer"),
        }
        if buffer.len() < WRITE_COALESCE_BYTES {
            next = queue.try_recv().ok();
        }
    }
    writer.write_all(buffer).await
}
