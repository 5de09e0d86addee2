//! One RocksDB per node, column families by purpose.
//!
//! - `raft_log`: every Raft group's log; for a partition this IS the partition log.
//! - `raft_state`: votes, committed and purged log ids.
//! - `offset_index`: Kafka offset -> Raft log index, one small key per batch.
//! - `sm_state`: state-machine checkpoints (next offset, producer state, metadata image).

pub mod keys;
pub mod offset_index;
pub mod writer;

use std::path::Path;
use std::sync::Arc;

use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, Options, WriteBatch, DB};
use tokio_util::sync::CancellationToken;

pub use writer::{Completion, Writer};

use crate::config::FlushPolicy;

pub const CF_LOG: &str = "raft_log";
pub const CF_RAFT_STATE: &str = "raft_state";
pub const CF_OFFSET_INDEX: &str = "offset_index";
pub const CF_SM_STATE: &str = "sm_state";
const COLUMN_FAMILIES: [&str; 4] = [CF_LOG, CF_RAFT_STATE, CF_OFFSET_INDEX, CF_SM_STATE];

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("corrupt record in {cf}: {what}")]
    Corrupt { cf: &'static str, what: String },
    #[error("write failed: {0}")]
    Write(String),
    #[error("read failed: {0}")]
    Read(String),
}

const LOG_MEMTABLE_BYTES: usize = 64 * 1024 * 1024;

/// Record batches go to blob files when the memtable is flushed, and compaction moves only keys
/// and blob references. With batches inline, every byte was rewritten by flush and again by each
/// level's compaction, for a log that is only ever appended and trimmed from the front: that
/// compaction was 45% of the broker's CPU at full load.
fn log_blob_options(cf_options: &mut Options) {
    cf_options.set_enable_blob_files(true);
    // Below this a value costs compaction less than a blob reference and a second read.
    cf_options.set_min_blob_size(1024);
    // One flush writes one blob file of about a memtable.
    cf_options.set_blob_file_size(LOG_MEMTABLE_BYTES as u64);
    // No blob garbage collection: it rewrote the live batches of the oldest quarter of blob
    // files whenever compaction passed their keys, which on a broker holding a few GB cost a
    // third of its max throughput and multiplied the p99 at half load by 4 (docs/benchmarks.md).
    // Retention trims partitions from the front, so blob files die whole and are deleted once
    // compaction has dropped their keys. The price: a file shared by partitions of different
    // retention stays until its longest-kept batch is trimmed.
    cf_options.set_enable_blob_gc(false);
}

pub struct Store {
    pub db: Arc<DB>,
    pub writer: Writer,
    /// Cancelled by the first write that fails. After a failed WAL write RocksDB refuses every
    /// further write until it is reopened, and the Raft groups whose entries were lost have
    /// stopped, so the broker stops too (main.rs): the way Kafka halts when its last log
    /// directory fails. Its partitions fail over; restarted once the disk is writable (by
    /// systemd's Restart=on-failure, Kubernetes, an operator), it recovers and catches up.
    pub failed: CancellationToken,
}

