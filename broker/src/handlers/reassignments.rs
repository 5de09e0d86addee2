//! AlterPartitionReassignments and ListPartitionReassignments. A reassignment is recorded in
//! metadata; the partition's leader carries it out through Raft membership changes (see
//! `Replicas::carry_out_reassignments`).

use std::sync::Arc;

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};

use super::access::Access;
use super::{str_bytes, topic_name, Ctx};
use crate::metadata::commands::MetadataCommand;
use crate::metadata::MetadataState;
use crate::protocol::error_codes as ec;
use crate::security::acl::Operation;

type Failure = (i16, String);

pub async fn alter(
    ctx: &Arc<Ctx>,
    access: Access,
    version: i16,
    request: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    // Kafka: ALTER on the cluster.
    if let Err(code) = access.cluster_code(Operation::Alter) {
        return AlterPartitionReassignmentsResponse::default().with_error_code(code);
    }
    let allow_factor_change = version < 1 || request.allow_replication_factor_change;
    let mut responses = Vec::new();
    for topic in &request.topics {
        let mut partitions = Vec::new();
        for p in &topic.partitions {
            let image = ctx.metadata.current();
            let outcome = match check(ctx, &image, topic.name.as_str(), p, allow_factor_change) {
                Ok((group, target)) => ctx
                    .metadata
                    .propose_for_client(MetadataCommand::Reassign { group, target })
                    .await
                    .map(|_| ()),
                Err(failure) => Err(failure),
            };
            let response =
                ReassignablePartitionResponse::default().with_partition_index(p.partition_index);
            partitions.push(match outcome {
                Ok(()) => response.with_error_code(ec::NONE),
                Err((code, message)) => response
                    .with_error_code(code)
                    .with_error_message(Some(str_bytes(&message))),
            });
        }
        responses.push(
            ReassignableTopicResponse::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions),
        );
    }
    AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(allow_factor_change)
        .with_error_code(ec::NONE)
        .with_responses(responses)
}

/// The partition's Raft group and the validated target (`None`: cancel).
fn check(
    ctx: &Ctx,
    image: &MetadataState,
    topic: &str,
    partition: &kafka_protocol::messages::alter_partition_reassignments_request::ReassignablePartition,
    allow_factor_change: bool,
) -> Result<(u64, Option<Vec<u64>>), Failure> {
    let group = image
        .topics
        .get(topic)
        .and_then(|t| {
            usize::try_from(partition.partition_index)
                .ok()
                .and_then(|i| t.partitions.get(i))
        })
        .copied()
        .ok_or((
            ec::UNKNOWN_TOPIC_OR_PARTITION,
            format!("Unknown partition {topic}-{}", partition.partition_index),
        ))?;
    let Some(replicas) = &partition.replicas else {
        return Ok((group, None));
    };
    let target = ctx.replica_list(image, replicas)?;
    let current = image.replicas_of(group, ctx.config.node_id);
    if !allow_factor_change && current.len() != target.len() {
        return Err((
            ec::INVALID_REPLICATION_FACTOR,
            "The reassignment would change the replication factor.".into(),
        ));
    }
    Ok((group, Some(target)))
}

pub fn list(
    ctx: &Arc<Ctx>,
    access: Access,
    request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    // Kafka: DESCRIBE on the cluster.
    if let Err(code) = access.cluster_code(Operation::Describe) {
        return ListPartitionReassignmentsResponse::default().with_error_code(code);
    }
    let image = ctx.metadata.current();
    let wanted = |topic: &str, index: i32| match &request.topics {
        None => true,
        Some(topics) => topics
            .iter()
            .any(|t| t.name.as_str() == topic && t.partition_indexes.contains(&index)),
    };
    let ids = |list: &[u64]| {
        list.iter()
            .map(|id| BrokerId(*id as i32))
            .collect::<Vec<_>>()
    };
    let mut topics = Vec::new();
    for topic in image.topics.values() {
        let mut partitions = Vec::new();
        for (index, group) in topic.partitions.iter().enumerate() {
            let Some(assignment) = image.assignments.get(group) else {
                continue;
            };
            let Some(target) = &assignment.target else {
                continue;
            };
            if !wanted(&topic.name, index as i32) {
                continue;
            }
            let adding: Vec<u64> = target
                .iter()
                .filter(|id| !assignment.replicas.contains(id))
                .copied()
                .collect();
            let removing: Vec<u64> = assignment
                .replicas
                .iter()
                .filter(|id| !target.contains(id))
                .copied()
                .collect();
            partitions.push(
                OngoingPartitionReassignment::default()
                    .with_partition_index(index as i32)
                    .with_replicas(ids(&assignment.hosts()))
                    .with_adding_replicas(ids(&adding))
                    .with_removing_replicas(ids(&removing)),
            );
        }
        if !partitions.is_empty() {
            topics.push(
                OngoingTopicReassignment::default()
                    .with_name(topic_name(&topic.name))
                    .with_partitions(partitions),
            );
        }
    }
    ListPartitionReassignmentsResponse::default()
        .with_error_code(ec::NONE)
        .with_topics(topics)
}
