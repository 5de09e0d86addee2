//! OffsetCommit, OffsetFetch (single-group and multi-group forms) and OffsetDelete.

use std::sync::Arc;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::*;

use super::{str_bytes, topic_name, Ctx};
use crate::group::store::OffsetValue;
use crate::protocol::error_codes as ec;

pub async fn commit(
    ctx: &Arc<Ctx>,
    version: i16,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let group_id = request.group_id.to_string();
    let entries: Vec<(String, i32, OffsetValue)> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                let leader_epoch = if version >= 6 {
                    p.committed_leader_epoch
                } else {
                    -1
                };
                let value = OffsetValue::committed(
                    p.committed_offset,
                    leader_epoch,
                    p.committed_metadata.as_ref(),
                );
                (t.name.to_string(), p.partition_index, value)
            })
        })
        .collect();
    let codes = match ctx.groups.partition_for(&group_id) {
        Err(code) => vec![code; entries.len()],
        Ok(_) if group_id.is_empty() => vec![ec::INVALID_GROUP_ID; entries.len()],
        Ok(_) => {
            let instance_id = request.group_instance_id.as_ref().map(|s| s.to_string());
            ctx.groups
                .commit(
                    &group_id,
                    request.member_id.as_str(),
                    instance_id.as_deref(),
                    request.generation_id_or_member_epoch,
                    entries,
                )
                .await
        }
    };
    let mut codes = codes.into_iter();
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(codes.next().unwrap_or(ec::UNKNOWN_SERVER_ERROR))
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

/// A partition's committed offset (if any) and its error code.
type Fetched = Vec<(String, i32, Option<OffsetValue>, i16)>;

