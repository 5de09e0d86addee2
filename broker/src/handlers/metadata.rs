//! Metadata: brokers, topics, partition leaders. Auto-creates requested topics when allowed.

use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{ApiKey, BrokerId, MetadataRequest, MetadataResponse};

use super::{str_bytes, topic_name, topics, uuid_of, Ctx};
use crate::metadata::{MetadataState, TopicMeta};
use crate::protocol::error_codes as ec;
use crate::security::acl::{Operation, ResourceType};
use crate::security::Session;

pub async fn handle(
    ctx: &Arc<Ctx>,
    session: &Arc<Session>,
    version: i16,
    request: MetadataRequest,
) -> MetadataResponse {
    let access = ctx.access(session, ApiKey::Metadata);
    let mut image = ctx.metadata.current();
    // v0 sends an empty list for "all topics"; later versions send null.
    let all_topics = request.topics.is_none()
        || (version == 0 && request.topics.as_ref().is_some_and(|t| t.is_empty()));
    let mut responses = Vec::new();
    if all_topics {
        // Kafka leaves out, without an error, the topics the principal may not describe.
        for topic in image.topics.values() {
            if access.quietly(Operation::Describe, ResourceType::Topic, &topic.name) {
                responses.push(describe_topic(ctx, version, topic));
            }
        }
    } else {
        let auto_create = ctx.config.auto_create_topics_enable
            && (version < 4 || request.allow_auto_topic_creation);
        for requested in request.topics.unwrap_or_default() {
            let found = match &requested.name {
                Some(name) => image.topics.get(name.as_str()).cloned(),
                None => image.topic_by_id(requested.topic_id.as_bytes()).cloned(),
            };
            let name = found
                .as_ref()
                .map(|topic| topic.name.as_str())
                .or(requested.name.as_ref().map(|n| n.as_str()));
            if let Some(name) = name.filter(|name| !access.topic(Operation::Describe, name)) {
                responses.push(error_topic(
                    Some(name),
                    requested.topic_id,
                    ec::TOPIC_AUTHORIZATION_FAILED,
                ));
                continue;
            }
            if let Some(topic) = found {
                responses.push(describe_topic(ctx, version, &topic));
                continue;
            }
            let Some(name) = requested.name.as_ref().map(|n| n.to_string()) else {
                responses.push(error_topic(None, requested.topic_id, ec::UNKNOWN_TOPIC_ID));
                continue;
            };
            if let Err(_message) = crate::metadata::state::validate_topic_name(&name) {
                responses.push(error_topic(
                    Some(&name),
                    uuid::Uuid::nil(),
                    ec::INVALID_TOPIC_EXCEPTION,
                ));
                continue;
            }
            if !auto_create {
                responses.push(error_topic(
                    Some(&name),
                    uuid::Uuid::nil(),
                    ec::UNKNOWN_TOPIC_OR_PARTITION,
                ));
                continue;
            }
            // Kafka: auto-creation needs CREATE on the cluster or on the topic.
            if !access.cluster_quietly(Operation::Create) && !access.topic(Operation::Create, &name)
            {
                responses.push(error_topic(
                    Some(&name),
                    uuid::Uuid::nil(),
                    ec::TOPIC_AUTHORIZATION_FAILED,
                ));
                continue;
            }
            let partitions = ctx.config.num_partitions;
            match topics::create_topic(
                ctx,
                &name,
                partitions,
                topics::Placement::Factor(-1),
                Default::default(),
                topics::PARTITION_READY_TIMEOUT,
            )
            .await
            {
                Ok(()) | Err((ec::TOPIC_ALREADY_EXISTS, _)) => {
                    image = ctx.metadata.current();
                    match image.topics.get(&name) {
                        Some(topic) => responses.push(describe_topic(ctx, version, topic)),
                        None => responses.push(error_topic(
                            Some(&name),
                            uuid::Uuid::nil(),
                            ec::LEADER_NOT_AVAILABLE,
                        )),
                    }
                }
                Err((code, _)) => responses.push(error_topic(Some(&name), uuid::Uuid::nil(), code)),
            }
        }
    }
    let mut response = MetadataResponse::default()
        .with_brokers(brokers(ctx, &session.listener.name, &image))
        .with_topics(responses);
    if version >= 1 {
        response = response.with_controller_id(BrokerId(ctx.controller_id()));
    }
    if version >= 2 {
        response = response.with_cluster_id(Some(str_bytes(&cluster_id(&image))));
    }
    response
}

