//! openraft integration shared by every Raft group on this node: the partition groups and the
//! metadata group use one type config, one log store implementation and one network.

pub mod codec;
pub mod log_store;
pub mod network;
pub mod tail;

use std::io::Cursor;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::metadata::commands::{MetadataCommand, MetadataResult};

openraft::declare_raft_types!(
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<u64>;
pub type StorageResult<T> = Result<T, openraft::StorageError<u64>>;

/// What a Raft entry asks its state machine to do.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Command {
    /// A Kafka record batch (magic v2) exactly as the producer sent it; offsets are assigned
    /// when the entry is applied, so every replica derives the same ones.
    Append(Bytes),
    Metadata(MetadataCommand),
    /// Moves a partition's log start offset forward (retention, DeleteRecords). Applied by
    /// every replica, so all of them drop the same records.
    TrimLog {
        log_start_offset: i64,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum CommandResult {
    Appended {
        base_offset: i64,
        duplicate: bool,
    },
    /// The batch was not appended; the Kafka error code says why.
    Rejected {
        error_code: i16,
    },
    /// The log start offset after a TrimLog.
    Trimmed {
        log_start_offset: i64,
    },
    Metadata(MetadataResult),
    /// The command does not belong to this kind of group.
    Ignored,
}

/// Raft timing for every group. Partitions on one node elect themselves at once; the
/// heartbeat mostly matters once groups have several voters.
pub fn raft_config() -> Arc<openraft::Config> {
    let config = openraft::Config {
        cluster_name: "kafka-broker".into(),
        heartbeat_interval: 250,
        election_timeout_min: 1000,
        election_timeout_max: 2000,
        snapshot_policy: openraft::SnapshotPolicy::Never,
        max_payload_entries: 1024,
        ..Default::default()
    };
    Arc::new(config.validate().expect("constant raft config is valid"))
}

pub fn storage_error(what: impl ToString) -> openraft::StorageError<u64> {
    openraft::StorageIOError::<u64>::write(&std::io::Error::other(what.to_string())).into()
}

pub fn read_error(what: impl ToString) -> openraft::StorageError<u64> {
    openraft::StorageIOError::<u64>::read(&std::io::Error::other(what.to_string())).into()
}

/// Creates a group's Raft node and, on first start, makes this node its single voter.
pub async fn start_group<SM>(
    node_id: u64,
    advertised: String,
    log_store: log_store::LogStore,
    state_machine: SM,
) -> anyhow::Result<Raft>
where
    SM: openraft::storage::RaftStateMachine<TypeConfig>,
{
    let raft = Raft::new(
        node_id,
        raft_config(),
        network::NoPeers,
        log_store,
        state_machine,
    )
    .await?;
    if !raft.is_initialized().await? {
        let members =
            std::collections::BTreeMap::from([(node_id, openraft::BasicNode::new(advertised))]);
        match raft.initialize(members).await {
            Ok(()) => {}
            Err(openraft::error::RaftError::APIError(
                openraft::error::InitializeError::NotAllowed(_),
            )) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(raft)
}

/// Waits until `node_id` leads the group (bounded).
pub async fn wait_leader(raft: &Raft, node_id: u64, timeout: std::time::Duration) -> bool {
    raft.wait(Some(timeout))
        .current_leader(node_id, "waiting for leadership")
        .await
        .is_ok()
}
