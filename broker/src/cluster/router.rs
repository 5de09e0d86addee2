//! Finds the local Raft node an incoming RPC is for, and runs it.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};

use super::peers::Peers;
use super::wire::{Request, Response};
use crate::metadata::quorum::QuorumTracker;
use crate::raft::{transfer, Command, CommandResult, Raft};
use crate::storage::keys::METADATA_GROUP;

/// Appends transaction markers sent by another node's transaction coordinator (the
/// transaction coordinator registers itself: it sits above this layer).
pub trait TxnMarkerWriter: Send + Sync {
    fn write_marker(
        self: Arc<Self>,
        group: u64,
        marker: bytes::Bytes,
    ) -> futures::future::BoxFuture<'static, Result<i64, i16>>;
}

/// The Raft groups this node runs, by group id (0 is the metadata group).
pub struct Router {
    groups: RwLock<HashMap<u64, Raft>>,
    /// Weak: the writer (the transaction coordinator) holds the replicas, which hold this.
    markers: OnceLock<Weak<dyn TxnMarkerWriter>>,
    /// For requests that call other nodes in turn (a leadership transfer).
    peers: Arc<Peers>,
    quorum: Arc<QuorumTracker>,
}

impl Router {
    pub fn new(peers: Arc<Peers>, quorum: Arc<QuorumTracker>) -> Router {
        Router {
            groups: RwLock::default(),
            markers: OnceLock::new(),
            peers,
            quorum,
        }
    }

    pub fn register(&self, group: u64, raft: Raft) {
        self.groups
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(group, raft);
    }

    pub fn set_marker_writer(&self, writer: Weak<dyn TxnMarkerWriter>) {
        let _ = self.markers.set(writer);
    }

    pub fn unregister(&self, group: u64) {
        self.groups
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&group);
    }

    fn get(&self, group: u64) -> Option<Raft> {
        self.groups
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&group)
            .cloned()
    }

    pub async fn handle(&self, request: Request) -> Response {
        match request {
            Request::AppendEntries { group, rpc } => match self.get(group) {
                Some(raft) => Response::AppendEntries(raft.append_entries(rpc).await),
                None => Response::UnknownGroup,
            },
            Request::Vote { group, rpc } => match self.get(group) {
                Some(raft) => Response::Vote(raft.vote(rpc).await),
                None => Response::UnknownGroup,
            },
            Request::InstallSnapshot { group, rpc } => match self.get(group) {
                Some(raft) => Response::InstallSnapshot(raft.install_snapshot(rpc).await),
                None => Response::UnknownGroup,
            },
            Request::ProposeMetadata(command) => {
                let Some(raft) = self.get(METADATA_GROUP) else {
                    return Response::UnknownGroup;
                };
                let result = match raft.client_write(Command::Metadata(command)).await {
                    Ok(written) => match written.data {
                        CommandResult::Metadata(result) => Ok((result, written.log_id.index)),
                        other => Err(format!("metadata command answered {other:?}")),
                    },
                    Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => {
                        return Response::NotLeader
                    }
                    Err(error) => Err(error.to_string()),
                };
                Response::ProposeMetadata(result)
            }
            Request::Leadership {
                group,
                to,
                lag_max_ms,
                timeout_ms,
            } => match self.get(group) {
                Some(raft) => Response::Leadership(
                    transfer::leadership(
                        &raft,
                        &self.peers,
                        group,
                        to,
                        Duration::from_millis(lag_max_ms),
                        Duration::from_millis(timeout_ms),
                    )
                    .await,
                ),
                None => Response::UnknownGroup,
            },
            Request::Campaign { group } => match self.get(group) {
                Some(raft) => Response::Campaign(transfer::campaign(&raft).await),
                None => Response::UnknownGroup,
            },
            Request::WriteTxnMarker { group, records } => {
                match self.markers.get().and_then(Weak::upgrade) {
                    Some(writer) => Response::TxnMarker(writer.write_marker(group, records).await),
                    None => Response::UnknownGroup,
                }
            }
            Request::DescribeQuorum => match self.get(METADATA_GROUP) {
                Some(raft) => Response::DescribeQuorum(
                    crate::metadata::quorum::describe(&raft, &self.quorum).await,
                ),
                None => Response::UnknownGroup,
            },
        }
    }
}
