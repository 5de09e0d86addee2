//! Log compaction at the level of one record batch: Kafka's `LogCleaner.shouldRetainRecord`
//! and `MemoryRecords.filterTo`, over the v2 batches the log stores.
//!
//! A batch is kept as it is, rewritten with the records that survive, or replaced by a stub
//! (its header with no records) when none does. A rewritten batch keeps what Kafka's cleaner
//! keeps: its base offset, its `lastOffsetDelta` (so the offsets of the batch, and the last
//! sequence of an idempotent producer, do not change), producer id, epoch, base sequence,
//! leader epoch and compression codec; records keep their offset deltas, and the CRC is
//! computed again. Tombstones (null value) that survive get a delete horizon (KIP-534): the
//! first pass that keeps one stamps `now + delete.retention.ms` into the batch (attribute bit 6,
//! base timestamp = horizon, record timestamp deltas relative to it), and a pass at or after
//! the horizon drops them. Records without a key are dropped, as Kafka's cleaner does.
//!
//! Everything here is a pure function of the batch bytes, the key map and the time the
//! leader put into the Compact command, so every replica makes the same decisions.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{self as codecs, Compressor, Decompressor};

use super::batch::{self, BatchHeader, HEADER_LEN};

const ATTRIBUTE_CODEC_MASK: i16 = 0x07;
const ATTRIBUTE_LOG_APPEND_TIME: i16 = 0x08;
const ATTRIBUTE_DELETE_HORIZON: i16 = 0x40;
const CRC_START: usize = 21;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompactionError {
    #[error("batch header: {0}")]
    Header(#[from] batch::BatchError),
    #[error("records of a batch: {0}")]
    Records(String),
}

/// The newest offset of each key in the dirty section, by a 128-bit hash of the key (Kafka's
/// `SkimpyOffsetMap` keeps an MD5 of it): 24 bytes a key however long the keys are. Two keys
/// colliding would cost one of them its record; at 128 bits that needs ~2^64 keys.
#[derive(Default)]
pub struct KeyMap {
    offsets: HashMap<u128, i64>,
}

impl KeyMap {
    pub fn insert(&mut self, key: &[u8], offset: i64) {
        let newest = self.offsets.entry(key_hash(key)).or_insert(offset);
        *newest = (*newest).max(offset);
    }

    pub fn newest(&self, key: &[u8]) -> Option<i64> {
        self.offsets.get(&key_hash(key)).copied()
    }

    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }
}

/// Two SipHash-1-3 passes with fixed keys (std's `DefaultHasher::new()`), salted apart. Only
/// compared within one replica's own pass, so the hash need not be stable across builds.
fn key_hash(key: &[u8]) -> u128 {
    let half = |salt: u8| {
        let mut hasher = std::hash::DefaultHasher::new();
        salt.hash(&mut hasher);
        key.hash(&mut hasher);
        hasher.finish() as u128
    };
    (half(1) << 64) | half(2)
}

/// One record of a decompressed records section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub has_value: bool,
    /// The record after its timestamp delta (offset delta, key, value, headers): copied as it
    /// is when the record is kept.
    pub rest: &'a [u8],
}

/// The records section of `batch`, decompressed with the batch's codec.
pub fn records_section(batch: &[u8], header: &BatchHeader) -> Result<Bytes, CompactionError> {
    let mut section = Bytes::copy_from_slice(&batch[HEADER_LEN..header.size_bytes()]);
    let whole =
        |buf: &mut Bytes| -> anyhow::Result<Bytes> { Ok(buf.copy_to_bytes(buf.remaining())) };
    let decompressed = match header.attributes & ATTRIBUTE_CODEC_MASK {
        0 => Ok(section),
        1 => codecs::Gzip::decompress(&mut section, whole),
        2 => codecs::Snappy::decompress(&mut section, whole),
        3 => codecs::Lz4::decompress(&mut section, whole),
        4 => codecs::Zstd::decompress(&mut section, whole),
        other => return Err(CompactionError::Records(format!("unknown codec {other}"))),
    };
    decompressed.map_err(|e| CompactionError::Records(format!("decompressing: {e}")))
}

