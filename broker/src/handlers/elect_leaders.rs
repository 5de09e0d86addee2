//! ElectLeaders (`kafka-leader-election`, Admin `electLeaders`), with the error codes of Kafka's
//! controller (`ReplicationControlManager.electLeader`).
//!
//! PREFERRED hands a partition's Raft leadership to the first replica of its assignment, if that
//! replica is in sync (`raft::transfer`); the request waits until it leads. UNCLEAN would elect
//! an out-of-sync replica when no in-sync one is left, which Raft never does (an out-of-sync
//! replica cannot win a vote, and without a majority of replicas nothing can be elected): it
//! answers ELECTION_NOT_NEEDED while the partition has a leader and
//! ELIGIBLE_LEADERS_NOT_AVAILABLE when it has none, as Kafka answers when no eligible replica is
//! left.
//!
//! Any broker handles it: the partition's leader, found from this node's replica or from what
//! the leader last reported to metadata, is asked over the cluster transport.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};
use tokio::time::Instant;

use super::access::Access;
use super::{str_bytes, topic_name, Ctx};
use crate::cluster::wire::{Request, Response};
use crate::metadata::MetadataState;
use crate::protocol::error_codes as ec;
use crate::raft::transfer::{self, LeadershipAnswer};
use crate::security::acl::Operation;

const PREFERRED: i8 = 0;
const UNCLEAN: i8 = 1;

/// How long a partition without a known leader is given to elect one (a Raft failover takes
/// 2-3 s) before the answer says there is none.
const LEADER_WAIT: Duration = Duration::from_secs(5);

/// Extra time for the cluster transport on top of the leader's own deadline.
const TRANSPORT_SLACK: Duration = Duration::from_secs(2);

/// Kafka's message for ELECTION_NOT_NEEDED.
const ELECTION_NOT_NEEDED_MESSAGE: &str = "Leader election not needed for topic partition.";

type Outcome = (i16, Option<String>);

pub async fn handle(
    ctx: &Arc<Ctx>,
    access: Access,
    version: i16,
    request: ElectLeadersRequest,
) -> ElectLeadersResponse {
    // Kafka: ALTER on the cluster.
    if let Err(code) = access.cluster_code(Operation::Alter) {
        return error_response(&request, code, "Cluster authorization failed.");
    }
    let election_type = if version >= 1 {
        request.election_type
    } else {
        PREFERRED
    };
    if election_type != PREFERRED && election_type != UNCLEAN {
        let message = format!("Unknown election type {election_type}");
        return error_response(&request, ec::INVALID_REQUEST, &message);
    }
    let deadline = Instant::now() + Duration::from_millis(request.timeout_ms.max(0) as u64);
    let image = ctx.metadata.current();
    // null: every partition of every topic, and only those that needed an election are listed.
    let all = request.topic_partitions.is_none();
    let asked: Vec<(String, Vec<i32>)> = match &request.topic_partitions {
        Some(topics) => topics
            .iter()
            .map(|t| (t.topic.to_string(), t.partitions.clone()))
            .collect(),
        None => image
            .topics
            .values()
            .map(|t| (t.name.clone(), (0..t.partitions.len() as i32).collect()))
            .collect(),
    };
    let image = &image;
    let results = join_all(asked.iter().map(|(topic, partitions)| async move {
        let outcomes = join_all(
            partitions
                .iter()
                .map(|p| elect(ctx, image, topic, *p, election_type, deadline)),
        )
        .await;
        let partitions = partitions
            .iter()
            .zip(outcomes)
            .filter(|(_, (code, _))| !(all && *code == ec::ELECTION_NOT_NEEDED))
            .map(|(index, (code, message))| {
                PartitionResult::default()
                    .with_partition_id(*index)
                    .with_error_code(code)
                    .with_error_message(message.as_deref().map(str_bytes))
            })
            .collect();
        ReplicaElectionResult::default()
            .with_topic(topic_name(topic))
            .with_partition_result(partitions)
    }))
    .await;
    ElectLeadersResponse::default()
        .with_error_code(ec::NONE)
        .with_replica_election_results(results)
}

