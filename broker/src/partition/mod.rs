//! A partition: its Raft group, its high watermark, and reads of its log.
//!
//! Data flows one way: the produce handler submits a batch (in request order) straight to the
//! partition's Raft core, Raft writes it once to the log, and the state machine's apply answers
//! with the offset it assigned.

pub mod batch;
pub mod cache;
pub mod cleaner;
pub mod compaction;
pub mod control;
pub mod retention;
pub mod snapshot;
pub mod state_machine;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::FutureExt;
use openraft::raft::ClientWriteResponse;
use tokio::sync::watch;

use crate::protocol::error_codes as ec;
use crate::raft::log_store::LogStore;
use crate::raft::tail::LogTail;
use crate::raft::{codec, Command, CommandResult, Members, Raft, RaftEnv};
use crate::storage::keys::{log_key, IndexValue};
use crate::storage::{StorageError, Store, CF_LOG};
use cache::PartitionCache;
use state_machine::PartitionStateMachine;

/// State the state machine publishes and readers consume.
pub struct PartitionShared {
    high_watermark: watch::Sender<i64>,
    log_start_offset: AtomicI64,
    /// Raft log index up to which entries only hold trimmed records (0: nothing to purge).
    purge_upto: AtomicU64,
    /// Leader epoch (Raft term) -> first offset written in it; changes once per election.
    epochs: Mutex<std::collections::BTreeMap<u64, i64>>,
    /// The first Raft log index holding a batch still served (see LogStore::retaining).
    pub retained_from: Arc<AtomicU64>,
    /// Bytes of the batches from the log start offset on, as of the last apply.
    size_bytes: AtomicU64,
    /// Compaction: the first offset not yet cleaned.
    clean_offset: AtomicI64,
    /// The earliest delete horizon of kept tombstones (i64::MAX: none).
    tombstone_horizon: AtomicI64,
    /// Bytes the cleaner could clean now, as the leader last saw (metrics).
    pub cleanable_bytes: AtomicU64,
    /// Bytes and records compaction removed here since startup (metrics).
    pub compacted_bytes: AtomicU64,
    pub compacted_records: AtomicU64,
    /// First offset of the earliest open transaction, else the high watermark.
    last_stable_offset: AtomicI64,
    /// The aborted transaction index, replaced whole when it changes (rarely).
    aborted_txns: Mutex<Arc<Vec<state_machine::AbortedTxn>>>,
    /// Producer states for DescribeProducers: those an apply changed, updated after it.
    producers: Mutex<std::collections::BTreeMap<i64, state_machine::ProducerView>>,
}

impl PartitionShared {
    fn new() -> PartitionShared {
        PartitionShared {
            high_watermark: watch::Sender::new(0),
            log_start_offset: AtomicI64::new(0),
            purge_upto: AtomicU64::new(0),
            epochs: Mutex::default(),
            retained_from: Arc::default(),
            size_bytes: AtomicU64::new(0),
            clean_offset: AtomicI64::new(0),
            tombstone_horizon: AtomicI64::new(i64::MAX),
            cleanable_bytes: AtomicU64::new(0),
            compacted_bytes: AtomicU64::new(0),
            compacted_records: AtomicU64::new(0),
            last_stable_offset: AtomicI64::new(0),
            aborted_txns: Mutex::default(),
            producers: Mutex::default(),
        }
    }

    pub fn set_cleaned(&self, clean_offset: i64, tombstone_horizon: Option<i64>) {
        self.clean_offset.store(clean_offset, Ordering::Release);
        self.tombstone_horizon
            .store(tombstone_horizon.unwrap_or(i64::MAX), Ordering::Release);
    }

    pub fn record_compaction(&self, bytes: u64, records: u64) {
        self.compacted_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.compacted_records.fetch_add(records, Ordering::Relaxed);
    }

    pub fn set_producers(
        &self,
        producers: std::collections::BTreeMap<i64, state_machine::ProducerView>,
    ) {
        *self.producers.lock().unwrap_or_else(|p| p.into_inner()) = producers;
    }

