//! How transactions persist: one record per state change in the internal
//! `__transaction_state` topic, as in Kafka. A transactional id's records go to partition
//! `hash(id) % partitions`; its latest record is its state, and the coordinator that comes to
//! lead the partition replays it. The key is `0 | u16 length | id`, the value the metadata as
//! JSON (the format is this broker's own, like `__consumer_offsets`'s).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::state::TxnMetadata;

pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

const KEY_TRANSACTION: u8 = 0;

pub fn encode_key(transactional_id: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(3 + transactional_id.len());
    out.put_u8(KEY_TRANSACTION);
    out.put_u16(transactional_id.len() as u16);
    out.put_slice(transactional_id.as_bytes());
    out.freeze()
}

pub fn decode_key(mut key: Bytes) -> Option<String> {
    if key.remaining() < 3 || key.get_u8() != KEY_TRANSACTION {
        return None;
    }
    let length = key.get_u16() as usize;
    if key.remaining() != length {
        return None;
    }
    String::from_utf8(key.to_vec()).ok()
}

pub fn encode_value(metadata: &TxnMetadata) -> Bytes {
    Bytes::from(serde_json::to_vec(metadata).expect("transaction metadata serializes"))
}

pub fn decode_value(value: &[u8]) -> Option<TxnMetadata> {
    serde_json::from_slice(value).ok()
}

/// The `__transaction_state` record batch for one state change.
pub fn batch(transactional_id: &str, metadata: &TxnMetadata, now_ms: i64) -> Result<Bytes, String> {
    let record = (encode_key(transactional_id), Some(encode_value(metadata)));
    crate::group::store::batch(std::slice::from_ref(&record), now_ms)
}

/// The `__transaction_state` record batch that forgets `transactional_id`.
pub fn tombstone(transactional_id: &str, now_ms: i64) -> Result<Bytes, String> {
    let record = (encode_key(transactional_id), None);
    crate::group::store::batch(std::slice::from_ref(&record), now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_round_trip() {
        for id in ["t", "", "транзакция"] {
            assert_eq!(decode_key(encode_key(id)).as_deref(), Some(id));
        }
        assert_eq!(decode_key(Bytes::from_static(&[1, 0, 0])), None);
        assert_eq!(decode_key(Bytes::from_static(&[0, 0, 5, b'a'])), None);
        let mut metadata = TxnMetadata::new(9, 60_000, 5);
        metadata.partitions.insert(("t".into(), 3));
        assert_eq!(
            decode_value(&encode_value(&metadata)),
            Some(metadata.clone())
        );
        let bytes = batch("id", &metadata, 5).unwrap();
        let records = crate::group::store::decode_records(bytes).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(
            decode_key(records[0].key.clone().unwrap()).as_deref(),
            Some("id")
        );
    }
}
