//! DescribeQuorum (`kafka-metadata-quorum describe --status/--replication`, Admin
//! `describeMetadataQuorum`): the metadata Raft group, answered as Kafka answers for its
//! `__cluster_metadata` partition 0. Any broker answers: one that does not lead the group asks
//! the leader, as Kafka's brokers forward this request to the active controller.
//!
//! Offsets are Raft log indexes (the metadata log's entries, as Kafka's are records of its
//! metadata log). Voters have no directory id (the zero UUID, as Kafka's static voters), and
//! each node's endpoint is its Kafka listener, which serves this request.

use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse};

use super::access::Access;
use super::{str_bytes, topic_name, Ctx};
use crate::metadata::quorum::{describe_quorum, QuorumState, ReplicaProgress};
use crate::protocol::error_codes as ec;
use crate::security::acl::Operation;

/// Kafka's name for its metadata log.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// Kafka's messages for the partition-level errors this API returns.
const UNKNOWN_TOPIC_OR_PARTITION_MESSAGE: &str = "This server does not host this topic-partition.";
const NOT_LEADER_OR_FOLLOWER_MESSAGE: &str = "For requests intended only for the leader, this error indicates that the broker is not the current leader. For requests intended for any replica, this error indicates that the broker is not a replica of the topic partition.";

pub async fn handle(
    ctx: &Ctx,
    access: Access,
    version: i16,
    request: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    // Kafka: DESCRIBE on the cluster.
    if let Err(code) = access.cluster_code(Operation::Describe) {
        return DescribeQuorumResponse::default().with_error_code(code);
    }
    // Exactly the one metadata partition, as Kafka's RaftUtil.hasValidTopicPartition.
    let valid = match request.topics.as_slice() {
        [topic] => {
            topic.topic_name.as_str() == METADATA_TOPIC
                && matches!(topic.partitions.as_slice(), [p] if p.partition_index == 0)
        }
        _ => false,
    };
    if !valid {
        let topics = request
            .topics
            .iter()
            .map(|topic| {
                TopicData::default()
                    .with_topic_name(topic.topic_name.clone())
                    .with_partitions(
                        topic
                            .partitions
                            .iter()
                            .map(|p| {
                                error_partition(
                                    p.partition_index,
                                    ec::UNKNOWN_TOPIC_OR_PARTITION,
                                    UNKNOWN_TOPIC_OR_PARTITION_MESSAGE,
                                )
                            })
                            .collect(),
                    )
            })
            .collect();
        return DescribeQuorumResponse::default().with_topics(topics);
    }
    let partition = match describe_quorum(&ctx.metadata).await {
        Some(state) => return response(ctx, version, state),
        None => error_partition(
            0,
            ec::NOT_LEADER_OR_FOLLOWER,
            NOT_LEADER_OR_FOLLOWER_MESSAGE,
        ),
    };
    DescribeQuorumResponse::default().with_topics(vec![metadata_topic(partition)])
}

fn response(ctx: &Ctx, version: i16, state: QuorumState) -> DescribeQuorumResponse {
    let partition = PartitionData::default()
        .with_partition_index(0)
        .with_error_code(ec::NONE)
        .with_leader_id(BrokerId(state.leader as i32))
        .with_leader_epoch(state.epoch as i32)
        .with_high_watermark(state.high_watermark)
        .with_current_voters(state.voters.iter().map(replica_state).collect())
        .with_observers(state.observers.iter().map(replica_state).collect());
    let mut response = DescribeQuorumResponse::default()
        .with_error_code(ec::NONE)
        .with_topics(vec![metadata_topic(partition)]);
    if version >= 2 {
        let brokers = ctx.brokers(&ctx.metadata.current());
        let nodes = state
            .voters
            .iter()
            .map(|voter| {
                let listeners = brokers
                    .iter()
                    .filter(|(id, _)| *id == voter.id)
                    .map(|(_, info)| {
                        Listener::default()
                            .with_name(str_bytes("PLAINTEXT"))
                            .with_host(str_bytes(&info.host))
                            .with_port(u16::try_from(info.port).unwrap_or(0))
                    })
                    .collect();
                Node::default()
                    .with_node_id(BrokerId(voter.id as i32))
                    .with_listeners(listeners)
            })
            .collect();
        response = response.with_nodes(nodes);
    }
    response
}

fn replica_state(replica: &ReplicaProgress) -> ReplicaState {
    ReplicaState::default()
        .with_replica_id(BrokerId(replica.id as i32))
        .with_replica_directory_id(uuid::Uuid::nil())
        .with_log_end_offset(replica.log_end_offset)
        .with_last_fetch_timestamp(replica.last_fetch_ms)
        .with_last_caught_up_timestamp(replica.last_caught_up_ms)
}

fn metadata_topic(partition: PartitionData) -> TopicData {
    TopicData::default()
        .with_topic_name(topic_name(METADATA_TOPIC))
        .with_partitions(vec![partition])
}

fn error_partition(index: i32, code: i16, message: &str) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_error_code(code)
        .with_error_message(Some(str_bytes(message)))
}
