//! Cluster metadata: topics, partitions, configs, producer ids. Changed only through commands
//! in the metadata Raft group (group 0), read from the published image.

pub mod commands;
pub mod configs;
pub mod state;
pub mod state_machine;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::protocol::error_codes as ec;
use crate::raft::log_store::LogStore;
use crate::raft::tail::LogTail;
use crate::raft::{Command, CommandResult, Raft};
use crate::storage::keys::METADATA_GROUP;
use crate::storage::Store;
use commands::{MetadataCommand, MetadataResult};
pub use state::{MetadataState, TopicMeta};

#[derive(Clone)]
pub struct Metadata {
    raft: Raft,
    image: watch::Receiver<Arc<MetadataState>>,
}

impl Metadata {
    pub async fn open(
        node_id: u64,
        advertised: String,
        store: Arc<Store>,
    ) -> anyhow::Result<Metadata> {
        let tail = Arc::new(LogTail::default());
        let log_store = LogStore::new(METADATA_GROUP, store.clone(), tail.clone());
        let (state_machine, image) = state_machine::MetadataStateMachine::open(store, tail)?;
        let raft = crate::raft::start_group(node_id, advertised, log_store, state_machine).await?;
        if !crate::raft::wait_leader(&raft, node_id, Duration::from_secs(30)).await {
            anyhow::bail!("metadata group elected no leader within 30s");
        }
        let metadata = Metadata { raft, image };
        if metadata.current().cluster_id.is_empty() {
            let cluster_id = new_cluster_id();
            metadata
                .propose(MetadataCommand::InitCluster { cluster_id })
                .await?;
        }
        Ok(metadata)
    }

    pub fn current(&self) -> Arc<MetadataState> {
        self.image.borrow().clone()
    }

    /// The metadata group's Raft node (for its metrics).
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataState>> {
        self.image.clone()
    }

    /// Commits a command and returns its result once it is applied here.
    pub async fn propose(&self, command: MetadataCommand) -> anyhow::Result<MetadataResult> {
        let response = self.raft.client_write(Command::Metadata(command)).await?;
        match response.data {
            CommandResult::Metadata(result) => Ok(result),
            other => anyhow::bail!("metadata command answered {other:?}"),
        }
    }

    /// Like [`propose`], with failures folded into a Kafka error code and message.
    pub async fn propose_for_client(
        &self,
        command: MetadataCommand,
    ) -> Result<MetadataResult, (i16, String)> {
        match self.propose(command).await {
            Ok(MetadataResult::Failed {
                error_code,
                message,
            }) => Err((error_code, message)),
            Ok(result) => Ok(result),
            Err(error) => Err((ec::NOT_CONTROLLER, error.to_string())),
        }
    }

    pub async fn shutdown(&self) {
        if let Err(error) = self.raft.shutdown().await {
            tracing::warn!(%error, "metadata raft shutdown");
        }
    }
}

/// Kafka cluster ids are 16 random bytes in URL-safe base64 without padding (22 chars).
fn new_cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bits = uuid::Uuid::new_v4().as_u128();
    (0..22)
        .map(|i| ALPHABET[((bits >> (i * 6)) & 63) as usize] as char)
        .collect()
}
