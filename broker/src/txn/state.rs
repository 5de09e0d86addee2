//! One transactional id's metadata and its state transitions, as Kafka's `TransactionMetadata`
//! and `TransactionCoordinator` define them (transactions V1). Pure: no I/O, time passed in;
//! each transition returns the metadata to write to `__transaction_state`, which the
//! coordinator makes current only once that write has committed.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::protocol::error_codes as ec;

/// An epoch at which the producer id must change: the next bump would overflow (Kafka's
/// `isEpochExhausted`, `Short.MaxValue - 1`).
const EPOCH_EXHAUSTED: i16 = i16::MAX - 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
}

impl TxnState {
    /// Kafka's names, as DescribeTransactions and ListTransactions report them.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }

    /// Markers are (being) written: the outcome is decided, the partitions not yet told.
    pub fn is_prepared(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }
}

/// What `__transaction_state` stores per transactional id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnMetadata {
    pub producer_id: i64,
    /// The producer id before the last rotation (-1: none), so a retried InitProducerId
    /// that missed the answer is recognised.
    pub last_producer_id: i64,
    pub producer_epoch: i16,
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    /// (topic, partition) in the transaction.
    pub partitions: BTreeSet<(String, i32)>,
    /// When the current (or last) transaction began; -1 before the first.
    pub start_ms: i64,
    pub update_ms: i64,
}

/// A producer id and epoch a client says it holds (InitProducerId v3+: KIP-360 recovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdAndEpoch {
    pub producer_id: i64,
    pub epoch: i16,
}

/// What InitProducerId does to a transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitOutcome {
    /// Write this (state Empty, epoch bumped) and answer with its producer id and epoch.
    Ready(TxnMetadata),
    /// A transaction is ongoing: write this abort (epoch bumped, which fences the old
    /// producer), complete it, and answer CONCURRENT_TRANSACTIONS so the client retries.
    FenceAndAbort(TxnMetadata),
}

/// What EndTxn does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndOutcome {
    /// Write this PrepareCommit / PrepareAbort, then the markers, then complete.
    Prepare(TxnMetadata),
    /// Already done (a retry after the outcome was written): answer NONE.
    AlreadyDone,
}

impl TxnMetadata {
    /// A transactional id seen for the first time: epoch -1, so the first bump gives 0.
    pub fn new(producer_id: i64, timeout_ms: i32, now_ms: i64) -> TxnMetadata {
        TxnMetadata {
            producer_id,
            last_producer_id: -1,
            producer_epoch: -1,
            last_producer_epoch: -1,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            update_ms: now_ms,
        }
    }

    pub fn is_epoch_exhausted(&self) -> bool {
        self.producer_epoch >= EPOCH_EXHAUSTED
    }

    /// Whether InitProducerId needs a fresh producer id (the caller allocates it first).
    pub fn needs_new_producer_id(&self, expected: Option<ProducerIdAndEpoch>) -> bool {
        matches!(
            self.state,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        ) && self.is_epoch_exhausted()
            && expected.is_none_or(|e| e.epoch == self.producer_epoch)
    }

