//! The log cleaner: `cleanup.policy=compact` (and `compact,delete`), as Kafka's `LogCleaner`.
//!
//! Driven through Raft. Every `log.cleaner.backoff.ms` the leader of each compacted partition
//! works out how far the log may be cleaned ([`cleanable_end`]) and whether it is worth it
//! (dirty ratio, max lag, tombstones due), then proposes `Compact { upto, now, delete
//! retention }`. Every replica applies it in log order ([`clean_log`]), from the same committed
//! batches, the same map and the leader's clock, so all keep the same records.
//!
//! Unit of cleaning: there are no segment files, so segments are virtual and computed as
//! Kafka rolls them. Walking the batches from the first dirty offset, a batch starts a new
//! segment when the current one would exceed `segment.bytes` or the batch's max timestamp is
//! more than `segment.ms` past the segment's first batch's (Kafka's `shouldRoll`, which also
//! compares the appended batch's timestamp). The last segment is the active one and is never
//! cleaned; neither is a segment holding a batch newer than `min.compaction.lag.ms`, nor
//! anything after it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rocksdb::WriteBatch;

use super::compaction::{self, Cleaned, KeyMap};
use super::state_machine::AbortedTxn;
use crate::config::Config;
use crate::group::now_ms;
use crate::group::store::OFFSETS_TOPIC;
use crate::metadata::Metadata;
use crate::raft::codec;
use crate::replicas::Replicas;
use crate::storage::keys::{log_key, offset_key, IndexValue};
use crate::storage::{StorageError, Store, CF_LOG, CF_OFFSET_INDEX};

/// Keys one pass maps at most (about 40 bytes each in memory): a dirty section with more
/// distinct keys is cleaned up to the batch that filled the map, and the next pass goes on
/// from there, as Kafka's cleaner does when its dedupe buffer is full. A constant, so every
/// replica stops at the same batch.
pub const MAP_KEYS_MAX: usize = 2_000_000;

/// A pass writes its rewritten batches in write batches of about this size, so its memory
/// stays bounded however large the log. Safe without one atomic write: a pass is a function
/// of the log, so if the broker stops halfway, the replay of the Compact entry (its checkpoint
/// is written last) produces the same bytes again over what was already written.
const PASS_WRITE_BYTES: usize = 16 * 1024 * 1024;

/// Batches stored at least this large live in blob files (storage::log_blob_options).
const BLOB_BYTES_MIN: usize = 1024;

/// One topic's cleaning settings (Kafka's topic configs of the same names).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanerConfig {
    pub min_cleanable_dirty_ratio: f64,
    pub min_compaction_lag_ms: i64,
    pub max_compaction_lag_ms: i64,
    pub delete_retention_ms: i64,
    pub segment_ms: i64,
    pub segment_bytes: i64,
}

/// Where the leader's view of a partition stands, for [`plan`].
#[derive(Debug, Clone, Copy)]
pub struct LogView {
    pub log_start_offset: i64,
    /// The first offset not yet cleaned.
    pub clean_offset: i64,
    pub high_watermark: i64,
    /// Bytes of every batch from the log start offset on.
    pub retained_bytes: u64,
    /// The earliest delete horizon of the tombstones kept, if any.
    pub tombstone_horizon: Option<i64>,
}

/// The first offset the cleaner must not touch: the start of the active segment, or of the
/// first segment holding a batch newer than `min.compaction.lag.ms`. `dirty` are the index
/// entries from the first dirty offset to the high watermark, in order.
pub fn cleanable_end(dirty: &[IndexValue], config: &CleanerConfig, now_ms: i64) -> Option<i64> {
    let first = dirty.first()?;
    let mut segment_start = first.base_offset;
    let mut segment_first_timestamp = first.max_timestamp;
    let mut segment_bytes = 0i64;
    let mut segment_too_new = false;
    for batch in dirty {
        let rolls = segment_bytes > 0
            && (segment_bytes + batch.size_bytes as i64 > config.segment_bytes
                || batch.max_timestamp.saturating_sub(segment_first_timestamp) > config.segment_ms);
        if rolls {
            if segment_too_new {
                return Some(segment_start);
            }
            segment_start = batch.base_offset;
            segment_first_timestamp = batch.max_timestamp;
            segment_bytes = 0;
        }
        segment_bytes += batch.size_bytes as i64;
        segment_too_new |=
            batch.max_timestamp > now_ms.saturating_sub(config.min_compaction_lag_ms);
    }
    // The last segment is the active one.
    Some(segment_start)
}

