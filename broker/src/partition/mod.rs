//! A partition: its Raft group, its high watermark, and reads of its log.
//!
//! Data flows one way: the produce handler submits a batch (in request order), the appender
//! task hands it to Raft, Raft writes it once to the log, and the state machine's apply answers
//! with the offset it assigned.

pub mod batch;
pub mod state_machine;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use openraft::raft::ClientWriteResponse;
use tokio::sync::{mpsc, oneshot, watch};

use crate::protocol::error_codes as ec;
use crate::raft::log_store::LogStore;
use crate::raft::tail::LogTail;
use crate::raft::{codec, Command, CommandResult, Raft, TypeConfig};
use crate::storage::keys::{self, log_key, offset_key, IndexValue};
use crate::storage::{StorageError, Store, CF_LOG, CF_OFFSET_INDEX};
use state_machine::PartitionStateMachine;

/// State the state machine publishes and readers consume.
pub struct PartitionShared {
    high_watermark: watch::Sender<i64>,
    log_start_offset: AtomicI64,
}

impl PartitionShared {
    fn new() -> PartitionShared {
        PartitionShared {
            high_watermark: watch::Sender::new(0),
            log_start_offset: AtomicI64::new(0),
        }
    }

    pub fn set_high_watermark(&self, offset: i64) {
        self.high_watermark.send_if_modified(|current| {
            debug_assert!(offset >= *current, "high watermark moved back");
            let changed = *current != offset;
            *current = offset;
            changed
        });
    }
}

type WriteReceiver = tokio::sync::oneshot::Receiver<openraft::raft::ClientWriteResult<TypeConfig>>;
type Submission = (Bytes, oneshot::Sender<Result<WriteReceiver, String>>);

pub struct Partition {
    pub topic: String,
    pub index: i32,
    pub group: u64,
    pub raft: Raft,
    node_id: u64,
    store: Arc<Store>,
    shared: Arc<PartitionShared>,
    appender: mpsc::UnboundedSender<Submission>,
}

/// What became of one appended batch, as Kafka error codes.
pub type AppendOutcome = Result<i64, i16>;

