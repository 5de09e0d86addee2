//! The transaction coordinator (Kafka's transactions V1, KIP-98).
//!
//! A transactional id's state lives in memory under one lock (never held across an await);
//! every change is first appended to the id's `__transaction_state` partition through Raft
//! and made current once committed, so a coordinator that comes to lead the partition (after
//! a restart or a failover) replays it and carries on, finishing the transactions whose outcome
//! was decided but whose markers were not all written. The coordinator follows that topic's
//! partition leadership as the group coordinator follows `__consumer_offsets`.
//!
//! Ending a transaction writes PrepareCommit / PrepareAbort, then a COMMIT / ABORT marker to
//! every partition of the transaction through that partition's Raft group (here, or on the
//! node leading it), then CompleteCommit / CompleteAbort.

pub mod markers;
pub mod state;
pub mod store;

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::group::{java_hash, now_ms};
use crate::metadata::commands::{MetadataCommand, MetadataResult};
use crate::metadata::Metadata;
use crate::partition::Partition;
use crate::protocol::error_codes as ec;
use crate::replicas::Replicas;
use state::{EndOutcome, InitOutcome, ProducerIdAndEpoch, TxnMetadata, TxnState};
use store::TRANSACTION_STATE_TOPIC;

const TICK_INTERVAL: Duration = Duration::from_millis(100);
/// How often expired transactions are looked for (Kafka's
/// transaction.abort.timed.out.transaction.cleanup.interval.ms is 10 s; a shorter one aborts
/// closer to the timeout).
const TIMEOUT_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The coordinator's settings (Kafka's names in the comments).
#[derive(Debug, Clone)]
pub struct TxnConfig {
    /// transaction.state.log.num.partitions
    pub partitions: i32,
    /// transaction.state.log.replication.factor (capped by the number of brokers)
    pub replication_factor: i16,
    /// transaction.max.timeout.ms
    pub max_timeout_ms: i32,
    /// transactional.id.expiration.ms
    pub id_expiration: Duration,
    /// transaction.remove.expired.transaction.cleanup.interval.ms
    pub cleanup_interval: Duration,
}

/// One transactional id: its committed metadata, and whether a change of it is in flight
/// (a write, or the markers of its end), during which other requests are answered
/// CONCURRENT_TRANSACTIONS as Kafka's pending transition does.
struct Entry {
    metadata: TxnMetadata,
    busy: bool,
}

pub struct TxnCoordinator {
    metadata: Metadata,
    replicas: Arc<Replicas>,
    groups: Arc<crate::group::Coordinator>,
    config: TxnConfig,
    state: Mutex<HashMap<String, Entry>>,
    /// `__transaction_state` partitions (by Raft group) loaded here, with the Raft term they
    /// were loaded under (the coordinator epoch). Written only with `state` locked first.
    loaded: Mutex<HashMap<u64, u64>>,
    /// A CreateTopics of `__transaction_state` is under way.
    creating: AtomicBool,
}

/// Kafka's `partitionFor`: `abs(hashCode) % partitions`.
fn partition_index(transactional_id: &str, count: usize) -> usize {
    ((java_hash(transactional_id) & 0x7fff_ffff) % count.max(1) as i32) as usize
}

