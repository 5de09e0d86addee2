//! A partition snapshot: the state-machine checkpoint plus everything the partition still
//! serves, i.e. the offset index from the log start offset and the Raft log entries holding
//! those batches. A follower that installs one can serve Fetch from the log start offset on,
//! so a leader may purge its log (retention) while a replica is down or being added.
//!
//! Format (integers big-endian):
//!   u8 version (1) | u32 len, checkpoint JSON
//!   u64 count, then per batch: u64 last offset, IndexValue (28 bytes)
//!   u64 count, then per entry: u64 log index, u32 len, encoded entry (`raft::codec`)

use std::sync::Arc;

use bytes::{Buf, BufMut};

use crate::raft::codec;
use crate::raft::log_store::LogStore;
use crate::raft::tail::LogTail;
use crate::storage::keys::IndexValue;
use crate::storage::Store;

use super::state_machine::Checkpoint;

const VERSION: u8 = 1;

#[derive(Debug, Default, PartialEq)]
pub struct Contents {
    pub checkpoint: Vec<u8>,
    /// (last offset, encoded IndexValue), in offset order.
    pub index: Vec<(u64, [u8; IndexValue::LEN])>,
    /// (log index, encoded entry), contiguous and ending at the checkpoint's last applied entry.
    pub entries: Vec<(u64, Vec<u8>)>,
}

impl Contents {
    /// The first log index the partition serves from: where its retained entries start.
    pub fn retained_from(&self, last_applied: u64) -> u64 {
        self.entries
            .first()
            .map_or(last_applied + 1, |(index, _)| *index)
    }

    pub fn encode(&self) -> Vec<u8> {
        let entry_bytes: usize = self.entries.iter().map(|(_, e)| 12 + e.len()).sum();
        let mut out = Vec::with_capacity(
            1 + 4 + self.checkpoint.len() + 16 + self.index.len() * 36 + entry_bytes,
        );
        out.put_u8(VERSION);
        out.put_u32(self.checkpoint.len() as u32);
        out.put_slice(&self.checkpoint);
        out.put_u64(self.index.len() as u64);
        for (last_offset, value) in &self.index {
            out.put_u64(*last_offset);
            out.put_slice(value);
        }
        out.put_u64(self.entries.len() as u64);
        for (index, entry) in &self.entries {
            out.put_u64(*index);
            out.put_u32(entry.len() as u32);
            out.put_slice(entry);
        }
        out
    }

    pub fn decode(mut bytes: &[u8]) -> Result<Contents, String> {
        fn take<'a>(bytes: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], String> {
            if bytes.len() < n {
                return Err(format!("partition snapshot truncated in {what}"));
            }
            let (head, rest) = bytes.split_at(n);
            *bytes = rest;
            Ok(head)
        }
        let header = take(&mut bytes, 5, "header")?;
        if header[0] != VERSION {
            return Err(format!("partition snapshot version {}", header[0]));
        }
        let len = (&header[1..]).get_u32() as usize;
        let checkpoint = take(&mut bytes, len, "checkpoint")?.to_vec();
        let count = take(&mut bytes, 8, "index count")?.get_u64();
        let mut index = Vec::new();
        for _ in 0..count {
            let mut item = take(&mut bytes, 8 + IndexValue::LEN, "index")?;
            let last_offset = item.get_u64();
            let mut value = [0u8; IndexValue::LEN];
            value.copy_from_slice(item);
            index.push((last_offset, value));
        }
        let count = take(&mut bytes, 8, "entry count")?.get_u64();
        let mut entries = Vec::new();
        for _ in 0..count {
            let mut head = take(&mut bytes, 12, "entry header")?;
            let log_index = head.get_u64();
            let len = head.get_u32() as usize;
            entries.push((log_index, take(&mut bytes, len, "entry")?.to_vec()));
        }
        if !bytes.is_empty() {
            return Err(format!(
                "{} bytes after the partition snapshot",
                bytes.len()
            ));
        }
        Ok(Contents {
            checkpoint,
            index,
            entries,
        })
    }
}

