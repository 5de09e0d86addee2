//! Raft transport. On a single node every group has exactly one voter, so there is no peer to
//! reach: an RPC to any other node reports it unreachable and openraft retries later.
//! The cluster transport (one connection per node pair, batched messages) replaces this.

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;

use super::TypeConfig;

#[derive(Clone, Default)]
pub struct NoPeers;

pub struct NoPeerClient {
    target: u64,
}

impl RaftNetworkFactory<TypeConfig> for NoPeers {
    type Network = NoPeerClient;

    async fn new_client(&mut self, target: u64, _node: &BasicNode) -> NoPeerClient {
        NoPeerClient { target }
    }
}

impl NoPeerClient {
    fn unreachable<E: std::error::Error>(&self) -> RPCError<u64, BasicNode, E> {
        let error = std::io::Error::other(format!("node {} has no Raft transport", self.target));
        RPCError::Unreachable(Unreachable::new(&error))
    }
}

type Rpc<T, E = RaftError<u64>> = Result<T, RPCError<u64, BasicNode, E>>;

impl RaftNetwork<TypeConfig> for NoPeerClient {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Rpc<AppendEntriesResponse<u64>> {
        Err(self.unreachable())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Rpc<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>> {
        Err(self.unreachable())
    }

    async fn vote(&mut self, _rpc: VoteRequest<u64>, _option: RPCOption) -> Rpc<VoteResponse<u64>> {
        Err(self.unreachable())
    }
}
