//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topic and broker resources.
//! Overrides are metadata commands, so they persist and replicate with the rest of metadata.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{
    alter_configs_response, incremental_alter_configs_response, AlterConfigsRequest,
    AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};

use super::access::Access;
use super::{str_bytes, Ctx};
use crate::config::Config;
use crate::metadata::commands::MetadataCommand;
use crate::metadata::configs::{self, ConfigDef};
use crate::metadata::MetadataState;
use crate::protocol::error_codes as ec;
use crate::security::acl::Operation;

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const RESOURCE_BROKER_LOGGER: i8 = 8;

const SOURCE_TOPIC: i8 = 1;
const SOURCE_DYNAMIC_BROKER: i8 = 2;
const SOURCE_DYNAMIC_DEFAULT_BROKER: i8 = 3;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

type Failure = (i16, String);

/// Kafka's checks: a topic's configs need the operation on the topic, a broker's (and broker
/// loggers') on the cluster.
fn authorize(
    access: &Access,
    operation: Operation,
    resource_type: i8,
    name: &str,
) -> Result<(), Failure> {
    let denied = match resource_type {
        RESOURCE_TOPIC => access.topic_code(operation, name).err(),
        RESOURCE_BROKER | RESOURCE_BROKER_LOGGER => access.cluster_code(operation).err(),
        _ => None,
    };
    match denied {
        Some(code) => Err((code, "Authorization failed.".into())),
        None => Ok(()),
    }
}