/// Reads what a snapshot of `checkpoint` must carry. Runs when the snapshot is sent, possibly
/// after retention moved on: if records the checkpoint still counts were purged meanwhile,
/// this fails and openraft retries with a newer snapshot.
pub fn read(
    group: u64,
    store: &Arc<Store>,
    tail: &Arc<LogTail>,
    checkpoint: &Checkpoint,
) -> Result<Contents, String> {
    let last_applied = checkpoint
        .last_applied
        .ok_or("no applied entry to snapshot")?
        .index;
    let start = checkpoint.log_start_offset.max(0);
    let mut index = Vec::new();
    for item in store.offset_index(group, start) {
        let (last_offset, entry) = item.map_err(|e| e.to_string())?;
        if last_offset as i64 >= checkpoint.next_offset {
            break;
        }
        index.push((last_offset, entry.encode()));
    }

    let first = index.first().and_then(|(_, v)| IndexValue::decode(v));
    let keep_from = match first {
        Some(first) if first.base_offset <= start => first.log_index,
        None if start >= checkpoint.next_offset => last_applied + 1,
        _ => return Err("the log was trimmed after this snapshot was taken".into()),
    };
    let entries = LogStore::new(group, store.clone(), tail.clone())
        .read_range(keep_from, last_applied + 1)
        .map_err(|e| e.to_string())?;
    // Compaction leaves gaps between the entries still served (the log store purges the
    // entries of removed batches), so what must be there is the entry of every indexed batch.
    let present = |log_index: u64| {
        entries
            .binary_search_by_key(&log_index, |e| e.log_id.index)
            .is_ok()
    };
    let complete = index
        .iter()
        .all(|(_, value)| IndexValue::decode(value).is_some_and(|entry| present(entry.log_index)));
    if !complete || entries.first().is_some_and(|e| e.log_id.index != keep_from) {
        return Err("the log was purged after this snapshot was taken".into());
    }
    let mut encoded = Vec::with_capacity(entries.len());
    for entry in &entries {
        let mut bytes = Vec::new();
        codec::encode_entry(entry, &mut bytes)?;
        encoded.push((entry.log_id.index, bytes));
    }
    Ok(Contents {
        checkpoint: serde_json::to_vec(checkpoint).map_err(|e| e.to_string())?,
        index,
        entries: encoded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FlushPolicy;
    use crate::partition::batch::tests::sample_batch;
    use crate::partition::state_machine::PartitionStateMachine;
    use crate::partition::PartitionShared;
    use crate::raft::snapshot_data::SnapshotData;
    use crate::raft::{Command, Entry, TypeConfig};
    use crate::storage::keys::{group_range, log_key};
    use crate::storage::{CF_LOG, CF_OFFSET_INDEX};
    use bytes::Bytes;
    use openraft::storage::{RaftLogStorage, RaftStateMachine};
    use openraft::{CommittedLeaderId, EntryPayload};
    use std::sync::atomic::Ordering;

    const GROUP: u64 = 7;

    fn entry(term: u64, index: u64, payload: EntryPayload<TypeConfig>) -> Entry {
        Entry {
            log_id: crate::raft::LogId::new(CommittedLeaderId::new(term, 1), index),
            payload,
        }
    }

    fn append(index: u64) -> Entry {
        let batch = Bytes::from(sample_batch(2, -1, -1));
        entry(2, index, EntryPayload::Normal(Command::Append(batch)))
    }

    struct Replica {
        store: Arc<Store>,
        tail: Arc<LogTail>,
        shared: Arc<PartitionShared>,
        sm: PartitionStateMachine,
    }

    fn open(dir: &std::path::Path) -> Replica {
        let store = Arc::new(Store::open(dir, FlushPolicy::Fsync, 100).unwrap());
        let tail = Arc::new(LogTail::default());
        let shared = Arc::new(PartitionShared::new());
        let cache = crate::partition::cache::BatchCache::new(0).partition();
        let sm =
            PartitionStateMachine::open(GROUP, store.clone(), tail.clone(), shared.clone(), cache)
                .unwrap();
        Replica {
            store,
            tail,
            shared,
            sm,
        }
    }

    /// What Raft would have written before applying.
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

    fn keys_and_values(store: &Store, cf: &'static str) -> Vec<(Vec<u8>, Vec<u8>)> {
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

    #[tokio::test]
    async fn a_follower_installs_the_retained_records() {
        let leader_dir = tempfile::tempdir().unwrap();
        let follower_dir = tempfile::tempdir().unwrap();
        let mut leader = open(leader_dir.path());
        // Five batches of two records (offsets 0..10), then retention trims to offset 4.
        let mut entries: Vec<Entry> = (1..=5).map(append).collect();
        entries.push(entry(
            2,
            6,
            EntryPayload::Normal(Command::TrimLog {
                log_start_offset: 4,
            }),
        ));
        write_log(&leader.store, &entries);
        leader.sm.apply(entries).await.unwrap();
        assert_eq!(leader.shared.retained_from.load(Ordering::Acquire), 3);
        // Trimmed entries go, and so does the trim command below the purge point; the
        // retained batches stay.
        let mut log = LogStore::new(GROUP, leader.store.clone(), leader.tail.clone())
            .retaining(leader.shared.retained_from.clone());
        log.purge(crate::raft::LogId::new(CommittedLeaderId::new(2, 1), 6))
            .await
            .unwrap();
        assert_eq!(keys_and_values(&leader.store, CF_LOG).len(), 3);

        let snapshot = leader.sm.get_current_snapshot().await.unwrap().unwrap();
        let meta = snapshot.meta.clone();
        let bytes = snapshot.snapshot.into_bytes().unwrap();
        let contents = Contents::decode(&bytes).unwrap();
        assert_eq!(contents.index.len(), 3, "batches from offset 4 on");
        let indexes: Vec<u64> = contents.entries.iter().map(|(i, _)| *i).collect();
        assert_eq!(indexes, vec![3, 4, 5]);

        // A follower whose old log diverged (term 1) gets the leader's.
        let mut follower = open(follower_dir.path());
        write_log(
            &follower.store,
            &[
                entry(1, 1, EntryPayload::Blank),
                entry(1, 2, EntryPayload::Blank),
            ],
        );
        follower
            .sm
            .install_snapshot(&meta, Box::new(SnapshotData::ready(bytes)))
            .await
            .unwrap();
        assert_eq!(
            keys_and_values(&follower.store, CF_LOG),
            keys_and_values(&leader.store, CF_LOG)
        );
        assert_eq!(
            keys_and_values(&follower.store, CF_OFFSET_INDEX),
            keys_and_values(&leader.store, CF_OFFSET_INDEX)
        );
        assert_eq!(*follower.shared.high_watermark.borrow(), 10);
        assert_eq!(follower.shared.log_start_offset.load(Ordering::Acquire), 4);
        assert_eq!(follower.shared.retained_from.load(Ordering::Acquire), 3);

        // openraft purges up to the snapshot after installing it: the records stay.
        let mut log = LogStore::new(GROUP, follower.store.clone(), follower.tail.clone())
            .retaining(follower.shared.retained_from.clone());
        log.purge(meta.last_log_id.unwrap()).await.unwrap();
        assert_eq!(keys_and_values(&follower.store, CF_LOG).len(), 3);
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, meta.last_log_id);
        assert_eq!(state.last_log_id, meta.last_log_id);

        // And a restart finds the installed state.
        drop((log, follower));
        let mut reopened = open(follower_dir.path());
        let (applied, _) = reopened.sm.applied_state().await.unwrap();
        assert_eq!(applied, meta.last_log_id);
        assert_eq!(reopened.shared.retained_from.load(Ordering::Acquire), 3);
    }

    #[tokio::test]
    async fn a_snapshot_overtaken_by_retention_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut leader = open(dir.path());
        let entries: Vec<Entry> = (1..=3).map(append).collect();
        write_log(&leader.store, &entries);
        leader.sm.apply(entries).await.unwrap();
        let snapshot = leader.sm.get_current_snapshot().await.unwrap().unwrap();
        // Retention moves on before the snapshot is sent.
        let trim = entry(
            2,
            4,
            EntryPayload::Normal(Command::TrimLog {
                log_start_offset: 4,
            }),
        );
        write_log(&leader.store, std::slice::from_ref(&trim));
        leader.sm.apply([trim]).await.unwrap();
        let error = snapshot.snapshot.into_bytes().unwrap_err();
        assert!(error.to_string().contains("trimmed"), "{error}");
    }

    #[test]
    fn contents_round_trip_and_reject_truncation() {
        let contents = Contents {
            checkpoint: b"{}".to_vec(),
            index: vec![(9, [1; IndexValue::LEN])],
            entries: vec![(4, vec![1, 2, 3]), (5, vec![])],
        };
        let bytes = contents.encode();
        assert_eq!(Contents::decode(&bytes).unwrap(), contents);
        for cut in 0..bytes.len() {
            assert!(Contents::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
