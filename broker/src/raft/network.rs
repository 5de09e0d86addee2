//! Raft transport for every group: an RPC becomes one frame tagged with the group id on the
//! connection this node keeps to the target (see `cluster::peers`). On a single node no group
//! has another voter, so nothing is ever sent.

// openraft's RPCError is large, and its trait signatures require it.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError, Timeout,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;

use super::{Command, Entry, TypeConfig};
use crate::cluster::peers::{CallError, PeerClient, Peers};
use crate::cluster::wire::{Request, Response};
use crate::cluster::FRAME_BYTES_MAX;
use crate::metadata::quorum::QuorumTracker;

/// Creates the clients one group uses to reach its peers.
#[derive(Clone)]
pub struct Network {
    node_id: u64,
    group: u64,
    peers: Arc<Peers>,
    /// Told of every AppendEntries answer (the metadata group only).
    quorum: Option<Arc<QuorumTracker>>,
}

impl Network {
    pub fn new(
        node_id: u64,
        group: u64,
        peers: Arc<Peers>,
        quorum: Option<Arc<QuorumTracker>>,
    ) -> Network {
        Network {
            node_id,
            group,
            peers,
            quorum,
        }
    }
}

pub struct GroupClient {
    from: u64,
    target: u64,
    group: u64,
    peer: Arc<PeerClient>,
    quorum: Option<Arc<QuorumTracker>>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = GroupClient;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> GroupClient {
        GroupClient {
            from: self.node_id,
            target,
            group: self.group,
            peer: self.peers.get(&node.addr),
            quorum: self.quorum.clone(),
        }
    }
}

type Rpc<T, E = RaftError<u64>> = Result<T, RPCError<u64, BasicNode, E>>;

impl GroupClient {
    async fn call<E: std::error::Error>(
        &self,
        request: Request,
        option: &RPCOption,
    ) -> Result<Response, RPCError<u64, BasicNode, E>> {
        let ttl = option.hard_ttl();
        match self.peer.call(request, ttl).await {
            Ok(Response::UnknownGroup) => Err(self.unreachable(format!(
                "node {} does not run group {} yet",
                self.target, self.group
            ))),
            Ok(Response::Malformed(why)) => Err(RPCError::Network(NetworkError::new(
                &std::io::Error::other(why),
            ))),
            Ok(response) => Ok(response),
            Err(CallError::Timeout(..)) => Err(RPCError::Timeout(Timeout {
                action: openraft::network::RPCTypes::AppendEntries,
                id: self.from,
                target: self.target,
                timeout: ttl,
            })),
            Err(error) => Err(self.unreachable(error.to_string())),
        }
    }

    fn unreachable<E: std::error::Error>(&self, why: String) -> RPCError<u64, BasicNode, E> {
        RPCError::Unreachable(Unreachable::new(&std::io::Error::other(why)))
    }

    fn unexpected<E: std::error::Error>(&self, response: Response) -> RPCError<u64, BasicNode, E> {
        let error = std::io::Error::other(format!("unexpected response {response:?}"));
        RPCError::Network(NetworkError::new(&error))
    }