    pub fn update_producers(
        &self,
        changed: impl Iterator<Item = (i64, state_machine::ProducerView)>,
    ) {
        let mut producers = self.producers.lock().unwrap_or_else(|p| p.into_inner());
        for (id, view) in changed {
            producers.insert(id, view);
        }
    }

    pub fn set_last_stable_offset(&self, offset: i64) {
        self.last_stable_offset.store(offset, Ordering::Release);
    }

    pub fn set_aborted(&self, aborted: &[state_machine::AbortedTxn]) {
        *self.aborted_txns.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(aborted.to_vec());
    }

    pub fn set_size_bytes(&self, bytes: u64) {
        self.size_bytes.store(bytes, Ordering::Release);
    }

    pub fn set_epochs(&self, epochs: &std::collections::BTreeMap<u64, i64>) {
        *self.epochs.lock().unwrap_or_else(|p| p.into_inner()) = epochs.clone();
    }

    pub fn set_log_start_offset(&self, offset: i64) {
        self.log_start_offset.store(offset, Ordering::Release);
    }

    pub fn request_purge(&self, log_index: u64) {
        self.purge_upto.fetch_max(log_index, Ordering::AcqRel);
    }

    pub fn set_high_watermark(&self, offset: i64) {
        self.high_watermark.send_if_modified(|current| {
            debug_assert!(offset >= *current, "high watermark moved back");
            let changed = *current != offset;
            *current = offset;
            changed
        });
    }
}

pub struct Partition {
    pub topic: String,
    pub index: i32,
    pub group: u64,
    pub raft: Raft,
    /// Produce and Fetch counters, resolved once here so the hot paths never look them up.
    pub metrics: crate::metrics::PartitionMetrics,
    env: RaftEnv,
    store: Arc<Store>,
    /// The batches applied most recently, for Fetch at or near the end of the log.
    cache: Arc<PartitionCache>,
    /// When each follower last matched the leader's log end (leader side, for the ISR).
    caught_up: Mutex<HashMap<u64, Instant>>,
    shared: Arc<PartitionShared>,
    raft_metrics: watch::Receiver<RaftMetrics>,
}

type RaftMetrics = openraft::RaftMetrics<u64, openraft::BasicNode>;

/// What became of one appended batch, as Kafka error codes.
pub type AppendOutcome = Result<i64, i16>;

