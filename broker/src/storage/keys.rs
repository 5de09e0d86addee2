//! Key layouts. Everything is big-endian so that RocksDB's byte order is numeric order and a
//! partition's keys form one contiguous range (prefix = Raft group id).

/// Raft group 0 is the cluster metadata; partitions get ids from 1 upward, never reused.
pub const METADATA_GROUP: u64 = 0;

/// `raft_log`: group, log index -> encoded entry.
pub fn log_key(group: u64, index: u64) -> [u8; 16] {
    pair(group, index)
}

/// `offset_index`: group, last offset of a batch -> [`IndexValue`].
pub fn offset_key(group: u64, last_offset: u64) -> [u8; 16] {
    pair(group, last_offset)
}

/// `raft_state` / `sm_state`: group, tag -> small record.
pub fn state_key(group: u64, tag: u8) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[..8].copy_from_slice(&group.to_be_bytes());
    key[8] = tag;
    key
}

pub const TAG_VOTE: u8 = 1;
pub const TAG_COMMITTED: u8 = 2;
pub const TAG_PURGED: u8 = 3;
pub const TAG_CHECKPOINT: u8 = 4;

/// The whole key range of one group in a (group, u64) keyed column family.
pub fn group_range(group: u64) -> ([u8; 16], [u8; 16]) {
    (pair(group, 0), pair(group + 1, 0))
}

pub fn decode_pair(key: &[u8]) -> Option<(u64, u64)> {
    if key.len() != 16 {
        return None;
    }
    let group = u64::from_be_bytes(key[..8].try_into().ok()?);
    let second = u64::from_be_bytes(key[8..].try_into().ok()?);
    Some((group, second))
}

fn pair(a: u64, b: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&a.to_be_bytes());
    key[8..].copy_from_slice(&b.to_be_bytes());
    key
}

/// Where a batch lives in the Raft log, and what ListOffsets needs without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexValue {
    pub log_index: u64,
    pub base_offset: i64,
    pub max_timestamp: i64,
    /// Bytes of the batch, for retention.bytes.
    pub size_bytes: u32,
}

impl IndexValue {
    pub const LEN: usize = 28;

    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..8].copy_from_slice(&self.log_index.to_be_bytes());
        out[8..16].copy_from_slice(&self.base_offset.to_be_bytes());
        out[16..24].copy_from_slice(&self.max_timestamp.to_be_bytes());
        out[24..].copy_from_slice(&self.size_bytes.to_be_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<IndexValue> {
        if bytes.len() != Self::LEN {
            return None;
        }
        Some(IndexValue {
            log_index: u64::from_be_bytes(bytes[..8].try_into().ok()?),
            base_offset: i64::from_be_bytes(bytes[8..16].try_into().ok()?),
            max_timestamp: i64::from_be_bytes(bytes[16..24].try_into().ok()?),
            size_bytes: u32::from_be_bytes(bytes[24..].try_into().ok()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_numerically() {
        assert!(log_key(1, 255) < log_key(1, 256));
        assert!(log_key(1, u64::MAX) < log_key(2, 0));
        let (start, end) = group_range(5);
        assert!(start <= log_key(5, 0) && log_key(5, u64::MAX) < end);
        assert_eq!(decode_pair(&log_key(9, 42)), Some((9, 42)));
        assert_eq!(decode_pair(&[0u8; 3]), None);
    }

    #[test]
    fn index_value_round_trips() {
        let value = IndexValue {
            log_index: 7,
            base_offset: 100,
            max_timestamp: -1,
            size_bytes: 4096,
        };
        assert_eq!(IndexValue::decode(&value.encode()), Some(value));
        assert_eq!(IndexValue::decode(&[1, 2, 3]), None);
    }
}
