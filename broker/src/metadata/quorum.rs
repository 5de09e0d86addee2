//! DescribeQuorum's view of the metadata Raft group (Kafka's `__cluster_metadata` partition):
//! the leader, its term, the committed log end, and each voter's and observer's progress.
//!
//! Kafka's followers fetch from the leader; here the leader pushes AppendEntries and each answer
//! is the follower's "fetch". The metadata group's network reports every answer to a
//! [`QuorumTracker`], which keeps Kafka's two timestamps per follower, with Kafka's rules
//! (`LeaderState.ReplicaState.updateFollowerState`):
//! - last fetch: when the follower last answered;
//! - last caught up: when it last held everything the leader had. An answer that matches the
//!   leader's log end makes it now; one that reaches the log end the leader had at the previous
//!   answer makes it the time of that previous answer.
//!
//! Like Kafka's, this state starts empty with every leadership (term): a new leader reports -1
//! until it hears from a follower.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::cluster::wire::{Request, Response};
use crate::group::now_ms;
use crate::raft::Raft;

type RaftMetrics = openraft::RaftMetrics<u64, openraft::BasicNode>;

/// One replica's progress as DescribeQuorum reports it; -1 where unknown, as in Kafka.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReplicaProgress {
    pub id: u64,
    /// The end of the replica's log as the leader knows it (exclusive, like a Kafka log end
    /// offset: the next Raft log index).
    pub log_end_offset: i64,
    /// Wall-clock milliseconds.
    pub last_fetch_ms: i64,
    pub last_caught_up_ms: i64,
}

/// The metadata group as its leader sees it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct QuorumState {
    pub leader: u64,
    /// The Raft term, Kafka's leader epoch.
    pub epoch: u64,
    /// The end of the committed log (exclusive), or -1 if unknown.
    pub high_watermark: i64,
    pub voters: Vec<ReplicaProgress>,
    /// Brokers that follow metadata without voting (joined with `--join`).
    pub observers: Vec<ReplicaProgress>,
}

#[derive(Clone, Copy)]
struct Follower {
    last_fetch_ms: i64,
    last_caught_up_ms: i64,
    /// The leader's last log index when this follower last answered.
    leader_end_at_last_fetch: Option<u64>,
}

#[derive(Default)]
struct Followers {
    term: u64,
    by_id: HashMap<u64, Follower>,
}

/// Follower timestamps of the metadata group, fed by its network (see the module docs).
#[derive(Default)]
pub struct QuorumTracker {
    /// The metadata group's metrics, for the leader's log end at each answer.
    metrics: OnceLock<watch::Receiver<RaftMetrics>>,
    followers: Mutex<Followers>,
}

impl QuorumTracker {
    pub fn attach(&self, metrics: watch::Receiver<RaftMetrics>) {
        let _ = self.metrics.set(metrics);
    }

    /// `follower` answered an AppendEntries of the leader in `term`; `matched`: the last log
    /// index it now holds (`None` when its log conflicted).
    pub fn answered(&self, follower: u64, term: u64, matched: Option<u64>) {
        let leader_end = self
            .metrics
            .get()
            .and_then(|metrics| metrics.borrow().last_log_index);
        let now = now_ms();
        let mut followers = self.followers.lock().unwrap_or_else(|p| p.into_inner());
        if followers.term != term {
            *followers = Followers {
                term,
                by_id: HashMap::new(),
            };
        }
        let state = followers.by_id.entry(follower).or_insert(Follower {
            last_fetch_ms: -1,
            last_caught_up_ms: -1,
            leader_end_at_last_fetch: None,
        });
        if let Some(matched) = matched {
            if leader_end.is_some_and(|end| matched >= end) {
                state.last_caught_up_ms = state.last_caught_up_ms.max(now);
            } else if state
                .leader_end_at_last_fetch
                .is_some_and(|end| matched >= end)
            {
                state.last_caught_up_ms = state.last_caught_up_ms.max(state.last_fetch_ms);
            }
        }
        state.leader_end_at_last_fetch = leader_end;
        state.last_fetch_ms = state.last_fetch_ms.max(now);
    }

    fn follower(&self, term: u64, id: u64) -> Option<Follower> {
        let followers = self.followers.lock().unwrap_or_else(|p| p.into_inner());
        (followers.term == term)
            .then(|| followers.by_id.get(&id).copied())
            .flatten()
    }
}

