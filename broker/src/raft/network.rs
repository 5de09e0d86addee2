//! Raft transport for every group: an RPC becomes one frame tagged with the group id on the
//! connection this node keeps to the target (see `cluster::peers`). On a single node no group
//! has another voter, so nothing is ever sent.

// openraft's RPCError is large, and its trait signatures require it.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;

use super::TypeConfig;
use crate::cluster::peers::{CallError, PeerClient, Peers};
use crate::cluster::wire::{Request, Response};
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

impl RaftNetwork<TypeConfig> for GroupClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<AppendEntriesResponse<u64>> {
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
