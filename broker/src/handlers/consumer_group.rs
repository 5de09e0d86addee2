//! KIP-848 consumer groups: ConsumerGroupHeartbeat and ConsumerGroupDescribe.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kafka_protocol::messages::consumer_group_describe_response as describe;
use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::*;

use super::access::Access;
use super::{str_bytes, topic_name, Ctx};
use crate::group::consumer::{self, HEARTBEAT_INTERVAL_MS};
use crate::group::Group;
use crate::protocol::error_codes as ec;
use crate::security::acl::Operation;

const ASSIGNORS: [&str; 2] = ["range", "uniform"];

pub async fn heartbeat(
    ctx: &Arc<Ctx>,
    access: Access,
    header: &RequestHeader,
    request: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let group_id = request.group_id.to_string();
    let error = |code: i16, message: &str| {
        ConsumerGroupHeartbeatResponse::default()
            .with_error_code(code)
            .with_error_message(Some(str_bytes(message)))
            .with_member_epoch(-1)
    };
    // Kafka: READ on the group, DESCRIBE on every subscribed topic.
    if access.group_code(Operation::Read, &group_id).is_err() {
        return error(ec::GROUP_AUTHORIZATION_FAILED, "");
    }
    if let Some(topic) = request
        .subscribed_topic_names
        .iter()
        .flatten()
        .find(|topic| !access.topic(Operation::Describe, topic))
    {
        let message = format!("Not authorized to describe topic {}.", topic.as_str());
        return error(ec::TOPIC_AUTHORIZATION_FAILED, &message);
    }
    if group_id.is_empty() {
        return error(ec::INVALID_REQUEST, "GroupId can't be empty.");
    }
    if let Err(code) = ctx.groups.partition_for(&group_id) {
        return error(code, "");
    }
    if request.member_epoch == 0
        && request.subscribed_topic_names.is_none()
        && request.subscribed_topic_regex.is_none()
    {
        return error(
            ec::INVALID_REQUEST,
            "SubscribedTopicNames must be set in first request.",
        );
    }
    if request.subscribed_topic_regex.is_some() && request.subscribed_topic_names.is_none() {
        return error(
            ec::INVALID_REQUEST,
            "Regex subscriptions are not supported by this broker.",
        );
    }
    if request
        .server_assignor
        .as_ref()
        .is_some_and(|a| !ASSIGNORS.contains(&a.as_str()))
    {
        return error(ec::UNSUPPORTED_ASSIGNOR, "Unsupported assignor.");
    }
    let owned = request.topic_partitions.as_ref().map(|tps| {
        tps.iter()
            .map(|tp| {
                (
                    tp.topic_id,
                    tp.partitions.iter().copied().collect::<BTreeSet<i32>>(),
                )
            })
            .collect::<BTreeMap<_, _>>()
    });
    let result = ctx
        .groups
        .consumer_heartbeat(
            &group_id,
            consumer::HeartbeatRequest {
                member_id: request.member_id.to_string(),
                member_epoch: request.member_epoch,
                instance_id: request.instance_id.as_ref().map(|s| s.to_string()),
                rack_id: request.rack_id.as_ref().map(|s| s.to_string()),
                client_id: header
                    .client_id
                    .as_ref()
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
                client_host: "/127.0.0.1".into(),
                subscribed: request
                    .subscribed_topic_names
                    .as_ref()
                    .map(|names| names.iter().map(|n| n.to_string()).collect()),
                owned,
            },
        )
        .await;
    if result.error_code != ec::NONE {
        return error(result.error_code, "").with_member_id(Some(str_bytes(&result.member_id)));
    }
    let assignment = result.assignment.map(|a| {
        Assignment::default().with_topic_partitions(
            a.into_iter()
                .map(|(topic_id, partitions)| {
                    TopicPartitions::default()
                        .with_topic_id(topic_id)
                        .with_partitions(partitions.into_iter().collect())
                })
                .collect(),
        )
    });
    ConsumerGroupHeartbeatResponse::default()
        .with_error_code(ec::NONE)
        .with_member_id(Some(str_bytes(&result.member_id)))
        .with_member_epoch(result.member_epoch)
        .with_heartbeat_interval_ms(HEARTBEAT_INTERVAL_MS)
        .with_assignment(assignment)
}

pub fn describe(
    ctx: &Arc<Ctx>,
    access: Access,
    request: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let image = ctx.metadata.current();
    let names: BTreeMap<uuid::Uuid, String> = image
        .topics
        .values()
        .map(|t| (uuid::Uuid::from_bytes(t.id), t.name.clone()))
        .collect();
    let to_assignment = |a: &consumer::Assignment| {
        describe::Assignment::default().with_topic_partitions(
            a.iter()
                .map(|(id, partitions)| {
                    describe::TopicPartitions::default()
                        .with_topic_id(*id)
                        .with_topic_name(topic_name(
                            names.get(id).map(String::as_str).unwrap_or(""),
                        ))
                        .with_partitions(partitions.iter().copied().collect())
                })
                .collect(),
        )
    };
    let groups = request
        .group_ids
        .iter()
        .map(|group_id| {
            let described = describe::DescribedGroup::default()
                .with_group_id(group_id.clone())
                .with_authorized_operations(i32::MIN);
            if let Err(code) = access.group_code(Operation::Describe, group_id) {
                return described.with_error_code(code);
            }
            if let Err(code) = ctx.groups.partition_for(group_id.as_str()) {
                return described.with_error_code(code);
            }
            ctx.groups
                .with_group(group_id.as_str(), |group| match group {
                    Some(Group::Consumer(g)) => {
                        let members = g
                            .members
                            .values()
                            .map(|m| {
                                describe::Member::default()
                                    .with_member_id(str_bytes(&m.member_id))
                                    .with_instance_id(m.instance_id.as_deref().map(str_bytes))
                                    .with_rack_id(m.rack_id.as_deref().map(str_bytes))
                                    .with_member_epoch(m.epoch)
                                    .with_client_id(str_bytes(&m.client_id))
                                    .with_client_host(str_bytes(&m.client_host))
                                    .with_subscribed_topic_names(
                                        m.subscribed.iter().map(|s| topic_name(s)).collect(),
                                    )
                                    .with_assignment(to_assignment(&m.owned))
                                    .with_target_assignment(to_assignment(
                                        &g.target.get(&m.member_id).cloned().unwrap_or_default(),
                                    ))
                            })
                            .collect();
                        described
                            .with_error_code(ec::NONE)
                            .with_group_state(str_bytes(g.state()))
                            .with_group_epoch(g.epoch)
                            .with_assignment_epoch(g.epoch)
                            .with_assignor_name(str_bytes("range"))
                            .with_members(members)
                    }
                    _ => described
                        .with_error_code(ec::GROUP_ID_NOT_FOUND)
                        .with_error_message(Some(str_bytes(&format!(
                            "Group {} not found.",
                            group_id.as_str()
                        )))),
                })
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}
