//! Metadata: brokers, topics, partition leaders. Auto-creates requested topics when allowed.

use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};

use super::{str_bytes, topic_name, topics, uuid_of, Ctx};
use crate::metadata::{MetadataState, TopicMeta};
use crate::protocol::error_codes as ec;

pub async fn handle(ctx: &Arc<Ctx>, version: i16, request: MetadataRequest) -> MetadataResponse {
    let mut image = ctx.metadata.current();
    // v0 sends an empty list for "all topics"; later versions send null.
    let all_topics = request.topics.is_none()
        || (version == 0 && request.topics.as_ref().is_some_and(|t| t.is_empty()));
    let mut responses = Vec::new();
    if all_topics {
        for topic in image.topics.values() {
            responses.push(describe_topic(ctx, version, topic));
        }
    } else {
        let auto_create = ctx.config.auto_create_topics_enable
            && (version < 4 || request.allow_auto_topic_creation);
        for requested in request.topics.unwrap_or_default() {
            let found = match &requested.name {
                Some(name) => image.topics.get(name.as_str()).cloned(),
                None => image.topic_by_id(requested.topic_id.as_bytes()).cloned(),
            };
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
            let partitions = ctx.config.num_partitions;
            match topics::create_topic(ctx, &name, partitions, Default::default()).await {
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
        .with_brokers(vec![broker(ctx)])
        .with_topics(responses);
    if version >= 1 {
        response = response.with_controller_id(BrokerId(ctx.node_id()));
    }
    if version >= 2 {
        response = response.with_cluster_id(Some(str_bytes(&cluster_id(&image))));
    }
    response
}

pub fn cluster_id(image: &MetadataState) -> String {
    image.cluster_id.clone()
}

pub fn broker(ctx: &Ctx) -> MetadataResponseBroker {
    MetadataResponseBroker::default()
        .with_node_id(BrokerId(ctx.node_id()))
        .with_host(str_bytes(&ctx.config.advertised_host))
        .with_port(ctx.config.advertised_port)
}

fn error_topic(name: Option<&str>, id: uuid::Uuid, error_code: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(error_code)
        .with_name(name.map(topic_name))
        .with_topic_id(id)
}

fn describe_topic(ctx: &Ctx, version: i16, topic: &TopicMeta) -> MetadataResponseTopic {
    let epoch = |e: i32| if version >= 7 { e } else { -1 };
    let node = BrokerId(ctx.node_id());
    let partitions = topic
        .partitions
        .iter()
        .enumerate()
        .map(|(index, group)| {
            let partition = MetadataResponsePartition::default().with_partition_index(index as i32);
            match ctx.replicas.get(*group) {
                Some(replica) if replica.is_leader() => partition
                    .with_error_code(ec::NONE)
                    .with_leader_id(node)
                    .with_leader_epoch(epoch(replica.leader_epoch()))
                    .with_replica_nodes(vec![node])
                    .with_isr_nodes(vec![node]),
                _ => partition
                    .with_error_code(ec::LEADER_NOT_AVAILABLE)
                    .with_leader_id(BrokerId(-1))
                    .with_leader_epoch(-1)
                    .with_replica_nodes(vec![node])
                    .with_isr_nodes(vec![]),
            }
        })
        .collect();
    MetadataResponseTopic::default()
        .with_error_code(ec::NONE)
        .with_name(Some(topic_name(&topic.name)))
        .with_is_internal(version >= 1 && topic.name == crate::group::store::OFFSETS_TOPIC)
        .with_topic_id(if version >= 10 {
            uuid_of(&topic.id)
        } else {
            uuid::Uuid::nil()
        })
        .with_partitions(partitions)
        .with_topic_authorized_operations(i32::MIN)
}
