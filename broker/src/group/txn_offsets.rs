//! Offsets committed inside a transaction (TxnOffsetCommit, `sendOffsetsToTransaction`).
//!
//! As in Kafka they are written to the group's `__consumer_offsets` partition at once, in a
//! transactional batch of the producer, but count only when the transaction coordinator's
//! COMMIT marker follows them there; an ABORT marker drops them. Until then the group's
//! OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT for those partitions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::records::Record;

use super::store::{self, GroupKey, OffsetValue};
use super::{partition_index, Committed, Coordinator, State, OFFSET_METADATA_BYTES_MAX};
use crate::partition::{control, Partition};
use crate::protocol::error_codes as ec;

/// Producer id -> (group, topic, partition) -> offset awaiting the transaction's outcome.
pub(super) type Pending = HashMap<i64, BTreeMap<(String, String, i32), OffsetValue>>;

/// What one TxnOffsetCommit asks: the group member it comes from and its offsets.
pub struct TxnCommit<'a> {
    pub group_id: &'a str,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub member_id: &'a str,
    pub instance_id: Option<&'a str>,
    pub generation: i32,
}

impl Coordinator {
    /// TxnOffsetCommit: writes the offsets as the producer's transactional batch and holds
    /// them pending. Returns one error code per entry.
    pub async fn txn_commit(
        &self,
        commit: TxnCommit<'_>,
        offsets: Vec<(String, i32, OffsetValue)>,
    ) -> Vec<i16> {
        // A member's commit is checked against its generation (Kafka: v3+ with a member id);
        // one made outside a group (v0-v2, or no member) is not.
        if commit.generation >= 0 || !commit.member_id.is_empty() {
            let code = self.check_commit(
                commit.group_id,
                commit.member_id,
                commit.instance_id,
                commit.generation,
            );
            if code != ec::NONE {
                return vec![code; offsets.len()];
            }
        }
        let image = self.metadata.current();
        let mut codes = Vec::with_capacity(offsets.len());
        let mut records = Vec::new();
        let mut accepted = Vec::new();
        for (topic, partition, value) in offsets {
            let known = image
                .topics
                .get(&topic)
                .is_some_and(|t| partition >= 0 && (partition as usize) < t.partitions.len());
            if !known {
                codes.push(ec::UNKNOWN_TOPIC_OR_PARTITION);
                continue;
            }
            if value.metadata.len() > OFFSET_METADATA_BYTES_MAX {
                codes.push(ec::OFFSET_METADATA_TOO_LARGE);
                continue;
            }
            let key = GroupKey::Offset {
                group: commit.group_id.to_string(),
                topic: topic.clone(),
                partition,
            };
            records.push((key.encode(), Some(store::encode_offset(&value))));
            accepted.push((topic, partition, value));
            codes.push(ec::NONE);
        }
        if records.is_empty() {
            return codes;
        }
        let producer = Some((commit.producer_id, commit.producer_epoch));
        if let Err(code) = self.submit_as(commit.group_id, records, producer).await {
            return codes
                .into_iter()
                .map(|c| if c == ec::NONE { code } else { c })
                .collect();
        }
        let mut state = self.lock();
        let pending = state.txn_offsets.entry(commit.producer_id).or_default();
        for (topic, partition, value) in accepted {
            pending.insert((commit.group_id.to_string(), topic, partition), value);
        }
        codes
    }

    /// Appends a transaction marker to `__consumer_offsets` partition `partition` (led here)
    /// and settles the producer's pending offsets of the groups stored there: committed on
    /// COMMIT, dropped on ABORT.
    pub async fn write_marker(&self, partition: Arc<Partition>, marker: Bytes) -> Result<i64, i16> {
        let header =
            crate::partition::batch::parse_header(&marker).map_err(|_| ec::CORRUPT_MESSAGE)?;
        let commit = control::marker_commits(&marker).ok_or(ec::INVALID_RECORD)?;
        let offset = partition.submit(marker).await?;
        let count = self.offsets_partition_count();
        let index = partition.index as usize;
        let mut state = self.lock();
        settle(&mut state, header.producer_id, commit, |group| {
            partition_index(group, count) == index
        });
        Ok(offset)
    }

    /// Whether a transaction has offsets pending for this group and partition.
    pub fn has_pending_txn_offset(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        let key = (group_id.to_string(), topic.to_string(), partition);
        self.lock()
            .txn_offsets
            .values()
            .any(|pending| pending.contains_key(&key))
    }

