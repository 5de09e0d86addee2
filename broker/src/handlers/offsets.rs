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

use super::access::Access;
use super::{str_bytes, topic_name, Ctx};
use crate::group::store::OffsetValue;
use crate::protocol::error_codes as ec;
use crate::security::acl::{Operation, ResourceType};

pub async fn commit(
    ctx: &Arc<Ctx>,
    access: Access,
    version: i16,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let group_id = request.group_id.to_string();
    // Kafka: READ on the group (else every partition fails), READ on each topic.
    let group_denied = access.group_code(Operation::Read, &group_id).err();
    let topic_denied: Vec<Option<i16>> = request
        .topics
        .iter()
        .map(|t| match group_denied {
            Some(code) => Some(code),
            None => access.topic_code(Operation::Read, &t.name).err(),
        })
        .collect();
    let entries: Vec<(String, i32, OffsetValue)> = request
        .topics
        .iter()
        .zip(&topic_denied)
        .filter(|(_, denied)| denied.is_none())
        .flat_map(|(t, _)| {
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
        _ if entries.is_empty() => Vec::new(),
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
        .zip(topic_denied)
        .map(|(t, denied)| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let code = match denied {
                        Some(code) => code,
                        None => codes.next().unwrap_or(ec::UNKNOWN_SERVER_ERROR),
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
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
///
/// Kafka's checks: DESCRIBE on the group; a named topic one may not DESCRIBE answers
/// TOPIC_AUTHORIZATION_FAILED, and such topics are left out when all are asked for.
fn fetch_group(
    ctx: &Ctx,
    access: &Access,
    group_id: &str,
    wanted: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Result<Fetched, i16> {
    access.group_code(Operation::Describe, group_id)?;
    ctx.groups.partition_for(group_id)?;
    let named = wanted.is_some();
    Ok(ctx
        .groups
        .fetch(group_id, wanted)
        .into_iter()
        .filter(|(topic, _, _)| {
            named || access.quietly(Operation::Describe, ResourceType::Topic, topic)
        })
        .map(|(topic, partition, value)| {
            if named && !access.topic(Operation::Describe, &topic) {
                (topic, partition, None, ec::TOPIC_AUTHORIZATION_FAILED)
            } else if require_stable
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

pub fn fetch(
    ctx: &Arc<Ctx>,
    access: Access,
    version: i16,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
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
                match fetch_group(
                    ctx,
                    &access,
                    g.group_id.as_str(),
                    wanted,
                    request.require_stable,
                ) {
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
    match fetch_group(
        ctx,
        &access,
        request.group_id.as_str(),
        wanted,
        require_stable,
    ) {
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

pub async fn delete(
    ctx: &Arc<Ctx>,
    access: Access,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let group_id = request.group_id.to_string();
    // Kafka: DELETE on the group, READ on each topic.
    if let Err(code) = access.group_code(Operation::Delete, &group_id) {
        return OffsetDeleteResponse::default().with_error_code(code);
    }
    let image = ctx.metadata.current();
    let mut partitions = Vec::new();
    let mut topics = Vec::new();
    for t in &request.topics {
        let known = image.topics.get(t.name.as_str());
        let denied = access.topic_code(Operation::Read, &t.name).err();
        let mut results = Vec::new();
        for p in &t.partitions {
            let exists = known.is_some_and(|k| {
                p.partition_index >= 0 && (p.partition_index as usize) < k.partitions.len()
            });
            let code = match denied {
                Some(code) => code,
                None if exists => ec::NONE,
                None => ec::UNKNOWN_TOPIC_OR_PARTITION,
            };
            if code == ec::NONE {
                partitions.push((t.name.to_string(), p.partition_index));
            }
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