/// The offset a Compact should clean up to, or `None` when the partition needs no pass:
/// Kafka's `LogCleanerManager` choice (dirty ratio at least `min.cleanable.dirty.ratio`, or
/// dirty records older than `max.compaction.lag.ms`), plus a pass when kept tombstones reach
/// their delete horizon (KIP-534).
pub fn plan(
    view: &LogView,
    dirty: &[IndexValue],
    config: &CleanerConfig,
    now_ms: i64,
) -> Option<i64> {
    let end = cleanable_end(dirty, config, now_ms)
        .unwrap_or(view.clean_offset)
        .max(view.clean_offset);
    let dirty_bytes: u64 = dirty
        .iter()
        .take_while(|b| b.base_offset < end)
        .map(|b| b.size_bytes as u64)
        .sum();
    let head_bytes: u64 = dirty.iter().map(|b| b.size_bytes as u64).sum();
    let clean_bytes = view.retained_bytes.saturating_sub(head_bytes);
    let ratio = if dirty_bytes == 0 {
        0.0
    } else {
        dirty_bytes as f64 / (clean_bytes + dirty_bytes) as f64
    };
    let overdue = dirty.first().is_some_and(|b| {
        b.base_offset < end && b.max_timestamp < now_ms.saturating_sub(config.max_compaction_lag_ms)
    });
    let tombstones_due = view.tombstone_horizon.is_some_and(|h| h <= now_ms);
    let worth_it = (dirty_bytes > 0 && ratio >= config.min_cleanable_dirty_ratio) || overdue;
    (worth_it || tombstones_due).then_some(end)
}

/// What one pass changes, and what it leaves.
pub struct CleanPass {
    /// Rewritten and stubbed log entries, index keys changed and removed.
    pub writes: WriteBatch,
    /// The first dirty offset after the pass.
    pub clean_offset: i64,
    /// Bytes of every batch served after the pass (the partition's size).
    pub size_bytes: u64,
    pub tombstone_horizon: Option<i64>,
    /// The last log index of the cleaned range: the log may be purged up to it.
    pub last_log_index: Option<u64>,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub records_removed: u64,
}

/// One pass over a partition's log: map the keys of `[clean_offset, upto)`, then clean
/// `[log_start_offset, end)` where `end` is `upto` or the batch that filled the map.
/// `aborted`: the partition's aborted transactions as of this pass's place in the log, whose
/// data is discarded as Kafka's cleaner does. Reads committed batches only; its result is the
/// same on every replica.
#[allow(clippy::too_many_arguments)]
pub fn clean_log(
    store: &Store,
    group: u64,
    log_start_offset: i64,
    clean_offset: i64,
    upto: i64,
    now_ms: i64,
    delete_retention_ms: i64,
    aborted: &[AbortedTxn],
) -> Result<CleanPass, StorageError> {
    let aborted = AbortedIndex::new(aborted);
    let mut map = KeyMap::default();
    let mut end = upto;
    for item in store.offset_index(group, clean_offset) {
        let (last_offset, entry) = item?;
        if last_offset as i64 >= upto || (map.len() >= MAP_KEYS_MAX && !map.is_empty()) {
            end = entry.base_offset.min(upto);
            break;
        }
        let stored = read_entry(store, group, &entry)?;
        let (_, records) = codec::append_payload(&stored).map_err(corrupt)?;
        // An aborted record must not become its key's newest: the committed value before it
        // would be cleaned away, and read_committed consumers would see neither.
        if !aborted.holds(records, entry.base_offset)? {
            compaction::map_batch(records, entry.base_offset, &mut map).map_err(corrupt)?;
        }
    }
    let end = end.max(clean_offset.min(upto));
    let mut pass = CleanPass {
        writes: WriteBatch::default(),
        clean_offset: end,
        size_bytes: 0,
        tombstone_horizon: None,
        last_log_index: None,
        bytes_before: 0,
        bytes_after: 0,
        records_removed: 0,
    };
    for item in store.offset_index(group, log_start_offset) {
        let (last_offset, entry) = item?;
        if last_offset as i64 >= end {
            pass.size_bytes += entry.size_bytes as u64;
            continue;
        }
        clean_entry(
            store,
            group,
            last_offset,
            &entry,
            &map,
            (now_ms, delete_retention_ms),
            &aborted,
            &mut pass,
        )?;
        if pass.writes.size_in_bytes() >= PASS_WRITE_BYTES {
            store.write_unsynced(std::mem::take(&mut pass.writes))?;
        }
    }
    Ok(pass)
}

