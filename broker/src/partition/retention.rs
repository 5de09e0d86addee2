//! Retention: every `retention_check_interval`, each partition this node leads moves its log
//! start offset past batches older than `retention.ms` or beyond `retention.bytes` (a Raft
//! command, so every replica drops the same records), and every local replica purges Raft log
//! entries that only hold trimmed records. The same pass forgets idempotent producers idle for
//! producer.id.expiration.ms (Kafka checks every producer.id.expiration.check.interval.ms, 10
//! minutes; here every retention check, 5 minutes by default).

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::group::now_ms;
use crate::metadata::Metadata;
use crate::replicas::Replicas;

pub async fn enforce(
    config: Arc<Config>,
    metadata: Metadata,
    replicas: Arc<Replicas>,
    interval: Duration,
) {
    loop {
        tokio::time::sleep(interval).await;
        run_once(&config, &metadata, &replicas).await;
    }
}

/// `config` is this broker's: its static configs are the topics' defaults' fallback.
pub async fn run_once(config: &Config, metadata: &Metadata, replicas: &Replicas) {
    let image = metadata.current();
    for partition in replicas.all() {
        let Some(topic) = image.topics.get(&partition.topic) else {
            continue;
        };
        let value = |key: &str, default: i64| {
            image
                .topic_config_value(config, topic, key)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(default)
        };
        let deletes = image
            .topic_config_value(config, topic, "cleanup.policy")
            .is_some_and(|p| p.split(',').any(|p| p.trim() == "delete"));
        if partition.is_leader() {
            expire_producers(config, &image, &partition).await;
        }
        // Group offsets are compacted in Kafka, never deleted by age.
        if partition.is_leader() && deletes && !crate::metadata::is_internal_topic(&topic.name) {
            let retention_ms = value("retention.ms", 604_800_000);
            let retention_bytes = value("retention.bytes", -1);
            match partition.retention_target(retention_ms, retention_bytes, now_ms()) {
                Ok(Some(offset)) => match partition.trim(offset).await {
                    Ok(start) => {
                        tracing::info!(topic = %topic.name, partition = partition.index, log_start_offset = start, "retention")
                    }
                    Err(code) => {
                        tracing::warn!(topic = %topic.name, partition = partition.index, code, "retention trim")
                    }
                },
                Ok(None) => {}
                Err(error) => {
                    tracing::error!(topic = %topic.name, partition = partition.index, %error, "retention scan")
                }
            }
        }
        partition.purge().await;
    }
}

async fn expire_producers(
    config: &Config,
    image: &crate::metadata::MetadataState,
    partition: &crate::partition::Partition,
) {
    let expiration_ms = image
        .broker_value(config, "producer.id.expiration.ms")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(86_400_000);
    match partition.expire_producers(expiration_ms, now_ms()).await {
        Ok(0) => {}
        Ok(count) => {
            metrics::counter!("broker_producers_expired_total").increment(count);
            tracing::info!(topic = %partition.topic, partition = partition.index, count,
                expiration_ms, "expired idle producers")
        }
        Err(code) => {
            tracing::warn!(topic = %partition.topic, partition = partition.index, code, "producer expiration")
        }
    }
}
