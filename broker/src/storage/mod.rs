//! One RocksDB per node, column families by purpose.
//!
//! - `raft_log`: every Raft group's log; for a partition this IS the partition log.
//! - `raft_state`: votes, committed and purged log ids.
//! - `offset_index`: Kafka offset -> Raft log index, one small key per batch.
//! - `sm_state`: state-machine checkpoints (next offset, producer state, metadata image).

pub mod keys;
pub mod writer;

use std::path::Path;
use std::sync::Arc;

use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, Options, WriteBatch, DB};

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
}

pub struct Store {
    pub db: Arc<DB>,
    pub writer: Writer,
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
        let descriptors = COLUMN_FAMILIES.iter().map(|name| {
            let mut cf_options = Options::default();
            if *name == CF_LOG {
                // Record batches arrive compressed by the producer, or not at all; don't spend CPU.
                cf_options.set_compression_type(rocksdb::DBCompressionType::None);
                cf_options.set_write_buffer_size(64 * 1024 * 1024);
            }
            ColumnFamilyDescriptor::new(*name, cf_options)
        });
        let db = DB::open_cf_descriptors(&options, dir, descriptors)?;
        let db = Arc::new(db);
        let writer = Writer::start(db.clone(), policy, flush_interval_ms);
        Ok(Store { db, writer })
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
        Ok(self.db.write_opt(batch, &options)?)
    }

    /// Durable write through the group-commit writer.
    pub async fn write_durable(&self, batch: WriteBatch) -> Result<(), StorageError> {
        self.writer.write(batch).await.map_err(StorageError::Write)
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