/// `(now_ms, delete_retention_ms)`: the pass's clock and tombstone retention.
#[allow(clippy::too_many_arguments)]
fn clean_entry(
    store: &Store,
    group: u64,
    last_offset: u64,
    entry: &IndexValue,
    map: &KeyMap,
    (now_ms, delete_retention_ms): (i64, i64),
    aborted: &AbortedIndex,
    pass: &mut CleanPass,
) -> Result<(), StorageError> {
    let stored = read_entry(store, group, entry)?;
    let (_, records) = codec::append_payload(&stored).map_err(corrupt)?;
    let outcome = if aborted.holds(records, entry.base_offset)? {
        compaction::discard_batch(records)
    } else {
        compaction::clean_batch(records, entry.base_offset, map, now_ms, delete_retention_ms)
    }
    .map_err(corrupt)?;
    pass.bytes_before += entry.size_bytes as u64;
    pass.records_removed += outcome.records_removed as u64;
    pass.last_log_index = pass.last_log_index.max(Some(entry.log_index));
    if let Some(horizon) = outcome.tombstone_horizon {
        pass.tombstone_horizon = Some(pass.tombstone_horizon.map_or(horizon, |h| h.min(horizon)));
    }
    let rewrite = |batch: &[u8]| {
        let mut value = stored[..codec::HEADER_LEN].to_vec();
        value.extend_from_slice(batch);
        value
    };
    let (log_cf, index_cf) = (store.cf(CF_LOG), store.cf(CF_OFFSET_INDEX));
    let index_key = offset_key(group, last_offset);
    match outcome.cleaned {
        Cleaned::Kept => {
            pass.bytes_after += entry.size_bytes as u64;
            pass.size_bytes += entry.size_bytes as u64;
            // Written again as it is: a blob file is deleted only once none of its batches is
            // referenced, and without blob garbage collection (storage::log_blob_options) a
            // kept batch would pin the file holding every batch removed around it. Kafka's
            // cleaner also copies the records it keeps into new segment files.
            if stored.len() >= BLOB_BYTES_MIN {
                pass.writes
                    .put_cf(log_cf, log_key(group, entry.log_index), &stored);
            }
        }
        Cleaned::Rewritten(batch) => {
            let header = super::batch::parse_header(&batch).map_err(corrupt)?;
            let value = IndexValue {
                size_bytes: batch.len() as u32,
                max_timestamp: header.max_timestamp,
                ..*entry
            };
            pass.bytes_after += batch.len() as u64;
            pass.size_bytes += batch.len() as u64;
            pass.writes
                .put_cf(log_cf, log_key(group, entry.log_index), rewrite(&batch));
            pass.writes.put_cf(index_cf, index_key, value.encode());
        }
        Cleaned::Removed(stub) => {
            // The entry stays (as a stub) while Raft may still send it to a follower, which
            // then assigns the same offsets; the purge after this pass deletes it.
            if stub.as_slice() != records {
                pass.writes
                    .put_cf(log_cf, log_key(group, entry.log_index), rewrite(&stub));
            }
            pass.writes.delete_cf(index_cf, index_key);
        }
    }
    Ok(())
}

/// A pass's aborted transactions by producer. A producer has one transaction at a time in a
/// partition, so its aborted ones are in log order without overlap, and a batch finds its own
/// by binary search however many the log holds.
struct AbortedIndex(HashMap<i64, Vec<(i64, i64)>>);

impl AbortedIndex {
    fn new(aborted: &[AbortedTxn]) -> AbortedIndex {
        let mut by_producer: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
        for txn in aborted {
            by_producer
                .entry(txn.producer_id)
                .or_default()
                .push((txn.first_offset, txn.last_offset));
        }
        AbortedIndex(by_producer)
    }

