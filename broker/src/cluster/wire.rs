//! Messages between nodes. A frame is a u32 length then `postcard(Frame<Request|Response>)`;
//! the id pairs a response with its request on the connection that carried it.

use bytes::Bytes;
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use crate::metadata::commands::{MetadataCommand, MetadataResult};
use crate::metadata::quorum::QuorumState;
use crate::raft::transfer::LeadershipAnswer;
use crate::raft::TypeConfig;

#[derive(Debug, Serialize, Deserialize)]
pub struct Frame<T> {
    pub id: u64,
    pub body: T,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    AppendEntries {
        group: u64,
        rpc: AppendEntriesRequest<TypeConfig>,
    },
    Vote {
        group: u64,
        rpc: VoteRequest<u64>,
    },
    InstallSnapshot {
        group: u64,
        rpc: InstallSnapshotRequest<TypeConfig>,
    },
    /// A metadata command proposed on a node that does not lead the metadata group.
    ProposeMetadata(MetadataCommand),
    /// To the node believed to lead a partition (ElectLeaders): does it lead, and if `to` is
    /// set, hand the leadership to that replica (see `raft::transfer`).
    Leadership {
        group: u64,
        to: Option<u64>,
        lag_max_ms: u64,
        timeout_ms: u64,
    },
    /// From a partition's leader handing over: call an election now.
    Campaign {
        group: u64,
    },
    /// To the metadata leader: the quorum as it sees it (DescribeQuorum).
    DescribeQuorum,
    /// From a transaction coordinator to a partition's leader: append this transaction
    /// marker (Kafka's WriteTxnMarkers).
    WriteTxnMarker {
        group: u64,
        records: Bytes,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    AppendEntries(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    InstallSnapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    /// The result and the log index it was committed at (the proposer waits until it has
    /// applied that far, so its own image shows the change), or why it failed.
    ProposeMetadata(Result<(MetadataResult, u64), String>),
    Leadership(LeadershipAnswer),
    Campaign(Result<(), String>),
    /// `None`: the receiver does not lead the metadata group.
    DescribeQuorum(Option<QuorumState>),
    /// The marker's offset, or a Kafka error code.
    TxnMarker(Result<i64, i16>),
    /// The receiver does not lead the metadata group (any more); nothing was applied.
    NotLeader,
    /// The receiver hosts no Raft group with this id (not yet, or not anymore).
    UnknownGroup,
    /// The receiver could not decode the request.
    Malformed(String),
}

pub fn encode<T: Serialize>(frame: &Frame<T>) -> Result<Bytes, postcard::Error> {
    postcard::to_allocvec(frame).map(Bytes::from)
}

pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<Frame<T>, postcard::Error> {
    postcard::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::{Command, Entry};
    use openraft::{CommittedLeaderId, EntryPayload, LogId, Vote};

    #[test]
    fn append_entries_round_trip_keeps_batches_byte_for_byte() {
        let batch = Bytes::from_static(b"\x00\x01record batch bytes\xff");
        let rpc = AppendEntriesRequest::<TypeConfig> {
            vote: Vote::new_committed(3, 2),
            prev_log_id: Some(LogId::new(CommittedLeaderId::new(3, 2), 41)),
            entries: vec![Entry {
                log_id: LogId::new(CommittedLeaderId::new(3, 2), 42),
                payload: EntryPayload::Normal(Command::Append(batch.clone())),
            }],
            leader_commit: Some(LogId::new(CommittedLeaderId::new(3, 2), 41)),
        };
        let bytes = encode(&Frame {
            id: 7,
            body: Request::AppendEntries { group: 9, rpc },
        })
        .unwrap();
        let frame: Frame<Request> = decode(&bytes).unwrap();
        assert_eq!(frame.id, 7);
        let Request::AppendEntries { group, rpc } = frame.body else {
            panic!("wrong kind");
        };
        assert_eq!(group, 9);
        assert_eq!(rpc.entries.len(), 1);
        match &rpc.entries[0].payload {
            EntryPayload::Normal(Command::Append(b)) => assert_eq!(b, &batch),
            other => panic!("payload {other:?}"),
        }
    }

    #[test]
    fn garbage_does_not_decode() {
        assert!(decode::<Request>(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]).is_err());
    }
}
