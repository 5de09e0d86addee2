//! A partition's Raft state machine. The log already holds the batches, so applying an entry
//! only assigns its offsets, checks idempotent-producer sequences, writes one index key and
//! moves the high watermark.

// openraft's StorageError is large, and its trait signatures require it.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{BasicNode, EntryPayload, RaftSnapshotBuilder, StoredMembership};
use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};

use super::batch::{self, BatchHeader};
use super::cache::PartitionCache;
use super::snapshot::Contents;
use super::PartitionShared;
use crate::protocol::error_codes as ec;
use crate::raft::snapshot_data::SnapshotData;
use crate::raft::tail::LogTail;
use crate::raft::{
    read_error, storage_error, Command, CommandResult, Entry, LogId, StorageResult, TypeConfig,
};
use crate::storage::keys::{
    group_range, log_key, offset_key, state_key, IndexValue, TAG_CHECKPOINT, TAG_PURGED,
};
use crate::storage::{Store, CF_LOG, CF_OFFSET_INDEX, CF_RAFT_STATE, CF_SM_STATE};

/// Kafka keeps the last five batches per producer to answer retries with their first offsets.
const PRODUCER_BATCHES_KEPT: usize = 5;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProducerState {
    pub epoch: i16,
    /// (first sequence, last sequence, base offset) of the most recent batches, oldest first.
    pub batches: VecDeque<(i32, i32, i64)>,
    /// The newest timestamp of its last batch (DescribeProducers).
    #[serde(default)]
    pub last_timestamp: i64,
}

/// What DescribeProducers reports of a producer, as of the last apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerView {
    pub epoch: i16,
    pub last_sequence: i32,
    pub last_timestamp: i64,
    /// First offset of its open transaction here, -1 if none.
    pub current_txn_start_offset: i64,
}

/// Kafka's `isProducerExpired`, less the open-transaction test: the producer's last batch is
/// at least `expiration_ms` older than `now_ms`.
pub fn producer_expired(last_timestamp: i64, now_ms: i64, expiration_ms: i64) -> bool {
    now_ms.saturating_sub(last_timestamp) >= expiration_ms
}

impl Checkpoint {
    pub fn producer_view(&self, producer_id: i64) -> Option<ProducerView> {
        let producer = self.producers.get(&producer_id)?;
        Some(ProducerView {
            epoch: producer.epoch,
            last_sequence: producer.batches.back().map_or(-1, |b| b.1),
            last_timestamp: producer.last_timestamp,
            current_txn_start_offset: self.open_txns.get(&producer_id).copied().unwrap_or(-1),
        })
    }

    pub fn producer_views(&self) -> BTreeMap<i64, ProducerView> {
        self.producers
            .keys()
            .filter_map(|id| Some((*id, self.producer_view(*id)?)))
            .collect()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Checkpoint {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership<u64, BasicNode>,
    pub next_offset: i64,
    pub producers: BTreeMap<i64, ProducerState>,
    #[serde(default)]
    pub log_start_offset: i64,
    /// Bytes of the batches from the log start offset on (retention.bytes).
    #[serde(default)]
    pub size_bytes: u64,
    /// Kafka's leader epoch cache: the first offset written in each Raft term (the leader
    /// epoch), for OffsetForLeaderEpoch.
    #[serde(default)]
    pub epochs: BTreeMap<u64, i64>,
    /// Compaction: the first offset not yet cleaned (Kafka's cleaner checkpoint).
    #[serde(default)]
    pub clean_offset: i64,
    /// The earliest delete horizon of the tombstones compaction kept.
    #[serde(default)]
    pub tombstone_horizon: Option<i64>,
    /// The `now` of the last Compact applied: a later one never cleans at an earlier time (a
    /// new leader's clock may be behind), so tombstone horizons only move forward.
    #[serde(default)]
    pub cleaned_at_ms: i64,
    /// Open transactions: producer id -> offset of its first transactional batch here. The
    /// smallest is the last stable offset.
    #[serde(default)]
    pub open_txns: BTreeMap<i64, i64>,
    /// Aborted transactions still in the log (Kafka's transaction index), oldest first.
    #[serde(default)]
    pub aborted_txns: Vec<AbortedTxn>,
}

/// One aborted transaction: what a read_committed Fetch returns so consumers skip its records.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The offset of the ABORT marker.
    pub last_offset: i64,
}

impl Checkpoint {
    /// The first offset of the earliest open transaction, else the high watermark.
    pub fn last_stable_offset(&self) -> i64 {
        self.open_txns
            .values()
            .copied()
            .min()
            .unwrap_or(self.next_offset)
    }
}

/// The checkpoint this node wrote last (that write is not synced, but RocksDB reads it back
/// from its memtable), or `None` before the first apply.
fn stored_checkpoint<T: serde::de::DeserializeOwned>(
    store: &Store,
    group: u64,
) -> Result<Option<T>, crate::storage::StorageError> {
    let Some(bytes) = store.get(CF_SM_STATE, &state_key(group, TAG_CHECKPOINT))? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| crate::storage::StorageError::Corrupt {
            cf: CF_SM_STATE,
            what: e.to_string(),
        })
}