    /// Whether `batch` holds records of an aborted transaction: transactional data (not a
    /// marker) of a producer between the first offset of one of its aborted transactions and
    /// that transaction's ABORT marker. The markers themselves stay, as do the aborted
    /// transaction index entries (a read_committed Fetch over the gap skips nothing it did not
    /// before).
    fn holds(&self, batch: &[u8], base_offset: i64) -> Result<bool, StorageError> {
        if self.0.is_empty() {
            return Ok(false);
        }
        let header = super::batch::parse_header(batch).map_err(corrupt)?;
        if !header.is_transactional() || header.is_control() {
            return Ok(false);
        }
        let Some(txns) = self.0.get(&header.producer_id) else {
            return Ok(false);
        };
        let next = txns.partition_point(|&(_, marker)| marker <= base_offset);
        Ok(txns
            .get(next)
            .is_some_and(|&(first, _)| first <= base_offset))
    }
}

fn read_entry(store: &Store, group: u64, entry: &IndexValue) -> Result<Vec<u8>, StorageError> {
    store
        .get(CF_LOG, &log_key(group, entry.log_index))?
        .ok_or_else(|| {
            corrupt(format!(
                "index points at missing log entry {}",
                entry.log_index
            ))
        })
}

fn corrupt(what: impl ToString) -> StorageError {
    StorageError::Corrupt {
        cf: CF_LOG,
        what: what.to_string(),
    }
}

/// Whether `topic`'s cleanup.policy includes compact (as seen by this broker).
pub fn compacts(
    image: &crate::metadata::MetadataState,
    config: &Config,
    topic: &crate::metadata::state::TopicMeta,
) -> bool {
    image
        .topic_config_value(config, topic, "cleanup.policy")
        .is_some_and(|p| p.split(',').any(|p| p.trim() == "compact"))
}

/// Bytes of the batches a pass could clean now: the dirty ones before the cleanable end.
pub fn cleanable_bytes(dirty: &[IndexValue], config: &CleanerConfig, now_ms: i64) -> u64 {
    let Some(end) = cleanable_end(dirty, config, now_ms) else {
        return 0;
    };
    dirty
        .iter()
        .take_while(|b| b.base_offset < end)
        .map(|b| b.size_bytes as u64)
        .sum()
}

/// The leader side: every `interval`, propose a Compact for each partition this node leads
/// whose topic compacts and whose log is worth a pass.
pub async fn enforce(
    config: Arc<Config>,
    metadata: Metadata,
    replicas: Arc<Replicas>,
    interval: Duration,
) {
    loop {
        tokio::time::sleep(interval).await;
        run_once(&config, &metadata, &replicas).await;
    }
}