impl Partition {
    pub async fn start(
        topic: String,
        index: i32,
        group: u64,
        node_id: u64,
        advertised: String,
        store: Arc<Store>,
    ) -> anyhow::Result<Arc<Partition>> {
        let tail = Arc::new(LogTail::default());
        let shared = Arc::new(PartitionShared::new());
        let log_store = LogStore::new(group, store.clone(), tail.clone());
        let state_machine =
            PartitionStateMachine::open(group, store.clone(), tail, shared.clone())?;
        let raft = crate::raft::start_group(node_id, advertised, log_store, state_machine).await?;
        let (appender, submissions) = mpsc::unbounded_channel();
        tokio::spawn(run_appender(raft.clone(), submissions));
        Ok(Arc::new(Partition {
            topic,
            index,
            group,
            raft,
            node_id,
            store,
            shared,
            appender,
        }))
    }

    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(self.node_id)
    }

    /// The Kafka leader epoch is the Raft term of the current leader.
    pub fn leader_epoch(&self) -> i32 {
        self.raft.metrics().borrow().current_term as i32
    }

    pub fn high_watermark(&self) -> i64 {
        *self.shared.high_watermark.borrow()
    }

    pub fn log_start_offset(&self) -> i64 {
        self.shared.log_start_offset.load(Ordering::Acquire)
    }

    pub fn watch_high_watermark(&self) -> watch::Receiver<i64> {
        self.shared.high_watermark.subscribe()
    }

    /// Queues one record batch. Must be called in request order; the append happens in the
    /// order of these calls. The returned future resolves once the batch is committed.
    pub fn submit(
        &self,
        records: Bytes,
    ) -> impl std::future::Future<Output = AppendOutcome> + Send + 'static {
        let (reply, replied) = oneshot::channel();
        let queued = self.appender.send((records, reply)).is_ok();
        async move {
            if !queued {
                return Err(ec::NOT_LEADER_OR_FOLLOWER);
            }
            let receiver = match replied.await {
                Ok(Ok(receiver)) => receiver,
                _ => return Err(ec::NOT_LEADER_OR_FOLLOWER),
            };
            match receiver.await {
                Ok(Ok(ClientWriteResponse { data, .. })) => match data {
                    CommandResult::Appended { base_offset, .. } => Ok(base_offset),
                    CommandResult::Rejected { error_code } => Err(error_code),
                    _ => Err(ec::UNKNOWN_SERVER_ERROR),
                },
                // ForwardToLeader or a membership change in progress: the client retries.
                Ok(Err(_)) => Err(ec::NOT_LEADER_OR_FOLLOWER),
                Err(_) => Err(ec::NOT_LEADER_OR_FOLLOWER),
            }
        }
    }

    /// Committed batches from the one containing `fetch_offset`, up to about `max_bytes`
    /// (at least one whole batch). Batches are copied once, into the response buffer.
    pub fn read(&self, fetch_offset: i64, max_bytes: usize) -> Result<Bytes, StorageError> {
        let high_watermark = self.high_watermark();
        let leader_epoch = self.leader_epoch();
        let mut out = BytesMut::new();
        let mut index_iter = self
            .store
            .db
            .raw_iterator_cf(self.store.cf(CF_OFFSET_INDEX));
        index_iter.seek(offset_key(self.group, fetch_offset.max(0) as u64));
        while index_iter.valid() {
            let Some(entry) = self.index_entry(index_iter.key(), index_iter.value())? else {
                break;
            };
            if entry.base_offset >= high_watermark {
                break;
            }
            let stored = self
                .store
                .db
                .get_pinned_cf(self.store.cf(CF_LOG), log_key(self.group, entry.log_index))?
                .ok_or_else(|| {
                    corrupt(format!(
                        "index points at missing log entry {}",
                        entry.log_index
                    ))
                })?;
            let (term, records) = codec::append_payload(&stored).map_err(corrupt)?;
            if !out.is_empty() && out.len() + records.len() > max_bytes {
                break;
            }
            let start = out.len();
            out.extend_from_slice(records);
            let epoch = if term > 0 { term as i32 } else { leader_epoch };
            batch::stamp(&mut out[start..], entry.base_offset, epoch);
            if out.len() >= max_bytes {
                break;
            }
            index_iter.next();
        }
        index_iter.status()?;
        Ok(out.freeze())
    }

    fn index_entry(
        &self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<Option<IndexValue>, StorageError> {
        let (Some(key), Some(value)) = (key, value) else {
            return Ok(None);
        };
        match keys::decode_pair(key) {
            Some((group, _)) if group == self.group => {}
            _ => return Ok(None),
        }
        IndexValue::decode(value)
            .map(Some)
            .ok_or_else(|| corrupt("bad offset index value".to_string()))
    }

    /// Index entries of committed batches, in offset order.
    pub fn batches(&self) -> Result<Vec<IndexValue>, StorageError> {
        let high_watermark = self.high_watermark();
        let mut entries = Vec::new();
        let mut iter = self
            .store
            .db
            .raw_iterator_cf(self.store.cf(CF_OFFSET_INDEX));
        iter.seek(offset_key(
            self.group,
            self.log_start_offset().max(0) as u64,
        ));
        while iter.valid() {
            let Some(entry) = self.index_entry(iter.key(), iter.value())? else {
                break;
            };
            if entry.base_offset >= high_watermark {
                break;
            }
            entries.push(entry);
            iter.next();
        }
        iter.status()?;
        Ok(entries)
    }

    /// Decoded records of one committed batch (for timestamp lookups only: never on the hot path).
    pub fn decode_batch(
        &self,
        entry: &IndexValue,
    ) -> Result<Vec<kafka_protocol::records::Record>, StorageError> {
        let stored = self
            .store
            .db
            .get_pinned_cf(self.store.cf(CF_LOG), log_key(self.group, entry.log_index))?
            .ok_or_else(|| corrupt(format!("missing log entry {}", entry.log_index)))?;
        let (_, records) = codec::append_payload(&stored).map_err(corrupt)?;
        let mut copy = BytesMut::from(records);
        batch::stamp(&mut copy, entry.base_offset, 0);
        let mut bytes = copy.freeze();
        kafka_protocol::records::RecordBatchDecoder::decode(&mut bytes)
            .map(|set| set.records)
            .map_err(|e| corrupt(format!("decoding batch: {e}")))
    }

    pub async fn shutdown(&self) {
        if let Err(error) = self.raft.shutdown().await {
            tracing::warn!(topic = %self.topic, partition = self.index, %error, "raft shutdown");
        }
    }
}

fn corrupt(what: impl ToString) -> StorageError {
    StorageError::Corrupt {
        cf: CF_LOG,
        what: what.to_string(),
    }
}

/// Hands submissions to Raft one at a time, so log order is submission order.
async fn run_appender(raft: Raft, mut submissions: mpsc::UnboundedReceiver<Submission>) {
    while let Some((records, reply)) = submissions.recv().await {
        let result = raft
            .client_write_ff(Command::Append(records))
            .await
            .map_err(|fatal| fatal.to_string());
        let _ = reply.send(result);
    }
}
