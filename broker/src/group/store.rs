//! How groups persist: records in the internal `__consumer_offsets` topic, as in Kafka. A
//! group's records go to partition `hash(group) % partitions`; the coordinator replays that
//! partition to rebuild its state. A record with a null value is a tombstone.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use serde::{Deserialize, Serialize};

use super::classic::GroupRecord;
use super::consumer::ConsumerGroupRecord;

/// The value of a group's record: which protocol, and what survives a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GroupValue {
    Classic(GroupRecord),
    Consumer(ConsumerGroupRecord),
}

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

const KEY_OFFSET: u8 = 0;
const KEY_GROUP: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupKey {
    Offset {
        group: String,
        topic: String,
        partition: i32,
    },
    Group {
        group: String,
    },
}

fn put_str(out: &mut BytesMut, s: &str) {
    out.put_u16(s.len() as u16);
    out.put_slice(s.as_bytes());
}

fn get_str(input: &mut Bytes) -> Option<String> {
    if input.remaining() < 2 {
        return None;
    }
    let len = input.get_u16() as usize;
    if input.remaining() < len {
        return None;
    }
    String::from_utf8(input.split_to(len).to_vec()).ok()
}

impl GroupKey {
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        match self {
            GroupKey::Offset {
                group,
                topic,
                partition,
            } => {
                out.put_u8(KEY_OFFSET);
                put_str(&mut out, group);
                put_str(&mut out, topic);
                out.put_i32(*partition);
            }
            GroupKey::Group { group } => {
                out.put_u8(KEY_GROUP);
                put_str(&mut out, group);
            }
        }
        out.freeze()
    }

    pub fn decode(mut input: Bytes) -> Option<GroupKey> {
        if !input.has_remaining() {
            return None;
        }
        match input.get_u8() {
            KEY_OFFSET => {
                let group = get_str(&mut input)?;
                let topic = get_str(&mut input)?;
                if input.remaining() != 4 {
                    return None;
                }
                Some(GroupKey::Offset {
                    group,
                    topic,
                    partition: input.get_i32(),
                })
            }
            KEY_GROUP => Some(GroupKey::Group {
                group: get_str(&mut input)?,
            }),
            _ => None,
        }
    }
}

pub fn encode_offset(value: &OffsetValue) -> Bytes {
    Bytes::from(serde_json::to_vec(value).expect("offset values serialize"))
}

pub fn encode_group(value: &GroupValue) -> Bytes {
    Bytes::from(serde_json::to_vec(value).expect("group records serialize"))
}

/// Tombstones removing a group's committed offsets for `partitions`.
pub fn offset_tombstones(group: &str, partitions: &[(String, i32)]) -> Vec<(Bytes, Option<Bytes>)> {
    partitions
        .iter()
        .map(|(topic, partition)| {
            let key = GroupKey::Offset {
                group: group.to_string(),
                topic: topic.clone(),
                partition: *partition,
            };
            (key.encode(), None)
        })
        .collect()
}

/// One record batch holding `records` (key, value or tombstone), ready to append.
pub fn batch(records: &[(Bytes, Option<Bytes>)], now_ms: i64) -> Result<Bytes, String> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp: now_ms,
            key: Some(key.clone()),
            value: value.clone(),
            headers: Default::default(),
        })
        .collect();
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut out, &records, &options).map_err(|e| e.to_string())?;
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for key in [
            GroupKey::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 3,
            },
            GroupKey::Group {
                group: "группа".into(),
            },
        ] {
            assert_eq!(GroupKey::decode(key.encode()), Some(key));
        }
        assert_eq!(GroupKey::decode(Bytes::from_static(&[9, 0])), None);
        assert_eq!(GroupKey::decode(Bytes::from_static(&[0, 0, 5, b'a'])), None);
    }

    #[test]
    fn batches_are_valid_kafka_batches() {
        let records = vec![(GroupKey::Group { group: "g".into() }.encode(), None)];
        let bytes = batch(&records, 1).unwrap();
        assert!(crate::partition::batch::validate(&bytes).is_ok());
    }
}