fn compress(codec: i16, records: &[u8], out: &mut BytesMut) -> Result<(), CompactionError> {
    let write = |buf: &mut BytesMut| -> anyhow::Result<()> {
        buf.put_slice(records);
        Ok(())
    };
    let compressed = match codec {
        0 => {
            out.put_slice(records);
            Ok(())
        }
        1 => codecs::Gzip::compress(out, write),
        2 => codecs::Snappy::compress(out, write),
        3 => codecs::Lz4::compress(out, write),
        4 => codecs::Zstd::compress(out, write),
        other => return Err(CompactionError::Records(format!("unknown codec {other}"))),
    };
    compressed.map_err(|e| CompactionError::Records(format!("compressing: {e}")))
}

/// The `count` records of a decompressed records section.
pub fn parse_records(section: &[u8], count: i32) -> Result<Vec<RecordRef<'_>>, CompactionError> {
    let mut records = Vec::with_capacity((count.max(0) as usize).min(section.len()));
    let mut at = section;
    for _ in 0..count {
        let length = read_varint(&mut at)?;
        let length = usize::try_from(length)
            .ok()
            .filter(|l| *l <= at.len())
            .ok_or_else(|| bad("record length"))?;
        let (mut record, rest_of_section) = at.split_at(length);
        at = rest_of_section;
        if record.is_empty() {
            return Err(bad("empty record"));
        }
        let attributes = record[0] as i8;
        record = &record[1..];
        let timestamp_delta = read_varlong(&mut record)?;
        let rest = record;
        let offset_delta = read_varint(&mut record)?;
        let key = read_bytes(&mut record)?;
        let has_value = read_bytes(&mut record)?.is_some();
        records.push(RecordRef {
            attributes,
            timestamp_delta,
            offset_delta,
            key,
            has_value,
            rest,
        });
    }
    if !at.is_empty() {
        return Err(bad("bytes after the last record"));
    }
    Ok(records)
}

fn bad(what: &str) -> CompactionError {
    CompactionError::Records(format!("malformed {what}"))
}

fn read_varlong(buf: &mut &[u8]) -> Result<i64, CompactionError> {
    let mut value: u64 = 0;
    for shift in (0..70).step_by(7) {
        let (&byte, rest) = buf.split_first().ok_or_else(|| bad("varint"))?;
        *buf = rest;
        value |= ((byte & 0x7f) as u64) << shift;
        if byte & 0x80 == 0 {
            // Zigzag, as Kafka's ByteUtils.readVarlong.
            return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
        }
    }
    Err(bad("varint"))
}

fn read_varint(buf: &mut &[u8]) -> Result<i32, CompactionError> {
    let value = read_varlong(buf)?;
    i32::try_from(value).map_err(|_| bad("varint"))
}

fn read_bytes<'a>(buf: &mut &'a [u8]) -> Result<Option<&'a [u8]>, CompactionError> {
    let length = read_varint(buf)?;
    if length < 0 {
        return Ok(None);
    }
    let length = length as usize;
    if length > buf.len() {
        return Err(bad("key or value length"));
    }
    let (bytes, rest) = buf.split_at(length);
    *buf = rest;
    Ok(Some(bytes))
}

fn put_varlong(out: &mut BytesMut, value: i64) {
    let mut zigzag = ((value << 1) ^ (value >> 63)) as u64;
    while zigzag >= 0x80 {
        out.put_u8((zigzag as u8) | 0x80);
        zigzag >>= 7;
    }
    out.put_u8(zigzag as u8);
}

fn varlong_len(value: i64) -> usize {
    let zigzag = ((value << 1) ^ (value >> 63)) as u64;
    (64 - zigzag.leading_zeros() as usize).max(1).div_ceil(7)
}

