//! CreateTopics, DeleteTopics, CreatePartitions: validated here, applied through metadata Raft.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse,
};

use super::access::Access;
use super::{str_bytes, topic_name, uuid_of, Ctx};
use crate::config::{Config, REQUEST_PARTITIONS_MAX};
use crate::metadata::commands::MetadataCommand;
use crate::metadata::state::{validate_topic_configs, validate_topic_name};
use crate::metadata::{configs, MetadataState};
use crate::protocol::error_codes as ec;
use crate::security::acl::Operation;

/// How long topic creation waits for the new partitions to elect their leaders when the
/// request names no timeout (auto-creation), and at most.
pub const PARTITION_READY_TIMEOUT: Duration = Duration::from_secs(10);
const PARTITION_READY_TIMEOUT_MAX: Duration = Duration::from_secs(60);

type Failure = (i16, String);

/// A new topic's partitions: how many, and where their replicas go.
pub enum Placement {
    /// Spread by the broker with this replication factor (-1: the default).
    Factor(i16),
    /// The replicas of each partition, as the client gave them.
    Manual(Vec<Vec<u64>>),
}

/// Creates a topic and waits (at most `timeout`) until its partitions have leaders.
pub async fn create_topic(
    ctx: &Ctx,
    name: &str,
    partitions: i32,
    placement: Placement,
    configs: BTreeMap<String, String>,
    timeout: Duration,
) -> Result<(), Failure> {
    let image = ctx.metadata.current();
    let assignments = plan(ctx, &image, partitions, placement)?;
    let topic_id = *uuid::Uuid::new_v4().as_bytes();
    let command = MetadataCommand::CreateTopic {
        name: name.to_string(),
        topic_id,
        partitions,
        configs,
        assignments,
    };
    ctx.metadata.propose_for_client(command).await?;
    wait_for_leaders(ctx, name, timeout).await;
    Ok(())
}

/// Waits (at most `timeout`) until every partition of `topic` has a leader, both here and in
/// the cluster's metadata, as Kafka's CreateTopics answers with leaders already assigned:
/// every broker's Metadata then shows them. The topic exists either way.
async fn wait_for_leaders(ctx: &Ctx, topic: &str, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout.min(PARTITION_READY_TIMEOUT_MAX);
    let image = ctx.metadata.current();
    let groups = image
        .topics
        .get(topic)
        .map(|t| t.partitions.clone())
        .unwrap_or_default();
    let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
    let ready = ctx.replicas.wait_ready(&image, &groups, left()).await
        && ctx.metadata.wait_for_leaders(&groups, left()).await;
    if !ready {
        tracing::warn!(
            topic,
            timeout_ms = timeout.as_millis() as u64,
            "created, but not every partition had a leader in time"
        );
    }
}

/// A request's timeout_ms as a wait: negative is none.
fn request_timeout(timeout_ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0))
}

/// The replicas of `count` new partitions, within max.broker.partitions on every broker.
fn plan(
    ctx: &Ctx,
    image: &MetadataState,
    count: i32,
    placement: Placement,
) -> Result<Vec<Vec<u64>>, Failure> {
    if i64::from(count) > REQUEST_PARTITIONS_MAX {
        return Err(too_many_per_request());
    }
    let assignments = match placement {
        Placement::Manual(assignments) => assignments,
        Placement::Factor(factor) => ctx.place(image, count, factor)?,
    };
    check_broker_partitions(ctx, image, &assignments)?;
    Ok(assignments)
}

fn too_many_per_request() -> Failure {
    // Kafka's controller, word for word.
    (
        ec::POLICY_VIOLATION,
        "Excessively large number of partitions per request.".into(),
    )
}

/// POLICY_VIOLATION when the new replicas would put more than max.broker.partitions partition
/// replicas on some broker: each is a Raft group, started on every restart too.
fn check_broker_partitions(
    ctx: &Ctx,
    image: &MetadataState,
    new: &[Vec<u64>],
) -> Result<(), Failure> {
    let limit = u64::from(ctx.config.broker_partitions_max);
    let mut hosted: BTreeMap<u64, u64> = BTreeMap::new();
    let existing = image.topics.values().flat_map(|t| &t.partitions);
    for group in existing {
        for broker in image.replicas_of(*group, ctx.config.node_id) {
            *hosted.entry(broker).or_default() += 1;
        }
    }
    for broker in new.iter().flatten() {
        *hosted.entry(*broker).or_default() += 1;
    }
    match hosted.into_iter().find(|(_, count)| *count > limit) {
        Some((broker, count)) => Err((
            ec::POLICY_VIOLATION,
            format!(
                "Broker {broker} would host {count} partition replicas, more than max.broker.partitions ({limit})."
            ),
        )),
        None => Ok(()),
    }
}

