//! The transaction APIs: AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit (to the
//! group coordinator), DescribeTransactions and ListTransactions. InitProducerId is in
//! `producer_id`, FindCoordinator in `groups`.

use std::collections::BTreeSet;
use std::sync::Arc;

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::describe_transactions_response::{self as describe, TopicData};
use kafka_protocol::messages::list_transactions_response as list;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::*;

use super::access::Access;
use super::{str_bytes, topic_name, Ctx};
use crate::group::store::{OffsetValue, OFFSETS_TOPIC};
use crate::group::txn_offsets::TxnCommit;
use crate::group::{now_ms, partition_index};
use crate::protocol::error_codes as ec;
use crate::security::acl::{Operation, ResourceType};
use crate::txn::state::TxnState;

/// Kafka answers PRODUCER_FENCED only to versions that know it; older ones get
/// INVALID_PRODUCER_EPOCH (KafkaApis does this per API).
pub fn fenced_for(code: i16, version: i16, first_knowing: i16) -> i16 {
    if code == ec::PRODUCER_FENCED && version < first_knowing {
        ec::INVALID_PRODUCER_EPOCH
    } else {
        code
    }
}

/// The partitions of a request, and whether each exists.
fn partitions_of(ctx: &Ctx, topics: &[AddPartitionsToTxnTopic]) -> Vec<(String, i32, bool)> {
    let image = ctx.metadata.current();
    topics
        .iter()
        .flat_map(|t| {
            let known = image
                .topics
                .get(t.name.as_str())
                .map(|m| m.partitions.len());
            t.partitions.iter().map(move |p| {
                let exists = known.is_some_and(|n| *p >= 0 && (*p as usize) < n);
                (t.name.to_string(), *p, exists)
            })
        })
        .collect()
}

/// Per-topic results with one code per partition.
fn topic_results(
    partitions: &[(String, i32, bool)],
    code_of: impl Fn(&(String, i32, bool)) -> i16,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut results: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
    for partition in partitions {
        let result = AddPartitionsToTxnPartitionResult::default()
            .with_partition_index(partition.1)
            .with_partition_error_code(code_of(partition));
        match results.iter_mut().find(|r| r.name.as_str() == partition.0) {
            Some(topic) => topic.results_by_partition.push(result),
            None => results.push(
                AddPartitionsToTxnTopicResult::default()
                    .with_name(topic_name(&partition.0))
                    .with_results_by_partition(vec![result]),
            ),
        }
    }
    results
}

/// One transaction's AddPartitionsToTxn: unknown partitions fail the request (the others get
/// OPERATION_NOT_ATTEMPTED, as Kafka), else one code for all; `verify_only` (v4+, broker to
/// broker) checks instead of adding.
#[allow(clippy::too_many_arguments)]
async fn add_one(
    ctx: &Arc<Ctx>,
    access: &Access,
    transactional_id: &str,
    producer_id: i64,
    epoch: i16,
    verify_only: bool,
    partitions: Vec<(String, i32, bool)>,
    version: i16,
) -> Vec<AddPartitionsToTxnTopicResult> {
    // Kafka: WRITE on the transactional id (else every partition fails with it), WRITE on
    // each topic (the others are then not attempted).
    if let Err(code) = access.transactional_id_code(Operation::Write, transactional_id) {
        return topic_results(&partitions, |_| code);
    }
    let mut checked: Vec<(&str, bool)> = Vec::new();
    for (topic, _, _) in &partitions {
        if !checked.iter().any(|(name, _)| *name == topic.as_str()) {
            checked.push((topic.as_str(), access.topic(Operation::Write, topic)));
        }
    }
    if checked.iter().any(|(_, allowed)| !allowed) {
        return topic_results(&partitions, |(topic, _, _)| {
            match checked
                .iter()
                .any(|(name, allowed)| *name == topic.as_str() && !*allowed)
            {
                true => ec::TOPIC_AUTHORIZATION_FAILED,
                false => ec::OPERATION_NOT_ATTEMPTED,
            }
        });
    }
    if partitions.iter().any(|(_, _, exists)| !exists) {
        return topic_results(&partitions, |(_, _, exists)| {
            if *exists {
                ec::OPERATION_NOT_ATTEMPTED
            } else {
                ec::UNKNOWN_TOPIC_OR_PARTITION
            }
        });
    }
    if verify_only {
        return topic_results(&partitions, |(topic, index, _)| {
            match ctx.txns.verify(
                transactional_id,
                producer_id,
                epoch,
                &(topic.clone(), *index),
            ) {
                Ok(()) => ec::NONE,
                Err(code) => code,
            }
        });
    }
    let set: BTreeSet<(String, i32)> = partitions.iter().map(|(t, p, _)| (t.clone(), *p)).collect();
    let code = ctx
        .txns
        .add_partitions(transactional_id, producer_id, epoch, set)
        .await;
    let code = fenced_for(code, version, 2);
    topic_results(&partitions, |_| code)
}