impl TxnCoordinator {
    pub fn new(
        metadata: Metadata,
        replicas: Arc<Replicas>,
        groups: Arc<crate::group::Coordinator>,
        config: TxnConfig,
    ) -> Arc<TxnCoordinator> {
        Arc::new(TxnCoordinator {
            metadata,
            replicas,
            groups,
            config,
            state: Mutex::new(HashMap::new()),
            loaded: Mutex::new(HashMap::new()),
            creating: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn loaded(&self) -> MutexGuard<'_, HashMap<u64, u64>> {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The Raft group of the `__transaction_state` partition of `transactional_id`. Creates the
    /// topic on first use, as Kafka does (COORDINATOR_NOT_AVAILABLE meanwhile: retriable).
    fn state_group(self: &Arc<Self>, transactional_id: &str) -> Result<u64, i16> {
        let image = self.metadata.current();
        let Some(topic) = image.topics.get(TRANSACTION_STATE_TOPIC) else {
            self.create_topic();
            return Err(ec::COORDINATOR_NOT_AVAILABLE);
        };
        if topic.partitions.is_empty() {
            return Err(ec::COORDINATOR_NOT_AVAILABLE);
        }
        Ok(topic.partitions[partition_index(transactional_id, topic.partitions.len())])
    }

    fn create_topic(self: &Arc<Self>) {
        if self.creating.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(error) = this.propose_topic().await {
                tracing::warn!(%error, "creating {TRANSACTION_STATE_TOPIC}");
            }
            this.creating.store(false, Ordering::Release);
        });
    }

    async fn propose_topic(&self) -> anyhow::Result<()> {
        let image = self.metadata.current();
        let mut ids: Vec<u64> = image.brokers.keys().copied().collect();
        if ids.is_empty() {
            ids.push(self.replicas.env().node_id);
        }
        let factor = (self.config.replication_factor.max(1) as usize).min(ids.len());
        let partitions = self.config.partitions.max(1);
        let command = MetadataCommand::CreateTopic {
            name: TRANSACTION_STATE_TOPIC.to_string(),
            topic_id: *uuid::Uuid::new_v4().as_bytes(),
            partitions,
            configs: [("cleanup.policy".to_string(), "compact".to_string())].into(),
            assignments: crate::metadata::placement::assign(
                &ids,
                partitions as usize,
                factor,
                image.assignments.len(),
            ),
        };
        match self.metadata.propose(command).await? {
            MetadataResult::Done
            | MetadataResult::Failed {
                error_code: ec::TOPIC_ALREADY_EXISTS,
                ..
            } => {
                tracing::info!(partitions, factor, "created {TRANSACTION_STATE_TOPIC}");
                Ok(())
            }
            other => anyhow::bail!("{other:?}"),
        }
    }

    /// The broker coordinating `transactional_id`: the leader of its `__transaction_state`
    /// partition (FindCoordinator with key type 1).
    pub fn coordinator_node(self: &Arc<Self>, transactional_id: &str) -> Result<u64, i16> {
        let raft_group = self.state_group(transactional_id)?;
        let leader = match self.replicas.get(raft_group) {
            Some(partition) => partition.leader().map(|(leader, _)| leader),
            None => self
                .metadata
                .current()
                .assignments
                .get(&raft_group)
                .and_then(|a| u64::try_from(a.leader).ok()),
        };
        leader.ok_or(ec::COORDINATOR_NOT_AVAILABLE)
    }

    /// The `__transaction_state` partition of `transactional_id` and its coordinator epoch, if
    /// this node leads it and has loaded it.
    fn partition_for(
        self: &Arc<Self>,
        transactional_id: &str,
    ) -> Result<(Arc<Partition>, u64), i16> {
        let raft_group = self.state_group(transactional_id)?;
        let partition = self.replicas.get(raft_group).ok_or(ec::NOT_COORDINATOR)?;
        let Some((_, term)) = partition.leader() else {
            return Err(ec::COORDINATOR_NOT_AVAILABLE);
        };
        if !partition.is_leader() {
            return Err(ec::NOT_COORDINATOR);
        }
        if self.loaded().get(&raft_group) != Some(&(term as u64)) {
            return Err(ec::COORDINATOR_LOAD_IN_PROGRESS);
        }
        Ok((partition, term as u64))
    }

    /// Loads the transactions of `__transaction_state` partitions this node has come to lead
    /// (once it applied its whole log) and drops those of partitions it no longer leads.
    pub fn follow_leadership(&self) -> anyhow::Result<()> {
        let image = self.metadata.current();
        let Some(topic) = image.topics.get(TRANSACTION_STATE_TOPIC) else {
            return Ok(());
        };
        let count = topic.partitions.len();
        for (index, raft_group) in topic.partitions.iter().enumerate() {
            let partition = self.replicas.get(*raft_group);
            let leading = partition.as_ref().and_then(|p| p.leading_term());
            let loaded = self.loaded().get(raft_group).copied();
            match (leading, loaded) {
                (Some((term, _)), Some(at)) if term == at => {}
                (Some((term, true)), _) => {
                    let Some(partition) = partition else { continue };
                    let started = Instant::now();
                    let mut state = self.lock();
                    state.retain(|id, _| partition_index(id, count) != index);
                    let records = load_partition(&mut state, &partition)?;
                    self.loaded().insert(*raft_group, term);
                    metrics::histogram!("broker_txn_coordinator_load_seconds")
                        .record(started.elapsed().as_secs_f64());
                    tracing::info!(partition = index, term, records, "loaded transactions");
                }
                (Some((_, false)), _) | (None, None) => {}
                (None, Some(_)) => {
                    let mut state = self.lock();
                    state.retain(|id, _| partition_index(id, count) != index);
                    self.loaded().remove(raft_group);
                    tracing::info!(partition = index, "no longer coordinating its transactions");
                }
            }
        }
        Ok(())
    }

    /// Queues the write of `metadata` now (under the caller's lock, so writes land in lock
    /// order) and returns the wait for its commit.
    fn submit(
        partition: &Partition,
        transactional_id: &str,
        metadata: &TxnMetadata,
    ) -> impl std::future::Future<Output = Result<(), i16>> + Send + 'static {
        Self::submit_batch(
            partition,
            store::batch(transactional_id, metadata, now_ms()),
        )
    }

