//! Moving a partition's leadership to another replica (ElectLeaders PREFERRED).
//!
//! openraft 0.9 has no leadership transfer, but its vote rules allow one: a leader's lease on
//! its own vote starts when it is elected and is never renewed, so once the lease has run out
//! the leader grants its vote to a candidate whose log is at least as long as its own, and steps
//! down. The other followers still refuse (each leader heartbeat renews their lease), so the
//! candidate wins with the old leader's vote and its own: a majority of two voters or of three.
//!
//! So the leader hands over like this: the target must be a voter that answered the leader
//! within the lease (heartbeats go out several times per lease) and match the leader's whole
//! log, which an in-sync replica does within `replica.lag.time.max.ms`; once the leader's lease
//! has run out, the target is asked to campaign. A write
//! the leader appends between the check and the vote request makes it refuse the vote; the
//! target then holds a higher term, the group elects again by its timers, and the transfer is
//! retried while the caller's time lasts.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::Raft;
use crate::cluster::peers::Peers;
use crate::cluster::wire::{Request, Response};

/// What the node asked about a group's leadership answers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum LeadershipAnswer {
    /// This node leads the group (and was asked for no transfer, or to keep it).
    Leads,
    /// Leadership moved to the replica asked for.
    Transferred,
    /// This node does not lead the group; the leader it knows, if any.
    NotLeader(Option<u64>),
    /// The replica asked for cannot lead now, and why.
    Unavailable(String),
    /// The replica was in sync but had not won an election when time ran out.
    TimedOut(String),
}

/// On the node that leads `group` (or believes it does): reports its leadership, or hands it to
/// `to` within `timeout` (see the module docs).
pub async fn leadership(
    raft: &Raft,
    peers: &Peers,
    group: u64,
    to: Option<u64>,
    lag_max: Duration,
    timeout: Duration,
) -> LeadershipAnswer {
    let deadline = Instant::now() + timeout;
    let lease = Duration::from_millis(raft.config().election_timeout_max);
    let me = raft.metrics().borrow().id;
    let mut campaigned = false;
    loop {
        let (leader, target) = {
            let metrics = raft.metrics();
            let metrics = metrics.borrow();
            let membership = metrics.membership_config.membership();
            let target = to.map(|to| {
                let voter = membership.voter_ids().any(|id| id == to);
                (to, membership.get_node(&to).filter(|_| voter).cloned())
            });
            (metrics.current_leader, target)
        };
        if leader != Some(me) {
            return match leader {
                Some(leader) if campaigned && Some(leader) == to => LeadershipAnswer::Transferred,
                _ => LeadershipAnswer::NotLeader(leader),
            };
        }
        let Some((to, node)) = target.filter(|(to, _)| *to != me) else {
            return LeadershipAnswer::Leads;
        };
        let Some(node) = node else {
            return LeadershipAnswer::Unavailable(format!(
                "Broker {to} is not a voting replica of this partition."
            ));
        };
        // Its heartbeats are answered every heartbeat interval; one that missed a whole lease
        // is down or cut off, and could not campaign anyway.
        if !peers.heard_within(&node.addr, lease) {
            return LeadershipAnswer::Unavailable(format!(
                "Broker {to} has not answered the leader for {} ms.",
                lease.as_millis()
            ));
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if !caught_up(raft, me, to, lag_max.min(remaining)).await {
            if Instant::now() >= deadline {
                return timed_out(to);
            }
            return LeadershipAnswer::Unavailable(format!(
                "Broker {to} did not catch up with the leader's log within {} ms.",
                lag_max.as_millis()
            ));
        }
        // This leader grants the vote only once its lease, counted from its election, ran out.
        if let Ok(Some(elected)) = raft.with_raft_state(|s| s.vote_last_modified()).await {
            let expires = elected + lease + Duration::from_millis(10);
            if expires >= deadline {
                return timed_out(to);
            }
            tokio::time::sleep_until(expires).await;
        }
        // The wait may have let writes in: the vote needs the target's log as long as ours.
        if caught_up(raft, me, to, Duration::ZERO).await {
            campaigned = true;
            let campaign = Request::Campaign { group };
            match peers.get(&node.addr).call(campaign, lease).await {
                Ok(Response::Campaign(Ok(()))) => {}
                Ok(Response::Campaign(Err(why))) => return LeadershipAnswer::Unavailable(why),
                Ok(_) | Err(_) => {
                    return LeadershipAnswer::Unavailable(format!(
                        "Broker {to} did not start an election."
                    ))
                }
            }
            // Won or lost, the vote moves leadership away from here or not at all; a lost
            // vote costs an election by the group's timers (about an election timeout).
            let settle = (lease * 3).min(deadline.saturating_duration_since(Instant::now()));
            let _ = raft
                .wait(Some(settle))
                .metrics(
                    |m| m.current_leader.is_some_and(|leader| leader != me),
                    "leadership handed over",
                )
                .await;
        }
        if Instant::now() >= deadline {
            return match raft.metrics().borrow().current_leader {
                Some(leader) if campaigned && leader == to => LeadershipAnswer::Transferred,
                _ => timed_out(to),
            };
        }
    }
}

/// Waits (at most `within`) until this node still leads and `to` holds the whole log.
async fn caught_up(raft: &Raft, me: u64, to: u64, within: Duration) -> bool {
    let done = move |m: &openraft::RaftMetrics<u64, openraft::BasicNode>| {
        let matched = m
            .replication
            .as_ref()
            .and_then(|replication| replication.get(&to).copied().flatten());
        m.current_leader == Some(me) && matched.map(|l| l.index) >= m.last_log_index
    };
    if done(&raft.metrics().borrow()) {
        return true;
    }
    if within.is_zero() {
        return false;
    }
    raft.wait(Some(within))
        .metrics(done, "replica caught up")
        .await
        .is_ok()
}

fn timed_out(to: u64) -> LeadershipAnswer {
    LeadershipAnswer::TimedOut(format!(
        "Broker {to} had not taken over the leadership when the request timed out."
    ))
}

/// On the replica asked to take over: calls an election now.
pub async fn campaign(raft: &Raft) -> Result<(), String> {
    raft.trigger().elect().await.map_err(|e| e.to_string())
}
