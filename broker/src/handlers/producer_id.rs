//! InitProducerId. Producer ids come from the metadata group in blocks, so they are unique
//! across brokers and restarts. With a transactional id the transaction coordinator answers:
//! the id's producer id and the epoch of this session (fencing the previous one).

use std::sync::Arc;

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::access::Access;
use super::transactions::fenced_for;
use super::Ctx;
use crate::protocol::error_codes as ec;
use crate::security::acl::{Operation, ResourceType};
use crate::txn::state::ProducerIdAndEpoch;

pub async fn handle(
    ctx: &Arc<Ctx>,
    access: Access,
    version: i16,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if let Some(transactional_id) = &request.transactional_id {
        if let Err(code) = access.transactional_id_code(Operation::Write, transactional_id) {
            return response.with_error_code(code);
        }
        // KIP-360 (v3+): a producer recovering its id says which one it holds.
        let expected = (version >= 3 && request.producer_id.0 >= 0).then_some(ProducerIdAndEpoch {
            producer_id: request.producer_id.0,
            epoch: request.producer_epoch,
        });
        return match ctx
            .txns
            .init_producer_id(
                transactional_id.as_str(),
                request.transaction_timeout_ms,
                expected,
            )
            .await
        {
            Ok((producer_id, epoch)) => response
                .with_error_code(ec::NONE)
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(epoch),
            Err(code) => response.with_error_code(fenced_for(code, version, 4)),
        };
    }
    // Kafka: an idempotent producer needs IDEMPOTENT_WRITE on the cluster or WRITE on some
    // topic.
    if !access.cluster_quietly(Operation::IdempotentWrite)
        && !access.any(Operation::Write, ResourceType::Topic)
    {
        return response.with_error_code(ec::CLUSTER_AUTHORIZATION_FAILED);
    }
    // Without a transactional id Kafka hands out a fresh id with epoch 0, also when the client
    // asks to bump the epoch of its current one.
    match ctx.metadata.next_producer_id().await {
        Ok(id) => response
            .with_error_code(ec::NONE)
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err(error) => {
            // No metadata quorum: retriable, the client asks again.
            tracing::warn!(%error, "allocating producer ids");
            response.with_error_code(ec::COORDINATOR_LOAD_IN_PROGRESS)
        }
    }
}