/// Checks a client's replica assignment: every partition names known brokers, each once,
/// all with the same replication factor.
fn check_assignment<'a>(
    ctx: &Ctx,
    image: &MetadataState,
    assignments: impl Iterator<Item = &'a Vec<kafka_protocol::messages::BrokerId>>,
) -> Result<Vec<Vec<u64>>, Failure> {
    let mut plan = Vec::new();
    for brokers in assignments {
        let replicas = ctx.replica_list(image, brokers)?;
        if plan
            .first()
            .is_some_and(|first: &Vec<u64>| first.len() != replicas.len())
        {
            return Err((
                ec::INVALID_REPLICA_ASSIGNMENT,
                "All partitions should have the same number of replicas.".into(),
            ));
        }
        plan.push(replicas);
    }
    Ok(plan)
}

/// Checks a CreateTopics entry; returns the partition count, placement and config overrides.
fn validate_creatable(
    ctx: &Ctx,
    image: &MetadataState,
    topic: &CreatableTopic,
) -> Result<(i32, Placement, BTreeMap<String, String>), Failure> {
    let name = topic.name.as_str();
    validate_topic_name(name).map_err(|m| (ec::INVALID_TOPIC_EXCEPTION, m))?;
    if image.topics.contains_key(name) {
        return Err((
            ec::TOPIC_ALREADY_EXISTS,
            format!("Topic '{name}' already exists."),
        ));
    }
    let (partitions, placement) = if !topic.assignments.is_empty() {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err((
                ec::INVALID_REQUEST,
                "Both numPartitions or replicationFactor and replicasAssignments were set.".into(),
            ));
        }
        let plan = check_assignment(ctx, image, topic.assignments.iter().map(|a| &a.broker_ids))?;
        (plan.len() as i32, Placement::Manual(plan))
    } else {
        let partitions = match topic.num_partitions {
            -1 => ctx.config.num_partitions,
            n if n <= 0 => {
                return Err((
                    ec::INVALID_PARTITIONS,
                    "Number of partitions must be larger than 0.".into(),
                ))
            }
            n => n,
        };
        ctx.replication_factor(image, topic.replication_factor)?;
        (partitions, Placement::Factor(topic.replication_factor))
    };
    let overrides: BTreeMap<String, String> = topic
        .configs
        .iter()
        .filter_map(|c| {
            c.value
                .as_ref()
                .map(|v| (c.name.to_string(), v.to_string()))
        })
        .collect();
    validate_topic_configs(overrides.iter()).map_err(|m| (ec::INVALID_CONFIG, m))?;
    Ok((partitions, placement, overrides))
}