impl Store {
    pub fn open(
        dir: &Path,
        policy: FlushPolicy,
        flush_interval_ms: u64,
    ) -> Result<Store, StorageError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.increase_parallelism(2);
        // Many small partitions share one memtable budget; large appends stream through it.
        options.set_max_total_wal_size(256 * 1024 * 1024);
        options.set_db_write_buffer_size(128 * 1024 * 1024);
        // Write flushed and compacted files back to disk as they are written, 1 MiB at a time,
        // instead of all at once when each file is synced: a 64 MiB memtable flush synced in one
        // go queues the WAL's fsync behind it, which showed up as the produce latency tail.
        options.set_bytes_per_sync(1024 * 1024);
        // Flush and compaction run at the lowest CPU priority. On a busy machine they used to
        // take the cores from the request path (the tokio workers and the WAL writer), and every
        // produce waiting behind them showed up in the p99; background work catches up when the
        // request path idles, and if it falls behind, RocksDB's write stall is the backpressure.
        let mut env = rocksdb::Env::new()?;
        env.lower_thread_pool_cpu_priority();
        env.lower_high_priority_thread_pool_cpu_priority();
        options.set_env(&env);
        let descriptors = COLUMN_FAMILIES.iter().map(|name| {
            let mut cf_options = Options::default();
            if *name == CF_LOG {
                // Record batches arrive compressed by the producer, or not at all; don't spend CPU.
                cf_options.set_compression_type(rocksdb::DBCompressionType::None);
                cf_options.set_write_buffer_size(LOG_MEMTABLE_BYTES);
                log_blob_options(&mut cf_options);
            }
            ColumnFamilyDescriptor::new(*name, cf_options)
        });
        let db = DB::open_cf_descriptors(&options, dir, descriptors)?;
        let db = Arc::new(db);
        let failed = CancellationToken::new();
        let writer = Writer::start(db.clone(), policy, flush_interval_ms, failed.clone());
        Ok(Store { db, writer, failed })
    }

    pub fn cf(&self, name: &'static str) -> &ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("every column family is created at open")
    }

    pub fn get(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get_cf(self.cf(cf), key)?)
    }

    /// Unsynced write: for state that can be rebuilt by replaying the synced Raft log.
    pub fn write_unsynced(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let mut options = rocksdb::WriteOptions::default();
        options.set_sync(false);
        self.db.write_opt(batch, &options).map_err(|error| {
            tracing::error!(%error, "write failed");
            self.failed.cancel();
            error.into()
        })
    }

    /// Durable write through the group-commit writer.
    pub async fn write_durable(&self, batch: WriteBatch) -> Result<(), StorageError> {
        self.writer.write(batch).await.map_err(StorageError::Write)
    }

    /// Makes RocksDB give back the space of the log entries of `group` that were replaced or
    /// deleted (compaction): every memtable is flushed, so the WAL files holding the old
    /// values can go, and the group's range of `raft_log` is compacted, which drops the old
    /// values and frees blob files left holding only those. Blocking; changes no data.
    pub fn reclaim_log_space(&self, group: u64) -> Result<(), StorageError> {
        for name in COLUMN_FAMILIES {
            self.db.flush_cf(self.cf(name))?;
        }
        let (start, end) = keys::group_range(group);
        self.db
            .compact_range_cf(self.cf(CF_LOG), Some(start), Some(end));
        Ok(())
    }

    /// Removes every key of `group` from the (group, u64) keyed column families.
    pub fn delete_group_batch(&self, group: u64) -> WriteBatch {
        let (start, end) = keys::group_range(group);
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(self.cf(CF_LOG), start, end);
        batch.delete_range_cf(self.cf(CF_OFFSET_INDEX), start, end);
        for tag in [keys::TAG_VOTE, keys::TAG_COMMITTED, keys::TAG_PURGED] {
            batch.delete_cf(self.cf(CF_RAFT_STATE), keys::state_key(group, tag));
        }
        batch.delete_cf(
            self.cf(CF_SM_STATE),
            keys::state_key(group, keys::TAG_CHECKPOINT),
        );
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob_file_bytes(store: &Store) -> u64 {
        store
            .db
            .property_int_value_cf(store.cf(CF_LOG), "rocksdb.total-blob-file-size")
            .unwrap()
            .unwrap()
    }

    /// Retention's pattern: a partition is appended over several flushes, then trimmed from the
    /// front. The trimmed batches' blob files must go; the rest must still read back.
    #[test]
    fn trimming_a_partition_frees_its_blob_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), FlushPolicy::Fsync, 100).unwrap();
        let value = |index: u64| vec![index as u8; 16 * 1024];
        for flush in 0..4u64 {
            let mut batch = WriteBatch::default();
            for index in flush * 250..(flush + 1) * 250 {
                batch.put_cf(store.cf(CF_LOG), keys::log_key(1, index), value(index));
            }
            store.write_unsynced(batch).unwrap();
            store.db.flush_cf(store.cf(CF_LOG)).unwrap();
        }
        let before = blob_file_bytes(&store);
        assert!(
            before >= 1000 * 16 * 1024,
            "batches are in blob files: {before}"
        );

        let mut trim = WriteBatch::default();
        trim.delete_range_cf(store.cf(CF_LOG), keys::log_key(1, 0), keys::log_key(1, 500));
        store.write_unsynced(trim).unwrap();
        store
            .db
            .compact_range_cf(store.cf(CF_LOG), None::<&[u8]>, None::<&[u8]>);

        let after = blob_file_bytes(&store);
        assert!(
            after <= before / 2 + 64 * 1024,
            "the first two flushes' blob files are deleted: {before} -> {after}"
        );
        assert_eq!(store.get(CF_LOG, &keys::log_key(1, 499)).unwrap(), None);
        for index in [500, 750, 999] {
            assert_eq!(
                store.get(CF_LOG, &keys::log_key(1, index)).unwrap(),
                Some(value(index))
            );
        }
    }
}