impl Partition {
    /// Starts this node's replica. `initial`: the partition's replicas when it was created
    /// (`None` for a replica added later, which waits for the leader to bring it in).
    /// `preferred`: this node is the first replica, so it calls an election at once instead of
    /// waiting for a timeout, which also spreads leaders as placement intended.
    // Each argument is a different thing the replica is built from; a struct to carry them
    // would only rename the list.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        topic: String,
        index: i32,
        group: u64,
        env: &RaftEnv,
        initial: Option<Members>,
        preferred: bool,
        store: Arc<Store>,
        cache: Arc<PartitionCache>,
    ) -> anyhow::Result<Arc<Partition>> {
        let tail = Arc::new(LogTail::default());
        let shared = Arc::new(PartitionShared::new());
        let log_store = LogStore::new(group, store.clone(), tail.clone())
            .retaining(shared.retained_from.clone());
        let state_machine =
            PartitionStateMachine::open(group, store.clone(), tail, shared.clone(), cache.clone())?;
        // The first replica of the assignment campaigns first, so it leads, as in Kafka; the
        // others join its election, or hold their own if it does not come.
        let initialize_after =
            (!preferred).then(|| Duration::from_millis(2 * env.config.election_timeout_max));
        let (raft, _) = crate::raft::start_group(
            env,
            group,
            initial,
            initialize_after,
            log_store,
            state_machine,
        )
        .await?;
        let raft_metrics = raft.metrics();
        Ok(Arc::new(Partition {
            metrics: crate::metrics::PartitionMetrics::new(&topic, index),
            topic,
            index,
            group,
            raft,
            env: env.clone(),
            store,
            cache,
            shared,
            raft_metrics,
            caught_up: Mutex::new(HashMap::new()),
        }))
    }

    /// openraft's view of this group. Borrowed from a receiver kept for the partition's life:
    /// `Raft::metrics()` clones a new one per call, and the leadership report asks every
    /// partition several times a second.
    fn raft_metrics(&self) -> watch::Ref<'_, RaftMetrics> {
        self.raft_metrics.borrow()
    }

    pub fn is_leader(&self) -> bool {
        let metrics = self.raft_metrics();
        metrics.running_state.is_ok() && metrics.current_leader == Some(self.env.node_id)
    }

    /// The leader as this replica knows it, and its epoch (Raft term). None once this
    /// replica's Raft group has stopped (a storage error): its last view is stale, and a
    /// stopped leader that went on claiming the partition would keep clients away from the
    /// new one.
    pub fn leader(&self) -> Option<(u64, i32)> {
        let metrics = self.raft_metrics();
        if metrics.running_state.is_err() {
            return None;
        }
        metrics
            .current_leader
            .map(|leader| (leader, metrics.current_term as i32))
    }

    /// On the leader: its term, and whether it has applied its whole log (a coordinator loads
    /// the partition's state only then).
    pub fn leading_term(&self) -> Option<(u64, bool)> {
        let m = self.raft_metrics();
        let caught_up = m.last_applied.map(|l| l.index) >= m.last_log_index;
        (m.current_leader == Some(m.id)).then_some((m.current_term, caught_up))
    }

    /// False once this replica's Raft group has stopped on an error.
    pub fn is_running(&self) -> bool {
        self.raft_metrics().running_state.is_ok()
    }

    pub fn node_id(&self) -> u64 {
        self.env.node_id
    }

    /// On the leader: its epoch and in-sync replicas, from one look at the Raft metrics (the
    /// leadership report asks this of every partition several times a second).
    pub fn leadership(&self, lag_max: Duration) -> Option<(i32, Vec<u64>)> {
        let metrics = self.raft_metrics();
        if metrics.running_state.is_err() || metrics.current_leader != Some(self.env.node_id) {
            return None;
        }
        Some((
            metrics.current_term as i32,
            self.in_sync_of(&metrics, lag_max),
        ))
    }

    /// On the leader: itself and the followers that matched its log end within `lag_max`
    /// and answered this node within that time. Elsewhere: empty (ask the leader).
    pub fn in_sync_replicas(&self, lag_max: Duration) -> Vec<u64> {
        self.in_sync_of(&self.raft_metrics(), lag_max)
    }

    fn in_sync_of(&self, metrics: &RaftMetrics, lag_max: Duration) -> Vec<u64> {
        let Some(replication) = metrics.replication.as_ref() else {
            return Vec::new();
        };
        let now = Instant::now();
        let last = metrics.last_log_index.unwrap_or(0);
        let membership = metrics.membership_config.membership();
        let mut caught_up = self.caught_up.lock().unwrap_or_else(|p| p.into_inner());
        let mut isr = vec![self.env.node_id];
        for (follower, matched) in replication {
            if *follower == self.env.node_id {
                continue;
            }
            // A follower seen for the first time gets the benefit of the doubt.
            let since = caught_up.entry(*follower).or_insert(now);
            if matched.map_or(0, |m| m.index) >= last {
                *since = now;
            }
            if now.duration_since(*since) <= lag_max
                && self.answered(membership, *follower, lag_max)
            {
                isr.push(*follower);
            }
        }
        isr.sort_unstable();
        isr
    }

    /// Kafka's answer to OffsetForLeaderEpoch: the largest epoch up to `requested` that wrote
    /// here, and the offset where the next epoch began (the high watermark for the current
    /// epoch). (-1, -1) for an epoch newer than any known.
    pub fn end_offset_for_epoch(&self, requested: i32) -> (i32, i64) {
        let epochs = self.shared.epochs.lock().unwrap_or_else(|p| p.into_inner());
        end_offset_for_epoch(
            &epochs,
            requested,
            self.leader_epoch(),
            self.high_watermark(),
        )
    }

    /// Whether a majority of the voters (this node included) answered this node within
    /// `window`: without it nothing can commit.
    pub fn has_live_quorum(&self, window: Duration) -> bool {
        let metrics = self.raft_metrics();
        let membership = metrics.membership_config.membership();
        let (mut voters, mut live) = (0, 0);
        for id in membership.voter_ids() {
            voters += 1;
            if id == self.env.node_id || self.answered(membership, id, window) {
                live += 1;
            }
        }
        live * 2 > voters
    }

    /// Whether group member `id`'s node answered any RPC of this node within `window`.
    fn answered(
        &self,
        membership: &openraft::Membership<u64, openraft::BasicNode>,
        id: u64,
        window: Duration,
    ) -> bool {
        membership
            .get_node(&id)
            .is_some_and(|node| self.env.peers.heard_within(&node.addr, window))
    }

    /// Whether this replica leads and has applied an entry of its own term (openraft's new
    /// leader commits a blank entry first), hence everything committed before its term. Until
    /// then its high watermark may be behind the one the previous leader served, so reads
    /// answered from it would make the high watermark go back.
    pub fn is_leader_caught_up(&self) -> bool {
        let metrics = self.raft_metrics();
        metrics.running_state.is_ok()
            && metrics.current_leader == Some(self.env.node_id)
            && applied_own_term(
                metrics.current_term,
                metrics.last_applied.map(|log_id| log_id.leader_id.term),
            )
    }

    /// The Kafka leader epoch is the Raft term of the current leader.
    pub fn leader_epoch(&self) -> i32 {
        self.raft_metrics().current_term as i32
    }

    pub fn high_watermark(&self) -> i64 {
        *self.shared.high_watermark.borrow()
    }

    /// Where read_committed consumers stop: the first offset of the earliest open
    /// transaction, else the high watermark.
    pub fn last_stable_offset(&self) -> i64 {
        let high_watermark = self.high_watermark();
        self.shared
            .last_stable_offset
            .load(Ordering::Acquire)
            .min(high_watermark)
    }

    /// The producers that wrote here, with their epoch, last sequence and open transaction.
    pub fn producers(&self) -> Vec<(i64, state_machine::ProducerView)> {
        let producers = self
            .shared
            .producers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        producers.iter().map(|(id, view)| (*id, *view)).collect()
    }

    /// Aborted transactions with records in `[from, upto)`: (producer id, first offset), as
    /// a read_committed Fetch returns them.
    pub fn aborted_transactions(&self, from: i64, upto: i64) -> Vec<(i64, i64)> {
        let aborted = self
            .shared
            .aborted_txns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        aborted
            .iter()
            .filter(|txn| txn.last_offset >= from && txn.first_offset < upto)
            .map(|txn| (txn.producer_id, txn.first_offset))
            .collect()
    }

    /// Bytes of the record batches this replica retains (from its log start offset to its
    /// high watermark): what `retention.bytes` is measured against (DescribeLogDirs).
    pub fn retained_bytes(&self) -> u64 {
        self.shared.size_bytes.load(Ordering::Acquire)
    }

    pub fn log_start_offset(&self) -> i64 {
        self.shared.log_start_offset.load(Ordering::Acquire)
    }

    pub fn watch_high_watermark(&self) -> watch::Receiver<i64> {
        self.shared.high_watermark.subscribe()
    }

    /// Queues one record batch. Must be called in request order; the append happens in the
    /// order of these calls. The returned future resolves once the batch is committed.
    ///
    /// Anything but exactly one batch is refused: the state machine assigns offsets from the
    /// first header only, so trailing batches would be stored without offsets of their own.
    pub fn submit(
        &self,
        records: Bytes,
    ) -> impl std::future::Future<Output = AppendOutcome> + Send + 'static {
        let single = batch::parse_header(&records).is_ok_and(|h| h.size_bytes() == records.len());
        // openraft's `client_write_ff` puts the entry on the Raft core's unbounded channel
        // before its first await, so one poll completes it. Polled here, synchronously, the
        // order of `submit` calls is the order of the log with no task in between (an appender
        // task used to forward each batch: two more task wake-ups per append). It stays
        // pending only when the core has stopped, which answers as a lost leadership does.
        let started = Instant::now();
        let queued = single.then(|| {
            self.raft
                .client_write_ff(Command::Append(records))
                .now_or_never()
        });
        async move {
            let receiver = match queued {
                None => return Err(ec::CORRUPT_MESSAGE),
                Some(Some(Ok(receiver))) => receiver,
                Some(_) => return Err(ec::NOT_LEADER_OR_FOLLOWER),
            };
            let result = receiver.await;
            crate::metrics::partition_append_seconds().record(started.elapsed().as_secs_f64());
            match result {
                Ok(Ok(ClientWriteResponse { data, .. })) => match data {
                    CommandResult::Appended { base_offset, .. } => Ok(base_offset),
                    CommandResult::Rejected { error_code } => Err(error_code),
                    _ => Err(ec::UNKNOWN_SERVER_ERROR),
                },
                // ForwardToLeader or a membership change in progress: the client retries.
                Ok(Err(_)) => Err(ec::NOT_LEADER_OR_FOLLOWER),
                Err(_) => Err(ec::NOT_LEADER_OR_FOLLOWER),
            }
        }
    }

    /// Committed batches from the one containing `fetch_offset`, below `upto`, up to about `max_bytes`
    /// (at least one whole batch). Batches are copied once, into the response buffer: from
    /// memory when the cache holds that batch (consumers at or near the end of the log),
    /// otherwise from RocksDB on the blocking pool, so that a consumer catching up from disk
    /// never stalls a tokio worker.
    pub async fn read(
        self: &Arc<Self>,
        fetch_offset: i64,
        max_bytes: usize,
        upto: i64,
    ) -> Result<Bytes, StorageError> {
        // `upto`: the high watermark, or the last stable offset for read_committed.
        let high_watermark = self.high_watermark().min(upto);
        let mut out = BytesMut::new();
        if self
            .cache
            .read(fetch_offset, high_watermark, max_bytes, &mut out)
        {
            crate::metrics::fetch_cache_read(true).increment(1);
            return Ok(out.freeze());
        }
        crate::metrics::fetch_cache_read(false).increment(1);
        let partition = self.clone();
        tokio::task::spawn_blocking(move || {
            partition.read_stored(fetch_offset, max_bytes, high_watermark)
        })
        .await
        .map_err(|e| StorageError::Read(format!("read task: {e}")))?
    }

    /// [`Partition::read`] from RocksDB.
    fn read_stored(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        high_watermark: i64,
    ) -> Result<Bytes, StorageError> {
        let leader_epoch = self.leader_epoch();
        let mut out = BytesMut::new();
        for item in self.store.offset_index(self.group, fetch_offset) {
            let (_, entry) = item?;
            if entry.base_offset >= high_watermark {
                break;
            }
            let stored = self
                .store
                .db
                .get_pinned_cf(self.store.cf(CF_LOG), log_key(self.group, entry.log_index))?
                .ok_or_else(|| {
                    corrupt(format!(
                        "index points at missing log entry {}",
                        entry.log_index
                    ))
                })?;
            let (term, records) = codec::append_payload(&stored).map_err(corrupt)?;
            // Compaction emptied it after the index was read: nothing to serve.
            if records.len() <= batch::HEADER_LEN {
                continue;
            }
            if !out.is_empty() && out.len() + records.len() > max_bytes {
                break;
            }
            let start = out.len();
            out.extend_from_slice(records);
            let epoch = if term > 0 { term as i32 } else { leader_epoch };
            batch::stamp(&mut out[start..], entry.base_offset, epoch);
            if out.len() >= max_bytes {
                break;
            }
        }
        Ok(out.freeze())
    }

    /// Index entries of committed batches, in offset order.
    pub fn batches(&self) -> Result<Vec<IndexValue>, StorageError> {
        self.batches_from(self.log_start_offset(), self.high_watermark())
    }

    /// A copy of the records of one committed log entry, stamped with its base offset (never on
    /// the hot path: timestamp lookups and coordinator loads).
    pub fn entry_records(&self, entry: &IndexValue) -> Result<Bytes, StorageError> {
        let stored = self
            .store
            .db
            .get_pinned_cf(self.store.cf(CF_LOG), log_key(self.group, entry.log_index))?
            .ok_or_else(|| corrupt(format!("missing log entry {}", entry.log_index)))?;
        let (_, records) = codec::append_payload(&stored).map_err(corrupt)?;
        let mut copy = BytesMut::from(records);
        batch::stamp(&mut copy, entry.base_offset, 0);
        Ok(copy.freeze())
    }

    /// Decoded records of one committed batch (for timestamp lookups only: never on the hot path).
    pub fn decode_batch(
        &self,
        entry: &IndexValue,
    ) -> Result<Vec<kafka_protocol::records::Record>, StorageError> {
        let mut bytes = self.entry_records(entry)?;
        kafka_protocol::records::RecordBatchDecoder::decode(&mut bytes)
            .map(|set| set.records)
            .map_err(|e| corrupt(format!("decoding batch: {e}")))
    }

    /// Moves the log start offset to `offset` (clamped to the high watermark) through Raft;
    /// returns the new log start offset or a Kafka error code.
    pub async fn trim(&self, offset: i64) -> Result<i64, i16> {
        match self
            .raft
            .client_write(Command::TrimLog {
                log_start_offset: offset,
            })
            .await
        {
            Ok(response) => match response.data {
                CommandResult::Trimmed { log_start_offset } => Ok(log_start_offset),
                _ => Err(ec::UNKNOWN_SERVER_ERROR),
            },
            Err(_) => Err(ec::NOT_LEADER_OR_FOLLOWER),
        }
    }

    /// On the leader: forgets, through Raft, the idempotent producers idle for `expiration_ms`
    /// (producer.id.expiration.ms) as of `now_ms`. Proposes nothing when none is due; returns
    /// how many went, or a Kafka error code.
    pub async fn expire_producers(&self, expiration_ms: i64, now_ms: i64) -> Result<u64, i16> {
        let due = self.producers().iter().any(|(_, view)| {
            view.current_txn_start_offset < 0
                && state_machine::producer_expired(view.last_timestamp, now_ms, expiration_ms)
        });
        if !due {
            return Ok(0);
        }
        let command = Command::ExpireProducers {
            now_ms,
            expiration_ms,
        };
        match self.raft.client_write(command).await {
            Ok(response) => match response.data {
                CommandResult::ProducersExpired { count } => Ok(count),
                _ => Err(ec::UNKNOWN_SERVER_ERROR),
            },
            Err(_) => Err(ec::NOT_LEADER_OR_FOLLOWER),
        }
    }

    /// The log start offset retention asks for: past every batch older than `retention_ms`
    /// (by its newest timestamp) and past the oldest batches while the log exceeds
    /// `retention_bytes`. Negative limits are off, as in Kafka.
    pub fn retention_target(
        &self,
        retention_ms: i64,
        retention_bytes: i64,
        now_ms: i64,
    ) -> Result<Option<i64>, StorageError> {
        let mut total: i64 = 0;
        let batches = self.batches()?;
        for batch in &batches {
            total += batch.size_bytes as i64;
        }
        let mut target = None;
        for (i, batch) in batches.iter().enumerate() {
            let too_old = retention_ms >= 0 && batch.max_timestamp < now_ms - retention_ms;
            // As Kafka: delete only while what remains still holds retention.bytes.
            let too_big =
                retention_bytes >= 0 && total - batch.size_bytes as i64 >= retention_bytes;
            if !(too_old || too_big) {
                break;
            }
            total -= batch.size_bytes as i64;
            // Up to the next batch's base offset (or the end of this one).
            target = Some(
                batches
                    .get(i + 1)
                    .map_or(self.high_watermark(), |next| next.base_offset),
            );
        }
        Ok(target.filter(|t| *t > self.log_start_offset()))
    }

    /// The first offset compaction has not cleaned yet (Kafka's cleaner checkpoint).
    pub fn clean_offset(&self) -> i64 {
        self.shared
            .clean_offset
            .load(Ordering::Acquire)
            .max(self.log_start_offset())
    }

    /// (bytes the cleaner could clean now as of the leader's last look, bytes compaction gave
    /// back here since startup).
    pub fn compaction_stats(&self) -> (u64, u64) {
        (
            self.shared.cleanable_bytes.load(Ordering::Relaxed),
            self.shared.compacted_bytes.load(Ordering::Relaxed),
        )
    }

    /// On the leader: plans a compaction pass (see [`cleaner`]) and, if the log needs one,
    /// has every replica apply it through Raft. The new first dirty offset, or `None` if no
    /// pass was needed.
    pub async fn compact(
        self: &Arc<Self>,
        settings: &cleaner::CleanerConfig,
        now_ms: i64,
    ) -> Result<Option<i64>, String> {
        let view = cleaner::LogView {
            log_start_offset: self.log_start_offset(),
            clean_offset: self.clean_offset(),
            // Nothing at or past the last stable offset is cleaned (as Kafka's first
            // uncleanable offset): a newer record of an open transaction that may still abort
            // must not make an older committed one of its key go.
            high_watermark: self.last_stable_offset(),
            retained_bytes: self.retained_bytes(),
            tombstone_horizon: Some(self.shared.tombstone_horizon.load(Ordering::Acquire))
                .filter(|h| *h != i64::MAX),
        };
        let partition = self.clone();
        let dirty = tokio::task::spawn_blocking(move || {
            partition.batches_from(view.clean_offset, view.high_watermark)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        self.shared.cleanable_bytes.store(
            cleaner::cleanable_bytes(&dirty, settings, now_ms),
            Ordering::Relaxed,
        );
        let Some(upto) = cleaner::plan(&view, &dirty, settings, now_ms) else {
            return Ok(None);
        };
        let command = Command::Compact {
            upto_offset: upto,
            now_ms,
            delete_retention_ms: settings.delete_retention_ms,
        };
        match self.raft.client_write(command).await {
            Ok(response) => match response.data {
                CommandResult::Compacted { clean_offset } => Ok(Some(clean_offset)),
                other => Err(format!("compaction answered {other:?}")),
            },
            Err(error) => Err(error.to_string()),
        }
    }

    /// Index entries of the committed batches in `from..high_watermark`, in offset order.
    fn batches_from(
        &self,
        from: i64,
        high_watermark: i64,
    ) -> Result<Vec<IndexValue>, StorageError> {
        let mut entries = Vec::new();
        for item in self.store.offset_index(self.group, from) {
            let (_, entry) = item?;
            if entry.base_offset >= high_watermark {
                break;
            }
            entries.push(entry);
        }
        Ok(entries)
    }

    /// Purges Raft log entries that hold only trimmed records. openraft purges only what a
    /// snapshot covers; a follower that needs purged entries gets a snapshot, which carries
    /// the records still retained (see [`snapshot`]).
    pub async fn purge(&self) {
        let upto = self.shared.purge_upto.load(Ordering::Acquire);
        if upto == 0 {
            return;
        }
        let covered = |m: &RaftMetrics| m.snapshot.map_or(0, |s| s.index) >= upto;
        if !covered(&self.raft_metrics()) {
            if let Err(error) = self.raft.trigger().snapshot().await {
                tracing::warn!(topic = %self.topic, partition = self.index, %error, "snapshot for purge");
                return;
            }
            let waited = self
                .raft
                .wait(Some(std::time::Duration::from_secs(10)))
                .metrics(covered, "snapshot for purge")
                .await;
            if waited.is_err() {
                return;
            }
        }
        if let Err(error) = self.raft.trigger().purge_log(upto).await {
            tracing::warn!(topic = %self.topic, partition = self.index, %error, "purging the raft log");
            return;
        }
        tracing::info!(topic = %self.topic, partition = self.index, upto, "purging the raft log");
        let _ =
            self.shared
                .purge_upto
                .compare_exchange(upto, 0, Ordering::AcqRel, Ordering::Acquire);
    }

    pub async fn shutdown(&self) {
        crate::raft::stop_group(&self.env, self.group, &self.raft).await;
    }
}

/// Kafka's `LeaderEpochFileCache.endOffsetFor` over `epochs` (term -> first offset).
fn end_offset_for_epoch(
    epochs: &std::collections::BTreeMap<u64, i64>,
    requested: i32,
    current: i32,
    high_watermark: i64,
) -> (i32, i64) {
    const UNDEFINED: (i32, i64) = (-1, -1);
    if requested < 0 {
        return UNDEFINED;
    }
    let latest = epochs.last_key_value().map(|(term, _)| *term as i32);
    if latest == Some(requested) || requested == current {
        return (requested, high_watermark);
    }
    let requested = requested as u64;
    let Some((_, next_start)) = epochs.range(requested + 1..).next() else {
        return UNDEFINED;
    };
    match epochs.range(..=requested).next_back() {
        Some((floor, _)) => (*floor as i32, *next_start),
        None => (requested as i32, *next_start),
    }
}

fn corrupt(what: impl ToString) -> StorageError {
    StorageError::Corrupt {
        cf: CF_LOG,
        what: what.to_string(),
    }
}

/// See [`Partition::is_leader_caught_up`].
fn applied_own_term(current_term: u64, last_applied_term: Option<u64>) -> bool {
    last_applied_term == Some(current_term)
}

#[cfg(test)]
mod tests {
    use super::{applied_own_term, end_offset_for_epoch};

    #[test]
    fn a_new_leader_is_caught_up_once_it_applied_an_entry_of_its_term() {
        // Term 4 elected; the last entry applied is still the previous leader's (term 3).
        assert!(!applied_own_term(4, Some(3)));
        assert!(!applied_own_term(4, None));
        // Its blank entry (term 4) committed and applied: so is everything before it.
        assert!(applied_own_term(4, Some(4)));
    }

    #[test]
    fn epoch_end_offsets_follow_kafka() {
        // Term 2 wrote offsets 0..10, term 3 nothing, term 5 from 10; term 5 leads, HW 15.
        let epochs = [(2, 0), (3, 10), (5, 10)].into_iter().collect();
        assert_eq!(end_offset_for_epoch(&epochs, 5, 5, 15), (5, 15));
        assert_eq!(end_offset_for_epoch(&epochs, 2, 5, 15), (2, 10));
        // An epoch that never led here ends where the next one began, as its floor's.
        assert_eq!(end_offset_for_epoch(&epochs, 4, 5, 15), (3, 10));
        assert_eq!(end_offset_for_epoch(&epochs, 1, 5, 15), (1, 0));
        assert_eq!(end_offset_for_epoch(&epochs, 9, 5, 15), (-1, -1));
        assert_eq!(end_offset_for_epoch(&epochs, -1, 5, 15), (-1, -1));
        // A leader that has not applied its first entry yet still answers its own epoch.
        assert_eq!(end_offset_for_epoch(&epochs, 6, 6, 15), (6, 15));
    }
}
