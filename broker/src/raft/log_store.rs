//! openraft's log storage for one group, over the shared `raft_log` column family.

// openraft's StorageError is large, and its trait signatures require it.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{RaftLogReader, Vote};
use rocksdb::WriteBatch;

use super::codec;
use super::tail::LogTail;
use super::{read_error, storage_error, Entry, LogId, StorageResult, TypeConfig};
use crate::storage::keys::{self, log_key, state_key};
use crate::storage::{Store, CF_LOG, CF_RAFT_STATE};

#[derive(Clone)]
pub struct LogStore {
    group: u64,
    store: Arc<Store>,
    tail: Arc<LogTail>,
    /// Entries from this index on hold records a partition still serves: a purge leaves them
    /// on disk, although Raft no longer reads them. `None`: a purge deletes what it covers.
    retained_from: Option<Arc<AtomicU64>>,
}

impl LogStore {
    pub fn new(group: u64, store: Arc<Store>, tail: Arc<LogTail>) -> LogStore {
        LogStore {
            group,
            store,
            tail,
            retained_from: None,
        }
    }

    /// A partition's log: openraft purges what a snapshot covers (after installing one, for
    /// instance), but the records from `retained_from` on stay readable by Fetch.
    pub fn retaining(mut self, retained_from: Arc<AtomicU64>) -> LogStore {
        self.retained_from = Some(retained_from);
        self
    }

    /// Entries in `start..end`, from memory where the tail still holds them.
    pub fn read_range(&self, start: u64, end: u64) -> StorageResult<Vec<Entry>> {
        // Memory first: anything trimmed from the tail afterwards is already in RocksDB.
        let (from_tail, tail_first) = self.tail.read(start..end);
        let durable_end = tail_first.map_or(end, |first| first.min(end));
        let mut entries = self.read_durable(start, durable_end)?;
        entries.extend(
            from_tail
                .into_iter()
                .filter(|e| e.log_id.index >= durable_end),
        );
        Ok(entries)
    }

    /// The index ranges in `start..end` that hold no batch the partition serves: the entries
    /// of batches compaction removed (their stubs), and commands. Raft no longer reads entries
    /// below its purge point, so only those the offset index points at must stay.
    fn unserved_ranges(&self, start: u64, end: u64) -> StorageResult<Vec<(u64, u64)>> {
        let mut ranges = Vec::new();
        let mut next = start;
        for item in self.store.offset_index(self.group, 0) {
            let (_, entry) = item.map_err(read_error)?;
            if entry.log_index >= end {
                break;
            }
            if entry.log_index > next {
                ranges.push((next, entry.log_index));
            }
            next = next.max(entry.log_index + 1);
        }
        if next < end {
            ranges.push((next, end));
        }
        Ok(ranges)
    }

    fn read_json<T: serde::de::DeserializeOwned>(&self, tag: u8) -> StorageResult<Option<T>> {
        let key = state_key(self.group, tag);
        match self.store.get(CF_RAFT_STATE, &key).map_err(read_error)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(read_error),
        }
    }

    fn json_batch<T: serde::Serialize>(&self, tag: u8, value: &T) -> StorageResult<WriteBatch> {
        let bytes = serde_json::to_vec(value).map_err(storage_error)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.store.cf(CF_RAFT_STATE),
            state_key(self.group, tag),
            bytes,
        );
        Ok(batch)
    }

    fn last_durable_log_id(&self) -> StorageResult<Option<LogId>> {
        let mut iter = self.store.db.raw_iterator_cf(self.store.cf(CF_LOG));
        iter.seek_for_prev(log_key(self.group, u64::MAX));
        if !iter.valid() {
            return iter.status().map(|_| None).map_err(read_error);
        }
        let (Some(key), Some(value)) = (iter.key(), iter.value()) else {
            return Ok(None);
        };
        match keys::decode_pair(key) {
            Some((group, index)) if group == self.group => Ok(Some(
                codec::decode_entry(index, value)
                    .map_err(read_error)?
                    .log_id,
            )),
            _ => Ok(None),
        }
    }

    fn read_durable(&self, start: u64, end: u64) -> StorageResult<Vec<Entry>> {
        let mut entries = Vec::new();
        if start >= end {
            return Ok(entries);
        }
        let mut iter = self.store.db.raw_iterator_cf(self.store.cf(CF_LOG));
        iter.seek(log_key(self.group, start));
        while iter.valid() {
            let (Some(key), Some(value)) = (iter.key(), iter.value()) else {
                break;
            };
            let Some((group, index)) = keys::decode_pair(key) else {
                break;
            };
            if group != self.group || index >= end {
                break;
            }
            entries.push(codec::decode_entry(index, value).map_err(read_error)?);
            iter.next();
        }
        iter.status().map_err(read_error)?;
        Ok(entries)
    }
}

