//! Fetch: committed batches from each partition, long-polling on min_bytes / max_wait_ms.
//! Fetch sessions are declined (session id 0), so every request is a full fetch.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, ProducerId};
use tokio::sync::watch;

use super::access::Access;
use super::{topic_name, Ctx};
use crate::partition::Partition;
use crate::protocol::error_codes as ec;
use crate::security::acl::Operation;

/// Upper bound on one long poll, whatever the client asks.
const WAIT_MAX: Duration = Duration::from_secs(30);
/// isolation_level: read_committed consumers stop at the last stable offset.
pub const READ_COMMITTED: i8 = 1;

struct Target {
    topic_index: usize,
    partition_index: i32,
    fetch_offset: i64,
    partition_max_bytes: i32,
    partition: Result<Arc<Partition>, i16>,
}

pub async fn handle(
    ctx: &Arc<Ctx>,
    access: Access,
    version: i16,
    request: FetchRequest,
) -> FetchResponse {
    if request.session_id != 0 {
        return FetchResponse::default().with_error_code(ec::FETCH_SESSION_ID_NOT_FOUND);
    }
    if request.session_epoch > 0 {
        return FetchResponse::default().with_error_code(ec::INVALID_FETCH_SESSION_EPOCH);
    }
    let image = ctx.metadata.current();
    let mut topics = Vec::new();
    let mut targets = Vec::new();
    for (topic_index, fetch_topic) in request.topics.iter().enumerate() {
        let topic = if version >= 13 {
            image.topic_by_id(fetch_topic.topic_id.as_bytes())
        } else {
            image.topics.get(fetch_topic.topic.as_str())
        };
        let unknown = if version >= 13 {
            ec::UNKNOWN_TOPIC_ID
        } else {
            ec::UNKNOWN_TOPIC_OR_PARTITION
        };
        let name = topic
            .map(|t| t.name.clone())
            .unwrap_or_else(|| fetch_topic.topic.to_string());
        let response = FetchableTopicResponse::default().with_topic_id(fetch_topic.topic_id);
        topics.push(if version >= 13 {
            response
        } else {
            response.with_topic(topic_name(&name))
        });
        // One check per topic (an unknown topic id has no name to check).
        let denied = match (topic, version >= 13) {
            (None, true) => None,
            _ => access.topic_code(Operation::Read, &name).err(),
        };
        for p in &fetch_topic.partitions {
            let partition = match (denied, topic) {
                (Some(code), _) => Err(code),
                (None, None) => Err(unknown),
                (None, Some(topic)) => ctx
                    // A new leader answers once its high watermark is the cluster's: else
                    // a consumer at the old one would get OFFSET_OUT_OF_RANGE and reset.
                    .read_partition(topic, p.partition, ec::NOT_LEADER_OR_FOLLOWER)
                    .and_then(|partition| {
                        check_epoch(p.current_leader_epoch, partition.leader_epoch())
                            .map(|_| partition)
                    }),
            };
            targets.push(Target {
                topic_index,
                partition_index: p.partition,
                fetch_offset: p.fetch_offset,
                partition_max_bytes: p.partition_max_bytes,
                partition,
            });
        }
    }
    let wait = Duration::from_millis(request.max_wait_ms.max(0) as u64).min(WAIT_MAX);
    let deadline = tokio::time::Instant::now() + wait;
    let mut watchers: Vec<watch::Receiver<i64>> = targets
        .iter()
        .filter_map(|t| t.partition.as_ref().ok())
        .map(|p| p.watch_high_watermark())
        .collect();
    loop {
        for watcher in watchers.iter_mut() {
            watcher.borrow_and_update();
        }
        // fetch.max.bytes bounds the response whatever the client asks: a partition's
        // max_bytes (which the first partition with data may use in full, as in Kafka) too.
        let max_bytes = request
            .max_bytes
            .clamp(0, ctx.config.fetch_bytes_max as i32);
        let read_committed = version >= 4 && request.isolation_level == READ_COMMITTED;
        let (responses, total_bytes) = read_all(&targets, max_bytes, version, read_committed).await;
        let done = total_bytes >= request.min_bytes.max(1) as usize
            || watchers.is_empty()
            || tokio::time::Instant::now() >= deadline;
        if done || !wait_for_data(&mut watchers, deadline).await {
            // read_all answers every target in order; count only what is sent.
            debug_assert_eq!(responses.len(), targets.len());
            for (target, (_, data)) in targets.iter().zip(&responses) {
                if let (Ok(partition), Some(records)) = (&target.partition, &data.records) {
                    partition.metrics.fetched(records);
                }
            }
            for (topic_index, data) in responses {
                topics[topic_index].partitions.push(data);
            }
            return FetchResponse::default()
                .with_session_id(0)
                .with_responses(topics);
        }
    }
}