pub async fn create_topics(
    ctx: &Arc<Ctx>,
    access: Access,
    version: i16,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let mut seen = HashSet::new();
    let duplicates: HashSet<String> = request
        .topics
        .iter()
        .filter(|t| !seen.insert(t.name.to_string()))
        .map(|t| t.name.to_string())
        .collect();
    let mut results = Vec::new();
    // Partitions the request adds, over its topics in order (Kafka's per-request bound).
    let mut requested: i64 = 0;
    // Kafka: CREATE on the cluster, else CREATE on each topic.
    let cluster_create = access.cluster_quietly(Operation::Create);
    for topic in &request.topics {
        let name = topic.name.to_string();
        let result = CreatableTopicResult::default().with_name(topic.name.clone());
        if duplicates.contains(&name) {
            results.push(failed(
                result,
                version,
                ec::INVALID_REQUEST,
                format!("Create topics request from client contains duplicate topic {name}"),
            ));
            continue;
        }
        if !cluster_create && !access.topic(Operation::Create, &name) {
            let message = "Authorization failed.".to_string();
            results.push(failed(
                result,
                version,
                ec::TOPIC_AUTHORIZATION_FAILED,
                message,
            ));
            continue;
        }
        let image = ctx.metadata.current();
        let (partitions, placement, overrides) = match validate_creatable(ctx, &image, topic) {
            Ok(valid) => valid,
            Err((code, message)) => {
                results.push(failed(result, version, code, message));
                continue;
            }
        };
        requested += i64::from(partitions);
        let planned = if requested > REQUEST_PARTITIONS_MAX {
            Err(too_many_per_request())
        } else {
            plan(ctx, &image, partitions, placement)
        };
        let assignments = match planned {
            Ok(assignments) => assignments,
            Err((code, message)) => {
                results.push(failed(result, version, code, message));
                continue;
            }
        };
        let factor = assignments.first().map_or(1, |r| r.len() as i16);
        if !request.validate_only {
            let placement = Placement::Manual(assignments);
            if let Err((code, message)) = create_topic(
                ctx,
                &name,
                partitions,
                placement,
                overrides.clone(),
                request_timeout(request.timeout_ms),
            )
            .await
            {
                results.push(failed(result, version, code, message));
                continue;
            }
        }
        let image = ctx.metadata.current();
        let topic_id = image
            .topics
            .get(&name)
            .map(|t| uuid_of(&t.id))
            .unwrap_or_default();
        let mut result = result;
        if version >= 5 {
            result = result
                .with_num_partitions(partitions)
                .with_replication_factor(factor)
                .with_configs(Some(effective_configs(&ctx.config, &image, &overrides)));
        }
        if version >= 7 {
            result = result.with_topic_id(topic_id);
        }
        results.push(result);
    }
    CreateTopicsResponse::default().with_topics(results)
}

fn failed(
    result: CreatableTopicResult,
    version: i16,
    code: i16,
    message: String,
) -> CreatableTopicResult {
    let result = result
        .with_error_code(code)
        .with_error_message(Some(str_bytes(&message)));
    if version >= 5 {
        result.with_num_partitions(-1).with_replication_factor(-1)
    } else {
        result
    }
}

fn effective_configs(
    broker: &Config,
    image: &MetadataState,
    overrides: &BTreeMap<String, String>,
) -> Vec<CreatableTopicConfigs> {
    configs::TOPIC_CONFIGS
        .iter()
        .map(|def| {
            let (value, source) = match overrides.get(def.name) {
                Some(value) => (value.clone(), 1),
                None => (
                    image
                        .topic_default(broker, def.name)
                        .unwrap_or_else(|| def.default.to_string()),
                    5,
                ),
            };
            CreatableTopicConfigs::default()
                .with_name(str_bytes(def.name))
                .with_value(Some(str_bytes(&value)))
                .with_config_source(source)
        })
        .collect()
}

pub async fn delete_topics(
    ctx: &Arc<Ctx>,
    access: Access,
    version: i16,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let image = ctx.metadata.current();
    // v6 names topics by name or id; earlier versions by name only.
    let targets: Vec<(Option<String>, uuid::Uuid)> = if version >= 6 {
        request
            .topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.to_string()), t.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .iter()
            .map(|n| (Some(n.to_string()), uuid::Uuid::nil()))
            .collect()
    };
    let mut responses = Vec::new();
    for (name, id) in targets {
        let found = match &name {
            Some(name) => image.topics.get(name),
            None => image.topic_by_id(id.as_bytes()),
        };
        let mut result = DeletableTopicResult::default().with_name(name.as_deref().map(topic_name));
        if version >= 6 {
            result = result.with_topic_id(id);
        }
        // Checked before existence, so a topic one may not delete does not show whether it
        // exists (an id names no topic until found).
        let checked = found.map(|t| t.name.as_str()).or(name.as_deref());
        if let Some(checked) = checked {
            if !access.topic(Operation::Delete, checked) {
                responses.push(result.with_error_code(ec::TOPIC_AUTHORIZATION_FAILED));
                continue;
            }
        }
        let Some(topic) = found else {
            let code = if name.is_some() {
                ec::UNKNOWN_TOPIC_OR_PARTITION
            } else {
                ec::UNKNOWN_TOPIC_ID
            };
            responses.push(result.with_error_code(code));
            continue;
        };
        result = result.with_name(Some(topic_name(&topic.name)));
        if version >= 6 {
            result = result.with_topic_id(uuid_of(&topic.id));
        }
        if crate::metadata::is_internal_topic(&topic.name) {
            // Deleting it would drop every group's committed offsets (or transaction's state).
            responses.push(result.with_error_code(ec::INVALID_TOPIC_EXCEPTION));
            continue;
        }
        match ctx
            .metadata
            .propose_for_client(MetadataCommand::DeleteTopic {
                name: topic.name.clone(),
            })
            .await
        {
            Ok(_) => responses.push(result.with_error_code(ec::NONE)),
            Err((code, message)) if version >= 5 => responses.push(
                result
                    .with_error_code(code)
                    .with_error_message(Some(str_bytes(&message))),
            ),
            Err((code, _)) => responses.push(result.with_error_code(code)),
        }
    }
    DeleteTopicsResponse::default().with_responses(responses)
}

