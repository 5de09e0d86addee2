//! OffsetForLeaderEpoch: where a leader epoch ended, from the partition's epoch cache (the
//! first offset of each Raft term). Consumers ask after a leader change to detect that the
//! records they read were truncated; with Raft, committed records never are, so the answer
//! confirms their position.

use std::sync::Arc;

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::access::Access;
use super::fetch::check_epoch;
use super::Ctx;
use crate::protocol::error_codes as ec;
use crate::security::acl::Operation;

pub fn handle(
    ctx: &Arc<Ctx>,
    access: Access,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let image = ctx.metadata.current();
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let meta = image.topics.get(topic.topic.as_str());
            // Kafka: DESCRIBE on the topic (a consumer's check after a leader change).
            let denied = access.topic_code(Operation::Describe, &topic.topic).err();
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let result = EpochEndOffset::default().with_partition(p.partition);
                    let partition = denied
                        .map_or(Ok(()), Err)
                        .and_then(|_| meta.ok_or(ec::UNKNOWN_TOPIC_OR_PARTITION))
                        .and_then(|meta| {
                            ctx.read_partition(meta, p.partition, ec::NOT_LEADER_OR_FOLLOWER)
                        })
                        .and_then(|partition| {
                            check_epoch(p.current_leader_epoch, partition.leader_epoch())
                                .map(|_| partition)
                        });
                    match partition {
                        Ok(partition) => {
                            let (epoch, end) = partition.end_offset_for_epoch(p.leader_epoch);
                            result
                                .with_error_code(ec::NONE)
                                .with_leader_epoch(epoch)
                                .with_end_offset(end)
                        }
                        Err(code) => result
                            .with_error_code(code)
                            .with_leader_epoch(-1)
                            .with_end_offset(-1),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