pub fn describe(
    ctx: &Arc<Ctx>,
    access: Access,
    version: i16,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let image = ctx.metadata.current();
    let results = request
        .resources
        .iter()
        .map(|resource| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let wanted = |name: &str| {
                resource
                    .configuration_keys
                    .as_ref()
                    // Null asks for every key; so does an empty list, which the Admin client
                    // never means as "none".
                    .is_none_or(|keys| keys.is_empty() || keys.iter().any(|k| k.as_str() == name))
            };
            let allowed = authorize(
                &access,
                Operation::DescribeConfigs,
                resource.resource_type,
                resource.resource_name.as_str(),
            );
            let entries = match resource.resource_type {
                _ if allowed.is_err() => allowed.map(|_| Vec::new()),
                RESOURCE_TOPIC => {
                    topic_entries(&ctx.config, &image, resource.resource_name.as_str())
                }
                RESOURCE_BROKER => broker_entries(ctx, &image, resource.resource_name.as_str()),
                other => Err((
                    ec::INVALID_REQUEST,
                    format!("Unsupported resource type {other}"),
                )),
            };
            match entries {
                Err((code, message)) => result
                    .with_error_code(code)
                    .with_error_message(Some(str_bytes(&message))),
                Ok(entries) => result.with_error_code(ec::NONE).with_configs(
                    entries
                        .into_iter()
                        .filter(|e| wanted(e.def.name))
                        .map(|e| e.to_result(version, request.include_synonyms))
                        .collect(),
                ),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

struct Entry {
    def: &'static ConfigDef,
    /// Every level that sets the config, as (value, source), the effective one first.
    levels: Vec<(String, i8)>,
    read_only: bool,
}

impl Entry {
    fn to_result(&self, version: i16, include_synonyms: bool) -> DescribeConfigsResourceResult {
        let (value, source) = self.levels.first().cloned().unwrap_or_default();
        let mut result = DescribeConfigsResourceResult::default()
            .with_name(str_bytes(self.def.name))
            .with_value(Some(str_bytes(&value)))
            .with_read_only(self.read_only)
            .with_config_source(source)
            .with_is_sensitive(false);
        if include_synonyms {
            result = result.with_synonyms(
                self.levels
                    .iter()
                    .map(|(value, source)| {
                        DescribeConfigsSynonym::default()
                            .with_name(str_bytes(self.def.name))
                            .with_value(Some(str_bytes(value)))
                            .with_source(*source)
                    })
                    .collect(),
            );
        }
        if version >= 3 {
            result = result.with_config_type(self.def.kind as i8);
        }
        result
    }
}

fn topic_entries(
    broker: &Config,
    image: &MetadataState,
    name: &str,
) -> Result<Vec<Entry>, Failure> {
    let topic = image.topics.get(name).ok_or_else(|| {
        (
            ec::UNKNOWN_TOPIC_OR_PARTITION,
            format!("Topic {name} does not exist"),
        )
    })?;
    Ok(configs::TOPIC_CONFIGS
        .iter()
        .map(|def| {
            let source = if topic.configs.contains_key(def.name) {
                SOURCE_TOPIC
            } else {
                SOURCE_DEFAULT
            };
            let value = image
                .topic_config_value(broker, topic, def.name)
                .unwrap_or_else(|| def.default.to_string());
            Entry {
                def,
                levels: vec![(value, source)],
                read_only: false,
            }
        })
        .collect())
}

/// The broker a BROKER resource names: None for the cluster-wide default (""), else this
/// node (the Admin client sends a broker's resource to that broker).
fn check_broker_name(ctx: &Ctx, name: &str) -> Result<Option<u64>, Failure> {
    if name.is_empty() {
        return Ok(None);
    }
    if name == ctx.node_id().to_string() {
        return Ok(Some(ctx.config.node_id));
    }
    Err((
        ec::INVALID_REQUEST,
        format!(
            "Unexpected broker id, expected {} or empty string, but received {name}",
            ctx.node_id()
        ),
    ))
}

/// A broker's configs with Kafka's precedence: its own dynamic config, the cluster-wide
/// dynamic default, the static config, the default. The cluster resource ("") shows the
/// levels below a broker's own.
fn broker_entries(ctx: &Ctx, image: &MetadataState, name: &str) -> Result<Vec<Entry>, Failure> {
    let broker = check_broker_name(ctx, name)?;
    let own = broker.and_then(|id| image.per_broker_configs.get(&id));
    Ok(configs::BROKER_CONFIGS
        .iter()
        .map(|def| {
            let static_value = match def.name {
                "auto.create.topics.enable" => {
                    Some(ctx.config.auto_create_topics_enable.to_string())
                }
                "num.partitions" => Some(ctx.config.num_partitions.to_string()),
                "socket.request.max.bytes" => Some(ctx.config.request_bytes_max.to_string()),
                "transactional.id.expiration.ms" => {
                    Some(ctx.config.transactional_id_expiration_ms.to_string())
                }
                "transaction.remove.expired.transaction.cleanup.interval.ms" => {
                    Some(ctx.config.transaction_cleanup_interval_ms.to_string())
                }
                _ => ctx.config.broker_configs.get(def.name).cloned(),
            };
            let levels = [
                own.and_then(|c| c.get(def.name))
                    .map(|v| (v.clone(), SOURCE_DYNAMIC_BROKER)),
                image
                    .broker_configs
                    .get(def.name)
                    .map(|v| (v.clone(), SOURCE_DYNAMIC_DEFAULT_BROKER)),
                static_value.map(|v| (v, SOURCE_STATIC_BROKER)),
                Some((def.default.to_string(), SOURCE_DEFAULT)),
            ];
            Entry {
                def,
                levels: levels.into_iter().flatten().collect(),
                read_only: !def.dynamic,
            }
        })
        .collect())
}

/// Validates changes for one resource and, unless `validate_only`, commits them.
async fn apply(
    ctx: &Ctx,
    resource_type: i8,
    resource_name: &str,
    changes: BTreeMap<String, Option<String>>,
    replace: bool,
    validate_only: bool,
) -> Result<(), Failure> {
    let image = ctx.metadata.current();
    let command = match resource_type {
        RESOURCE_TOPIC => {
            if !image.topics.contains_key(resource_name) {
                return Err((
                    ec::UNKNOWN_TOPIC_OR_PARTITION,
                    format!("Topic {resource_name} does not exist"),
                ));
            }
            for (key, value) in &changes {
                let def = configs::topic_config(key).ok_or_else(|| {
                    (
                        ec::INVALID_CONFIG,
                        format!("Unknown topic config name: {key}"),
                    )
                })?;
                if let Some(value) = value {
                    configs::validate(def, value).map_err(|m| (ec::INVALID_CONFIG, m))?;
                }
            }
            MetadataCommand::AlterTopicConfigs {
                name: resource_name.to_string(),
                changes,
                replace,
            }
        }
        RESOURCE_BROKER => {
            let broker = check_broker_name(ctx, resource_name)?;
            for (key, value) in &changes {
                let def = configs::broker_config(key).ok_or_else(|| {
                    (
                        ec::INVALID_CONFIG,
                        format!("Unknown broker config name: {key}"),
                    )
                })?;
                if !def.dynamic {
                    return Err((
                        ec::INVALID_REQUEST,
                        format!("Cannot update these configs dynamically: {key}"),
                    ));
                }
                if let Some(value) = value {
                    configs::validate(def, value).map_err(|m| (ec::INVALID_CONFIG, m))?;
                }
            }
            MetadataCommand::AlterBrokerConfigs {
                broker,
                changes,
                replace,
            }
        }
        other => {
            return Err((
                ec::INVALID_REQUEST,
                format!("Unsupported resource type {other}"),
            ))
        }
    };
    if validate_only {
        return Ok(());
    }
    ctx.metadata.propose_for_client(command).await.map(|_| ())
}

pub async fn alter(
    ctx: &Arc<Ctx>,
    access: Access,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let mut responses = Vec::new();
    for resource in &request.resources {
        let changes = resource
            .configs
            .iter()
            .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
            .collect();
        let name = resource.resource_name.as_str();
        let outcome = match authorize(
            &access,
            Operation::AlterConfigs,
            resource.resource_type,
            name,
        ) {
            Ok(()) => {
                apply(
                    ctx,
                    resource.resource_type,
                    name,
                    changes,
                    true,
                    request.validate_only,
                )
                .await
            }
            Err(failure) => Err(failure),
        };
        let response = alter_configs_response::AlterConfigsResourceResponse::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        responses.push(match outcome {
            Ok(()) => response.with_error_code(ec::NONE),
            Err((code, message)) => response
                .with_error_code(code)
                .with_error_message(Some(str_bytes(&message))),
        });
    }
    AlterConfigsResponse::default().with_responses(responses)
}

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

pub async fn incremental_alter(
    ctx: &Arc<Ctx>,
    access: Access,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::new();
    for resource in &request.resources {
        let name = resource.resource_name.as_str();
        let allowed = authorize(
            &access,
            Operation::AlterConfigs,
            resource.resource_type,
            name,
        );
        let outcome = match allowed.and_then(|_| incremental_changes(ctx, resource)) {
            Ok(changes) => {
                apply(
                    ctx,
                    resource.resource_type,
                    name,
                    changes,
                    false,
                    request.validate_only,
                )
                .await
            }
            Err(failure) => Err(failure),
        };
        let response = incremental_alter_configs_response::AlterConfigsResourceResponse::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        responses.push(match outcome {
            Ok(()) => response.with_error_code(ec::NONE),
            Err((code, message)) => response
                .with_error_code(code)
                .with_error_message(Some(str_bytes(&message))),
        });
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

/// Turns SET/DELETE/APPEND/SUBTRACT into new values, reading list values as they are now.
fn incremental_changes(
    ctx: &Ctx,
    resource: &kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource,
) -> Result<BTreeMap<String, Option<String>>, Failure> {
    let image = ctx.metadata.current();
    let current = |key: &str| -> Option<String> {
        match resource.resource_type {
            RESOURCE_TOPIC => image
                .topics
                .get(resource.resource_name.as_str())
                .and_then(|t| image.topic_config_value(&ctx.config, t, key)),
            _ if resource.resource_name.is_empty() => image.broker_configs.get(key).cloned(),
            _ => image
                .per_broker_configs
                .get(&ctx.config.node_id)
                .and_then(|c| c.get(key))
                .cloned(),
        }
    };
    let mut changes = BTreeMap::new();
    for config in &resource.configs {
        let key = config.name.to_string();
        if changes.contains_key(&key) {
            return Err((
                ec::INVALID_REQUEST,
                format!("Duplicate config {key} in one request"),
            ));
        }
        let value = config.value.as_ref().map(|v| v.to_string());
        let new_value = match config.config_operation {
            OP_SET => Some(value.ok_or((ec::INVALID_REQUEST, format!("Null value for {key}")))?),
            OP_DELETE => None,
            OP_APPEND | OP_SUBTRACT => {
                let mut items: Vec<String> = current(&key)
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
                for item in value
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                {
                    let present = items.iter().any(|i| i == item);
                    if config.config_operation == OP_APPEND && !present {
                        items.push(item.to_string());
                    } else if config.config_operation == OP_SUBTRACT {
                        items.retain(|i| i != item);
                    }
                }
                Some(items.join(","))
            }
            other => {
                return Err((
                    ec::INVALID_REQUEST,
                    format!("Unknown config operation {other}"),
                ))
            }
        };
        changes.insert(key, new_value);
    }
    Ok(changes)
}