/// Leader epochs remembered; older ones answer as the oldest kept.
const EPOCHS_KEPT: usize = 1000;

/// The checkpoint is written after this many applied entries, or once this long has passed
/// since the last one, whichever comes first. Writing it on every apply serialised the whole
/// state (the idempotent-producer map grows with producers) once per Raft batch; what happens
/// between checkpoints is rebuilt at startup by re-applying the committed entries after it,
/// which openraft does (its `get_initial_state`), so this bounds the replay.
const CHECKPOINT_EVERY_ENTRIES: u64 = 1000;
const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

pub struct PartitionStateMachine {
    group: u64,
    store: Arc<Store>,
    tail: Arc<LogTail>,
    shared: Arc<PartitionShared>,
    cache: Arc<PartitionCache>,
    state: Checkpoint,
    /// Log index and time of the last checkpoint written.
    checkpointed: (Option<u64>, std::time::Instant),
    /// Producers whose state the entries being applied changed, published after the apply.
    touched_producers: Vec<i64>,
}

impl PartitionStateMachine {
    pub fn open(
        group: u64,
        store: Arc<Store>,
        tail: Arc<LogTail>,
        shared: Arc<PartitionShared>,
        cache: Arc<PartitionCache>,
    ) -> Result<PartitionStateMachine, crate::storage::StorageError> {
        let state = stored_checkpoint::<Checkpoint>(&store, group)?.unwrap_or_default();
        shared.set_last_stable_offset(state.last_stable_offset());
        shared.set_aborted(&state.aborted_txns);
        shared.set_producers(state.producer_views());
        shared.set_high_watermark(state.next_offset);
        shared.set_size_bytes(state.size_bytes);
        shared.set_log_start_offset(state.log_start_offset);
        shared.set_epochs(&state.epochs);
        shared.set_cleaned(state.clean_offset, state.tombstone_horizon);
        let retained_from = match first_retained(&store, group, state.log_start_offset)? {
            Some(index) => index,
            // Nothing retained: any batch appended later lands after what was applied.
            None => state.last_applied.map_or(0, |l| l.index + 1),
        };
        shared.retained_from.store(retained_from, Ordering::Release);
        Ok(PartitionStateMachine {
            group,
            store,
            tail,
            shared,
            cache,
            checkpointed: (
                state.last_applied.map(|l| l.index),
                std::time::Instant::now(),
            ),
            touched_producers: Vec::new(),
            state,
        })
    }

    fn snapshot_builder(&self) -> CheckpointSnapshot {
        CheckpointSnapshot {
            group: self.group,
            store: self.store.clone(),
            tail: self.tail.clone(),
            state: self.state.clone(),
            failed: None,
        }
    }

    /// Adds the checkpoint of the current state to `writes`.
    fn checkpoint(&mut self, writes: &mut WriteBatch) -> StorageResult<()> {
        let checkpoint = serde_json::to_vec(&self.state).map_err(storage_error)?;
        writes.put_cf(
            self.store.cf(CF_SM_STATE),
            state_key(self.group, TAG_CHECKPOINT),
            checkpoint,
        );
        self.checkpointed = (
            self.state.last_applied.map(|l| l.index),
            std::time::Instant::now(),
        );
        metrics::counter!("broker_partition_checkpoints_total").increment(1);
        Ok(())
    }

    fn checkpoint_due(&self, last_applied: u64) -> bool {
        match self.checkpointed {
            // The first apply always writes one: it also marks the group as hosted here
            // (see Replicas::remove_orphans).
            (None, _) => true,
            (Some(index), at) => {
                last_applied >= index + CHECKPOINT_EVERY_ENTRIES
                    || at.elapsed() >= CHECKPOINT_INTERVAL
            }
        }
    }