    /// Queues a `__transaction_state` batch now and returns the wait for its commit, with the
    /// coordinator's error codes.
    fn submit_batch(
        partition: &Partition,
        batch: Result<bytes::Bytes, String>,
    ) -> impl std::future::Future<Output = Result<(), i16>> + Send + 'static {
        let queued = batch
            .map(|batch| partition.submit(batch))
            .map_err(|_| ec::UNKNOWN_SERVER_ERROR);
        async move {
            queued?.await.map(|_| ()).map_err(|code| match code {
                ec::NOT_LEADER_OR_FOLLOWER => ec::NOT_COORDINATOR,
                _ => ec::COORDINATOR_NOT_AVAILABLE,
            })
        }
    }

    /// Makes `metadata` current after its write committed, unless the partition was unloaded
    /// meanwhile; `done` clears the in-flight mark.
    fn settle(&self, transactional_id: &str, metadata: Option<TxnMetadata>, done: bool) {
        let mut state = self.lock();
        if let Some(entry) = state.get_mut(transactional_id) {
            if let Some(metadata) = metadata {
                entry.metadata = metadata;
            }
            if done {
                entry.busy = false;
            }
        }
    }

    /// InitProducerId with a transactional id: the producer id and the epoch of this session.
    pub async fn init_producer_id(
        self: &Arc<Self>,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<ProducerIdAndEpoch>,
    ) -> Result<(i64, i16), i16> {
        if transactional_id.is_empty() {
            return Err(ec::INVALID_REQUEST);
        }
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(ec::INVALID_TRANSACTION_TIMEOUT);
        }
        let (partition, _) = self.partition_for(transactional_id)?;
        let needs_producer_id = match self.lock().get(transactional_id) {
            None => true,
            Some(entry) if entry.busy => return Err(ec::CONCURRENT_TRANSACTIONS),
            Some(entry) => entry.metadata.needs_new_producer_id(expected),
        };
        let new_producer_id = if needs_producer_id {
            Some(self.metadata.next_producer_id().await.map_err(|error| {
                tracing::warn!(%error, "allocating a producer id");
                ec::COORDINATOR_LOAD_IN_PROGRESS
            })?)
        } else {
            None
        };
        let now = now_ms();
        let (outcome, written) = {
            let mut state = self.lock();
            if !state.contains_key(transactional_id) {
                // A new transactional id (or one unloaded and loaded again meanwhile).
                let Some(producer_id) = new_producer_id else {
                    return Err(ec::CONCURRENT_TRANSACTIONS);
                };
                let metadata = TxnMetadata::new(producer_id, timeout_ms, now);
                state.insert(
                    transactional_id.to_string(),
                    Entry {
                        metadata,
                        busy: false,
                    },
                );
            }
            let Some(entry) = state.get_mut(transactional_id) else {
                return Err(ec::CONCURRENT_TRANSACTIONS);
            };
            if entry.busy {
                return Err(ec::CONCURRENT_TRANSACTIONS);
            }
            let outcome =
                entry
                    .metadata
                    .init_producer_id(timeout_ms, expected, new_producer_id, now)?;
            let next = match &outcome {
                InitOutcome::Ready(next) | InitOutcome::FenceAndAbort(next) => next,
            };
            entry.busy = true;
            (
                outcome.clone(),
                Self::submit(&partition, transactional_id, next),
            )
        };
        if let Err(code) = written.await {
            self.settle(transactional_id, None, true);
            return Err(code);
        }
        match outcome {
            InitOutcome::Ready(next) => {
                let answer = (next.producer_id, next.producer_epoch);
                self.settle(transactional_id, Some(next), true);
                tracing::info!(
                    transactional_id,
                    producer_id = answer.0,
                    epoch = answer.1,
                    "initialized a transactional producer"
                );
                Ok(answer)
            }
            InitOutcome::FenceAndAbort(aborting) => {
                // The old producer's transaction is aborted under the new epoch; the client
                // retries and gets the epoch after it.
                self.settle(transactional_id, Some(aborting.clone()), false);
                let this = self.clone();
                let id = transactional_id.to_string();
                tokio::spawn(async move { this.finish(&id, aborting).await });
                Err(ec::CONCURRENT_TRANSACTIONS)
            }
        }
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: one error code for the whole request.
    pub async fn add_partitions(
        self: &Arc<Self>,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: BTreeSet<(String, i32)>,
    ) -> i16 {
        let (partition, _) = match self.partition_for(transactional_id) {
            Ok(found) => found,
            Err(code) => return code,
        };
        let (next, written) = {
            let mut state = self.lock();
            let Some(entry) = state.get_mut(transactional_id) else {
                return ec::INVALID_PRODUCER_ID_MAPPING;
            };
            if entry.busy {
                // Kafka checks the producer first: a fenced one learns it even now.
                if let Err(code) =
                    entry
                        .metadata
                        .add_partitions(producer_id, epoch, &BTreeSet::new(), 0)
                {
                    return code;
                }
                return ec::CONCURRENT_TRANSACTIONS;
            }
            match entry
                .metadata
                .add_partitions(producer_id, epoch, &partitions, now_ms())
            {
                Err(code) => return code,
                Ok(None) => return ec::NONE,
                Ok(Some(next)) => {
                    entry.busy = true;
                    let written = Self::submit(&partition, transactional_id, &next);
                    (next, written)
                }
            }
        };
        match written.await {
            Ok(()) => {
                self.settle(transactional_id, Some(next), true);
                ec::NONE
            }
            Err(code) => {
                self.settle(transactional_id, None, true);
                code
            }
        }
    }

    /// AddPartitionsToTxn with verify_only, and the check of a transactional Produce: the
    /// producer's transaction is ongoing and contains the partition.
    pub fn verify(
        self: &Arc<Self>,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partition: &(String, i32),
    ) -> Result<(), i16> {
        self.partition_for(transactional_id)?;
        match self.lock().get(transactional_id) {
            None => Err(ec::INVALID_PRODUCER_ID_MAPPING),
            Some(entry) => entry.metadata.verify(producer_id, epoch, partition),
        }
    }

    /// EndTxn: decides the outcome (written first), writes the markers, completes.
    pub async fn end_txn(
        self: &Arc<Self>,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
    ) -> i16 {
        if transactional_id.is_empty() {
            return ec::INVALID_REQUEST;
        }
        let (partition, _) = match self.partition_for(transactional_id) {
            Ok(found) => found,
            Err(code) => return code,
        };
        let (prepared, written) = {
            let mut state = self.lock();
            let Some(entry) = state.get_mut(transactional_id) else {
                return ec::INVALID_PRODUCER_ID_MAPPING;
            };
            let outcome = entry.metadata.end(producer_id, epoch, commit, now_ms());
            match outcome {
                Err(code) => return code,
                Ok(_) if entry.busy => return ec::CONCURRENT_TRANSACTIONS,
                Ok(EndOutcome::AlreadyDone) => return ec::NONE,
                Ok(EndOutcome::Prepare(prepared)) => {
                    entry.busy = true;
                    let written = Self::submit(&partition, transactional_id, &prepared);
                    (prepared, written)
                }
            }
        };
        if let Err(code) = written.await {
            self.settle(transactional_id, None, true);
            return code;
        }
        self.settle(transactional_id, Some(prepared.clone()), false);
        metrics::counter!(
            "broker_txn_ended_total",
            "result" => if commit { "commit" } else { "abort" }
        )
        .increment(1);
        // The outcome is durable: the client is answered once the markers are written too
        // (so its next transaction does not wait on CONCURRENT_TRANSACTIONS), or at once if
        // they cannot be now; the background loop finishes them then.
        self.finish(transactional_id, prepared).await;
        ec::NONE
    }

    /// Writes the markers of a prepared transaction and completes it; on failure leaves it
    /// prepared (not busy) for the background loop to retry.
    async fn finish(self: &Arc<Self>, transactional_id: &str, prepared: TxnMetadata) {
        debug_assert!(prepared.state.is_prepared());
        let coordinator_epoch = match self.partition_for(transactional_id) {
            Ok((_, term)) => term as i32,
            Err(_) => return self.settle(transactional_id, None, true),
        };
        let commit = prepared.state == TxnState::PrepareCommit;
        let writes = prepared.partitions.iter().map(|(topic, index)| {
            markers::write(
                self,
                topic,
                *index,
                prepared.producer_id,
                prepared.producer_epoch,
                commit,
                coordinator_epoch,
            )
        });
        let failed: Vec<_> = futures::future::join_all(writes)
            .await
            .into_iter()
            .filter_map(Result::err)
            .collect();
        if let Some(code) = failed.first() {
            tracing::warn!(
                transactional_id,
                code,
                failed = failed.len(),
                "writing transaction markers; will retry"
            );
            return self.settle(transactional_id, None, true);
        }
        let completed = prepared.complete(now_ms());
        let written = match self.partition_for(transactional_id) {
            Ok((partition, _)) => Self::submit(&partition, transactional_id, &completed),
            Err(_) => return self.settle(transactional_id, None, true),
        };
        match written.await {
            Ok(()) => self.settle(transactional_id, Some(completed), true),
            Err(code) => {
                tracing::warn!(
                    transactional_id,
                    code,
                    "completing a transaction; will retry"
                );
                self.settle(transactional_id, None, true);
            }
        }
    }

    /// Drives leadership changes, unfinished ends and transaction.timeout.ms until the
    /// process ends.
    pub async fn run(self: Arc<Self>) {
        let mut last_check = Instant::now();
        let mut last_cleanup = Instant::now();
        loop {
            tokio::time::sleep(TICK_INTERVAL).await;
            if let Err(error) = self.follow_leadership() {
                tracing::error!(%error, "loading transactions");
            }
            if last_cleanup.elapsed() >= self.config.cleanup_interval {
                last_cleanup = Instant::now();
                self.clone().remove_expired_ids();
            }
            if last_check.elapsed() < TIMEOUT_CHECK_INTERVAL {
                continue;
            }
            last_check = Instant::now();
            self.clone().resume_and_expire();
        }
    }

    /// transactional.id.expiration.ms: forgets the ids with no transaction under way whose
    /// state has not changed for that long, as Kafka's coordinator does. Each one's tombstone
    /// is committed to `__transaction_state` first, so the id stays forgotten on whichever
    /// node loads the partition next, and compaction reclaims its records.
    fn remove_expired_ids(self: Arc<Self>) {
        let expiration_ms =
            i64::try_from(self.config.id_expiration.as_millis()).unwrap_or(i64::MAX);
        let now = now_ms();
        let mut expired = Vec::new();
        {
            let mut state = self.lock();
            for (id, entry) in state.iter_mut() {
                if !entry.busy && entry.metadata.is_expired(now, expiration_ms) {
                    entry.busy = true;
                    expired.push((id.clone(), entry.metadata.update_ms));
                }
            }
        }
        for (id, update_ms) in expired {
            let this = self.clone();
            tokio::spawn(async move { this.remove_id(&id, update_ms).await });
        }
    }

    async fn remove_id(self: &Arc<Self>, transactional_id: &str, update_ms: i64) {
        let written = match self.partition_for(transactional_id) {
            Ok((partition, _)) => {
                let tombstone = store::tombstone(transactional_id, now_ms());
                Self::submit_batch(&partition, tombstone).await
            }
            Err(code) => Err(code),
        };
        match written {
            Ok(()) => {
                // Marked busy since it was found expired: nothing changed it meanwhile.
                self.lock().remove(transactional_id);
                metrics::counter!("broker_txn_ids_expired_total").increment(1);
                tracing::info!(
                    transactional_id,
                    idle_ms = now_ms() - update_ms,
                    "forgot an expired transactional id"
                );
            }
            Err(code) => {
                tracing::warn!(
                    transactional_id,
                    code,
                    "expiring a transactional id; will retry"
                );
                self.settle(transactional_id, None, true);
            }
        }
    }

    /// Finishes prepared transactions left unfinished (markers that failed, or a coordinator
    /// that took over mid-way) and aborts the ones past their timeout, fencing their producer.
    fn resume_and_expire(self: Arc<Self>) {
        let now = now_ms();
        let mut work = Vec::new();
        {
            let mut state = self.lock();
            let open = state
                .values()
                .filter(|e| e.metadata.state == TxnState::Ongoing || e.metadata.state.is_prepared())
                .count();
            metrics::gauge!("broker_txn_open_transactions").set(open as f64);
            for (id, entry) in state.iter_mut() {
                if entry.busy {
                    continue;
                }
                if entry.metadata.state.is_prepared() {
                    entry.busy = true;
                    work.push((id.clone(), None));
                } else if entry.metadata.is_timed_out(now) {
                    entry.busy = true;
                    work.push((id.clone(), Some(entry.metadata.fence_and_abort(now))));
                }
            }
        }
        for (id, abort) in work {
            let this = self.clone();
            tokio::spawn(async move {
                match abort {
                    None => {
                        let prepared = this.lock().get(&id).map(|e| e.metadata.clone());
                        if let Some(prepared) = prepared {
                            this.finish(&id, prepared).await;
                        }
                    }
                    Some(aborting) => this.abort_expired(&id, aborting).await,
                }
            });
        }
    }

    async fn abort_expired(self: &Arc<Self>, transactional_id: &str, aborting: TxnMetadata) {
        let written = match self.partition_for(transactional_id) {
            Ok((partition, _)) => Self::submit(&partition, transactional_id, &aborting),
            Err(_) => return self.settle(transactional_id, None, true),
        };
        if let Err(code) = written.await {
            tracing::warn!(transactional_id, code, "aborting an expired transaction");
            return self.settle(transactional_id, None, true);
        }
        tracing::info!(
            transactional_id,
            producer_id = aborting.producer_id,
            "aborting a transaction past its timeout"
        );
        metrics::counter!("broker_txn_expired_total").increment(1);
        self.settle(transactional_id, Some(aborting.clone()), false);
        self.finish(transactional_id, aborting).await;
    }

    /// (transactional id, metadata) of every transaction coordinated here, for
    /// DescribeTransactions, ListTransactions and the open transactions gauge.
    pub fn transactions(&self) -> Vec<(String, TxnMetadata)> {
        let mut all: Vec<_> = self
            .lock()
            .iter()
            .map(|(id, entry)| (id.clone(), entry.metadata.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The metadata of `transactional_id` if coordinated here; the error code otherwise.
    pub fn describe(self: &Arc<Self>, transactional_id: &str) -> Result<TxnMetadata, i16> {
        if transactional_id.is_empty() {
            return Err(ec::INVALID_REQUEST);
        }
        self.partition_for(transactional_id)?;
        self.lock()
            .get(transactional_id)
            .map(|entry| entry.metadata.clone())
            .ok_or(ec::TRANSACTIONAL_ID_NOT_FOUND)
    }

    pub fn groups(&self) -> &Arc<crate::group::Coordinator> {
        &self.groups
    }

    pub fn replicas(&self) -> &Arc<Replicas> {
        &self.replicas
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }
}

/// Replays one `__transaction_state` partition into `state`; returns the records seen.
fn load_partition(
    state: &mut HashMap<String, Entry>,
    partition: &Partition,
) -> anyhow::Result<usize> {
    let mut records = 0;
    for entry in partition.batches()? {
        let stored = partition.entry_records(&entry)?;
        let decoded = crate::group::store::decode_records(stored).map_err(|e| {
            anyhow::anyhow!(
                "decoding {TRANSACTION_STATE_TOPIC} entry {}: {e}",
                entry.log_index
            )
        })?;
        for record in decoded {
            let Some(id) = record.key.and_then(store::decode_key) else {
                continue;
            };
            match record.value.as_deref().and_then(store::decode_value) {
                Some(metadata) => {
                    state.insert(
                        id,
                        Entry {
                            metadata,
                            busy: false,
                        },
                    );
                }
                None => {
                    state.remove(&id);
                }
            }
            records += 1;
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transactional_ids_map_to_partitions_as_in_kafka() {
        // "my-group".hashCode() is -1906497762; abs(...) & 0x7fffffff is 240985886.
        assert_eq!(partition_index("my-group", 50), 240_985_886 % 50);
        assert_eq!(partition_index("", 16), 0);
        assert_eq!(partition_index("a", 16), 97 % 16);
    }
}
