//! The batches each partition applied most recently, kept in memory so that consumers at or
//! near the end of a log are answered without touching RocksDB (no iterator, no blob read, no
//! checksum), and without leaving the tokio worker.
//!
//! One byte budget for the whole broker (`fetch_cache_bytes`). Appends are the only inserts,
//! so the order of inserts is the order of age: when the budget is exceeded, the batches
//! applied longest ago leave first, whichever partition holds them. A batch is the entry's own
//! `Bytes` (no copy at apply); it is stamped with its offset and epoch when a Fetch copies it
//! into a response, as batches read from RocksDB are.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::{Bytes, BytesMut};

use super::batch;

/// The broker-wide budget and the age order of every cached batch.
pub struct BatchCache {
    budget: usize,
    order: Mutex<AgeOrder>,
}

#[derive(Default)]
struct AgeOrder {
    /// Bytes of the batches in `batches` (some may already be gone from their partition,
    /// dropped by a trim or a snapshot: counted until their turn comes, never under-counted).
    total: usize,
    /// (partition, last offset of the batch, its bytes), oldest first.
    batches: VecDeque<(Weak<PartitionCache>, i64, usize)>,
}

struct CachedBatch {
    base_offset: i64,
    last_offset: i64,
    leader_epoch: i32,
    records: Bytes,
}

/// One partition's cached batches: contiguous in offsets, oldest first.
pub struct PartitionCache {
    cache: Arc<BatchCache>,
    batches: Mutex<VecDeque<CachedBatch>>,
}

impl BatchCache {
    pub fn new(budget: usize) -> Arc<BatchCache> {
        Arc::new(BatchCache {
            budget,
            order: Mutex::default(),
        })
    }

    pub fn partition(self: &Arc<Self>) -> Arc<PartitionCache> {
        Arc::new(PartitionCache {
            cache: self.clone(),
            batches: Mutex::default(),
        })
    }

    pub fn cached_bytes(&self) -> usize {
        lock(&self.order).total
    }

    fn admitted(&self, partition: &Arc<PartitionCache>, last_offset: i64, size: usize) {
        let mut order = lock(&self.order);
        order.total += size;
        order
            .batches
            .push_back((Arc::downgrade(partition), last_offset, size));
        while order.total > self.budget {
            let Some((owner, last_offset, size)) = order.batches.pop_front() else {
                break;
            };
            order.total -= size;
            if let Some(owner) = owner.upgrade() {
                owner.drop_through(last_offset);
            }
        }
        crate::metrics::fetch_cache_bytes().set(order.total as f64);
    }
}

impl PartitionCache {
    /// Caches a batch the state machine just applied at `base_offset..=last_offset`.
    pub fn insert(
        self: &Arc<Self>,
        base_offset: i64,
        last_offset: i64,
        epoch: i32,
        records: Bytes,
    ) {
        if self.cache.budget == 0 {
            return;
        }
        let size = records.len();
        {
            let mut batches = lock(&self.batches);
            // Offsets only grow; anything else means the log was replaced (snapshot install),
            // and what is cached no longer follows on.
            if batches
                .back()
                .is_some_and(|last| last.last_offset + 1 != base_offset)
            {
                batches.clear();
            }
            batches.push_back(CachedBatch {
                base_offset,
                last_offset,
                leader_epoch: epoch,
                records,
            });
        }
        self.cache.admitted(self, last_offset, size);
    }

    /// Copies the committed batches from the one holding `fetch_offset` into `out`, stamped,
    /// up to about `max_bytes` (at least one batch), stopping before `high_watermark`. `false`
    /// when the batch holding `fetch_offset` is not cached: read it from storage.
    pub fn read(
        &self,
        fetch_offset: i64,
        high_watermark: i64,
        max_bytes: usize,
        out: &mut BytesMut,
    ) -> bool {
        // Chosen under the lock (reference counts only), copied after it, so a large read never
        // holds up the state machine's next insert.
        let mut chosen = Vec::new();
        {
            let batches = lock(&self.batches);
            let first = batches.partition_point(|b| b.last_offset < fetch_offset);
            match batches.get(first) {
                Some(batch) if batch.base_offset <= fetch_offset => {}
                _ => return false,
            }
            let mut size = out.len();
            for batch in batches.range(first..) {
                if batch.base_offset >= high_watermark {
                    break;
                }
                if size > 0 && size + batch.records.len() > max_bytes {
                    break;
                }
                size += batch.records.len();
                chosen.push((batch.records.clone(), batch.base_offset, batch.leader_epoch));
                if size >= max_bytes {
                    break;
                }
            }
        }
        out.reserve(chosen.iter().map(|(records, _, _)| records.len()).sum());
        for (records, base_offset, leader_epoch) in chosen {
            let start = out.len();
            out.extend_from_slice(&records);
            batch::stamp(&mut out[start..], base_offset, leader_epoch);
        }
        true
    }