    fn apply_append(
        &mut self,
        log_id: &LogId,
        records: &Bytes,
        writes: &mut WriteBatch,
    ) -> CommandResult {
        let header = match batch::parse_header(records) {
            Ok(header) => header,
            Err(_) => {
                return CommandResult::Rejected {
                    error_code: ec::CORRUPT_MESSAGE,
                }
            }
        };
        match check_sequence(&self.state.producers, &header) {
            SequenceCheck::Duplicate(base_offset) => {
                return CommandResult::Appended {
                    base_offset,
                    duplicate: true,
                }
            }
            SequenceCheck::Reject(error_code) => return CommandResult::Rejected { error_code },
            SequenceCheck::Accept => {}
        }
        // A control batch must be a transaction marker: Some(commit).
        let marker = header
            .is_control()
            .then(|| super::control::marker_commits(records));
        if marker == Some(None) {
            return CommandResult::Rejected {
                error_code: ec::INVALID_RECORD,
            };
        }
        let marker = marker.flatten();
        let base_offset = self.state.next_offset;
        let last_offset = base_offset + header.last_offset_delta as i64;
        if header.is_transactional()
            && header.producer_id >= 0
            && track_transaction(
                &mut self.state,
                header.producer_id,
                marker,
                base_offset,
                last_offset,
            )
        {
            self.shared.set_aborted(&self.state.aborted_txns);
        }
        self.state.next_offset = last_offset + 1;
        if header.record_count == 0 {
            // A batch compaction emptied, sent by a leader that already compacted it: the same
            // offsets and producer state as the original, nothing to serve.
            if header.producer_id >= 0 {
                record_producer_batch(&mut self.state.producers, &header, base_offset);
            }
            return CommandResult::Appended {
                base_offset,
                duplicate: false,
            };
        }
        let index = IndexValue {
            log_index: log_id.index,
            base_offset,
            max_timestamp: header.max_timestamp,
            size_bytes: header.size_bytes() as u32,
        };
        self.state.size_bytes += header.size_bytes() as u64;
        writes.put_cf(
            self.store.cf(CF_OFFSET_INDEX),
            offset_key(self.group, last_offset as u64),
            index.encode(),
        );
        if header.producer_id >= 0 {
            record_producer_batch(&mut self.state.producers, &header, base_offset);
            self.touched_producers.push(header.producer_id);
        }
        self.cache.insert(
            base_offset,
            last_offset,
            log_id.leader_id.term as i32,
            records.clone(),
        );
        CommandResult::Appended {
            base_offset,
            duplicate: false,
        }
    }
}

impl PartitionStateMachine {
    /// Drops whole batches below the new log start offset: their index keys now, their Raft
    /// log entries when the node next purges (see [`super::Partition::purge`]).
    /// Forgets producers idle for `expiration_ms` without an open transaction (Kafka keeps
    /// those until the transaction ends); the next batch of one starts afresh at any sequence.
    fn apply_expire_producers(&mut self, now_ms: i64, expiration_ms: i64) -> CommandResult {
        let before = self.state.producers.len();
        let open_txns = &self.state.open_txns;
        self.state.producers.retain(|id, producer| {
            open_txns.contains_key(id)
                || !producer_expired(producer.last_timestamp, now_ms, expiration_ms)
        });
        let count = (before - self.state.producers.len()) as u64;
        if count > 0 {
            self.shared.set_producers(self.state.producer_views());
        }
        CommandResult::ProducersExpired { count }
    }