pub fn cluster_id(image: &MetadataState) -> String {
    image.cluster_id.clone()
}

/// The brokers at their addresses on the listener the client came in on, as Kafka answers.
fn brokers(ctx: &Ctx, listener: &str, image: &MetadataState) -> Vec<MetadataResponseBroker> {
    ctx.endpoints(image, listener)
        .into_iter()
        .map(|(id, endpoint)| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(id as i32))
                .with_host(str_bytes(&endpoint.host))
                .with_port(endpoint.port)
        })
        .collect()
}

fn error_topic(name: Option<&str>, id: uuid::Uuid, error_code: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(error_code)
        .with_name(name.map(topic_name))
        .with_topic_id(id)
}

/// A partition's leader, epoch, replicas and ISR: from this node's replica when it has one
/// (its Raft state is the freshest), else from what the leader last reported to metadata.
pub struct PartitionView {
    pub leader: Option<u64>,
    pub epoch: i32,
    pub replicas: Vec<u64>,
    pub isr: Vec<u64>,
}

pub fn partition_view(ctx: &Ctx, image: &MetadataState, group: u64) -> PartitionView {
    let me = ctx.config.node_id;
    let replicas = image.replicas_of(group, me);
    let reported = image.assignments.get(&group);
    let reported_isr = reported.map(|a| a.isr.clone()).unwrap_or_default();
    match ctx.replicas.get(group) {
        Some(replica) if replica.is_running() => {
            let lag_max = std::time::Duration::from_millis(ctx.config.replica_lag_time_max_ms);
            let (leader, epoch) = match replica.leader() {
                Some((leader, epoch)) => (Some(leader), epoch),
                None => (None, -1),
            };
            let isr = if leader == Some(me) {
                replica.in_sync_replicas(lag_max)
            } else if !reported_isr.is_empty() {
                reported_isr
            } else {
                leader.into_iter().collect()
            };
            PartitionView {
                leader,
                epoch,
                replicas,
                isr,
            }
        }
        // No replica here, or one that is down (its Raft group stopped, or it could not
        // start): what the leader last reported, unless that was this node
        _ => PartitionView {
            leader: reported
                .and_then(|a| u64::try_from(a.leader).ok())
                .filter(|&leader| {
                    let down_here =
                        ctx.replicas.get(group).is_some() || ctx.replicas.offline(group).is_some();
                    leader != me || !down_here
                }),
            epoch: reported.map_or(-1, |a| a.leader_epoch),
            replicas,
            isr: reported_isr,
        },
    }
}

fn broker_ids(ids: &[u64]) -> Vec<BrokerId> {
    ids.iter().map(|id| BrokerId(*id as i32)).collect()
}

fn describe_topic(ctx: &Ctx, version: i16, topic: &TopicMeta) -> MetadataResponseTopic {
    let image = ctx.metadata.current();
    let epoch = |e: i32| if version >= 7 { e } else { -1 };
    let me = ctx.config.node_id;
    let partitions = topic
        .partitions
        .iter()
        .enumerate()
        .map(|(index, group)| {
            let view = partition_view(ctx, &image, *group);
            let offline: &[u64] = if ctx.replicas.offline(*group).is_some() {
                &[me]
            } else {
                &[]
            };
            let partition = MetadataResponsePartition::default()
                .with_partition_index(index as i32)
                .with_replica_nodes(broker_ids(&view.replicas))
                .with_isr_nodes(broker_ids(&view.isr))
                .with_offline_replicas(broker_ids(offline));
            match view.leader {
                Some(leader) => partition
                    .with_error_code(ec::NONE)
                    .with_leader_id(BrokerId(leader as i32))
                    .with_leader_epoch(epoch(view.epoch)),
                None => partition
                    .with_error_code(ec::LEADER_NOT_AVAILABLE)
                    .with_leader_id(BrokerId(-1))
                    .with_leader_epoch(-1),
            }
        })
        .collect();
    MetadataResponseTopic::default()
        .with_error_code(ec::NONE)
        .with_name(Some(topic_name(&topic.name)))
        .with_is_internal(version >= 1 && crate::metadata::is_internal_topic(&topic.name))
        .with_topic_id(if version >= 10 {
            uuid_of(&topic.id)
        } else {
            uuid::Uuid::nil()
        })
        .with_partitions(partitions)
        .with_topic_authorized_operations(i32::MIN)
}