/// One partition's election.
async fn elect(
    ctx: &Ctx,
    image: &MetadataState,
    topic: &str,
    index: i32,
    election_type: i8,
    deadline: Instant,
) -> Outcome {
    let Some(meta) = image.topics.get(topic) else {
        return (
            ec::UNKNOWN_TOPIC_OR_PARTITION,
            Some(format!("No such topic as {topic}")),
        );
    };
    let Some(group) = usize::try_from(index)
        .ok()
        .and_then(|i| meta.partitions.get(i).copied())
    else {
        return (
            ec::UNKNOWN_TOPIC_OR_PARTITION,
            Some(format!("No such partition as {topic}-{index}")),
        );
    };
    let preferred = image
        .assignments
        .get(&group)
        .and_then(|a| a.replicas.first().copied());
    let to = match election_type {
        PREFERRED => match preferred {
            Some(preferred) => Some(preferred),
            None => return no_leader(election_type),
        },
        _ => None,
    };
    let give_up = (Instant::now() + LEADER_WAIT).min(deadline);
    let mut named: Option<u64> = None;
    loop {
        let asked = named.take().or_else(|| believed_leader(ctx, group));
        let answer = match asked {
            Some(node) => ask(ctx, node, group, to, deadline).await,
            None => None,
        };
        match answer {
            Some(LeadershipAnswer::Leads) => {
                return (
                    ec::ELECTION_NOT_NEEDED,
                    Some(ELECTION_NOT_NEEDED_MESSAGE.to_string()),
                )
            }
            Some(LeadershipAnswer::Transferred) => return (ec::NONE, None),
            Some(LeadershipAnswer::Unavailable(why)) => {
                return (ec::PREFERRED_LEADER_NOT_AVAILABLE, Some(why))
            }
            Some(LeadershipAnswer::TimedOut(why)) => return (ec::REQUEST_TIMED_OUT, Some(why)),
            // The node asked knows another leader: ask that one next.
            Some(LeadershipAnswer::NotLeader(Some(leader))) => named = Some(leader),
            // No leader known, or not reachable: an election may be under way.
            Some(LeadershipAnswer::NotLeader(None)) | None => {}
        }
        if Instant::now() >= give_up {
            return no_leader(election_type);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn no_leader(election_type: i8) -> Outcome {
    if election_type == PREFERRED {
        (
            ec::PREFERRED_LEADER_NOT_AVAILABLE,
            Some(
                "The partition has no leader: a majority of its replicas is not available.".into(),
            ),
        )
    } else {
        (
            ec::ELIGIBLE_LEADERS_NOT_AVAILABLE,
            Some("The partition has no leader, and Raft elects only a replica that has the whole committed log, once a majority of the replicas is available; there is no unclean election.".into()),
        )
    }
}

/// The leader as this node's replica knows it, else as the leader last reported it.
fn believed_leader(ctx: &Ctx, group: u64) -> Option<u64> {
    match ctx.replicas.get(group) {
        Some(partition) => partition.leader().map(|(leader, _)| leader),
        None => ctx
            .metadata
            .current()
            .assignments
            .get(&group)
            .and_then(|a| u64::try_from(a.leader).ok()),
    }
}

/// Asks `node` about its leadership of `group` (and to hand it to `to`); `None` if it cannot
/// be reached or does not host the partition.
async fn ask(
    ctx: &Ctx,
    node: u64,
    group: u64,
    to: Option<u64>,
    deadline: Instant,
) -> Option<LeadershipAnswer> {
    let lag_max = Duration::from_millis(ctx.config.replica_lag_time_max_ms);
    let timeout = deadline.saturating_duration_since(Instant::now());
    let peers = &ctx.replicas.env().peers;
    if node == ctx.config.node_id {
        let partition = ctx.replicas.get(group)?;
        return Some(
            transfer::leadership(&partition.raft, peers, group, to, lag_max, timeout).await,
        );
    }
    let addr = ctx.metadata.current().brokers.get(&node)?.raft.clone();
    let request = Request::Leadership {
        group,
        to,
        lag_max_ms: lag_max.as_millis() as u64,
        timeout_ms: timeout.as_millis() as u64,
    };
    match peers
        .get(&addr)
        .call(request, timeout + TRANSPORT_SLACK)
        .await
    {
        Ok(Response::Leadership(answer)) => Some(answer),
        _ => None,
    }
}

/// Kafka's `ElectLeadersRequest.getErrorResponse`: the error at the top and for every partition
/// named.
fn error_response(request: &ElectLeadersRequest, code: i16, message: &str) -> ElectLeadersResponse {
    let results = request
        .topic_partitions
        .iter()
        .flatten()
        .map(|topic| {
            ReplicaElectionResult::default()
                .with_topic(topic.topic.clone())
                .with_partition_result(
                    topic
                        .partitions
                        .iter()
                        .map(|p| {
                            PartitionResult::default()
                                .with_partition_id(*p)
                                .with_error_code(code)
                                .with_error_message(Some(str_bytes(message)))
                        })
                        .collect(),
                )
        })
        .collect();
    ElectLeadersResponse::default()
        .with_error_code(code)
        .with_replica_election_results(results)
}