    fn apply_trim(
        &mut self,
        log_id: &LogId,
        requested: i64,
        writes: &mut WriteBatch,
    ) -> StorageResult<CommandResult> {
        let new_start = requested.min(self.state.next_offset);
        if new_start <= self.state.log_start_offset {
            return Ok(CommandResult::Trimmed {
                log_start_offset: self.state.log_start_offset,
            });
        }
        let mut purge_upto = None;
        // Past the trimmed batches, and past this entry if no batch is left.
        let mut retained_from = log_id.index + 1;
        for item in self
            .store
            .offset_index(self.group, self.state.log_start_offset)
        {
            let (last_offset, entry) = item.map_err(read_error)?;
            if last_offset as i64 >= new_start {
                retained_from = entry.log_index;
                break;
            }
            self.state.size_bytes = self
                .state
                .size_bytes
                .saturating_sub(entry.size_bytes as u64);
            purge_upto = Some(entry.log_index);
        }
        writes.delete_range_cf(
            self.store.cf(CF_OFFSET_INDEX),
            offset_key(self.group, 0),
            offset_key(self.group, new_start as u64),
        );
        self.state.log_start_offset = new_start;
        self.shared.set_log_start_offset(new_start);
        let aborted_before = self.state.aborted_txns.len();
        self.state
            .aborted_txns
            .retain(|txn| txn.last_offset >= new_start);
        if self.state.aborted_txns.len() != aborted_before {
            self.shared.set_aborted(&self.state.aborted_txns);
        }
        self.cache.trim(new_start);
        self.shared
            .retained_from
            .fetch_max(retained_from, Ordering::AcqRel);
        if let Some(index) = purge_upto {
            self.shared.request_purge(index);
        }
        Ok(CommandResult::Trimmed {
            log_start_offset: new_start,
        })
    }
}

impl PartitionStateMachine {
    /// One compaction pass (see [`super::cleaner`]) up to `upto` as of `now_ms`. Written
    /// through the log writer, after every append queued before it: the batches it rewrites
    /// are on disk, and no earlier append lands over a rewritten entry.
    async fn apply_compact(
        &mut self,
        log_id: &LogId,
        upto: i64,
        now_ms: i64,
        delete_retention_ms: i64,
        writes: &mut WriteBatch,
    ) -> StorageResult<CommandResult> {
        let pending = std::mem::take(writes);
        self.store.write_unsynced(pending).map_err(storage_error)?;
        self.store
            .write_durable(WriteBatch::default())
            .await
            .map_err(storage_error)?;
        let now_ms = now_ms.max(self.state.cleaned_at_ms);
        let upto = upto.min(self.state.next_offset);
        let log_start = self.state.log_start_offset;
        let clean_offset = self.state.clean_offset.max(log_start);
        let (store, group) = (self.store.clone(), self.group);
        let aborted = self.state.aborted_txns.clone();
        let started = std::time::Instant::now();
        let pass = tokio::task::spawn_blocking(move || {
            super::cleaner::clean_log(
                &store,
                group,
                log_start,
                clean_offset,
                upto,
                now_ms,
                delete_retention_ms,
                &aborted,
            )
        })
        .await
        .map_err(read_error)?
        .map_err(read_error)?;
        self.state.clean_offset = pass.clean_offset.max(self.state.clean_offset);
        self.state.tombstone_horizon = pass.tombstone_horizon;
        self.state.cleaned_at_ms = now_ms;
        self.state.size_bytes = pass.size_bytes;
        self.state.last_applied = Some(*log_id);
        let mut pass_writes = pass.writes;
        self.checkpoint(&mut pass_writes)?;
        self.store
            .write_durable(pass_writes)
            .await
            .map_err(storage_error)?;
        self.cache.trim(pass.clean_offset);
        // RocksDB drops the values a pass replaced, and frees their blob files, only when its
        // compaction passes their keys: ask for it over this partition's range now. Not
        // awaited: it changes no data, only where it lives.
        let (store, group) = (self.store.clone(), self.group);
        tokio::task::spawn_blocking(move || {
            if let Err(error) = store.reclaim_log_space(group) {
                tracing::warn!(group, %error, "reclaiming the space of a compacted log");
            }
        });
        self.shared
            .set_cleaned(pass.clean_offset, pass.tombstone_horizon);
        self.shared.set_size_bytes(pass.size_bytes);
        if let Some(index) = pass.last_log_index {
            self.shared.request_purge(index);
        }
        self.shared.record_compaction(
            pass.bytes_before.saturating_sub(pass.bytes_after),
            pass.records_removed,
        );
        metrics::histogram!("broker_cleaner_pass_seconds").record(started.elapsed().as_secs_f64());
        tracing::debug!(
            group = self.group,
            clean_offset = pass.clean_offset,
            bytes_before = pass.bytes_before,
            bytes_after = pass.bytes_after,
            records_removed = pass.records_removed,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "compaction pass"
        );
        Ok(CommandResult::Compacted {
            clean_offset: pass.clean_offset,
        })
    }
}