/// The records of the dirty section go into the map: every keyed record of `batch`, at the
/// offsets `base_offset` gives them. Control batches carry no keys to compact.
pub fn map_batch(batch: &[u8], base_offset: i64, map: &mut KeyMap) -> Result<(), CompactionError> {
    let header = batch::parse_header(batch)?;
    if header.is_control() || header.record_count == 0 {
        return Ok(());
    }
    let section = records_section(batch, &header)?;
    for record in parse_records(&section, header.record_count)? {
        if let Some(key) = record.key {
            map.insert(key, base_offset + record.offset_delta as i64);
        }
    }
    Ok(())
}

/// Kafka's `LogValidator` for a compacted topic: every record of a produced batch must have a
/// key (else INVALID_RECORD). Decompresses the batch: only compacted topics pay for it.
pub fn all_records_keyed(batch: &[u8]) -> Result<bool, CompactionError> {
    let header = batch::parse_header(batch)?;
    let section = records_section(batch, &header)?;
    Ok(parse_records(&section, header.record_count)?
        .iter()
        .all(|record| record.key.is_some()))
}

/// What the cleaner does with one batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Cleaned {
    /// Every record stays: the stored batch is left alone.
    Kept,
    /// Some records stay: the batch rebuilt with them.
    Rewritten(Vec<u8>),
    /// No record stays: the batch's header without records (see [`stub`]).
    Removed(Vec<u8>),
}

#[derive(Debug, PartialEq, Eq)]
pub struct BatchOutcome {
    pub cleaned: Cleaned,
    /// The batch's delete horizon when it keeps tombstones: the next pass at or after it drops
    /// them.
    pub tombstone_horizon: Option<i64>,
    pub records_removed: u32,
}

/// What a pass at `now_ms` keeps of `batch` (stored at `base_offset`): Kafka's
/// `shouldRetainRecord` for each record, and `filterTo`'s rebuild of the survivors.
pub fn clean_batch(
    batch: &[u8],
    base_offset: i64,
    map: &KeyMap,
    now_ms: i64,
    delete_retention_ms: i64,
) -> Result<BatchOutcome, CompactionError> {
    let header = batch::parse_header(batch)?;
    let kept_whole = |tombstone_horizon| BatchOutcome {
        cleaned: Cleaned::Kept,
        tombstone_horizon,
        records_removed: 0,
    };
    // Control batches (transaction markers) stay; without transactions there are none to
    // clean up. A stub stays a stub.
    if header.is_control() {
        return Ok(kept_whole(None));
    }
    if header.record_count == 0 {
        return Ok(BatchOutcome {
            cleaned: Cleaned::Removed(batch[..header.size_bytes()].to_vec()),
            tombstone_horizon: None,
            records_removed: 0,
        });
    }
    let horizon =
        (header.attributes & ATTRIBUTE_DELETE_HORIZON != 0).then_some(header.base_timestamp);
    let section = records_section(batch, &header)?;
    let records = parse_records(&section, header.record_count)?;
    let retained: Vec<&RecordRef> = records
        .iter()
        .filter(|record| {
            let Some(key) = record.key else {
                return false;
            };
            let offset = base_offset + record.offset_delta as i64;
            let latest = map.newest(key).is_none_or(|newest| offset >= newest);
            let deletes_due = horizon.is_some_and(|h| now_ms >= h);
            latest && (record.has_value || !deletes_due)
        })
        .collect();
    let removed = (records.len() - retained.len()) as u32;
    let keeps_tombstones = retained.iter().any(|r| !r.has_value);
    let new_horizon =
        horizon.or(keeps_tombstones.then(|| now_ms.saturating_add(delete_retention_ms)));
    let tombstone_horizon = new_horizon.filter(|_| keeps_tombstones);
    if retained.is_empty() {
        return Ok(BatchOutcome {
            cleaned: Cleaned::Removed(stub(&header)),
            tombstone_horizon: None,
            records_removed: removed,
        });
    }
    if removed == 0 && horizon == new_horizon {
        return Ok(kept_whole(tombstone_horizon));
    }
    let rebuilt = rebuild(batch, &header, &retained, new_horizon)?;
    Ok(BatchOutcome {
        cleaned: Cleaned::Rewritten(rebuilt),
        tombstone_horizon,
        records_removed: removed,
    })
}

