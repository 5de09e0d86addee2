//! How groups persist: records in the internal `__consumer_offsets` topic, as in Kafka. A
//! group's records go to partition `hash(group) % partitions`; the coordinator replays that
//! partition to rebuild its state. A record with a null value is a tombstone.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
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

impl OffsetValue {
    /// An offset a client commits now (OffsetCommit, TxnOffsetCommit); `leader_epoch` is -1
    /// when the request version does not carry one.
    pub fn committed(
        offset: i64,
        leader_epoch: i32,
        metadata: Option<&kafka_protocol::protocol::StrBytes>,
    ) -> OffsetValue {
        OffsetValue {
            offset,
            leader_epoch,
            metadata: metadata.map(|m| m.to_string()).unwrap_or_default(),
            commit_timestamp: super::now_ms(),
        }
    }
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
///
/// The partition appends what it is given as one batch and assigns offsets from the first
/// header only, so the encoding must be exactly one batch holding every record (checked).
pub fn batch(records: &[(Bytes, Option<Bytes>)], now_ms: i64) -> Result<Bytes, String> {
    encode_batch(records, now_ms, None)
}

/// [`batch`] written for a transactional producer (TxnOffsetCommit): it carries the producer's
/// id and epoch, and is transactional, so its offsets count only once a COMMIT marker follows.
pub fn transactional_batch(
    records: &[(Bytes, Option<Bytes>)],
    now_ms: i64,
    producer_id: i64,
    producer_epoch: i16,
) -> Result<Bytes, String> {
    encode_batch(records, now_ms, Some((producer_id, producer_epoch)))
}

fn encode_batch(
    records: &[(Bytes, Option<Bytes>)],
    now_ms: i64,
    producer: Option<(i64, i16)>,
) -> Result<Bytes, String> {
    let (producer_id, producer_epoch) = producer.unwrap_or((-1, -1));
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional: producer.is_some(),
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // kafka-protocol starts a new batch wherever `offset - sequence` changes, so the
            // sequence follows the offset from the base sequence, -1 (no producer).
            sequence: i as i32 - 1,
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
    let header = crate::partition::batch::parse_header(&out).map_err(|e| e.to_string())?;
    if header.size_bytes() != out.len() || header.record_count as usize != records.len() {
        return Err(format!(
            "{} records encoded as more than one batch",
            records.len()
        ));
    }
    Ok(out.freeze())
}

/// Every record of a stored `__consumer_offsets` entry, in order. Entries hold one batch, except
/// those written before issue 20 was fixed: one batch per record, all in one entry; reading
/// them all recovers the commits that replay used to drop.
pub fn decode_records(mut entry: Bytes) -> Result<Vec<Record>, String> {
    let mut records = Vec::new();
    while entry.has_remaining() {
        let set = RecordBatchDecoder::decode(&mut entry).map_err(|e| e.to_string())?;
        records.extend(set.records);
    }
    Ok(records)
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

    /// Issue 20: several records used to be encoded as one batch each, of which the partition
    /// counted (and replay read) only the first.
    #[test]
    fn many_records_make_one_batch() {
        let records: Vec<(Bytes, Option<Bytes>)> = (0..5)
            .map(|p| {
                let key = GroupKey::Offset {
                    group: "g".into(),
                    topic: "t".into(),
                    partition: p,
                };
                (
                    key.encode(),
                    (p != 3).then(|| Bytes::from(vec![b'v'; p as usize])),
                )
            })
            .collect();
        let bytes = batch(&records, 7).unwrap();
        let header = crate::partition::batch::validate(&bytes).unwrap();
        assert_eq!(header.size_bytes(), bytes.len());
        assert_eq!((header.record_count, header.last_offset_delta), (5, 4));
        assert_eq!((header.producer_id, header.base_sequence), (-1, -1));
        let decoded = decode_records(bytes).unwrap();
        let pairs: Vec<(Bytes, Option<Bytes>)> = decoded
            .into_iter()
            .map(|r| (r.key.unwrap(), r.value))
            .collect();
        assert_eq!(pairs, records);
    }
}