    fn offsets_partition_count(&self) -> usize {
        self.metadata
            .current()
            .topics
            .get(store::OFFSETS_TOPIC)
            .map_or(0, |t| t.partitions.len())
    }
}

/// Moves `producer_id`'s pending offsets of the groups `here` selects into the committed
/// ones (`commit`) or drops them.
fn settle(state: &mut State, producer_id: i64, commit: bool, here: impl Fn(&str) -> bool) {
    let Some(pending) = state.txn_offsets.get_mut(&producer_id) else {
        return;
    };
    let settled: Vec<_> = pending
        .keys()
        .filter(|(group, _, _)| here(group))
        .cloned()
        .collect();
    for key in settled {
        let Some(value) = pending.remove(&key) else {
            continue;
        };
        if commit {
            let (group, topic, partition) = key;
            state
                .offsets
                .entry(group)
                .or_default()
                .insert((topic, partition), Committed { value });
        }
    }
    if pending.is_empty() {
        state.txn_offsets.remove(&producer_id);
    }
}

/// Replays one transactional record of a `__consumer_offsets` partition being loaded: a
/// pending offset, or a marker settling them.
pub(super) fn replay(state: &mut State, record: Record, here: impl Fn(&str) -> bool) {
    if record.control {
        let commit = record
            .key
            .as_deref()
            .and_then(control::record_commits)
            .unwrap_or(false);
        settle(state, record.producer_id, commit, here);
        return;
    }
    let Some(GroupKey::Offset {
        group,
        topic,
        partition,
    }) = record.key.and_then(GroupKey::decode)
    else {
        return;
    };
    let Some(value) = record
        .value
        .and_then(|v| serde_json::from_slice::<OffsetValue>(&v).ok())
    else {
        return;
    };
    state
        .txn_offsets
        .entry(record.producer_id)
        .or_default()
        .insert((group, topic, partition), value);
}

/// Forgets the pending offsets of the groups `gone` selects (a partition no longer led here).
pub(super) fn unload(pending: &mut Pending, gone: impl Fn(&str) -> bool) {
    for offsets in pending.values_mut() {
        offsets.retain(|(group, _, _), _| !gone(group));
    }
    pending.retain(|_, offsets| !offsets.is_empty());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(offset: i64) -> OffsetValue {
        OffsetValue {
            offset,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 0,
        }
    }

    fn record(producer_id: i64, key: Bytes, value: Option<Bytes>, control: bool) -> Record {
        Record {
            transactional: true,
            control,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch: 0,
            timestamp_type: kafka_protocol::records::TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: 0,
            key: Some(key),
            value,
            headers: Default::default(),
        }
    }

    fn offset_record(producer_id: i64, group: &str, partition: i32, offset: i64) -> Record {
        let key = GroupKey::Offset {
            group: group.into(),
            topic: "t".into(),
            partition,
        };
        record(
            producer_id,
            key.encode(),
            Some(store::encode_offset(&value(offset))),
            false,
        )
    }

    fn marker(producer_id: i64, commit: bool) -> Record {
        let key = Bytes::from(vec![0, 0, 0, commit as u8]);
        record(producer_id, key, Some(Bytes::from_static(&[0; 6])), true)
    }

    #[test]
    fn replay_commits_on_commit_markers_and_drops_on_abort() {
        let mut state = State::default();
        let here = |_: &str| true;
        replay(&mut state, offset_record(1, "g", 0, 10), here);
        replay(&mut state, offset_record(2, "g", 1, 20), here);
        replay(&mut state, offset_record(1, "g", 0, 11), here);
        assert!(state.offsets.is_empty());
        replay(&mut state, marker(1, true), here);
        replay(&mut state, marker(2, false), here);
        let committed = &state.offsets["g"];
        assert_eq!(committed.len(), 1);
        assert_eq!(committed[&("t".to_string(), 0)].value.offset, 11);
        assert!(state.txn_offsets.is_empty());
    }

    #[test]
    fn a_marker_settles_only_the_groups_of_its_partition() {
        let mut state = State::default();
        replay(&mut state, offset_record(1, "a", 0, 5), |_| true);
        replay(&mut state, offset_record(1, "b", 0, 6), |_| true);
        settle(&mut state, 1, true, |group| group == "a");
        assert_eq!(state.offsets["a"][&("t".to_string(), 0)].value.offset, 5);
        assert!(!state.offsets.contains_key("b"));
        assert_eq!(state.txn_offsets[&1].len(), 1);
        unload(&mut state.txn_offsets, |group| group == "b");
        assert!(state.txn_offsets.is_empty());
    }
}