/// The quorum as this node sees it if it leads the metadata group, else `None`.
pub async fn describe(raft: &Raft, tracker: &QuorumTracker) -> Option<QuorumState> {
    let committed = raft.with_raft_state(|state| state.committed).await.ok()?;
    let metrics = raft.metrics().borrow().clone();
    let me = metrics.id;
    if metrics.current_leader != Some(me) {
        return None;
    }
    let term = metrics.current_term;
    let now = now_ms();
    let end = |index: Option<u64>| index.map_or(-1, |i| i as i64 + 1);
    let progress = |id: u64| {
        if id == me {
            // Kafka reports the leader as fetching and caught up right now.
            return ReplicaProgress {
                id,
                log_end_offset: end(metrics.last_log_index),
                last_fetch_ms: now,
                last_caught_up_ms: now,
            };
        }
        let matched = metrics
            .replication
            .as_ref()
            .and_then(|replication| replication.get(&id).copied().flatten());
        let follower = tracker.follower(term, id);
        ReplicaProgress {
            id,
            log_end_offset: end(matched.map(|log_id| log_id.index)),
            last_fetch_ms: follower.map_or(-1, |f| f.last_fetch_ms),
            last_caught_up_ms: follower.map_or(-1, |f| f.last_caught_up_ms),
        }
    };
    let membership = metrics.membership_config.membership();
    let voters: Vec<u64> = membership.voter_ids().collect();
    let observers = membership
        .nodes()
        .map(|(id, _)| *id)
        .filter(|id| !voters.contains(id))
        .map(progress)
        .collect();
    Some(QuorumState {
        leader: me,
        epoch: term,
        high_watermark: end(committed.map(|log_id| log_id.index)),
        voters: voters.iter().copied().map(progress).collect(),
        observers,
    })
}

/// How long a broker waits for the metadata leader's answer.
const FORWARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The quorum as the metadata leader sees it, asked of the leader when it is another node (as
/// Kafka's brokers forward DescribeQuorum to the active controller); `None` while there is no
/// leader or it cannot be reached.
pub async fn describe_quorum(metadata: &super::Metadata) -> Option<QuorumState> {
    let (leader, addr) = {
        let metrics = metadata.raft.metrics();
        let metrics = metrics.borrow();
        let leader = metrics.current_leader?;
        let node = metrics.membership_config.membership().get_node(&leader)?;
        (leader, node.addr.clone())
    };
    if leader == metadata.env.node_id {
        return describe(&metadata.raft, &metadata.env.quorum).await;
    }
    let answer = metadata.env.peers.get(&addr);
    match answer.call(Request::DescribeQuorum, FORWARD_TIMEOUT).await {
        Ok(Response::DescribeQuorum(state)) => state,
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follower_times_follow_kafkas_rules() {
        let tracker = QuorumTracker::default();
        let (leader, metrics) = watch::channel(RaftMetrics {
            last_log_index: Some(10),
            ..RaftMetrics::new_initial(1)
        });
        tracker.attach(metrics);
        // Behind the leader's end (10): fetched, never caught up.
        tracker.answered(2, 5, Some(7));
        let first = tracker.follower(5, 2).unwrap();
        assert!(first.last_fetch_ms > 0);
        assert_eq!(first.last_caught_up_ms, -1);
        // The leader moved on to 15; reaching 10, the end it had at the previous answer, makes
        // the follower caught up as of that answer.
        leader.send_modify(|m| m.last_log_index = Some(15));
        std::thread::sleep(std::time::Duration::from_millis(5));
        tracker.answered(2, 5, Some(10));
        let second = tracker.follower(5, 2).unwrap();
        assert_eq!(second.last_caught_up_ms, first.last_fetch_ms);
        assert!(second.last_fetch_ms > first.last_fetch_ms);
        // Matching the leader's end: caught up now.
        tracker.answered(2, 5, Some(15));
        let third = tracker.follower(5, 2).unwrap();
        assert_eq!(third.last_caught_up_ms, third.last_fetch_ms);
        // A conflicting answer is still a fetch.
        tracker.answered(3, 5, None);
        assert_eq!(tracker.follower(5, 3).unwrap().last_caught_up_ms, -1);
        // A new term starts afresh.
        tracker.answered(3, 6, None);
        assert!(tracker.follower(6, 2).is_none());
        assert!(tracker.follower(5, 2).is_none());
    }
}