pub async fn create_partitions(
    ctx: &Arc<Ctx>,
    access: Access,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut results = Vec::new();
    let mut requested: i64 = 0;
    for topic in &request.topics {
        let name = topic.name.to_string();
        let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
        let image = ctx.metadata.current();
        let added = image
            .topics
            .get(&name)
            .map_or(0, |t| i64::from(topic.count) - t.partitions.len() as i64);
        requested += added.max(0);
        let check = match image.topics.get(&name) {
            _ if !access.topic(Operation::Alter, &name) => Err((
                ec::TOPIC_AUTHORIZATION_FAILED,
                "Authorization failed.".to_string(),
            )),
            None => Err((
                ec::UNKNOWN_TOPIC_OR_PARTITION,
                format!("The topic '{name}' does not exist."),
            )),
            Some(_) if crate::metadata::is_internal_topic(&name) => Err((
                // Kafka accepts it, and its coordinators then map groups to other partitions
                // after a restart, losing their committed offsets; here groups map by the
                // current count, so they would move at once.
                ec::POLICY_VIOLATION,
                format!(
                    "The partition count of the internal topic {name} cannot change: every group's committed offsets (or transaction's state) would move to another partition."
                ),
            )),
            Some(existing) if topic.count <= existing.partitions.len() as i32 => Err((
                ec::INVALID_PARTITIONS,
                format!(
                    "Topic currently has {} partitions, which is higher than the requested {}.",
                    existing.partitions.len(),
                    topic.count
                ),
            )),
            // Null and an empty list both mean "let the broker place them".
            Some(existing) => match topic.assignments.as_ref().filter(|a| !a.is_empty()) {
                Some(assignments)
                    if assignments.len() as i32
                        != topic.count - existing.partitions.len() as i32 =>
                {
                    Err((
                        ec::INVALID_REPLICA_ASSIGNMENT,
                        "Assignments do not match the number of new partitions.".into(),
                    ))
                }
                Some(assignments) => {
                    check_assignment(ctx, &image, assignments.iter().map(|a| &a.broker_ids))
                        .map(Some)
                }
                None => Ok(None),
            },
        };
        let outcome = match check {
            Err(failure) => Err(failure),
            Ok(_) if requested > REQUEST_PARTITIONS_MAX => Err(too_many_per_request()),
            Ok(manual) => {
                grow(
                    ctx,
                    &image,
                    &name,
                    topic.count,
                    manual,
                    (!request.validate_only).then(|| request_timeout(request.timeout_ms)),
                )
                .await
            }
        };
        results.push(match outcome {
            Ok(()) => result.with_error_code(ec::NONE),
            Err((code, message)) => result
                .with_error_code(code)
                .with_error_message(Some(str_bytes(&message))),
        });
    }
    CreatePartitionsResponse::default().with_results(results)
}

/// Adds partitions; new ones get the replication factor of the topic's first partition.
async fn grow(
    ctx: &Ctx,
    image: &MetadataState,
    name: &str,
    count: i32,
    manual: Option<Vec<Vec<u64>>>,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    let topic = image.topics.get(name);
    let existing = topic.map_or(0, |t| t.partitions.len() as i32);
    let placement = match manual {
        Some(plan) => Placement::Manual(plan),
        None => Placement::Factor(topic.and_then(|t| t.partitions.first()).map_or(-1, |g| {
            image.replicas_of(*g, ctx.config.node_id).len() as i16
        })),
    };
    let assignments = plan(ctx, image, count - existing, placement)?;
    // None: validate only.
    let Some(timeout) = timeout else {
        return Ok(());
    };
    ctx.metadata
        .propose_for_client(MetadataCommand::CreatePartitions {
            name: name.to_string(),
            count,
            assignments,
        })
        .await?;
    wait_for_leaders(ctx, name, timeout).await;
    Ok(())
}