/// A transactional batch opens its producer's transaction here (if not open yet); a marker
/// closes it, and an ABORT one records it in the aborted transaction index. Returns whether
/// that index changed.
fn track_transaction(
    state: &mut Checkpoint,
    producer_id: i64,
    marker: Option<bool>,
    base_offset: i64,
    last_offset: i64,
) -> bool {
    let Some(commit) = marker else {
        state.open_txns.entry(producer_id).or_insert(base_offset);
        return false;
    };
    // A marker for a transaction that wrote nothing here closes nothing (Kafka writes one to
    // every partition added, used or not).
    let Some(first_offset) = state.open_txns.remove(&producer_id) else {
        return false;
    };
    if commit {
        return false;
    }
    state.aborted_txns.push(AbortedTxn {
        producer_id,
        first_offset,
        last_offset,
    });
    true
}

enum SequenceCheck {
    Accept,
    Duplicate(i64),
    Reject(i16),
}

/// Kafka's idempotent-producer rules, per producer id and epoch.
fn check_sequence(producers: &BTreeMap<i64, ProducerState>, header: &BatchHeader) -> SequenceCheck {
    if header.producer_id < 0 {
        return SequenceCheck::Accept;
    }
    if header.base_sequence < 0 {
        // Transaction markers and the coordinator's transactional offset commits carry no
        // sequence, but an older epoch than the producer's is a zombie's (fenced).
        return match producers.get(&header.producer_id) {
            Some(known) if header.producer_epoch < known.epoch => {
                SequenceCheck::Reject(ec::INVALID_PRODUCER_EPOCH)
            }
            _ => SequenceCheck::Accept,
        };
    }
    let Some(known) = producers.get(&header.producer_id) else {
        // No state (new producer, or its state expired): accept whatever sequence it starts at.
        return SequenceCheck::Accept;
    };
    if header.producer_epoch < known.epoch {
        return SequenceCheck::Reject(ec::INVALID_PRODUCER_EPOCH);
    }
    if header.producer_epoch > known.epoch {
        return match header.base_sequence {
            0 => SequenceCheck::Accept,
            _ => SequenceCheck::Reject(ec::OUT_OF_ORDER_SEQUENCE_NUMBER),
        };
    }
    let last_sequence = header.last_sequence();
    if let Some((_, _, base_offset)) = known
        .batches
        .iter()
        .find(|(first, last, _)| *first == header.base_sequence && *last == last_sequence)
    {
        return SequenceCheck::Duplicate(*base_offset);
    }
    let expected = match known.batches.back() {
        Some((_, last, _)) if *last == i32::MAX => 0,
        Some((_, last, _)) => last + 1,
        None => return SequenceCheck::Accept,
    };
    if header.base_sequence == expected {
        SequenceCheck::Accept
    } else {
        SequenceCheck::Reject(ec::OUT_OF_ORDER_SEQUENCE_NUMBER)
    }
}

fn record_producer_batch(
    producers: &mut BTreeMap<i64, ProducerState>,
    header: &BatchHeader,
    base_offset: i64,
) {
    let producer = producers.entry(header.producer_id).or_default();
    if producer.epoch != header.producer_epoch {
        producer.epoch = header.producer_epoch;
        producer.batches.clear();
    }
    producer.last_timestamp = header.max_timestamp;
    if header.base_sequence >= 0 {
        producer
            .batches
            .push_back((header.base_sequence, header.last_sequence(), base_offset));
        while producer.batches.len() > PRODUCER_BATCHES_KEPT {
            producer.batches.pop_front();
        }
    }
}

impl RaftStateMachine<TypeConfig> for PartitionStateMachine {
    type SnapshotBuilder = CheckpointSnapshot;