pub async fn add_partitions(
    ctx: &Arc<Ctx>,
    access: Access,
    version: i16,
    request: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    if version <= 3 {
        let partitions = partitions_of(ctx, &request.v3_and_below_topics);
        let results = add_one(
            ctx,
            &access,
            request.v3_and_below_transactional_id.as_str(),
            request.v3_and_below_producer_id.0,
            request.v3_and_below_producer_epoch,
            false,
            partitions,
            version,
        )
        .await;
        return AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results);
    }
    let mut results = Vec::with_capacity(request.transactions.len());
    for txn in &request.transactions {
        let partitions = partitions_of(ctx, &txn.topics);
        let topic_results = add_one(
            ctx,
            &access,
            txn.transactional_id.as_str(),
            txn.producer_id.0,
            txn.producer_epoch,
            txn.verify_only,
            partitions,
            version,
        )
        .await;
        results.push(
            AddPartitionsToTxnResult::default()
                .with_transactional_id(txn.transactional_id.clone())
                .with_topic_results(topic_results),
        );
    }
    AddPartitionsToTxnResponse::default()
        .with_error_code(ec::NONE)
        .with_results_by_transaction(results)
}

/// AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the transaction.
pub async fn add_offsets(
    ctx: &Arc<Ctx>,
    access: Access,
    version: i16,
    request: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let response = AddOffsetsToTxnResponse::default();
    // Kafka: WRITE on the transactional id, READ on the group.
    let allowed = access
        .transactional_id_code(Operation::Write, &request.transactional_id)
        .and_then(|_| access.group_code(Operation::Read, &request.group_id));
    if let Err(code) = allowed {
        return response.with_error_code(code);
    }
    let count = ctx
        .metadata
        .current()
        .topics
        .get(OFFSETS_TOPIC)
        .map_or(0, |t| t.partitions.len());
    if count == 0 {
        return response.with_error_code(ec::COORDINATOR_NOT_AVAILABLE);
    }
    let partition = partition_index(request.group_id.as_str(), count) as i32;
    let code = ctx
        .txns
        .add_partitions(
            request.transactional_id.as_str(),
            request.producer_id.0,
            request.producer_epoch,
            BTreeSet::from([(OFFSETS_TOPIC.to_string(), partition)]),
        )
        .await;
    response.with_error_code(fenced_for(code, version, 2))
}

