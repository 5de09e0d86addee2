//! The unflushed or unapplied end of one group's log, kept in memory.
//!
//! openraft requires appended entries to be readable before they are durable, and the state
//! machine applies entries right after they commit: serving both from memory means a batch is
//! never read back from RocksDB on the write path.

use std::collections::BTreeMap;
use std::ops::RangeBounds;
use std::sync::Mutex;

use super::Entry;

#[derive(Default)]
pub struct LogTail {
    inner: Mutex<TailState>,
}

#[derive(Default)]
struct TailState {
    entries: BTreeMap<u64, Entry>,
    flushed: u64,
    applied: u64,
}

impl LogTail {
    pub fn insert(&self, entries: &[Entry]) {
        let mut state = self.lock();
        for entry in entries {
            state.entries.insert(entry.log_id.index, entry.clone());
        }
    }

    /// Entries in `range` held here, and the lowest index held (everything below it is in
    /// RocksDB).
    pub fn read(&self, range: impl RangeBounds<u64>) -> (Vec<Entry>, Option<u64>) {
        let state = self.lock();
        let first = state.entries.keys().next().copied();
        let entries = state.entries.range(range).map(|(_, e)| e.clone()).collect();
        (entries, first)
    }

    pub fn last(&self) -> Option<Entry> {
        self.lock().entries.values().next_back().cloned()
    }

    pub fn mark_flushed(&self, index: u64) {
        let mut state = self.lock();
        state.flushed = state.flushed.max(index);
        state.trim();
    }

    pub fn mark_applied(&self, index: u64) {
        let mut state = self.lock();
        state.applied = state.applied.max(index);
        state.trim();
    }

    /// Drops entries from `index` on (Raft truncation of a conflicting suffix).
    pub fn truncate(&self, index: u64) {
        let mut state = self.lock();
        state.entries.split_off(&index);
        state.flushed = state.flushed.min(index.saturating_sub(1));
    }

    pub fn purge(&self, index: u64) {
        let mut state = self.lock();
        state.entries = state.entries.split_off(&(index + 1));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TailState> {
        // A panic while holding this lock leaves only a cache behind; keep serving.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl TailState {
    /// An entry may leave memory once it is both durable and applied.
    fn trim(&mut self) {
        let keep_from = self.flushed.min(self.applied) + 1;
        if self
            .entries
            .keys()
            .next()
            .is_some_and(|first| *first < keep_from)
        {
            self.entries = self.entries.split_off(&keep_from);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, EntryPayload};

    fn entry(index: u64) -> Entry {
        Entry {
            log_id: super::super::LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Blank,
        }
    }

    #[test]
    fn keeps_entries_until_flushed_and_applied() {
        let tail = LogTail::default();
        tail.insert(&[entry(1), entry(2), entry(3)]);
        tail.mark_applied(2);
        assert_eq!(tail.read(..).0.len(), 3, "nothing flushed yet");
        tail.mark_flushed(3);
        let (entries, first) = tail.read(..);
        assert_eq!(entries.len(), 1);
        assert_eq!(first, Some(3));
        tail.truncate(3);
        assert!(tail.last().is_none());
    }
}
