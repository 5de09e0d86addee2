//! Produce. Batches are checked (header, CRC32C, size), sliced out of the request frame without
//! copying, and queued to their partitions here, in request order. The returned future waits
//! for the commits and builds the response.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind};

use super::access::Access;
use super::Ctx;
use crate::metadata::TopicMeta;
use crate::partition::batch::{self, BatchError};
use crate::partition::AppendOutcome;
use crate::protocol::error_codes as ec;
use crate::security::acl::Operation;

type PartitionFuture = std::pin::Pin<Box<dyn Future<Output = PartitionProduceResponse> + Send>>;

pub fn submit(
    ctx: &Arc<Ctx>,
    access: Access,
    version: i16,
    request: ProduceRequest,
) -> impl Future<Output = Option<ResponseKind>> + Send + 'static {
    let acks = request.acks;
    let timeout = Duration::from_millis(request.timeout_ms.max(0) as u64);
    let image = ctx.metadata.current();
    // Kafka: a transactional producer needs WRITE on its transactional id, else the whole
    // request fails.
    let transaction_denied = request
        .transactional_id
        .as_ref()
        .and_then(|id| access.transactional_id_code(Operation::Write, id).err());
    let mut topics: Vec<(TopicProduceResponse, Vec<(i32, PartitionFuture)>)> = Vec::new();
    for topic_data in request.topic_data {
        let topic = if version >= 13 {
            image.topic_by_id(topic_data.topic_id.as_bytes())
        } else {
            image.topics.get(topic_data.name.as_str())
        };
        let unknown_code = if version >= 13 {
            ec::UNKNOWN_TOPIC_ID
        } else {
            ec::UNKNOWN_TOPIC_OR_PARTITION
        };
        let header = TopicProduceResponse::default()
            .with_name(topic_data.name.clone())
            .with_topic_id(topic_data.topic_id);
        let mut partitions: Vec<(i32, PartitionFuture)> = Vec::new();
        // One check per topic, not per batch (an unknown topic id has no name to check).
        let topic_denied = match (topic, version >= 13) {
            (None, true) => None,
            (Some(topic), _) => access.topic_code(Operation::Write, &topic.name).err(),
            (None, false) => access.topic_code(Operation::Write, &topic_data.name).err(),
        };
        for data in topic_data.partition_data {
            let index = data.index;
            let early_error = if !(-1..=1).contains(&acks) {
                Some(ec::INVALID_REQUIRED_ACKS)
            } else {
                transaction_denied.or(topic_denied)
            };
            let future = match (early_error, topic) {
                (Some(code), _) => ready_error(index, code),
                (None, None) => ready_error(index, unknown_code),
                (None, Some(topic)) => submit_partition(
                    ctx,
                    &image,
                    topic,
                    index,
                    acks,
                    request.transactional_id.as_ref().map(|id| id.as_str()),
                    data.records,
                ),
            };
            partitions.push((index, future));
        }
        topics.push((header, partitions));
    }
    async move {
        let deadline = tokio::time::Instant::now() + timeout;
        if acks == 0 {
            // No response, but the connection owes it until the batches are appended: its
            // bounded pipeline (connection_inflight_max) then holds an acks=0 producer back as
            // Kafka's one-request-at-a-time does, instead of queuing without limit.
            let appends = topics
                .into_iter()
                .flat_map(|(_, partitions)| partitions)
                .map(|(_, future)| future);
            let _ = tokio::time::timeout_at(deadline, join_all(appends)).await;
            return None;
        }
        let mut responses = Vec::with_capacity(topics.len());
        for (header, partitions) in topics {
            let waits = partitions.into_iter().map(|(index, future)| async move {
                match tokio::time::timeout_at(deadline, future).await {
                    Ok(response) => response,
                    Err(_) => partition_response(index, Err(ec::REQUEST_TIMED_OUT), -1),
                }
            });
            let mut partitions = join_all(waits).await;
            if version < 5 {
                // log_start_offset is not part of v3-v4.
                partitions.iter_mut().for_each(|p| p.log_start_offset = -1);
            }
            responses.push(header.with_partition_responses(partitions));
        }
        Some(ResponseKind::Produce(
            ProduceResponse::default().with_responses(responses),
        ))
    }
}

fn ready_error(index: i32, error_code: i16) -> PartitionFuture {
    Box::pin(std::future::ready(partition_response(
        index,
        Err(error_code),
        0,
    )))
}

fn partition_response(
    index: i32,
    outcome: AppendOutcome,
    log_start_offset: i64,
) -> PartitionProduceResponse {
    let response = PartitionProduceResponse::default()
        .with_index(index)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(log_start_offset);
    match outcome {
        Ok(base_offset) => response
            .with_error_code(ec::NONE)
            .with_base_offset(base_offset),
        Err(code) => response
            .with_error_code(code)
            .with_base_offset(-1)
            .with_log_start_offset(-1),
    }
}

/// A leader that has not heard from a quorum for this long cannot commit: fail at once with a
/// retriable error instead of letting the client wait out its request timeout.
const QUORUM_SILENCE_MAX: Duration = Duration::from_secs(3);