pub async fn end_txn(
    ctx: &Arc<Ctx>,
    access: Access,
    version: i16,
    request: EndTxnRequest,
) -> EndTxnResponse {
    if let Err(code) = access.transactional_id_code(Operation::Write, &request.transactional_id) {
        return EndTxnResponse::default()
            .with_error_code(code)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    let code = ctx
        .txns
        .end_txn(
            request.transactional_id.as_str(),
            request.producer_id.0,
            request.producer_epoch,
            request.committed,
        )
        .await;
    EndTxnResponse::default()
        .with_error_code(fenced_for(code, version, 2))
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}

/// TxnOffsetCommit, to the group coordinator.
pub async fn txn_offset_commit(
    ctx: &Arc<Ctx>,
    access: Access,
    version: i16,
    request: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let group_id = request.group_id.to_string();
    // Kafka: WRITE on the transactional id and READ on the group (else every partition
    // fails), READ on each topic.
    let request_denied = access
        .transactional_id_code(Operation::Write, &request.transactional_id)
        .and_then(|_| access.group_code(Operation::Read, &group_id))
        .err();
    let topic_denied: Vec<Option<i16>> = request
        .topics
        .iter()
        .map(|t| match request_denied {
            Some(code) => Some(code),
            None => access.topic_code(Operation::Read, &t.name).err(),
        })
        .collect();
    let entries: Vec<(String, i32, OffsetValue)> = request
        .topics
        .iter()
        .zip(&topic_denied)
        .filter(|(_, denied)| denied.is_none())
        .flat_map(|(t, _)| {
            t.partitions.iter().map(move |p| {
                let leader_epoch = if version >= 2 {
                    p.committed_leader_epoch
                } else {
                    -1
                };
                let value = OffsetValue::committed(
                    p.committed_offset,
                    leader_epoch,
                    p.committed_metadata.as_ref(),
                );
                (t.name.to_string(), p.partition_index, value)
            })
        })
        .collect();
    let codes = match ctx.groups.partition_for(&group_id) {
        _ if entries.is_empty() => Vec::new(),
        Err(code) => vec![code; entries.len()],
        Ok(_) if group_id.is_empty() => vec![ec::INVALID_GROUP_ID; entries.len()],
        Ok(_) => {
            let instance_id = request.group_instance_id.as_ref().map(|s| s.to_string());
            let commit = TxnCommit {
                group_id: &group_id,
                producer_id: request.producer_id.0,
                producer_epoch: request.producer_epoch,
                member_id: if version >= 3 {
                    request.member_id.as_str()
                } else {
                    ""
                },
                instance_id: instance_id.as_deref(),
                generation: if version >= 3 {
                    request.generation_id
                } else {
                    -1
                },
            };
            ctx.groups.txn_commit(commit, entries).await
        }
    };
    let mut codes = codes.into_iter().map(|c| fenced_for(c, version, 3));
    let topics = request
        .topics
        .iter()
        .zip(topic_denied)
        .map(|(t, denied)| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let code = match denied {
                        Some(code) => code,
                        None => codes.next().unwrap_or(ec::UNKNOWN_SERVER_ERROR),
                    };
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}

pub fn describe_transactions(
    ctx: &Arc<Ctx>,
    access: Access,
    request: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let states = request
        .transactional_ids
        .iter()
        .map(|id| {
            let state = describe::TransactionState::default()
                .with_transactional_id(id.clone())
                .with_transaction_state(str_bytes(""))
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
                .with_transaction_start_time_ms(-1);
            let allowed = access.transactional_id_code(Operation::Describe, id);
            match allowed.and_then(|_| ctx.txns.describe(id.as_str())) {
                Err(code) => state.with_error_code(code),
                Ok(metadata) => {
                    let mut topics: Vec<TopicData> = Vec::new();
                    for (topic, partition) in &metadata.partitions {
                        match topics.iter_mut().find(|t| t.topic.as_str() == topic) {
                            Some(data) => data.partitions.push(*partition),
                            None => topics.push(
                                TopicData::default()
                                    .with_topic(topic_name(topic))
                                    .with_partitions(vec![*partition]),
                            ),
                        }
                    }
                    state
                        .with_error_code(ec::NONE)
                        .with_transaction_state(str_bytes(metadata.state.name()))
                        .with_transaction_timeout_ms(metadata.timeout_ms)
                        .with_transaction_start_time_ms(metadata.start_ms)
                        .with_producer_id(ProducerId(metadata.producer_id))
                        .with_producer_epoch(metadata.producer_epoch)
                        .with_topics(topics)
                }
            }
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

const STATES: [TxnState; 6] = [
    TxnState::Empty,
    TxnState::Ongoing,
    TxnState::PrepareCommit,
    TxnState::PrepareAbort,
    TxnState::CompleteCommit,
    TxnState::CompleteAbort,
];

pub fn list_transactions(
    ctx: &Arc<Ctx>,
    access: Access,
    version: i16,
    request: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let response = ListTransactionsResponse::default().with_error_code(ec::NONE);
    let known: Vec<&str> = STATES.iter().map(|s| s.name()).collect();
    let unknown_filters: Vec<_> = request
        .state_filters
        .iter()
        .filter(|f| !known.contains(&f.as_str()))
        .cloned()
        .collect();
    let pattern = match request
        .transactional_id_pattern
        .as_ref()
        .filter(|p| version >= 2 && !p.is_empty())
    {
        // Java's Pattern.matches: the whole id must match.
        Some(pattern) => match regex::Regex::new(&format!("^(?:{})$", pattern.as_str())) {
            Ok(regex) => Some(regex),
            Err(_) => return response.with_error_code(ec::INVALID_REQUEST),
        },
        None => None,
    };
    let now = now_ms();
    let states = ctx
        .txns
        .transactions()
        .into_iter()
        .filter(|(_, m)| {
            request.state_filters.is_empty()
                || request
                    .state_filters
                    .iter()
                    .any(|f| f.as_str() == m.state.name())
        })
        .filter(|(_, m)| {
            request.producer_id_filters.is_empty()
                || request
                    .producer_id_filters
                    .iter()
                    .any(|p| p.0 == m.producer_id)
        })
        .filter(|(_, m)| {
            version < 1 || request.duration_filter < 0 || {
                m.state == TxnState::Ongoing && now - m.start_ms > request.duration_filter
            }
        })
        .filter(|(id, _)| pattern.as_ref().is_none_or(|r| r.is_match(id)))
        // Kafka lists only the ids one may DESCRIBE.
        .filter(|(id, _)| access.quietly(Operation::Describe, ResourceType::TransactionalId, id))
        .map(|(id, m)| {
            list::TransactionState::default()
                .with_transactional_id(TransactionalId(str_bytes(&id)))
                .with_producer_id(ProducerId(m.producer_id))
                .with_transaction_state(str_bytes(m.state.name()))
        })
        .collect();
    response
        .with_unknown_state_filters(unknown_filters)
        .with_transaction_states(states)
}

/// DescribeProducers: the producers of each partition as its leader knows them (what
/// `kafka-transactions describe-producers` and `find-hanging` show).
pub fn describe_producers(
    ctx: &Arc<Ctx>,
    access: Access,
    request: DescribeProducersRequest,
) -> DescribeProducersResponse {
    use kafka_protocol::messages::describe_producers_response::{
        PartitionResponse, ProducerState, TopicResponse,
    };
    let image = ctx.metadata.current();
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let meta = image.topics.get(t.name.as_str());
            let denied = access.topic_code(Operation::Read, &t.name).err();
            let partitions = t
                .partition_indexes
                .iter()
                .map(|index| {
                    let response = PartitionResponse::default().with_partition_index(*index);
                    let partition = denied
                        .map_or(Ok(()), Err)
                        .and_then(|_| meta.ok_or(ec::UNKNOWN_TOPIC_OR_PARTITION))
                        .and_then(|m| ctx.leader_partition(m, *index));
                    match partition {
                        Err(code) => response.with_error_code(code),
                        Ok(partition) => response.with_error_code(ec::NONE).with_active_producers(
                            partition
                                .producers()
                                .into_iter()
                                .map(|(id, view)| {
                                    ProducerState::default()
                                        .with_producer_id(ProducerId(id))
                                        .with_producer_epoch(view.epoch as i32)
                                        .with_last_sequence(view.last_sequence)
                                        .with_last_timestamp(view.last_timestamp)
                                        .with_coordinator_epoch(-1)
                                        .with_current_txn_start_offset(
                                            view.current_txn_start_offset,
                                        )
                                })
                                .collect(),
                        ),
                    }
                })
                .collect();
            TopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}
