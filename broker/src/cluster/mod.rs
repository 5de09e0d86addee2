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
pub mod wire;

/// Largest frame accepted between nodes; a batch of appended entries is bounded by
/// openraft's `max_payload_entries` times the largest record batch.
pub const FRAME_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Frames written in one syscall at most (roughly): bounds the latency a big batch adds to the
/// small frames queued behind it.
pub const WRITE_COALESCE_BYTES: usize = 1024 * 1024;