/// Offsets of one group, or the group-level error. With `require_stable` (read_committed
/// consumers, v7+) a partition whose offset a transaction has yet to settle answers
/// UNSTABLE_OFFSET_COMMIT (retriable), as Kafka.
fn fetch_group(
    ctx: &Ctx,
    group_id: &str,
    wanted: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Result<Fetched, i16> {
    ctx.groups.partition_for(group_id)?;
    Ok(ctx
        .groups
        .fetch(group_id, wanted)
        .into_iter()
        .map(|(topic, partition, value)| {
            if require_stable
                && ctx
                    .groups
                    .has_pending_txn_offset(group_id, &topic, partition)
            {
                (topic, partition, None, ec::UNSTABLE_OFFSET_COMMIT)
            } else {
                (topic, partition, value, ec::NONE)
            }
        })
        .collect())
}

/// (offset, leader epoch, metadata) as Kafka reports a partition without a commit.
fn values(value: &Option<OffsetValue>) -> (i64, i32, String) {
    match value {
        Some(v) => (v.offset, v.leader_epoch, v.metadata.clone()),
        None => (-1, -1, String::new()),
    }
}

/// Committed offsets of one topic: (partition, value, error code).
type TopicOffsets = (String, Vec<(i32, Option<OffsetValue>, i16)>);

fn grouped(fetched: Fetched) -> Vec<TopicOffsets> {
    let mut topics: Vec<TopicOffsets> = Vec::new();
    for (topic, partition, value, code) in fetched {
        match topics.iter_mut().find(|(t, _)| *t == topic) {
            Some((_, partitions)) => partitions.push((partition, value, code)),
            None => topics.push((topic, vec![(partition, value, code)])),
        }
    }
    topics
}

pub fn fetch(ctx: &Arc<Ctx>, version: i16, request: OffsetFetchRequest) -> OffsetFetchResponse {
    if version >= 8 {
        let groups = request
            .groups
            .iter()
            .map(|g| {
                let wanted = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
                        .collect()
                });
                let response =
                    OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
                match fetch_group(ctx, g.group_id.as_str(), wanted, request.require_stable) {
                    Err(code) => response.with_error_code(code),
                    Ok(fetched) => response.with_error_code(ec::NONE).with_topics(
                        grouped(fetched)
                            .into_iter()
                            .map(|(topic, partitions)| {
                                OffsetFetchResponseTopics::default()
                                    .with_name(topic_name(&topic))
                                    .with_partitions(
                                        partitions
                                            .into_iter()
                                            .map(|(p, value, code)| {
                                                let (offset, epoch, metadata) = values(&value);
                                                OffsetFetchResponsePartitions::default()
                                                    .with_partition_index(p)
                                                    .with_committed_offset(offset)
                                                    .with_committed_leader_epoch(epoch)
                                                    .with_metadata(Some(str_bytes(&metadata)))
                                                    .with_error_code(code)
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    ),
                }
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let wanted = request.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    let require_stable = version >= 7 && request.require_stable;
    match fetch_group(ctx, request.group_id.as_str(), wanted, require_stable) {
        Err(code) if version >= 2 => OffsetFetchResponse::default().with_error_code(code),
        Err(code) => {
            // v1 has no top-level error: every requested partition carries it.
            let topics = request
                .topics
                .unwrap_or_default()
                .iter()
                .map(|t| {
                    OffsetFetchResponseTopic::default()
                        .with_name(t.name.clone())
                        .with_partitions(
                            t.partition_indexes
                                .iter()
                                .map(|p| {
                                    OffsetFetchResponsePartition::default()
                                        .with_partition_index(*p)
                                        .with_committed_offset(-1)
                                        .with_metadata(Some(str_bytes("")))
                                        .with_error_code(code)
                                })
                                .collect(),
                        )
                })
                .collect();
            OffsetFetchResponse::default().with_topics(topics)
        }
        Ok(fetched) => {
            let topics = grouped(fetched)
                .into_iter()
                .map(|(topic, partitions)| {
                    OffsetFetchResponseTopic::default()
                        .with_name(topic_name(&topic))
                        .with_partitions(
                            partitions
                                .into_iter()
                                .map(|(p, value, code)| {
                                    let (offset, epoch, metadata) = values(&value);
                                    let partition = OffsetFetchResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_committed_offset(offset)
                                        .with_metadata(Some(str_bytes(&metadata)))
                                        .with_error_code(code);
                                    if version >= 5 {
                                        partition.with_committed_leader_epoch(epoch)
                                    } else {
                                        partition
                                    }
                                })
                                .collect(),
                        )
                })
                .collect();
            let response = OffsetFetchResponse::default().with_topics(topics);
            if version >= 2 {
                response.with_error_code(ec::NONE)
            } else {
                response
            }
        }
    }
}

pub async fn delete(ctx: &Arc<Ctx>, request: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let group_id = request.group_id.to_string();
    let image = ctx.metadata.current();
    let mut partitions = Vec::new();
    let mut topics = Vec::new();
    for t in &request.topics {
        let known = image.topics.get(t.name.as_str());
        let mut results = Vec::new();
        for p in &t.partitions {
            let exists = known.is_some_and(|k| {
                p.partition_index >= 0 && (p.partition_index as usize) < k.partitions.len()
            });
            if exists {
                partitions.push((t.name.to_string(), p.partition_index));
            }
            let code = if exists {
                ec::NONE
            } else {
                ec::UNKNOWN_TOPIC_OR_PARTITION
            };
            results.push(
                OffsetDeleteResponsePartition::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(code),
            );
        }
        topics.push(
            OffsetDeleteResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(results),
        );
    }
    let outcome = match ctx.groups.partition_for(&group_id) {
        Err(code) => Err(code),
        Ok(_) => ctx.groups.delete_offsets(&group_id, partitions).await,
    };
    match outcome {
        Ok(()) => OffsetDeleteResponse::default()
            .with_error_code(ec::NONE)
            .with_topics(topics),
        Err(ec::GROUP_SUBSCRIBED_TO_TOPIC) => {
            // Kafka reports an active group's refusal per partition.
            for topic in &mut topics {
                for p in &mut topic.partitions {
                    if p.error_code == ec::NONE {
                        p.error_code = ec::GROUP_SUBSCRIBED_TO_TOPIC;
                    }
                }
            }
            OffsetDeleteResponse::default()
                .with_error_code(ec::NONE)
                .with_topics(topics)
        }
        Err(code) => OffsetDeleteResponse::default().with_error_code(code),
    }
}