/// NOT_ENOUGH_REPLICAS when acks=all cannot be honoured: fewer in-sync replicas than the
/// topic's min.insync.replicas, or no quorum behind this leader.
fn check_replicas(
    ctx: &Ctx,
    image: &crate::metadata::MetadataState,
    topic: &TopicMeta,
    partition: &crate::partition::Partition,
    acks: i16,
) -> Result<(), i16> {
    if acks == 0 {
        return Ok(());
    }
    if !partition.has_live_quorum(QUORUM_SILENCE_MAX) {
        return Err(ec::NOT_ENOUGH_REPLICAS);
    }
    if acks != -1 {
        return Ok(());
    }
    let min_insync: usize = image
        .topic_config_value(&ctx.config, topic, "min.insync.replicas")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    if min_insync > 1 {
        let lag_max = Duration::from_millis(ctx.config.replica_lag_time_max_ms);
        if partition.in_sync_replicas(lag_max).len() < min_insync {
            return Err(ec::NOT_ENOUGH_REPLICAS);
        }
    }
    Ok(())
}

/// A transactional batch may only be appended inside its producer's ongoing transaction that
/// contains this partition (Kafka's produce-side verification, KIP-890 part 1), checked with
/// the transaction coordinator when it runs on this node. With the coordinator elsewhere the
/// batch is accepted unchecked, as Kafka did before 3.6.
fn check_transactional(
    ctx: &Ctx,
    transactional_id: Option<&str>,
    topic: &str,
    index: i32,
    header: &batch::BatchHeader,
) -> Result<(), i16> {
    let Some(transactional_id) = transactional_id else {
        return Err(ec::TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    };
    let partition = (topic.to_string(), index);
    match ctx.txns.verify(
        transactional_id,
        header.producer_id,
        header.producer_epoch,
        &partition,
    ) {
        Ok(()) | Err(ec::NOT_COORDINATOR) => Ok(()),
        Err(ec::COORDINATOR_NOT_AVAILABLE | ec::COORDINATOR_LOAD_IN_PROGRESS) => {
            Err(ec::NOT_ENOUGH_REPLICAS)
        }
        Err(ec::INVALID_PRODUCER_EPOCH) => Err(ec::INVALID_PRODUCER_EPOCH),
        Err(_) => Err(ec::INVALID_TXN_STATE),
    }
}

fn submit_partition(
    ctx: &Ctx,
    image: &crate::metadata::MetadataState,
    topic: &TopicMeta,
    index: i32,
    acks: i16,
    transactional_id: Option<&str>,
    records: Option<bytes::Bytes>,
) -> PartitionFuture {
    if crate::metadata::is_internal_topic(&topic.name) {
        // Only the group and transaction coordinators write there.
        return ready_error(index, ec::INVALID_TOPIC_EXCEPTION);
    }
    let partition = match ctx.leader_partition(topic, index) {
        Ok(partition) => partition,
        Err(code) => return ready_error(index, code),
    };
    let Some(records) = records else {
        return ready_error(index, ec::INVALID_RECORD);
    };
    if let Err(code) = check_replicas(ctx, image, topic, &partition, acks) {
        return ready_error(index, code);
    }
    let batches = match batch::split(&records) {
        Ok(batches) => batches,
        Err(BatchError::Crc | BatchError::Truncated) => {
            return ready_error(index, ec::CORRUPT_MESSAGE)
        }
        Err(BatchError::Magic(_) | BatchError::Invalid(_)) => {
            return ready_error(index, ec::INVALID_RECORD)
        }
    };
    let max_message_bytes: usize = image
        .topic_config_value(&ctx.config, topic, "max.message.bytes")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_048_588);
    for (_, header) in &batches {
        if header.size_bytes() > max_message_bytes {
            return ready_error(index, ec::MESSAGE_TOO_LARGE);
        }
        if header.is_control() {
            return ready_error(index, ec::INVALID_RECORD);
        }
        if header.is_transactional() {
            if let Err(code) =
                check_transactional(ctx, transactional_id, &topic.name, index, header)
            {
                return ready_error(index, code);
            }
        }
    }
    if crate::partition::cleaner::compacts(image, &ctx.config, topic) {
        for (at, header) in &batches {
            let batch = &records[*at..*at + header.size_bytes()];
            match crate::partition::compaction::all_records_keyed(batch) {
                Ok(true) => {}
                // "Compacted topic cannot accept message without key", as Kafka.
                Ok(false) => return ready_error(index, ec::INVALID_RECORD),
                Err(_) => return ready_error(index, ec::CORRUPT_MESSAGE),
            }
        }
    }
    partition.metrics.produced(&batches, records.len());
    let appends: Vec<_> = batches
        .iter()
        .map(|(at, header)| partition.submit(records.slice(*at..*at + header.size_bytes())))
        .collect();
    Box::pin(async move {
        let outcomes = join_all(appends).await;
        // The partition's answer is the first batch's offset, or the first error.
        let outcome = outcomes
            .iter()
            .copied()
            .find(|o| o.is_err())
            .unwrap_or(outcomes[0]);
        partition_response(index, outcome, partition.log_start_offset())
    })
}