    /// Kafka's `prepareInitProducerIdTransit`. `new_producer_id`: allocated by the caller
    /// when [`needs_new_producer_id`](Self::needs_new_producer_id) said so.
    pub fn init_producer_id(
        &self,
        timeout_ms: i32,
        expected: Option<ProducerIdAndEpoch>,
        new_producer_id: Option<i64>,
        now_ms: i64,
    ) -> Result<InitOutcome, i16> {
        let valid = |e: ProducerIdAndEpoch| {
            // Just created; the same producer; or a retry of a rotation it missed.
            self.producer_epoch == -1
                || e.producer_id == self.producer_id
                || (e.producer_id == self.last_producer_id && e.epoch >= EPOCH_EXHAUSTED)
        };
        if !expected.is_none_or(valid) {
            return Err(ec::PRODUCER_FENCED);
        }
        match self.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => Err(ec::CONCURRENT_TRANSACTIONS),
            TxnState::Ongoing => Ok(InitOutcome::FenceAndAbort(self.fence_and_abort(now_ms))),
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                if self.needs_new_producer_id(expected) {
                    let producer_id = new_producer_id.ok_or(ec::COORDINATOR_LOAD_IN_PROGRESS)?;
                    return Ok(InitOutcome::Ready(self.rotate_producer_id(
                        producer_id,
                        timeout_ms,
                        expected.is_some(),
                        now_ms,
                    )));
                }
                self.bump_epoch(timeout_ms, expected.map(|e| e.epoch), now_ms)
                    .map(InitOutcome::Ready)
            }
        }
    }

    /// Kafka's `prepareIncrementProducerEpoch`: a new session of the same producer id.
    fn bump_epoch(
        &self,
        timeout_ms: i32,
        expected_epoch: Option<i16>,
        now_ms: i64,
    ) -> Result<TxnMetadata, i16> {
        let bumped = self.producer_epoch + 1;
        let (epoch, last_epoch) = match expected_epoch {
            None => (bumped, -1),
            Some(e) if self.producer_epoch == -1 || e == self.producer_epoch => {
                (bumped, self.producer_epoch)
            }
            // A retry whose answer was lost: the bump already happened.
            Some(e) if e == self.last_producer_epoch => (self.producer_epoch, e),
            Some(_) => return Err(ec::PRODUCER_FENCED),
        };
        Ok(TxnMetadata {
            producer_epoch: epoch,
            last_producer_epoch: last_epoch,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            update_ms: now_ms,
            ..self.clone()
        })
    }

    /// Kafka's `prepareProducerIdRotation`: the epoch ran out, a new producer id at epoch 0.
    fn rotate_producer_id(
        &self,
        producer_id: i64,
        timeout_ms: i32,
        record_last_epoch: bool,
        now_ms: i64,
    ) -> TxnMetadata {
        TxnMetadata {
            producer_id,
            last_producer_id: self.producer_id,
            producer_epoch: 0,
            last_producer_epoch: if record_last_epoch {
                self.producer_epoch
            } else {
                -1
            },
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            update_ms: now_ms,
        }
    }

    /// Kafka's `prepareFenceProducerEpoch` followed by the abort it leads to: the epoch goes
    /// up by one (so batches and markers of the old producer are refused) and the ongoing
    /// transaction is aborted under the new epoch, which is never handed to a client.
    pub fn fence_and_abort(&self, now_ms: i64) -> TxnMetadata {
        debug_assert_eq!(self.state, TxnState::Ongoing);
        TxnMetadata {
            producer_epoch: self.producer_epoch.saturating_add(1),
            last_producer_epoch: -1,
            state: TxnState::PrepareAbort,
            update_ms: now_ms,
            ..self.clone()
        }
    }

    fn check_producer(&self, producer_id: i64, epoch: i16) -> Result<(), i16> {
        if producer_id != self.producer_id {
            return Err(ec::INVALID_PRODUCER_ID_MAPPING);
        }
        if epoch != self.producer_epoch {
            return Err(ec::PRODUCER_FENCED);
        }
        Ok(())
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, whose partition is the group's
    /// `__consumer_offsets` one). `None`: already in the transaction, nothing to write.
    pub fn add_partitions(
        &self,
        producer_id: i64,
        epoch: i16,
        partitions: &BTreeSet<(String, i32)>,
        now_ms: i64,
    ) -> Result<Option<TxnMetadata>, i16> {
        self.check_producer(producer_id, epoch)?;
        match self.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => Err(ec::CONCURRENT_TRANSACTIONS),
            TxnState::Ongoing if partitions.is_subset(&self.partitions) => Ok(None),
            TxnState::Ongoing => {
                let mut next = self.clone();
                next.partitions.extend(partitions.iter().cloned());
                next.update_ms = now_ms;
                Ok(Some(next))
            }
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                Ok(Some(TxnMetadata {
                    state: TxnState::Ongoing,
                    partitions: partitions.clone(),
                    start_ms: now_ms,
                    update_ms: now_ms,
                    ..self.clone()
                }))
            }
        }
    }

    /// Whether a transactional batch of this producer may be appended to `partition`: its
    /// transaction is ongoing and contains it (KIP-890's verification, V1 clients).
    pub fn verify(
        &self,
        producer_id: i64,
        epoch: i16,
        partition: &(String, i32),
    ) -> Result<(), i16> {
        if producer_id != self.producer_id || epoch < self.producer_epoch {
            return Err(ec::INVALID_PRODUCER_EPOCH);
        }
        if self.state != TxnState::Ongoing
            || epoch != self.producer_epoch
            || !self.partitions.contains(partition)
        {
            return Err(ec::INVALID_TXN_STATE);
        }
        Ok(())
    }

    /// EndTxn from the client (`commit` or abort), Kafka's `endTransaction` with
    /// `isFromClient = true`.
    pub fn end(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        now_ms: i64,
    ) -> Result<EndOutcome, i16> {
        self.check_producer(producer_id, epoch)?;
        match (self.state, commit) {
            (TxnState::Ongoing, _) => Ok(EndOutcome::Prepare(TxnMetadata {
                state: if commit {
                    TxnState::PrepareCommit
                } else {
                    TxnState::PrepareAbort
                },
                update_ms: now_ms,
                ..self.clone()
            })),
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => {
                Ok(EndOutcome::AlreadyDone)
            }
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Err(ec::CONCURRENT_TRANSACTIONS)
            }
            _ => Err(ec::INVALID_TXN_STATE),
        }
    }

    /// After every marker is written: CompleteCommit / CompleteAbort, no partitions.
    pub fn complete(&self, now_ms: i64) -> TxnMetadata {
        debug_assert!(self.state.is_prepared());
        TxnMetadata {
            state: if self.state == TxnState::PrepareCommit {
                TxnState::CompleteCommit
            } else {
                TxnState::CompleteAbort
            },
            partitions: BTreeSet::new(),
            update_ms: now_ms,
            ..self.clone()
        }
    }

    /// transaction.timeout.ms: an ongoing transaction older than its timeout is aborted.
    pub fn is_timed_out(&self, now_ms: i64) -> bool {
        self.state == TxnState::Ongoing && self.start_ms + self.timeout_ms as i64 <= now_ms
    }

    /// transactional.id.expiration.ms: no transaction under way and no state change for
    /// `expiration_ms` (Kafka's rule: Empty, CompleteCommit or CompleteAbort, last updated
    /// that long ago).
    pub fn is_expired(&self, now_ms: i64, expiration_ms: i64) -> bool {
        matches!(
            self.state,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        ) && self.update_ms.saturating_add(expiration_ms) <= now_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partitions(list: &[(&str, i32)]) -> BTreeSet<(String, i32)> {
        list.iter().map(|(t, p)| (t.to_string(), *p)).collect()
    }

    fn ready(outcome: Result<InitOutcome, i16>) -> TxnMetadata {
        match outcome {
            Ok(InitOutcome::Ready(m)) => m,
            other => panic!("expected Ready, got {other:?}"),
        }
    }

    #[test]
    fn first_init_gives_epoch_zero_and_each_next_one_bumps() {
        let created = TxnMetadata::new(7, 60_000, 1);
        let first = ready(created.init_producer_id(60_000, None, None, 2));
        assert_eq!((first.producer_id, first.producer_epoch), (7, 0));
        assert_eq!(first.state, TxnState::Empty);
        let second = ready(first.init_producer_id(30_000, None, None, 3));
        assert_eq!((second.producer_epoch, second.timeout_ms), (1, 30_000));
    }

    #[test]
    fn a_commit_goes_through_ongoing_prepare_and_complete() {
        let m = ready(TxnMetadata::new(7, 60_000, 0).init_producer_id(60_000, None, None, 0));
        let added = m
            .add_partitions(7, 0, &partitions(&[("t", 0), ("t", 1)]), 10)
            .unwrap()
            .unwrap();
        assert_eq!((added.state, added.start_ms), (TxnState::Ongoing, 10));
        // Adding what is already there writes nothing.
        assert_eq!(
            added.add_partitions(7, 0, &partitions(&[("t", 1)]), 11),
            Ok(None)
        );
        assert_eq!(added.verify(7, 0, &("t".into(), 1)), Ok(()));
        assert_eq!(
            added.verify(7, 0, &("u".into(), 0)),
            Err(ec::INVALID_TXN_STATE)
        );
        let EndOutcome::Prepare(prepared) = added.end(7, 0, true, 20).unwrap() else {
            panic!("expected a prepare");
        };
        assert_eq!(prepared.state, TxnState::PrepareCommit);
        assert_eq!(prepared.partitions.len(), 2);
        // A retry while the markers are written, and an abort of a committing transaction.
        assert_eq!(
            prepared.end(7, 0, true, 21),
            Err(ec::CONCURRENT_TRANSACTIONS)
        );
        assert_eq!(prepared.end(7, 0, false, 21), Err(ec::INVALID_TXN_STATE));
        assert_eq!(
            prepared.add_partitions(7, 0, &partitions(&[("t", 2)]), 21),
            Err(ec::CONCURRENT_TRANSACTIONS)
        );
        let done = prepared.complete(30);
        assert_eq!(done.state, TxnState::CompleteCommit);
        assert!(done.partitions.is_empty());
        assert_eq!(done.end(7, 0, true, 31), Ok(EndOutcome::AlreadyDone));
        assert_eq!(done.end(7, 0, false, 31), Err(ec::INVALID_TXN_STATE));
        // The next transaction starts afresh.
        let next = done
            .add_partitions(7, 0, &partitions(&[("u", 0)]), 40)
            .unwrap()
            .unwrap();
        assert_eq!(next.partitions, partitions(&[("u", 0)]));
        assert_eq!(next.start_ms, 40);
    }

    #[test]
    fn ending_nothing_is_an_invalid_state() {
        let m = ready(TxnMetadata::new(7, 60_000, 0).init_producer_id(60_000, None, None, 0));
        assert_eq!(m.end(7, 0, true, 1), Err(ec::INVALID_TXN_STATE));
    }

    #[test]
    fn a_new_session_fences_the_old_producer() {
        let m = ready(TxnMetadata::new(7, 60_000, 0).init_producer_id(60_000, None, None, 0));
        let ongoing = m
            .add_partitions(7, 0, &partitions(&[("t", 0)]), 1)
            .unwrap()
            .unwrap();
        // The second producer's InitProducerId aborts the open transaction at epoch 1.
        let Ok(InitOutcome::FenceAndAbort(aborting)) =
            ongoing.init_producer_id(60_000, None, None, 2)
        else {
            panic!("expected a fence");
        };
        assert_eq!(
            (aborting.state, aborting.producer_epoch),
            (TxnState::PrepareAbort, 1)
        );
        assert_eq!(aborting.partitions, partitions(&[("t", 0)]));
        // Until the abort completes the new producer retries.
        assert_eq!(
            aborting.init_producer_id(60_000, None, None, 3),
            Err(ec::CONCURRENT_TRANSACTIONS)
        );
        let aborted = aborting.complete(4);
        let fresh = ready(aborted.init_producer_id(60_000, None, None, 5));
        assert_eq!(fresh.producer_epoch, 2);
        // The zombie at epoch 0 is fenced everywhere.
        assert_eq!(
            fresh.add_partitions(7, 0, &partitions(&[("t", 0)]), 6),
            Err(ec::PRODUCER_FENCED)
        );
        assert_eq!(fresh.end(7, 0, true, 6), Err(ec::PRODUCER_FENCED));
        assert_eq!(
            fresh.verify(7, 0, &("t".into(), 0)),
            Err(ec::INVALID_PRODUCER_EPOCH)
        );
        assert_eq!(
            fresh.end(8, 2, true, 6),
            Err(ec::INVALID_PRODUCER_ID_MAPPING)
        );
    }

    #[test]
    fn kip_360_recovery_and_fencing() {
        let m = ready(TxnMetadata::new(7, 60_000, 0).init_producer_id(60_000, None, None, 0));
        let expected = |producer_id, epoch| Some(ProducerIdAndEpoch { producer_id, epoch });
        let bumped = ready(m.init_producer_id(60_000, expected(7, 0), None, 1));
        assert_eq!((bumped.producer_epoch, bumped.last_producer_epoch), (1, 0));
        // The same request again (its answer was lost): the same epoch.
        let again = ready(bumped.init_producer_id(60_000, expected(7, 0), None, 2));
        assert_eq!(again.producer_epoch, 1);
        // An older epoch, or another producer id, is fenced.
        let older = TxnMetadata {
            producer_epoch: 5,
            last_producer_epoch: 4,
            ..bumped.clone()
        };
        assert_eq!(
            older.init_producer_id(60_000, expected(7, 2), None, 3),
            Err(ec::PRODUCER_FENCED)
        );
        assert_eq!(
            older.init_producer_id(60_000, expected(9, 5), None, 3),
            Err(ec::PRODUCER_FENCED)
        );
    }

    #[test]
    fn an_exhausted_epoch_rotates_the_producer_id() {
        let m = TxnMetadata {
            producer_epoch: EPOCH_EXHAUSTED,
            state: TxnState::CompleteCommit,
            ..TxnMetadata::new(7, 60_000, 0)
        };
        assert!(m.needs_new_producer_id(None));
        assert_eq!(
            m.init_producer_id(60_000, None, None, 1),
            Err(ec::COORDINATOR_LOAD_IN_PROGRESS)
        );
        let rotated = ready(m.init_producer_id(60_000, None, Some(8), 1));
        assert_eq!(
            (
                rotated.producer_id,
                rotated.producer_epoch,
                rotated.last_producer_id
            ),
            (8, 0, 7)
        );
    }

    #[test]
    fn timeouts_count_from_the_transaction_start() {
        let m = ready(TxnMetadata::new(7, 1_000, 0).init_producer_id(1_000, None, None, 0));
        assert!(!m.is_timed_out(1_000_000));
        let ongoing = m
            .add_partitions(7, 0, &partitions(&[("t", 0)]), 100)
            .unwrap()
            .unwrap();
        assert!(!ongoing.is_timed_out(1_099));
        assert!(ongoing.is_timed_out(1_100));
        let aborting = ongoing.fence_and_abort(1_100);
        assert_eq!(aborting.producer_epoch, 1);
        assert!(!aborting.is_timed_out(10_000));
    }

    #[test]
    fn only_ids_at_rest_for_the_whole_expiration_expire() {
        let mut metadata = TxnMetadata::new(7, 60_000, 1_000);
        assert!(!metadata.is_expired(1_999, 1_000));
        assert!(metadata.is_expired(2_000, 1_000));
        for (state, expires) in [
            (TxnState::Ongoing, false),
            (TxnState::PrepareCommit, false),
            (TxnState::PrepareAbort, false),
            (TxnState::CompleteCommit, true),
            (TxnState::CompleteAbort, true),
        ] {
            metadata.state = state;
            assert_eq!(metadata.is_expired(10_000, 1_000), expires, "{state:?}");
        }
        // No overflow at the extremes.
        assert!(!metadata.is_expired(5_000, i64::MAX));
    }
}
