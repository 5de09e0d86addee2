//! The metadata group's state machine: applies commands to the image, persists the image as a
//! checkpoint, and publishes it to the rest of the broker.

use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{BasicNode, EntryPayload, RaftSnapshotBuilder, StoredMembership};
use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::state::MetadataState;
use crate::raft::snapshot_data::SnapshotData;
use crate::raft::tail::LogTail;
use crate::raft::{
    read_error, storage_error, Command, CommandResult, Entry, LogId, StorageResult, TypeConfig,
};
use crate::storage::keys::{state_key, METADATA_GROUP, TAG_CHECKPOINT};
use crate::storage::{Store, CF_SM_STATE};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MetadataCheckpoint {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership<u64, BasicNode>,
    pub image: MetadataState,
}

pub struct MetadataStateMachine {
    store: Arc<Store>,
    tail: Arc<LogTail>,
    checkpoint: MetadataCheckpoint,
    publish: watch::Sender<Arc<MetadataState>>,
}

impl MetadataStateMachine {
    pub fn open(
        store: Arc<Store>,
        tail: Arc<LogTail>,
    ) -> Result<
        (MetadataStateMachine, watch::Receiver<Arc<MetadataState>>),
        crate::storage::StorageError,
    > {
        let checkpoint = match store.get(CF_SM_STATE, &state_key(METADATA_GROUP, TAG_CHECKPOINT))? {
            None => MetadataCheckpoint::default(),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                crate::storage::StorageError::Corrupt {
                    cf: CF_SM_STATE,
                    what: format!("metadata checkpoint: {e}"),
                }
            })?,
        };
        let (publish, image) = watch::channel(Arc::new(checkpoint.image.clone()));
        Ok((
            MetadataStateMachine {
                store,
                tail,
                checkpoint,
                publish,
            },
            image,
        ))
    }
}

impl MetadataStateMachine {
    /// Metadata is small and changes rarely: the whole image is persisted each time, synced,
    /// so that what a client was told exists still exists after a crash.
    async fn persist(&self) -> StorageResult<()> {
        let bytes = serde_json::to_vec(&self.checkpoint).map_err(storage_error)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.store.cf(CF_SM_STATE),
            state_key(METADATA_GROUP, TAG_CHECKPOINT),
            bytes,
        );
        self.store.write_durable(batch).await.map_err(storage_error)
    }
}

impl RaftStateMachine<TypeConfig> for MetadataStateMachine {
    type SnapshotBuilder = MetadataSnapshot;

    async fn applied_state(
        &mut self,
    ) -> StorageResult<(Option<LogId>, StoredMembership<u64, BasicNode>)> {
        Ok((
            self.checkpoint.last_applied,
            self.checkpoint.membership.clone(),
        ))
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<CommandResult>>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut results = Vec::new();
        for entry in entries {
            let result = match &entry.payload {
                EntryPayload::Normal(Command::Metadata(command)) => {
                    CommandResult::Metadata(self.checkpoint.image.apply(command))
                }
                EntryPayload::Membership(membership) => {
                    self.checkpoint.membership =
                        StoredMembership::new(Some(entry.log_id), membership.clone());
                    CommandResult::Ignored
                }
                EntryPayload::Blank
                | EntryPayload::Normal(
                    Command::Append(_)
                    | Command::TrimLog { .. }
                    | Command::Compact { .. }
                    | Command::ExpireProducers { .. },
                ) => CommandResult::Ignored,
            };
            self.checkpoint.last_applied = Some(entry.log_id);
            results.push(result);
        }
        let Some(last_applied) = self.checkpoint.last_applied else {
            return Ok(results);
        };
        self.persist().await?;
        self.tail.mark_applied(last_applied.index);
        self.publish
            .send_replace(Arc::new(self.checkpoint.image.clone()));
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> MetadataSnapshot {
        MetadataSnapshot {
            checkpoint: self.checkpoint.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<SnapshotData>> {
        Ok(Box::new(SnapshotData::ready(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<SnapshotData>,
    ) -> StorageResult<()> {
        let bytes = snapshot.into_bytes().map_err(read_error)?;
        let image: MetadataState = serde_json::from_slice(&bytes).map_err(read_error)?;
        self.checkpoint = MetadataCheckpoint {
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
            image,
        };
        self.persist().await?;
        self.publish
            .send_replace(Arc::new(self.checkpoint.image.clone()));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        Ok(None)
    }
}

pub struct MetadataSnapshot {
    checkpoint: MetadataCheckpoint,
}

impl RaftSnapshotBuilder<TypeConfig> for MetadataSnapshot {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let data = serde_json::to_vec(&self.checkpoint.image).map_err(storage_error)?;
        let last = self.checkpoint.last_applied;
        Ok(Snapshot {
            meta: SnapshotMeta {
                last_log_id: last,
                last_membership: self.checkpoint.membership.clone(),
                snapshot_id: format!("metadata-{}", last.map_or(0, |l| l.index)),
            },
            snapshot: Box::new(SnapshotData::ready(data)),
        })
    }
}
