//! The record batch header (magic v2). The broker reads only these 61 bytes; records stay opaque.
//!
//! ```text
//! baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 | crc u32 |
//! attributes i16 | lastOffsetDelta i32 | baseTimestamp i64 | maxTimestamp i64 |
//! producerId i64 | producerEpoch i16 | baseSequence i32 | recordCount i32 | records...
//! ```
//! The CRC32C covers everything from `attributes` to the end, so the broker may rewrite the
//! base offset and leader epoch without touching it.

pub const HEADER_LEN: usize = 61;
const LENGTH_FIELD_END: usize = 12;
const CRC_START: usize = 21;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub batch_length: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("batch shorter than its header or its declared length")]
    Truncated,
    #[error("unsupported magic {0}")]
    Magic(i8),
    #[error("CRC mismatch")]
    Crc,
    #[error("invalid batch: {0}")]
    Invalid(&'static str),
}

impl BatchHeader {
    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }

    /// Total bytes of this batch on the wire, header included.
    pub fn size_bytes(&self) -> usize {
        self.batch_length as usize + LENGTH_FIELD_END
    }

    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return self.base_sequence;
        }
        // Sequences wrap at i32::MAX, as in Kafka.
        ((self.base_sequence as i64 + self.last_offset_delta as i64) % (i32::MAX as i64 + 1)) as i32
    }
}

/// Parses the header of the batch at the front of `bytes` without checking the CRC.
pub fn parse_header(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
    if bytes.len() < HEADER_LEN {
        return Err(BatchError::Truncated);
    }
    let i16_at = |at: usize| i16::from_be_bytes([bytes[at], bytes[at + 1]]);
    let i32_at = |at: usize| i32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let i64_at = |at: usize| i64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let header = BatchHeader {
        batch_length: i32_at(8),
        magic: bytes[16] as i8,
        crc: i32_at(17) as u32,
        attributes: i16_at(21),
        last_offset_delta: i32_at(23),
        base_timestamp: i64_at(27),
        max_timestamp: i64_at(35),
        producer_id: i64_at(43),
        producer_epoch: i16_at(51),
        base_sequence: i32_at(53),
        record_count: i32_at(57),
    };
    if header.magic != 2 {
        return Err(BatchError::Magic(header.magic));
    }
    if header.batch_length < (HEADER_LEN - LENGTH_FIELD_END) as i32 {
        return Err(BatchError::Invalid("batch length below header size"));
    }
    if header.size_bytes() > bytes.len() {
        return Err(BatchError::Truncated);
    }
    if header.last_offset_delta < 0 || header.record_count < 0 {
        return Err(BatchError::Invalid("negative record count or offset delta"));
    }
    Ok(header)
}

/// Parses and CRC-checks the batch at the front of `bytes`.
pub fn validate(bytes: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = parse_header(bytes)?;
    let covered = &bytes[CRC_START..header.size_bytes()];
    if crc32c::crc32c(covered) != header.crc {
        return Err(BatchError::Crc);
    }
    if header.record_count == 0 {
        return Err(BatchError::Invalid("empty batch"));
    }
    Ok(header)
}

/// Rewrites the fields outside the CRC: the offset the broker assigned and the leader epoch.
pub fn stamp(batch: &mut [u8], base_offset: i64, leader_epoch: i32) {
    debug_assert!(batch.len() >= HEADER_LEN);
    batch[..8].copy_from_slice(&base_offset.to_be_bytes());
    batch[12..16].copy_from_slice(&leader_epoch.to_be_bytes());
}

/// Splits a produce request's record set into its batches, validating each.
pub fn split(records: &[u8]) -> Result<Vec<(usize, BatchHeader)>, BatchError> {
    let mut batches = Vec::new();
    let mut at = 0;
    while at < records.len() {
        let header = validate(&records[at..])?;
        batches.push((at, header));
        at += header.size_bytes();
    }
    if batches.is_empty() {
        return Err(BatchError::Invalid("no record batch"));
    }
    Ok(batches)
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};

    /// A valid uncompressed batch with `count` tiny records.
    pub fn sample_batch(count: i32, producer_id: i64, base_sequence: i32) -> Vec<u8> {
        let mut records = BytesMut::new();
        for i in 0..count {
            // length varint, attributes, timestampDelta, offsetDelta, key -1, value len 1, 'v', 0 headers
            let body = [0u8, 0, (i * 2) as u8, 1, 2, b'v', 0];
            records.put_u8((body.len() * 2) as u8);
            records.put_slice(&body);
        }
        let mut batch = BytesMut::new();
        batch.put_i64(0);
        batch.put_i32((HEADER_LEN - LENGTH_FIELD_END + records.len()) as i32);
        batch.put_i32(-1);
        batch.put_i8(2);
        batch.put_u32(0);
        batch.put_i16(0);
        batch.put_i32(count - 1);
        batch.put_i64(1000);
        batch.put_i64(1000 + count as i64);
        batch.put_i64(producer_id);
        batch.put_i16(0);
        batch.put_i32(base_sequence);
        batch.put_i32(count);
        batch.put_slice(&records);
        let crc = crc32c::crc32c(&batch[CRC_START..]);
        batch[17..21].copy_from_slice(&crc.to_be_bytes());
        batch.to_vec()
    }

    #[test]
    fn validates_a_good_batch() {
        let batch = sample_batch(3, -1, -1);
        let header = validate(&batch).unwrap();
        assert_eq!(header.record_count, 3);
        assert_eq!(header.last_offset_delta, 2);
        assert_eq!(header.size_bytes(), batch.len());
    }

    #[test]
    fn rejects_corruption_truncation_and_magic() {
        let mut batch = sample_batch(2, -1, -1);
        assert_eq!(validate(&batch[..30]), Err(BatchError::Truncated));
        assert_eq!(
            validate(&batch[..batch.len() - 1]),
            Err(BatchError::Truncated)
        );
        let last = batch.len() - 1;
        batch[last] ^= 0xff;
        assert_eq!(validate(&batch), Err(BatchError::Crc));
        batch[16] = 1;
        assert_eq!(validate(&batch), Err(BatchError::Magic(1)));
    }

    #[test]
    fn stamping_keeps_the_crc_valid() {
        let mut batch = sample_batch(2, -1, -1);
        stamp(&mut batch, 42, 7);
        let header = validate(&batch).unwrap();
        assert_eq!(header.record_count, 2);
        assert_eq!(i64::from_be_bytes(batch[..8].try_into().unwrap()), 42);
    }

    #[test]
    fn splits_concatenated_batches() {
        let mut records = sample_batch(2, -1, -1);
        records.extend(sample_batch(5, -1, -1));
        let batches = split(&records).unwrap();
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[1].1.record_count, 5);
        assert!(split(&[]).is_err());
    }

    #[test]
    fn sequences_wrap() {
        let mut header = parse_header(&sample_batch(3, 1, i32::MAX - 1)).unwrap();
        assert_eq!(header.last_sequence(), 0);
        header.base_sequence = 5;
        assert_eq!(header.last_sequence(), 7);
    }
}