pub async fn run_once(config: &Config, metadata: &Metadata, replicas: &Replicas) {
    let image = metadata.current();
    for partition in replicas.all() {
        let Some(topic) = image.topics.get(&partition.topic) else {
            continue;
        };
        if !compacts(&image, config, topic) || !partition.is_leader_caught_up() {
            continue;
        }
        let number = |key: &str| {
            image
                .topic_config_value(config, topic, key)
                .and_then(|v| v.parse::<f64>().ok())
        };
        let long = |key: &str, default: i64| number(key).map_or(default, |v| v as i64);
        let settings = CleanerConfig {
            min_cleanable_dirty_ratio: number("min.cleanable.dirty.ratio").unwrap_or(0.5),
            min_compaction_lag_ms: long("min.compaction.lag.ms", 0),
            max_compaction_lag_ms: long("max.compaction.lag.ms", i64::MAX),
            delete_retention_ms: long("delete.retention.ms", 86_400_000),
            segment_ms: long("segment.ms", 604_800_000),
            segment_bytes: long("segment.bytes", 1_073_741_824),
        };
        // __consumer_offsets created before it carried its segment.bytes: Kafka's
        // offsets.topic.segment.bytes, not the topics' default of 1 GiB.
        let settings = match topic.configs.contains_key("segment.bytes") {
            false if topic.name == OFFSETS_TOPIC => CleanerConfig {
                segment_bytes: config.offsets_topic_segment_bytes as i64,
                ..settings
            },
            _ => settings,
        };
        let started = std::time::Instant::now();
        match partition.compact(&settings, now_ms()).await {
            Ok(Some(clean_offset)) => tracing::info!(
                topic = %topic.name,
                partition = partition.index,
                clean_offset,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "compacted"
            ),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(topic = %topic.name, partition = partition.index, %error, "compaction")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FlushPolicy;
    use crate::partition::state_machine::PartitionStateMachine;
    use crate::partition::PartitionShared;
    use crate::raft::tail::LogTail;
    use crate::raft::{Command, Entry, TypeConfig};
    use crate::storage::keys::group_range;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::records::{
        Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType,
    };
    use openraft::storage::RaftStateMachine;
    use openraft::{CommittedLeaderId, EntryPayload};

    const GROUP: u64 = 3;
    /// Keys per batch, batches: every key is written by every batch.
    const KEYS: usize = 4;
    const BATCHES: u64 = 6;

    struct Replica {
        store: Arc<Store>,
        shared: Arc<PartitionShared>,
        sm: PartitionStateMachine,
        _dir: tempfile::TempDir,
    }

    fn replica() -> Replica {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), FlushPolicy::Fsync, 100).unwrap());
        let shared = Arc::new(PartitionShared::new());
        let cache = crate::partition::cache::BatchCache::new(1 << 20).partition();
        let sm = PartitionStateMachine::open(
            GROUP,
            store.clone(),
            Arc::new(LogTail::default()),
            shared.clone(),
            cache,
        )
        .unwrap();
        Replica {
            store,
            shared,
            sm,
            _dir: dir,
        }
    }

    fn entry(index: u64, command: Command) -> Entry {
        Entry {
            log_id: crate::raft::LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::<TypeConfig>::Normal(command),
        }
    }

    /// Batch `n` (offsets n*KEYS..): key i = "n", except key 0's last write, a tombstone.
    fn keyed_batch(n: u64) -> Bytes {
        let records: Vec<Record> = (0..KEYS)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // The encoder starts a new batch where offset - sequence changes.
                sequence: i as i32,
                timestamp: 1000 + n as i64,
                key: Some(Bytes::from(format!("k{i}"))),
                value: (n + 1 < BATCHES || i != 0).then(|| Bytes::from(format!("{n}"))),
                headers: Default::default(),
            })
            .collect();
        let mut out = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::Gzip,
        };
        RecordBatchEncoder::encode(&mut out, &records, &options).unwrap();
        out.freeze()
    }

    /// Raft writes entries before they are applied.
    fn write_log(store: &Store, entries: &[Entry]) {
        for entry in entries {
            let mut bytes = Vec::new();
            codec::encode_entry(entry, &mut bytes).unwrap();
            store
                .db
                .put_cf(store.cf(CF_LOG), log_key(GROUP, entry.log_id.index), bytes)
                .unwrap();
        }
    }

    fn log_entries(store: &Store, cf: &'static str) -> Vec<(Vec<u8>, Vec<u8>)> {
        let (start, end) = group_range(GROUP);
        store
            .db
            .iterator_cf(
                store.cf(cf),
                rocksdb::IteratorMode::From(&start, rocksdb::Direction::Forward),
            )
            .map(|item| item.unwrap())
            .take_while(|(key, _)| key.as_ref() < end.as_slice())
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .collect()
    }

    /// (offset, key, value) of every record served, from the index.
    fn served(store: &Store) -> Vec<(i64, String, Option<String>)> {
        let mut out = Vec::new();
        for item in store.offset_index(GROUP, 0) {
            let (_, entry) = item.unwrap();
            let stored = read_entry(store, GROUP, &entry).unwrap();
            let (_, records) = codec::append_payload(&stored).unwrap();
            let mut batch = BytesMut::from(records);
            crate::partition::batch::stamp(&mut batch, entry.base_offset, 0);
            let mut bytes = batch.freeze();
            for record in RecordBatchDecoder::decode(&mut bytes).unwrap().records {
                let text = |b: Option<Bytes>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
                out.push((record.offset, text(record.key).unwrap(), text(record.value)));
            }
        }
        out
    }

    #[tokio::test]
    async fn replicas_compact_alike_and_tombstones_go_after_their_horizon() {
        let mut leader = replica();
        let appends: Vec<Entry> = (0..BATCHES)
            .map(|n| entry(n + 1, Command::Append(keyed_batch(n))))
            .collect();
        write_log(&leader.store, &appends);
        leader.sm.apply(appends).await.unwrap();
        let high_watermark = (BATCHES as usize * KEYS) as i64;
        let compact = |index, now_ms| {
            entry(
                index,
                Command::Compact {
                    upto_offset: high_watermark,
                    now_ms,
                    delete_retention_ms: 500,
                },
            )
        };
        let first = compact(BATCHES + 1, 2000);
        write_log(&leader.store, std::slice::from_ref(&first));
        leader.sm.apply([first.clone()]).await.unwrap();

        // One record per key, the latest, at its original offset; key 0's is the tombstone.
        let last = (BATCHES - 1) as i64 * KEYS as i64;
        let latest = format!("{}", BATCHES - 1);
        let expected: Vec<_> = (0..KEYS)
            .map(|i| {
                let value = (i != 0).then(|| latest.clone());
                (last + i as i64, format!("k{i}"), value)
            })
            .collect();
        assert_eq!(served(&leader.store), expected);
        assert_eq!(
            leader
                .shared
                .clean_offset
                .load(std::sync::atomic::Ordering::Acquire),
            high_watermark
        );
        assert_eq!(
            leader
                .shared
                .tombstone_horizon
                .load(std::sync::atomic::Ordering::Acquire),
            2500
        );

        // A follower that gets the leader's log as it now is (stubs, rewritten batches) and
        // the same command ends with the same bytes: same offsets, same index, same entries.
        let mut follower = replica();
        let mut shipped: Vec<Entry> = Vec::new();
        for (key, value) in log_entries(&leader.store, CF_LOG) {
            let (_, index) = crate::storage::keys::decode_pair(&key).unwrap();
            shipped.push(codec::decode_entry(index, &value).unwrap());
        }
        write_log(&follower.store, &shipped);
        follower.sm.apply(shipped).await.unwrap();
        assert_eq!(
            log_entries(&follower.store, CF_LOG),
            log_entries(&leader.store, CF_LOG)
        );
        assert_eq!(
            log_entries(&follower.store, CF_OFFSET_INDEX),
            log_entries(&leader.store, CF_OFFSET_INDEX)
        );
        assert_eq!(
            follower.sm.applied_state().await.unwrap().0,
            leader.sm.applied_state().await.unwrap().0
        );

        // Before the horizon the tombstone stays; at it, it goes, on every replica.
        for replica in [&mut leader, &mut follower] {
            let early = compact(BATCHES + 2, 2499);
            write_log(&replica.store, std::slice::from_ref(&early));
            replica.sm.apply([early]).await.unwrap();
            assert_eq!(served(&replica.store).len(), KEYS);
            let due = compact(BATCHES + 3, 2500);
            write_log(&replica.store, std::slice::from_ref(&due));
            replica.sm.apply([due]).await.unwrap();
            assert_eq!(served(&replica.store), expected[1..].to_vec());
        }
        assert_eq!(
            log_entries(&follower.store, CF_LOG),
            log_entries(&leader.store, CF_LOG)
        );
    }

    /// One record `key` = `value`, transactional for `producer` (id, epoch 0) if given.
    fn one_record(key: &str, value: &str, producer: Option<i64>) -> Bytes {
        let record = Record {
            transactional: producer.is_some(),
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: producer.unwrap_or(-1),
            producer_epoch: if producer.is_some() { 0 } else { -1 },
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: if producer.is_some() { 0 } else { -1 },
            timestamp: 1000,
            key: Some(Bytes::from(key.to_string())),
            value: Some(Bytes::from(value.to_string())),
            headers: Default::default(),
        };
        let mut out = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut out, &[record], &options).unwrap();
        out.freeze()
    }

    #[test]
    fn aborted_index_finds_a_batch_within_its_producers_aborted_transactions() {
        let txn = |producer_id, first_offset, last_offset| AbortedTxn {
            producer_id,
            first_offset,
            last_offset,
        };
        // Producer 7 aborted [10, 20) and [40, 45); producer 8 aborted [15, 50).
        let index = AbortedIndex::new(&[txn(7, 10, 20), txn(8, 15, 50), txn(7, 40, 45)]);
        let batch = |producer: i64| {
            crate::partition::control::marker_batch(producer, 0, false, 0, 0)
                .map(|b| {
                    // The marker's header with the control bit off: transactional data.
                    let mut data = b.to_vec();
                    data[22] &= !0x20;
                    data
                })
                .unwrap()
        };
        for (producer, offset, aborted) in [
            (7, 9, false),
            (7, 10, true),
            (7, 19, true),
            (7, 20, false),
            (7, 30, false),
            (7, 44, true),
            (7, 45, false),
            (8, 30, true),
            (9, 30, false),
        ] {
            assert_eq!(
                index.holds(&batch(producer), offset).unwrap(),
                aborted,
                "producer {producer} at {offset}"
            );
        }
        // Markers are never aborted data.
        let marker = crate::partition::control::marker_batch(7, 0, false, 0, 0).unwrap();
        assert!(!index.holds(&marker, 12).unwrap());
    }

    #[tokio::test]
    async fn aborted_records_go_and_never_shadow_the_committed_value_of_their_key() {
        let mut replica = replica();
        let marker = crate::partition::control::marker_batch(7, 0, false, 0, 1000).unwrap();
        let appends = vec![
            entry(1, Command::Append(one_record("k", "committed", None))),
            entry(2, Command::Append(one_record("k", "aborted", Some(7)))),
            entry(3, Command::Append(marker)),
            entry(4, Command::Append(one_record("other", "x", None))),
        ];
        write_log(&replica.store, &appends);
        replica.sm.apply(appends).await.unwrap();
        let data = |store: &Store| -> Vec<(i64, String, Option<String>)> {
            served(store)
                .into_iter()
                .filter(|(_, key, _)| !key.starts_with('\0'))
                .collect()
        };
        assert_eq!(data(&replica.store).len(), 3);
        let compact = entry(
            5,
            Command::Compact {
                upto_offset: 4,
                now_ms: 2000,
                delete_retention_ms: 500,
            },
        );
        write_log(&replica.store, std::slice::from_ref(&compact));
        replica.sm.apply([compact]).await.unwrap();
        assert_eq!(
            data(&replica.store),
            vec![
                (0, "k".to_string(), Some("committed".to_string())),
                (3, "other".to_string(), Some("x".to_string())),
            ]
        );
        // The ABORT marker stays: offsets 0, 2 (the marker) and 3 are served.
        let offsets: Vec<i64> = served(&replica.store).iter().map(|r| r.0).collect();
        assert_eq!(offsets, vec![0, 2, 3]);
    }

    fn batch(base_offset: i64, max_timestamp: i64, size_bytes: u32) -> IndexValue {
        IndexValue {
            log_index: base_offset as u64 + 1,
            base_offset,
            max_timestamp,
            size_bytes,
        }
    }

    fn config() -> CleanerConfig {
        CleanerConfig {
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            delete_retention_ms: 1000,
            segment_ms: 100,
            segment_bytes: 1000,
        }
    }

    #[test]
    fn segments_roll_by_time_and_size_and_the_active_one_is_never_cleaned() {
        // Times 0, 50 (segment 1), 200, 250 (segment 2), 400 (active).
        let dirty = [
            batch(0, 0, 10),
            batch(10, 50, 10),
            batch(20, 200, 10),
            batch(30, 250, 10),
            batch(40, 400, 10),
        ];
        assert_eq!(cleanable_end(&dirty, &config(), 1000), Some(40));
        // Size: 600 + 600 > 1000 rolls.
        let big = [batch(0, 0, 600), batch(10, 1, 600), batch(20, 2, 10)];
        assert_eq!(cleanable_end(&big, &config(), 1000), Some(10));
        // min.compaction.lag.ms: the segment holding a batch newer than now - lag, and all after.
        let lagged = CleanerConfig {
            min_compaction_lag_ms: 780,
            ..config()
        };
        assert_eq!(cleanable_end(&dirty, &lagged, 1000), Some(20));
        assert_eq!(cleanable_end(&[], &config(), 1000), None);
    }

    #[test]
    fn plans_by_dirty_ratio_max_lag_and_tombstones() {
        let dirty = [batch(100, 0, 100), batch(110, 500, 100)];
        let view = LogView {
            log_start_offset: 0,
            clean_offset: 100,
            high_watermark: 120,
            retained_bytes: 300,
            tombstone_horizon: None,
        };
        // Dirty 100 of clean 100 + dirty 100: ratio 0.5.
        assert_eq!(plan(&view, &dirty, &config(), 1000), Some(110));
        let picky = CleanerConfig {
            min_cleanable_dirty_ratio: 0.6,
            ..config()
        };
        assert_eq!(plan(&view, &dirty, &picky, 1000), None);
        let overdue = CleanerConfig {
            max_compaction_lag_ms: 500,
            ..picky
        };
        assert_eq!(plan(&view, &dirty, &overdue, 1000), Some(110));
        // Nothing dirty to clean, but kept tombstones reach their horizon.
        let only_active = [batch(110, 500, 100)];
        let due = LogView {
            clean_offset: 110,
            tombstone_horizon: Some(900),
            ..view
        };
        assert_eq!(plan(&due, &only_active, &config(), 1000), Some(110));
        assert_eq!(plan(&due, &only_active, &config(), 800), None);
    }
}
