//! DeleteRecords: moves partitions' log start offsets forward (offset -1: the high watermark).

use std::sync::Arc;

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::access::Access;
use super::Ctx;
use crate::protocol::error_codes as ec;
use crate::security::acl::Operation;

pub async fn handle(
    ctx: &Arc<Ctx>,
    access: Access,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let image = ctx.metadata.current();
    let mut topics = Vec::new();
    for topic in &request.topics {
        let meta = image.topics.get(topic.name.as_str());
        // As Kafka: a client may not delete records of an internal topic (here, every group's
        // committed offsets).
        let internal = crate::metadata::is_internal_topic(topic.name.as_str());
        let denied = access.topic_code(Operation::Delete, &topic.name).err();
        let mut partitions = Vec::new();
        for p in &topic.partitions {
            let result =
                DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index);
            let outcome = match meta.map(|m| ctx.leader_partition(m, p.partition_index)) {
                _ if denied.is_some() => Err(ec::TOPIC_AUTHORIZATION_FAILED),
                Some(_) if internal => Err(ec::INVALID_TOPIC_EXCEPTION),
                None => Err(ec::UNKNOWN_TOPIC_OR_PARTITION),
                Some(Err(code)) => Err(code),
                Some(Ok(partition)) => {
                    let high_watermark = partition.high_watermark();
                    match p.offset {
                        -1 => partition.trim(high_watermark).await,
                        offset if offset < 0 || offset > high_watermark => {
                            Err(ec::OFFSET_OUT_OF_RANGE)
                        }
                        offset if offset <= partition.log_start_offset() => {
                            Ok(partition.log_start_offset())
                        }
                        offset => partition.trim(offset).await,
                    }
                }
            };
            partitions.push(match outcome {
                Ok(low_watermark) => result
                    .with_error_code(ec::NONE)
                    .with_low_watermark(low_watermark),
                Err(code) => result.with_error_code(code).with_low_watermark(-1),
            });
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions),
        );
    }
    DeleteRecordsResponse::default().with_topics(topics)
}