/// A batch of an aborted transaction: every record goes (the batch becomes a stub, which keeps
/// its offsets and producer state for replicas that replay it), as Kafka's cleaner discards
/// aborted transactions' records.
pub fn discard_batch(batch: &[u8]) -> Result<BatchOutcome, CompactionError> {
    let header = batch::parse_header(batch)?;
    let cleaned = if header.record_count == 0 {
        Cleaned::Removed(batch[..header.size_bytes()].to_vec())
    } else {
        Cleaned::Removed(stub(&header))
    };
    Ok(BatchOutcome {
        cleaned,
        tombstone_horizon: None,
        records_removed: header.record_count.max(0) as u32,
    })
}

/// The batch rebuilt from `retained` (MemoryRecordsBuilder with `overrideLastOffset`): the
/// base timestamp is the delete horizon if it has one, else the first kept record's timestamp.
fn rebuild(
    batch: &[u8],
    header: &BatchHeader,
    retained: &[&RecordRef],
    horizon: Option<i64>,
) -> Result<Vec<u8>, CompactionError> {
    let timestamp = |r: &RecordRef| header.base_timestamp.saturating_add(r.timestamp_delta);
    let base_timestamp = horizon.unwrap_or_else(|| timestamp(retained[0]));
    let max_timestamp = if header.attributes & ATTRIBUTE_LOG_APPEND_TIME != 0 {
        header.max_timestamp
    } else {
        retained
            .iter()
            .map(|r| timestamp(r))
            .max()
            .unwrap_or(header.max_timestamp)
    };
    let mut records = BytesMut::new();
    for record in retained {
        let delta = timestamp(record) - base_timestamp;
        let length = 1 + varlong_len(delta) + record.rest.len();
        put_varlong(&mut records, length as i64);
        records.put_i8(record.attributes);
        put_varlong(&mut records, delta);
        records.put_slice(record.rest);
    }
    let mut attributes = header.attributes;
    if horizon.is_some() {
        attributes |= ATTRIBUTE_DELETE_HORIZON;
    }
    let mut out = BytesMut::with_capacity(HEADER_LEN + records.len());
    out.put_slice(&batch[..CRC_START]);
    out.put_i16(attributes);
    out.put_i32(header.last_offset_delta);
    out.put_i64(base_timestamp);
    out.put_i64(max_timestamp);
    out.put_i64(header.producer_id);
    out.put_i16(header.producer_epoch);
    out.put_i32(header.base_sequence);
    out.put_i32(retained.len() as i32);
    compress(header.attributes & ATTRIBUTE_CODEC_MASK, &records, &mut out)?;
    finish(out)
}

/// A batch's header with no records (Kafka's `writeEmptyHeader`): the batch's offsets, its
/// producer's sequences and its timestamps, so a replica that applies it assigns the same
/// offsets and producer state as from the original.
pub fn stub(header: &BatchHeader) -> Vec<u8> {
    let mut out = BytesMut::with_capacity(HEADER_LEN);
    out.put_i64(0);
    out.put_i32(0);
    out.put_i32(-1);
    out.put_i8(2);
    out.put_u32(0);
    out.put_i16(header.attributes & !ATTRIBUTE_CODEC_MASK);
    out.put_i32(header.last_offset_delta);
    out.put_i64(header.base_timestamp);
    out.put_i64(header.max_timestamp);
    out.put_i64(header.producer_id);
    out.put_i16(header.producer_epoch);
    out.put_i32(header.base_sequence);
    out.put_i32(0);
    finish(out).expect("a header-only batch has a valid length")
}

