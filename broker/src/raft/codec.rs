//! Byte encoding of Raft entries in the `raft_log` column family.
//!
//! `term u64 | leader node u64 | kind u8 | payload`. An append's payload is the record batch
//! itself, so the partition log holds each batch once, byte for byte as the producer sent it.

use bytes::{BufMut, Bytes, BytesMut};
use openraft::{CommittedLeaderId, EntryPayload, Membership};

use super::{Command, Entry, LogId};

const KIND_BLANK: u8 = 0;
const KIND_APPEND: u8 = 1;
const KIND_METADATA: u8 = 2;
const KIND_MEMBERSHIP: u8 = 3;
const KIND_TRIM: u8 = 4;
const KIND_COMPACT: u8 = 5;
const KIND_EXPIRE_PRODUCERS: u8 = 6;
pub const HEADER_LEN: usize = 17;

pub fn encode_entry(entry: &Entry, out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    out.put_u64(entry.log_id.leader_id.term);
    out.put_u64(entry.log_id.leader_id.node_id);
    match &entry.payload {
        EntryPayload::Blank => out.put_u8(KIND_BLANK),
        EntryPayload::Normal(Command::Append(batch)) => {
            out.put_u8(KIND_APPEND);
            out.extend_from_slice(batch);
        }
        EntryPayload::Normal(Command::Metadata(command)) => {
            out.put_u8(KIND_METADATA);
            serde_json::to_writer(&mut *out, command).map_err(|e| e.to_string())?;
        }
        EntryPayload::Normal(Command::TrimLog { log_start_offset }) => {
            out.put_u8(KIND_TRIM);
            out.put_i64(*log_start_offset);
        }
        EntryPayload::Normal(Command::Compact {
            upto_offset,
            now_ms,
            delete_retention_ms,
        }) => {
            out.put_u8(KIND_COMPACT);
            out.put_i64(*upto_offset);
            out.put_i64(*now_ms);
            out.put_i64(*delete_retention_ms);
        }
        EntryPayload::Normal(Command::ExpireProducers {
            now_ms,
            expiration_ms,
        }) => {
            out.put_u8(KIND_EXPIRE_PRODUCERS);
            out.put_i64(*now_ms);
            out.put_i64(*expiration_ms);
        }
        EntryPayload::Membership(membership) => {
            out.put_u8(KIND_MEMBERSHIP);
            serde_json::to_writer(&mut *out, membership).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

pub fn decode_entry(index: u64, bytes: &[u8]) -> Result<Entry, String> {
    let (term, node, kind) = decode_header(bytes)?;
    let body = &bytes[HEADER_LEN..];
    let payload = match kind {
        KIND_BLANK => EntryPayload::Blank,
        KIND_APPEND => EntryPayload::Normal(Command::Append(Bytes::copy_from_slice(body))),
        KIND_METADATA => EntryPayload::Normal(Command::Metadata(
            serde_json::from_slice(body).map_err(|e| format!("metadata entry {index}: {e}"))?,
        )),
        KIND_TRIM => {
            let offset: [u8; 8] = body
                .try_into()
                .map_err(|_| format!("trim entry {index}: bad length"))?;
            EntryPayload::Normal(Command::TrimLog {
                log_start_offset: i64::from_be_bytes(offset),
            })
        }
        KIND_COMPACT => {
            let [upto_offset, now_ms, delete_retention_ms] = fields(index, "compact", body)?;
            EntryPayload::Normal(Command::Compact {
                upto_offset,
                now_ms,
                delete_retention_ms,
            })
        }
        KIND_EXPIRE_PRODUCERS => {
            let [now_ms, expiration_ms] = fields(index, "expire-producers", body)?;
            EntryPayload::Normal(Command::ExpireProducers {
                now_ms,
                expiration_ms,
            })
        }
        KIND_MEMBERSHIP => {
            let membership: Membership<u64, openraft::BasicNode> = serde_json::from_slice(body)
                .map_err(|e| format!("membership entry {index}: {e}"))?;
            EntryPayload::Membership(membership)
        }
        other => return Err(format!("entry {index}: unknown kind {other}")),
    };
    Ok(Entry {
        log_id: LogId::new(CommittedLeaderId::new(term, node), index),
        payload,
    })
}

/// The `N` big-endian i64 fields that are the whole body of a fixed-size entry.
fn fields<const N: usize>(index: u64, kind: &str, body: &[u8]) -> Result<[i64; N], String> {
    if body.len() != N * 8 {
        return Err(format!("{kind} entry {index}: bad length"));
    }
    let mut out = [0i64; N];
    for (field, bytes) in out.iter_mut().zip(body.chunks_exact(8)) {
        *field = i64::from_be_bytes(bytes.try_into().map_err(|_| "field")?);
    }
    Ok(out)
}

/// Term, leader node and kind of an encoded entry.
pub fn decode_header(bytes: &[u8]) -> Result<(u64, u64, u8), String> {
    if bytes.len() < HEADER_LEN {
        return Err(format!(
            "entry of {} bytes is shorter than its header",
            bytes.len()
        ));
    }
    let term = u64::from_be_bytes(bytes[..8].try_into().map_err(|_| "term")?);
    let node = u64::from_be_bytes(bytes[8..16].try_into().map_err(|_| "node")?);
    Ok((term, node, bytes[16]))
}

/// The record batch inside an encoded append entry, and the term it was written in.
pub fn append_payload(bytes: &[u8]) -> Result<(u64, &[u8]), String> {
    let (term, _, kind) = decode_header(bytes)?;
    if kind != KIND_APPEND {
        return Err(format!("entry kind {kind} is not an append"));
    }
    Ok((term, &bytes[HEADER_LEN..]))
}

pub fn encode_to_bytes(entry: &Entry) -> Result<Bytes, String> {
    let mut out = Vec::new();
    encode_entry(entry, &mut out)?;
    Ok(BytesMut::from(&out[..]).freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn log_id(term: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    #[test]
    fn entries_round_trip() {
        let members = BTreeMap::from([(1u64, openraft::BasicNode::new("127.0.0.1:1"))]);
        let membership = Membership::new(vec![BTreeSet::from([1u64])], members);
        let entries = [
            Entry {
                log_id: log_id(3, 9),
                payload: EntryPayload::Blank,
            },
            Entry {
                log_id: log_id(3, 10),
                payload: EntryPayload::Normal(Command::Append(Bytes::from_static(b"batch"))),
            },
            Entry {
                log_id: log_id(4, 11),
                payload: EntryPayload::Membership(membership),
            },
            Entry {
                log_id: log_id(4, 12),
                payload: EntryPayload::Normal(Command::TrimLog {
                    log_start_offset: 77,
                }),
            },
            Entry {
                log_id: log_id(4, 13),
                payload: EntryPayload::Normal(Command::Compact {
                    upto_offset: 500,
                    now_ms: 1_700_000_000_000,
                    delete_retention_ms: 86_400_000,
                }),
            },
            Entry {
                log_id: log_id(4, 14),
                payload: EntryPayload::Normal(Command::ExpireProducers {
                    now_ms: 1_700_000_000_000,
                    expiration_ms: 86_400_000,
                }),
            },
        ];
        for entry in entries {
            let bytes = encode_to_bytes(&entry).unwrap();
            let decoded = decode_entry(entry.log_id.index, &bytes).unwrap();
            assert_eq!(format!("{decoded:?}"), format!("{entry:?}"));
        }
    }

    #[test]
    fn append_payload_is_the_batch() {
        let entry = Entry {
            log_id: log_id(7, 1),
            payload: EntryPayload::Normal(Command::Append(Bytes::from_static(b"xyz"))),
        };
        let bytes = encode_to_bytes(&entry).unwrap();
        assert_eq!(append_payload(&bytes).unwrap(), (7, &b"xyz"[..]));
        assert!(decode_entry(1, &bytes[..5]).is_err());
        let blank = encode_to_bytes(&Entry {
            log_id: log_id(1, 2),
            payload: EntryPayload::Blank,
        });
        assert!(append_payload(&blank.unwrap()).is_err());
    }
}
