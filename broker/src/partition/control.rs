//! Transaction markers: the control batches a transaction coordinator writes to every
//! partition of a transaction when it ends, in Kafka's format.
//!
//! ```text
//! batch:  attributes = transactional (0x10) | control (0x20), the producer's id and epoch,
//!         base sequence -1, one record
//! record: key   = version i16 (0) | type i16 (0 ABORT, 1 COMMIT)
//!         value = version i16 (0) | coordinator epoch i32
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

const CONTROL_TYPE_ABORT: i16 = 0;
const CONTROL_TYPE_COMMIT: i16 = 1;

/// A marker batch ending `producer_id`'s transaction at `epoch`.
pub fn marker_batch(
    producer_id: i64,
    epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    now_ms: i64,
) -> Result<Bytes, String> {
    let mut key = BytesMut::with_capacity(4);
    key.put_i16(0);
    key.put_i16(if commit {
        CONTROL_TYPE_COMMIT
    } else {
        CONTROL_TYPE_ABORT
    });
    let mut value = BytesMut::with_capacity(6);
    value.put_i16(0);
    value.put_i32(coordinator_epoch);
    let record = Record {
        transactional: true,
        control: true,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id,
        producer_epoch: epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: now_ms,
        key: Some(key.freeze()),
        value: Some(value.freeze()),
        headers: Default::default(),
    };
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut out, std::slice::from_ref(&record), &options)
        .map_err(|e| e.to_string())?;
    Ok(out.freeze())
}

/// Whether the control batch `batch` commits (true) or aborts (false); `None` if it holds no
/// transaction marker.
pub fn marker_commits(batch: &Bytes) -> Option<bool> {
    let mut bytes = batch.clone();
    let set = RecordBatchDecoder::decode(&mut bytes).ok()?;
    let record = set.records.first().filter(|r| r.control)?;
    record_commits(record.key.as_deref()?)
}

/// Whether a control record's key is a COMMIT (true) or ABORT (false) marker.
pub fn record_commits(mut key: &[u8]) -> Option<bool> {
    if key.remaining() < 4 {
        return None;
    }
    let _version = key.get_i16();
    match key.get_i16() {
        CONTROL_TYPE_COMMIT => Some(true),
        CONTROL_TYPE_ABORT => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::batch;

    #[test]
    fn markers_are_kafka_control_batches() {
        for commit in [true, false] {
            let bytes = marker_batch(42, 3, commit, 7, 1_000).unwrap();
            let header = batch::validate(&bytes).unwrap();
            assert!(header.is_control() && header.is_transactional());
            assert_eq!(header.size_bytes(), bytes.len());
            assert_eq!(
                (
                    header.producer_id,
                    header.producer_epoch,
                    header.base_sequence
                ),
                (42, 3, -1)
            );
            assert_eq!(header.record_count, 1);
            assert_eq!(marker_commits(&bytes), Some(commit));
            // Kafka's layout, byte for byte: key (0, type), value (0, coordinator epoch).
            let set = RecordBatchDecoder::decode(&mut bytes.clone()).unwrap();
            let record = &set.records[0];
            assert_eq!(record.key.as_deref(), Some(&[0u8, 0, 0, commit as u8][..]));
            assert_eq!(record.value.as_deref(), Some(&[0u8, 0, 0, 0, 0, 7][..]));
        }
    }

    #[test]
    fn ordinary_batches_are_not_markers() {
        let bytes = Bytes::from(batch::tests::sample_batch(2, 5, 0));
        assert_eq!(marker_commits(&bytes), None);
    }
}