/// Fills in the batch length and the CRC.
fn finish(mut out: BytesMut) -> Result<Vec<u8>, CompactionError> {
    let length = i32::try_from(out.len() - 12).map_err(|_| bad("batch length"))?;
    out[8..12].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c::crc32c(&out[CRC_START..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    Ok(out.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType,
    };

    fn record(offset: i64, key: Option<&str>, value: Option<&str>, timestamp: i64) -> Record {
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: 42,
            producer_epoch: 3,
            timestamp_type: TimestampType::Creation,
            offset,
            sequence: offset as i32,
            timestamp,
            key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
        }
    }

    fn encode(records: &[Record], compression: Compression) -> Vec<u8> {
        let mut out = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression,
        };
        RecordBatchEncoder::encode(&mut out, records, &options).unwrap();
        out.to_vec()
    }

    fn decode(batch: &[u8]) -> Vec<Record> {
        let mut bytes = Bytes::copy_from_slice(batch);
        RecordBatchDecoder::decode(&mut bytes).unwrap().records
    }

    fn summary(records: &[Record]) -> Vec<(i64, Option<String>, Option<String>, i64)> {
        let text = |b: &Option<Bytes>| b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
        records
            .iter()
            .map(|r| (r.offset, text(&r.key), text(&r.value), r.timestamp))
            .collect()
    }

    /// Offsets 100..104: a=1, b=1, a=2, c=tombstone, b=2 (timestamps 1000 + offset).
    fn sample(compression: Compression) -> Vec<u8> {
        let rows = [
            (Some("a"), Some("1")),
            (Some("b"), Some("1")),
            (Some("a"), Some("2")),
            (Some("c"), None),
            (Some("b"), Some("2")),
        ];
        let records: Vec<Record> = rows
            .iter()
            .enumerate()
            .map(|(i, (k, v))| record(100 + i as i64, *k, *v, 1000 + i as i64))
            .collect();
        encode(&records, compression)
    }

    fn map_of(batch: &[u8]) -> KeyMap {
        let mut map = KeyMap::default();
        map_batch(batch, 100, &mut map).unwrap();
        map
    }

    #[test]
    fn keeps_the_latest_record_per_key_with_offsets_sequences_and_codec() {
        for compression in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let batch = sample(compression);
            let original = batch::validate(&batch).unwrap();
            let outcome = clean_batch(&batch, 100, &map_of(&batch), 5000, 60_000).unwrap();
            let Cleaned::Rewritten(rebuilt) = outcome.cleaned else {
                panic!("{compression:?}: {outcome:?}");
            };
            assert_eq!(outcome.records_removed, 2);
            assert_eq!(outcome.tombstone_horizon, Some(65_000));
            let header = batch::validate(&rebuilt).expect("CRC recomputed");
            assert_eq!(header.last_offset_delta, original.last_offset_delta);
            assert_eq!(header.producer_id, 42);
            assert_eq!(header.producer_epoch, 3);
            assert_eq!(header.base_sequence, original.base_sequence);
            assert_eq!(header.attributes & 0x07, original.attributes & 0x07);
            assert_eq!(header.record_count, 3);
            assert_eq!(header.base_timestamp, 65_000, "the delete horizon");
            assert_eq!(header.max_timestamp, 1004);
            assert_eq!(
                summary(&decode(&rebuilt)),
                vec![
                    (102, Some("a".into()), Some("2".into()), 1002),
                    (103, Some("c".into()), None, 1003),
                    (104, Some("b".into()), Some("2".into()), 1004),
                ],
                "{compression:?}"
            );
        }
    }

    #[test]
    fn tombstones_go_once_their_horizon_has_passed() {
        let batch = sample(Compression::Lz4);
        let map = map_of(&batch);
        let Cleaned::Rewritten(first) = clean_batch(&batch, 100, &map, 5000, 1000).unwrap().cleaned
        else {
            panic!("rewritten")
        };
        // Cleaning again before the horizon changes nothing: the same bytes, same decisions.
        let again = clean_batch(&first, 100, &map, 5999, 1000).unwrap();
        assert_eq!(again.cleaned, Cleaned::Kept);
        assert_eq!(again.tombstone_horizon, Some(6000));
        let due = clean_batch(&first, 100, &map, 6000, 1000).unwrap();
        let Cleaned::Rewritten(second) = due.cleaned else {
            panic!("rewritten: {due:?}")
        };
        assert_eq!(due.tombstone_horizon, None);
        let keys: Vec<_> = summary(&decode(&second))
            .into_iter()
            .map(|r| (r.0, r.3))
            .collect();
        assert_eq!(keys, vec![(102, 1002), (104, 1004)]);
        assert_eq!(batch::validate(&second).unwrap().last_offset_delta, 4);
    }

    #[test]
    fn a_batch_with_nothing_left_becomes_a_stub_with_its_offsets() {
        let batch = sample(Compression::None);
        let mut map = map_of(&batch);
        // Newer records of every key after this batch.
        for key in ["a", "b", "c"] {
            map.insert(key.as_bytes(), 200);
        }
        let outcome = clean_batch(&batch, 100, &map, 5000, 0).unwrap();
        let Cleaned::Removed(stub) = outcome.cleaned else {
            panic!("removed")
        };
        assert_eq!(outcome.records_removed, 5);
        let header = batch::parse_header(&stub).unwrap();
        assert_eq!(stub.len(), HEADER_LEN);
        assert_eq!((header.record_count, header.last_offset_delta), (0, 4));
        assert_eq!((header.producer_id, header.base_sequence), (42, 100));
        // CRC-valid (validate refuses empty batches, so check the CRC by hand).
        assert_eq!(crc32c::crc32c(&stub[CRC_START..]), header.crc);
        // A stub cleaned again stays removed.
        assert!(matches!(
            clean_batch(&stub, 100, &map, 5000, 0).unwrap().cleaned,
            Cleaned::Removed(_)
        ));
    }

    #[test]
    fn records_past_the_map_and_unmapped_keys_stay_and_keyless_ones_go() {
        let records = [
            record(10, Some("x"), Some("old"), 1),
            record(11, None, Some("no key"), 2),
            record(12, Some("y"), Some("clean section"), 3),
        ];
        let batch = encode(&records, Compression::None);
        let mut map = KeyMap::default();
        map.insert(b"x", 10);
        let outcome = clean_batch(&batch, 10, &map, 100, 0).unwrap();
        let Cleaned::Rewritten(rebuilt) = outcome.cleaned else {
            panic!("rewritten")
        };
        let kept: Vec<i64> = decode(&rebuilt).iter().map(|r| r.offset).collect();
        assert_eq!(kept, vec![10, 12]);
        // Without a horizon the base timestamp is the first kept record's.
        assert_eq!(batch::parse_header(&rebuilt).unwrap().base_timestamp, 1);
        assert!(!all_records_keyed(&batch).unwrap());
        assert!(all_records_keyed(&sample(Compression::Zstd)).unwrap());
        // Nothing to drop: left alone.
        let clean = encode(&[record(5, Some("z"), Some("v"), 1)], Compression::None);
        assert_eq!(
            clean_batch(&clean, 5, &map, 100, 0).unwrap().cleaned,
            Cleaned::Kept
        );
    }

    #[test]
    fn varints_round_trip_and_malformed_records_are_errors() {
        for value in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            300,
            -300,
            i32::MAX as i64,
            i64::MIN,
            i64::MAX,
        ] {
            let mut out = BytesMut::new();
            put_varlong(&mut out, value);
            assert_eq!(out.len(), varlong_len(value), "{value}");
            let mut slice = &out[..];
            assert_eq!(read_varlong(&mut slice).unwrap(), value);
            assert!(slice.is_empty());
        }
        let batch = sample(Compression::None);
        let header = batch::parse_header(&batch).unwrap();
        let section = records_section(&batch, &header).unwrap();
        assert!(parse_records(&section[..section.len() - 1], 5).is_err());
        assert!(parse_records(&section, 4).is_err(), "trailing bytes");
        assert_eq!(parse_records(&section, 5).unwrap().len(), 5);
    }
}