    async fn applied_state(
        &mut self,
    ) -> StorageResult<(Option<LogId>, StoredMembership<u64, BasicNode>)> {
        Ok((self.state.last_applied, self.state.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<CommandResult>>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut writes = WriteBatch::default();
        let mut results = Vec::new();
        let epochs_before = self.state.epochs.len();
        for entry in entries {
            let term = entry.log_id.leader_id.term;
            if self
                .state
                .epochs
                .last_key_value()
                .is_none_or(|(t, _)| *t < term)
            {
                // Every replica applies the same entries, so all record the same starts.
                self.state.epochs.insert(term, self.state.next_offset);
                if self.state.epochs.len() > EPOCHS_KEPT {
                    self.state.epochs.pop_first();
                }
            }
            let result = match &entry.payload {
                EntryPayload::Normal(Command::Append(records)) => {
                    self.apply_append(&entry.log_id, records, &mut writes)
                }
                EntryPayload::Membership(membership) => {
                    self.state.membership =
                        StoredMembership::new(Some(entry.log_id), membership.clone());
                    CommandResult::Ignored
                }
                EntryPayload::Normal(Command::TrimLog { log_start_offset }) => {
                    // The trim scans the offset index: it must see the batches applied just
                    // before it in this call.
                    let pending = std::mem::take(&mut writes);
                    self.store.write_unsynced(pending).map_err(storage_error)?;
                    self.apply_trim(&entry.log_id, *log_start_offset, &mut writes)?
                }
                EntryPayload::Normal(Command::Compact {
                    upto_offset,
                    now_ms,
                    delete_retention_ms,
                }) => {
                    self.apply_compact(
                        &entry.log_id,
                        *upto_offset,
                        *now_ms,
                        *delete_retention_ms,
                        &mut writes,
                    )
                    .await?
                }
                EntryPayload::Normal(Command::ExpireProducers {
                    now_ms,
                    expiration_ms,
                }) => self.apply_expire_producers(*now_ms, *expiration_ms),
                EntryPayload::Blank | EntryPayload::Normal(Command::Metadata(_)) => {
                    CommandResult::Ignored
                }
            };
            self.state.last_applied = Some(entry.log_id);
            results.push(result);
        }
        if self.state.epochs.len() != epochs_before || self.state.epochs.len() == EPOCHS_KEPT {
            self.shared.set_epochs(&self.state.epochs);
        }
        let Some(last_applied) = self.state.last_applied else {
            return Ok(results);
        };
        if self.checkpoint_due(last_applied.index) {
            self.checkpoint(&mut writes)?;
        }
        // Unsynced: the index and checkpoint are rebuilt by replaying the synced log.
        self.store.write_unsynced(writes).map_err(storage_error)?;
        self.tail.mark_applied(last_applied.index);
        self.shared.set_size_bytes(self.state.size_bytes);
        self.shared
            .set_last_stable_offset(self.state.last_stable_offset());
        if !self.touched_producers.is_empty() {
            let touched = std::mem::take(&mut self.touched_producers);
            self.shared.update_producers(
                touched
                    .into_iter()
                    .filter_map(|id| Some((id, self.state.producer_view(id)?))),
            );
        }
        self.shared.set_high_watermark(self.state.next_offset);
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> CheckpointSnapshot {
        // openraft may purge the log up to this snapshot; the entries the stored checkpoint
        // would have to re-apply at startup must not be among them. Written before the purge,
        // so the WAL's order makes it durable no later than the purge.
        if self.checkpointed.0 != self.state.last_applied.map(|l| l.index) {
            let mut writes = WriteBatch::default();
            let written = self
                .checkpoint(&mut writes)
                .and_then(|_| self.store.write_unsynced(writes).map_err(storage_error));
            if let Err(error) = written {
                // No snapshot then, so no purge either.
                return CheckpointSnapshot {
                    failed: Some(error.to_string()),
                    ..self.snapshot_builder()
                };
            }
        }
        self.snapshot_builder()
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
        let contents = Contents::decode(&bytes).map_err(read_error)?;
        let mut state: Checkpoint =
            serde_json::from_slice(&contents.checkpoint).map_err(read_error)?;
        let last = meta
            .last_log_id
            .ok_or_else(|| read_error("snapshot of nothing"))?;
        state.last_applied = Some(last);
        state.membership = meta.last_membership.clone();

        // One synced batch: this replica's log up to the snapshot becomes the leader's, whatever
        // it held before (it may have diverged). openraft purges up to the snapshot right after,
        // which leaves the retained entries on disk (see LogStore::retaining).
        let mut batch = WriteBatch::default();
        let log = self.store.cf(CF_LOG);
        batch.delete_range_cf(
            log,
            log_key(self.group, 0),
            log_key(self.group, last.index + 1),
        );
        for (index, entry) in &contents.entries {
            if *index > last.index {
                return Err(read_error("snapshot entry past its last log id"));
            }
            batch.put_cf(log, log_key(self.group, *index), entry);
        }
        let (start, end) = group_range(self.group);
        let index_cf = self.store.cf(CF_OFFSET_INDEX);
        batch.delete_range_cf(index_cf, start, end);
        for (last_offset, value) in &contents.index {
            batch.put_cf(index_cf, offset_key(self.group, *last_offset), value);
        }
        let checkpoint = serde_json::to_vec(&state).map_err(storage_error)?;
        batch.put_cf(
            self.store.cf(CF_SM_STATE),
            state_key(self.group, TAG_CHECKPOINT),
            checkpoint,
        );
        // The log is purged up to the snapshot as of now, even if this node restarts before
        // openraft records it.
        batch.put_cf(
            self.store.cf(CF_RAFT_STATE),
            state_key(self.group, TAG_PURGED),
            serde_json::to_vec(&last).map_err(storage_error)?,
        );
        self.store
            .write_durable(batch)
            .await
            .map_err(storage_error)?;

        self.tail.purge(last.index);
        self.tail.mark_applied(last.index);
        self.cache.clear();
        self.shared
            .retained_from
            .store(contents.retained_from(last.index), Ordering::Release);
        self.shared.set_log_start_offset(state.log_start_offset);
        self.shared.set_epochs(&state.epochs);
        self.shared.set_size_bytes(state.size_bytes);
        self.shared
            .set_cleaned(state.clean_offset, state.tombstone_horizon);
        self.shared
            .set_last_stable_offset(state.last_stable_offset());
        self.shared.set_aborted(&state.aborted_txns);
        self.shared.set_producers(state.producer_views());
        self.shared.set_high_watermark(state.next_offset);
        self.checkpointed = (Some(last.index), std::time::Instant::now());
        metrics::counter!("broker_partition_snapshots_installed_total").increment(1);
        tracing::info!(
            group = self.group,
            last_log_index = last.index,
            log_start_offset = state.log_start_offset,
            high_watermark = state.next_offset,
            batches = contents.index.len(),
            bytes = bytes.len(),
            "installed a partition snapshot"
        );
        self.state = state;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        // openraft asks at startup only for the metadata; the records are read when it sends
        // the snapshot to a follower.
        Ok(self.state.last_applied.map(|_| {
            snapshot_of(
                self.group,
                self.store.clone(),
                self.tail.clone(),
                self.state.clone(),
            )
        }))
    }
}

/// The snapshot of `state`: its metadata now, its contents (read from the log) when sent.
fn snapshot_of(
    group: u64,
    store: Arc<Store>,
    tail: Arc<LogTail>,
    state: Checkpoint,
) -> Snapshot<TypeConfig> {
    let last = state.last_applied;
    let meta = SnapshotMeta {
        last_log_id: last,
        last_membership: state.membership.clone(),
        snapshot_id: format!(
            "{}-{}",
            last.map_or(0, |l| l.leader_id.term),
            last.map_or(0, |l| l.index)
        ),
    };
    let data = SnapshotData::lazy(move || {
        let bytes = super::snapshot::read(group, &store, &tail, &state)
            .map(|contents| contents.encode())
            .map_err(std::io::Error::other)?;
        metrics::counter!("broker_partition_snapshots_sent_total").increment(1);
        metrics::counter!("broker_partition_snapshot_bytes_sent_total")
            .increment(bytes.len() as u64);
        Ok(bytes)
    });
    Snapshot {
        meta,
        snapshot: Box::new(data),
    }
}

/// The log index of the first batch at or after `log_start_offset`, if any.
fn first_retained(
    store: &Store,
    group: u64,
    log_start_offset: i64,
) -> Result<Option<u64>, crate::storage::StorageError> {
    let first = store
        .offset_index(group, log_start_offset)
        .next()
        .transpose()?;
    Ok(first.map(|(_, entry)| entry.log_index))
}

/// Builds snapshots for openraft: the checkpoint as of now (see [`snapshot_of`]).
pub struct CheckpointSnapshot {
    group: u64,
    store: Arc<Store>,
    tail: Arc<LogTail>,
    state: Checkpoint,
    /// Why the checkpoint this snapshot needs on disk could not be written.
    failed: Option<String>,
}

impl RaftSnapshotBuilder<TypeConfig> for CheckpointSnapshot {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        if let Some(error) = &self.failed {
            return Err(storage_error(error));
        }
        Ok(snapshot_of(
            self.group,
            self.store.clone(),
            self.tail.clone(),
            self.state.clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::batch::tests::sample_batch;

    fn header(producer_id: i64, epoch: i16, base_sequence: i32, count: i32) -> BatchHeader {
        let mut header =
            batch::parse_header(&sample_batch(count, producer_id, base_sequence)).unwrap();
        header.producer_epoch = epoch;
        header
    }

    #[test]
    fn idempotent_producer_rules() {
        let mut producers = BTreeMap::new();
        let first = header(7, 0, 0, 3);
        assert!(matches!(
            check_sequence(&producers, &first),
            SequenceCheck::Accept
        ));
        record_producer_batch(&mut producers, &first, 100);
        // The same batch again: its original offset.
        assert!(matches!(
            check_sequence(&producers, &first),
            SequenceCheck::Duplicate(100)
        ));
        // A gap.
        let gap = header(7, 0, 5, 1);
        assert!(matches!(
            check_sequence(&producers, &gap),
            SequenceCheck::Reject(ec::OUT_OF_ORDER_SEQUENCE_NUMBER)
        ));
        let next = header(7, 0, 3, 2);
        assert!(matches!(
            check_sequence(&producers, &next),
            SequenceCheck::Accept
        ));
        // An older epoch is fenced; a newer one must restart at 0.
        record_producer_batch(&mut producers, &header(7, 2, 0, 1), 110);
        assert!(matches!(
            check_sequence(&producers, &header(7, 1, 1, 1)),
            SequenceCheck::Reject(ec::INVALID_PRODUCER_EPOCH)
        ));
        assert!(matches!(
            check_sequence(&producers, &header(7, 3, 4, 1)),
            SequenceCheck::Reject(ec::OUT_OF_ORDER_SEQUENCE_NUMBER)
        ));
        // Non-idempotent batches are never checked.
        assert!(matches!(
            check_sequence(&producers, &header(-1, -1, -1, 1)),
            SequenceCheck::Accept
        ));
    }

    #[test]
    fn transactions_hold_the_last_stable_offset_and_aborts_are_indexed() {
        let mut state = Checkpoint::default();
        // Producer 1 writes at 0-2 and 5, producer 2 at 3-4; plain records at 6.
        assert!(!track_transaction(&mut state, 1, None, 0, 2));
        assert!(!track_transaction(&mut state, 2, None, 3, 4));
        assert!(!track_transaction(&mut state, 1, None, 5, 5));
        state.next_offset = 7;
        assert_eq!(state.last_stable_offset(), 0);
        // Producer 1 commits (marker at 7): producer 2's transaction is now the earliest.
        assert!(!track_transaction(&mut state, 1, Some(true), 7, 7));
        state.next_offset = 8;
        assert_eq!(state.last_stable_offset(), 3);
        // Producer 2 aborts (marker at 8): nothing open, the LSO is the high watermark.
        assert!(track_transaction(&mut state, 2, Some(false), 8, 8));
        state.next_offset = 9;
        assert_eq!(state.last_stable_offset(), 9);
        assert_eq!(
            state.aborted_txns,
            vec![AbortedTxn {
                producer_id: 2,
                first_offset: 3,
                last_offset: 8
            }]
        );
        // A marker with no transaction here (a partition added but not written) changes nothing.
        assert!(!track_transaction(&mut state, 3, Some(false), 9, 9));
        assert_eq!(state.aborted_txns.len(), 1);
        // The checkpoint keeps both across a restart.
        let restored: Checkpoint =
            serde_json::from_slice(&serde_json::to_vec(&state).unwrap()).unwrap();
        assert_eq!(restored.aborted_txns, state.aborted_txns);
        assert_eq!(restored.last_stable_offset(), 9);
    }

    #[test]
    fn batches_without_sequence_are_fenced_by_epoch() {
        let mut producers = BTreeMap::new();
        record_producer_batch(&mut producers, &header(7, 3, 0, 1), 0);
        // A marker (or transactional offset commit) of an older epoch is a zombie's.
        assert!(matches!(
            check_sequence(&producers, &header(7, 2, -1, 1)),
            SequenceCheck::Reject(ec::INVALID_PRODUCER_EPOCH)
        ));
        assert!(matches!(
            check_sequence(&producers, &header(7, 4, -1, 1)),
            SequenceCheck::Accept
        ));
    }

    #[test]
    fn keeps_only_recent_batches() {
        let mut producers = BTreeMap::new();
        for i in 0..10 {
            record_producer_batch(&mut producers, &header(1, 0, i, 1), i as i64);
        }
        assert_eq!(producers[&1].batches.len(), PRODUCER_BATCHES_KEPT);
        assert_eq!(producers[&1].batches.front(), Some(&(5, 5, 5)));
    }
}