/// Kafka's leader epoch fencing: -1 means the client does not know.
pub fn check_epoch(requested: i32, current: i32) -> Result<(), i16> {
    match requested {
        -1 => Ok(()),
        e if e < current => Err(ec::FENCED_LEADER_EPOCH),
        e if e > current => Err(ec::UNKNOWN_LEADER_EPOCH),
        _ => Ok(()),
    }
}

async fn read_all(
    targets: &[Target],
    max_bytes: i32,
    version: i16,
    read_committed: bool,
) -> (Vec<(usize, PartitionData)>, usize) {
    let mut remaining = max_bytes.max(0) as usize;
    let mut total = 0;
    let mut out = Vec::with_capacity(targets.len());
    for target in targets {
        let data = PartitionData::default()
            .with_partition_index(target.partition_index)
            .with_preferred_read_replica(BrokerId(-1));
        let partition = match &target.partition {
            Ok(partition) => partition,
            Err(code) => {
                out.push((target.topic_index, error_data(data, *code, version)));
                continue;
            }
        };
        let high_watermark = partition.high_watermark();
        let last_stable_offset = partition.last_stable_offset();
        let log_start_offset = if version >= 5 {
            partition.log_start_offset()
        } else {
            -1
        };
        // read_committed reads stop at the last stable offset, read_uncommitted ones at the
        // high watermark.
        let upto = if read_committed {
            last_stable_offset
        } else {
            high_watermark
        };
        let data = data
            .with_high_watermark(high_watermark)
            .with_last_stable_offset(last_stable_offset)
            .with_log_start_offset(log_start_offset);
        if target.fetch_offset < log_start_offset || target.fetch_offset > high_watermark {
            out.push((
                target.topic_index,
                error_data(data, ec::OFFSET_OUT_OF_RANGE, version),
            ));
            continue;
        }
        // The first partition with data always gets at least one batch, as in Kafka (KIP-74).
        let partition_max_bytes = target.partition_max_bytes.clamp(0, max_bytes.max(0)) as usize;
        let budget = partition_max_bytes.min(if total == 0 { usize::MAX } else { remaining });
        let records = if budget == 0 || target.fetch_offset >= upto {
            Ok(bytes::Bytes::new())
        } else {
            partition
                .read(target.fetch_offset, budget.max(1), upto)
                .await
        };
        match records {
            Ok(records) => {
                total += records.len();
                remaining = remaining.saturating_sub(records.len());
                // Kafka: null for read_uncommitted, the list (maybe empty) for read_committed.
                let aborted = read_committed.then(|| {
                    partition
                        .aborted_transactions(target.fetch_offset, upto)
                        .into_iter()
                        .map(|(producer_id, first_offset)| {
                            AbortedTransaction::default()
                                .with_producer_id(ProducerId(producer_id))
                                .with_first_offset(first_offset)
                        })
                        .collect()
                });
                out.push((
                    target.topic_index,
                    data.with_error_code(ec::NONE)
                        .with_aborted_transactions(aborted)
                        .with_records(Some(records)),
                ));
            }
            Err(error) => {
                tracing::error!(topic = %partition.topic, partition = partition.index, %error, "reading partition");
                out.push((
                    target.topic_index,
                    error_data(data, ec::UNKNOWN_SERVER_ERROR, version),
                ));
            }
        }
    }
    (out, total)
}

fn error_data(data: PartitionData, code: i16, version: i16) -> PartitionData {
    let data = data
        .with_error_code(code)
        .with_records(Some(bytes::Bytes::new()));
    if code == ec::OFFSET_OUT_OF_RANGE {
        return data;
    }
    let data = data.with_high_watermark(-1).with_last_stable_offset(-1);
    if version >= 5 {
        data.with_log_start_offset(-1)
    } else {
        data
    }
}

/// Waits until some partition's high watermark moves; false at the deadline.
async fn wait_for_data(
    watchers: &mut [watch::Receiver<i64>],
    deadline: tokio::time::Instant,
) -> bool {
    let changes = watchers.iter_mut().map(|w| Box::pin(w.changed()));
    matches!(
        tokio::time::timeout_at(deadline, futures::future::select_all(changes)).await,
        Ok((Ok(()), _, _))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leader_epoch_fencing() {
        assert_eq!(check_epoch(-1, 5), Ok(()));
        assert_eq!(check_epoch(5, 5), Ok(()));
        assert_eq!(check_epoch(4, 5), Err(ec::FENCED_LEADER_EPOCH));
        assert_eq!(check_epoch(6, 5), Err(ec::UNKNOWN_LEADER_EPOCH));
    }
}