    fn remote<T, E: std::error::Error>(
        &self,
        result: Result<T, RaftError<u64, E>>,
    ) -> Rpc<T, RaftError<u64, E>> {
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

/// The entries of one AppendEntries frame at most, in bytes: the frame cap less room for the
/// request's other fields and the entries' own framing.
const APPEND_BYTES_MAX: usize = FRAME_BYTES_MAX - 1024 * 1024;

/// Size of an entry on the wire, about: exact for record batches (their bytes dominate), the
/// encoded size for anything else (small commands).
fn entry_bytes(entry: &Entry) -> usize {
    const ENTRY_OVERHEAD_BYTES: usize = 64;
    let payload = match &entry.payload {
        openraft::EntryPayload::Normal(Command::Append(batch)) => batch.len(),
        other => postcard::to_allocvec(other).map_or(FRAME_BYTES_MAX, |bytes| bytes.len()),
    };
    payload.saturating_add(ENTRY_OVERHEAD_BYTES)
}

/// How many of `entries`, from the first, fit in `bytes_max`.
fn entries_fitting(entries: &[Entry], bytes_max: usize) -> usize {
    let mut total: usize = 0;
    for (count, entry) in entries.iter().enumerate() {
        total = total.saturating_add(entry_bytes(entry));
        if total > bytes_max {
            return count;
        }
    }
    entries.len()
}

impl RaftNetwork<TypeConfig> for GroupClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<AppendEntriesResponse<u64>> {
        let fitting = entries_fitting(&rpc.entries, APPEND_BYTES_MAX);
        // A single entry goes alone whatever its size (a record batch is bounded by
        // socket.request.max.bytes, well under the frame cap).
        if rpc.entries.len() > 1 && fitting < rpc.entries.len() {
            // openraft sends the next requests with at most this many entries, so a follower
            // far behind catches up in frames the peer connection carries.
            let hint = fitting.max(1) as u64;
            return Err(RPCError::PayloadTooLarge(
                PayloadTooLarge::new_entries_hint(hint),
            ));
        }
        let term = rpc.vote.leader_id.term;
        // What the follower holds if it accepts: the last entry sent, or for a heartbeat the
        // entry it already matched.
        let sent_upto = rpc
            .entries
            .last()
            .map(|entry| entry.log_id.index)
            .or(rpc.prev_log_id.map(|log_id| log_id.index));
        let request = Request::AppendEntries {
            group: self.group,
            rpc,
        };
        match self.call(request, &option).await? {
            Response::AppendEntries(result) => {
                if let (Some(quorum), Ok(answer)) = (&self.quorum, &result) {
                    let matched = match answer {
                        AppendEntriesResponse::Success => Some(sent_upto),
                        AppendEntriesResponse::PartialSuccess(upto) => Some(upto.map(|l| l.index)),
                        AppendEntriesResponse::Conflict => Some(None),
                        // Not a follower of this leader: it has been deposed.
                        AppendEntriesResponse::HigherVote(_) => None,
                    };
                    if let Some(matched) = matched {
                        quorum.answered(self.target, term, matched);
                    }
                }
                self.remote(result)
            }
            other => Err(self.unexpected(other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>> {
        let request = Request::InstallSnapshot {
            group: self.group,
            rpc,
        };
        match self.call(request, &option).await? {
            Response::InstallSnapshot(result) => self.remote(result),
            other => Err(self.unexpected(other)),
        }
    }

    async fn vote(&mut self, rpc: VoteRequest<u64>, option: RPCOption) -> Rpc<VoteResponse<u64>> {
        let request = Request::Vote {
            group: self.group,
            rpc,
        };
        match self.call(request, &option).await? {
            Response::Vote(result) => self.remote(result),
            other => Err(self.unexpected(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, EntryPayload, LogId};

    fn batch_entry(index: u64, bytes: usize) -> Entry {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(Command::Append(bytes::Bytes::from(vec![0u8; bytes]))),
        }
    }

    #[test]
    fn a_full_batch_of_large_entries_is_split_to_fit_a_frame() {
        // openraft's max_payload_entries (1024) entries of 1 MiB: 1 GiB, four times the frame cap.
        let mib = 1024 * 1024;
        let entries: Vec<Entry> = (1..=1024).map(|i| batch_entry(i, mib)).collect();
        let fitting = entries_fitting(&entries, APPEND_BYTES_MAX);
        assert!(fitting > 0 && fitting < entries.len(), "{fitting}");
        let bytes: usize = entries[..fitting].iter().map(entry_bytes).sum();
        assert!(bytes <= APPEND_BYTES_MAX);
        assert!(bytes + entry_bytes(&entries[fitting]) > APPEND_BYTES_MAX);
        // What fits, encoded for real, is a frame the peer accepts.
        let rpc = AppendEntriesRequest::<TypeConfig> {
            vote: openraft::Vote::new_committed(1, 1),
            prev_log_id: None,
            entries: entries[..fitting].to_vec(),
            leader_commit: None,
        };
        let frame = crate::cluster::wire::encode(&crate::cluster::wire::Frame {
            id: 1,
            body: Request::AppendEntries { group: 1, rpc },
        })
        .unwrap();
        assert!(frame.len() <= FRAME_BYTES_MAX, "{}", frame.len());
        // Small entries all fit; a single oversized one still goes alone (hint 1).
        assert_eq!(entries_fitting(&entries[..10], APPEND_BYTES_MAX), 10);
        assert_eq!(
            entries_fitting(&[batch_entry(1, FRAME_BYTES_MAX)], APPEND_BYTES_MAX),
            0
        );
    }
}