    /// Drops the batches below `log_start_offset` (retention, DeleteRecords).
    pub fn trim(&self, log_start_offset: i64) {
        let mut batches = lock(&self.batches);
        while batches
            .front()
            .is_some_and(|b| b.last_offset < log_start_offset)
        {
            batches.pop_front();
        }
    }

    /// Drops everything (the log was replaced by a snapshot).
    pub fn clear(&self) {
        lock(&self.batches).clear();
    }

    fn drop_through(&self, last_offset: i64) {
        let mut batches = lock(&self.batches);
        while batches
            .front()
            .is_some_and(|b| b.last_offset <= last_offset)
        {
            batches.pop_front();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Only a cache behind it: a panic elsewhere while holding it leaves nothing to repair.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::batch::tests::sample_batch;

    fn offsets(out: &[u8]) -> Vec<(i64, i32)> {
        let mut found = Vec::new();
        let mut at = 0;
        while at < out.len() {
            let header = batch::parse_header(&out[at..]).unwrap();
            let base = i64::from_be_bytes(out[at..at + 8].try_into().unwrap());
            let epoch = i32::from_be_bytes(out[at + 12..at + 16].try_into().unwrap());
            found.push((base, epoch));
            at += header.size_bytes();
        }
        found
    }

    /// Five batches of three records at offsets 0, 3, 6, 9, 12.
    fn filled(cache: &Arc<BatchCache>) -> Arc<PartitionCache> {
        let partition = cache.partition();
        let records = Bytes::from(sample_batch(3, -1, -1));
        for i in 0..5 {
            partition.insert(i * 3, i * 3 + 2, 7, records.clone());
        }
        partition
    }

    #[test]
    fn serves_stamped_batches_from_the_one_holding_the_offset() {
        let cache = BatchCache::new(1 << 20);
        let partition = filled(&cache);
        let mut out = BytesMut::new();
        assert!(partition.read(4, 15, usize::MAX, &mut out));
        assert_eq!(offsets(&out), vec![(3, 7), (6, 7), (9, 7), (12, 7)]);
        // Stops at the high watermark, and at max_bytes after at least one batch.
        let mut out = BytesMut::new();
        assert!(partition.read(0, 6, usize::MAX, &mut out));
        assert_eq!(offsets(&out), vec![(0, 7), (3, 7)]);
        let mut out = BytesMut::new();
        assert!(partition.read(0, 15, 1, &mut out));
        assert_eq!(offsets(&out), vec![(0, 7)]);
        // Not cached: past the end, or trimmed away.
        assert!(!partition.read(15, 15, usize::MAX, &mut BytesMut::new()));
        partition.trim(6);
        assert!(!partition.read(4, 15, usize::MAX, &mut BytesMut::new()));
        assert!(partition.read(6, 15, usize::MAX, &mut BytesMut::new()));
    }

    #[test]
    fn the_oldest_batches_of_any_partition_leave_first() {
        let size = Bytes::from(sample_batch(3, -1, -1)).len();
        let cache = BatchCache::new(7 * size);
        let first = filled(&cache);
        let second = filled(&cache);
        assert_eq!(cache.cached_bytes(), 7 * size);
        // The first partition lost its three oldest batches, the second none.
        assert!(!first.read(8, 15, usize::MAX, &mut BytesMut::new()));
        assert!(first.read(9, 15, usize::MAX, &mut BytesMut::new()));
        assert!(second.read(0, 15, usize::MAX, &mut BytesMut::new()));
        // A partition that is gone frees its share as its turn comes.
        drop(first);
        second.insert(15, 17, 7, Bytes::from(sample_batch(3, -1, -1)));
        assert!(cache.cached_bytes() <= 7 * size);
    }

    #[test]
    fn a_replaced_log_starts_over() {
        let cache = BatchCache::new(1 << 20);
        let partition = filled(&cache);
        partition.insert(100, 102, 8, Bytes::from(sample_batch(3, -1, -1)));
        assert!(!partition.read(0, 103, usize::MAX, &mut BytesMut::new()));
        let mut out = BytesMut::new();
        assert!(partition.read(100, 103, usize::MAX, &mut out));
        assert_eq!(offsets(&out), vec![(100, 8)]);
    }

    #[test]
    fn a_zero_budget_caches_nothing() {
        let cache = BatchCache::new(0);
        let partition = filled(&cache);
        assert!(!partition.read(0, 15, usize::MAX, &mut BytesMut::new()));
        assert_eq!(cache.cached_bytes(), 0);
    }
}
