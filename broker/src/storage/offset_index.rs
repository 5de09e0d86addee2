//! Reading one partition's offset index (`offset_index`: group, last offset of a batch ->
//! [`IndexValue`]): every reader of a partition's batches (Fetch, retention, ListOffsets,
//! trims, snapshots, startup) scans it the same way, from the batch holding an offset on.

use rocksdb::DBRawIterator;

use super::keys::{decode_pair, offset_key, IndexValue};
use super::{StorageError, Store, CF_OFFSET_INDEX};

/// The index entries of one group, in offset order, from the batch holding `from` (the first
/// batch whose last offset is at or after it): `(last offset, entry)`.
pub struct IndexScan<'a> {
    iter: DBRawIterator<'a>,
    group: u64,
    done: bool,
}

impl Store {
    pub fn offset_index(&self, group: u64, from: i64) -> IndexScan<'_> {
        let mut iter = self.db.raw_iterator_cf(self.cf(CF_OFFSET_INDEX));
        iter.seek(offset_key(group, from.max(0) as u64));
        IndexScan {
            iter,
            group,
            done: false,
        }
    }
}

impl Iterator for IndexScan<'_> {
    type Item = Result<(u64, IndexValue), StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if !self.iter.valid() {
            self.done = true;
            return self.iter.status().err().map(|e| Err(e.into()));
        }
        let key = self.iter.key().and_then(decode_pair);
        let item = match (key, self.iter.value()) {
            (Some((group, last_offset)), Some(value)) if group == self.group => {
                IndexValue::decode(value)
                    .map(|entry| (last_offset, entry))
                    .ok_or_else(|| StorageError::Corrupt {
                        cf: CF_OFFSET_INDEX,
                        what: format!(
                            "group {group}, offset {last_offset}: value of {} bytes",
                            value.len()
                        ),
                    })
            }
            // The next group's keys, or none at all.
            _ => {
                self.done = true;
                return None;
            }
        };
        match item {
            Ok(_) => self.iter.next(),
            Err(_) => self.done = true,
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FlushPolicy;
    use rocksdb::WriteBatch;

    fn entry(log_index: u64, base_offset: i64) -> IndexValue {
        IndexValue {
            log_index,
            base_offset,
            max_timestamp: 0,
            size_bytes: 100,
        }
    }

    #[test]
    fn scans_one_group_from_the_batch_holding_an_offset() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), FlushPolicy::Fsync, 100).unwrap();
        let mut batch = WriteBatch::default();
        // Group 7: batches 0-4, 5-9, 10-14; group 8 right after it.
        for (group, last, base, index) in [(7, 4, 0, 1), (7, 9, 5, 2), (7, 14, 10, 3), (8, 0, 0, 1)]
        {
            batch.put_cf(
                store.cf(CF_OFFSET_INDEX),
                offset_key(group, last),
                entry(index, base).encode(),
            );
        }
        store.write_unsynced(batch).unwrap();
        let scan = |group, from| -> Vec<(u64, i64)> {
            store
                .offset_index(group, from)
                .map(|item| item.map(|(last, e)| (last, e.base_offset)).unwrap())
                .collect()
        };
        assert_eq!(scan(7, 6), vec![(9, 5), (14, 10)]);
        assert_eq!(scan(7, -1), vec![(4, 0), (9, 5), (14, 10)]);
        assert_eq!(scan(7, 15), vec![]);
        assert_eq!(scan(8, 0), vec![(0, 0)]);
        assert_eq!(scan(9, 0), vec![]);

        let mut bad = WriteBatch::default();
        bad.put_cf(store.cf(CF_OFFSET_INDEX), offset_key(7, 20), [1u8, 2, 3]);
        store.write_unsynced(bad).unwrap();
        let items: Vec<_> = store.offset_index(7, 15).collect();
        assert!(matches!(items[..], [Err(StorageError::Corrupt { .. })]));
    }
}