fn bounds(range: &impl RangeBounds<u64>) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(x) => *x,
        Bound::Excluded(x) => x + 1,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(x) => x + 1,
        Bound::Excluded(x) => *x,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry>> {
        let (start, end) = bounds(&range);
        self.read_range(start, end)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        let last_purged_log_id: Option<LogId> = self.read_json(keys::TAG_PURGED)?;
        let last = match self.tail.last() {
            Some(entry) => Some(entry.log_id),
            None => self.last_durable_log_id()?,
        };
        // Entries below the purge point may stay on disk (see `retained_from`), so the last one
        // there can be older than the purge point after a snapshot was installed.
        Ok(LogState {
            last_purged_log_id,
            last_log_id: last.max(last_purged_log_id),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> StorageResult<()> {
        let batch = self.json_batch(keys::TAG_VOTE, vote)?;
        self.store.write_durable(batch).await.map_err(storage_error)
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<u64>>> {
        self.read_json(keys::TAG_VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> StorageResult<()> {
        // Only a hint that speeds up restart; the log itself is what must be durable.
        let batch = self.json_batch(keys::TAG_COMMITTED, &committed)?;
        self.store.write_unsynced(batch).map_err(storage_error)
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId>> {
        Ok(self
            .read_json::<Option<LogId>>(keys::TAG_COMMITTED)?
            .flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let Some(last_index) = entries.last().map(|e| e.log_id.index) else {
            callback.log_io_completed(Ok(()));
            return Ok(());
        };
        let mut batch = WriteBatch::default();
        let mut encoded = Vec::new();
        let cf = self.store.cf(CF_LOG);
        for entry in &entries {
            codec::encode_entry(entry, &mut encoded).map_err(storage_error)?;
            batch.put_cf(cf, log_key(self.group, entry.log_id.index), &encoded);
        }
        self.tail.insert(&entries);
        let tail = self.tail.clone();
        self.store.writer.submit(
            batch,
            Box::new(move |result| {
                if result.is_ok() {
                    tail.mark_flushed(last_index);
                }
                callback.log_io_completed(result.map_err(std::io::Error::other));
            }),
        );
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> StorageResult<()> {
        self.tail.truncate(log_id.index);
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(
            self.store.cf(CF_LOG),
            log_key(self.group, log_id.index),
            keys::group_range(self.group).1,
        );
        self.store.write_durable(batch).await.map_err(storage_error)
    }

    async fn purge(&mut self, log_id: LogId) -> StorageResult<()> {
        let delete_end = match &self.retained_from {
            Some(retained_from) => retained_from.load(Ordering::Acquire).min(log_id.index + 1),
            None => log_id.index + 1,
        };
        if delete_end > 0 {
            self.tail.purge(delete_end - 1);
        }
        let mut batch = self.json_batch(keys::TAG_PURGED, &log_id)?;
        batch.delete_range_cf(
            self.store.cf(CF_LOG),
            log_key(self.group, 0),
            log_key(self.group, delete_end),
        );
        if self.retained_from.is_some() {
            for (start, end) in self.unserved_ranges(delete_end, log_id.index + 1)? {
                batch.delete_range_cf(
                    self.store.cf(CF_LOG),
                    log_key(self.group, start),
                    log_key(self.group, end),
                );
            }
        }
        self.store.write_durable(batch).await.map_err(storage_error)
    }
}
