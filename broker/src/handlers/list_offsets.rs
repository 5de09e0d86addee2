//! ListOffsets: earliest, latest, by timestamp and max timestamp, from the offset index.

use std::sync::Arc;

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::access::Access;
use super::fetch::check_epoch;
use super::Ctx;
use crate::partition::Partition;
use crate::protocol::error_codes as ec;
use crate::security::acl::Operation;
use crate::storage::StorageError;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

pub async fn handle(
    ctx: &Arc<Ctx>,
    access: Access,
    version: i16,
    request: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let image = ctx.metadata.current();
    // Kafka's answer for a new leader whose high watermark is not yet known; v0-v4 clients
    // know only LEADER_NOT_AVAILABLE for it.
    let not_caught_up = if version >= 5 {
        ec::OFFSET_NOT_AVAILABLE
    } else {
        ec::LEADER_NOT_AVAILABLE
    };
    let mut topics = Vec::new();
    for topic in &request.topics {
        let meta = image.topics.get(topic.name.as_str());
        let denied = access.topic_code(Operation::Describe, &topic.name).err();
        let mut partitions = Vec::new();
        for p in &topic.partitions {
            let response =
                ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index);
            let partition = denied
                .map_or(Ok(()), Err)
                .and_then(|_| meta.ok_or(ec::UNKNOWN_TOPIC_OR_PARTITION))
                .and_then(|meta| ctx.read_partition(meta, p.partition_index, not_caught_up))
                .and_then(|partition| {
                    check_epoch(p.current_leader_epoch, partition.leader_epoch()).map(|_| partition)
                });
            let response = match partition {
                Err(code) => response
                    .with_error_code(code)
                    .with_timestamp(-1)
                    .with_offset(-1)
                    .with_leader_epoch(-1),
                Ok(partition) => match lookup(
                    &partition,
                    p.timestamp,
                    version >= 2 && request.isolation_level == super::fetch::READ_COMMITTED,
                ) {
                    Ok((timestamp, offset)) => response
                        .with_error_code(ec::NONE)
                        .with_timestamp(timestamp)
                        .with_offset(offset)
                        .with_leader_epoch(if version >= 4 {
                            partition.leader_epoch()
                        } else {
                            -1
                        }),
                    Err(error) => {
                        tracing::error!(%error, "list offsets");
                        response
                            .with_error_code(ec::UNKNOWN_SERVER_ERROR)
                            .with_timestamp(-1)
                            .with_offset(-1)
                    }
                },
            };
            partitions.push(response);
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions),
        );
    }
    ListOffsetsResponse::default().with_topics(topics)
}

/// (timestamp, offset) for one query; (-1, -1) when no record matches.
fn lookup(
    partition: &Partition,
    timestamp: i64,
    read_committed: bool,
) -> Result<(i64, i64), StorageError> {
    match timestamp {
        // A read_committed consumer's end is the last stable offset, as in Kafka.
        LATEST if read_committed => Ok((-1, partition.last_stable_offset())),
        LATEST => Ok((-1, partition.high_watermark())),
        EARLIEST | EARLIEST_LOCAL | LATEST_TIERED => Ok((-1, partition.log_start_offset())),
        MAX_TIMESTAMP => {
            let batches = partition.batches()?;
            let Some(best) = batches
                .iter()
                .max_by_key(|b| (b.max_timestamp, -b.base_offset))
            else {
                return Ok((-1, -1));
            };
            let records = partition.decode_batch(best)?;
            let found = records
                .iter()
                .filter(|r| r.timestamp == best.max_timestamp)
                .map(|r| r.offset)
                .next();
            Ok((best.max_timestamp, found.unwrap_or(best.base_offset)))
        }
        target => {
            let batches = partition.batches()?;
            let Some(batch) = batches.iter().find(|b| b.max_timestamp >= target) else {
                return Ok((-1, -1));
            };
            let records = partition.decode_batch(batch)?;
            Ok(records
                .iter()
                .find(|r| r.timestamp >= target)
                .map(|r| (r.timestamp, r.offset))
                .unwrap_or((batch.max_timestamp, batch.base_offset)))
        }
    }
}
