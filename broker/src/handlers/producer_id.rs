//! InitProducerId for idempotent producers. Producer ids come from the metadata group in
//! blocks, so they are unique across brokers and restarts. Transactions are not supported yet.

use std::sync::Arc;

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::Ctx;
use crate::protocol::error_codes as ec;

pub async fn handle(ctx: &Arc<Ctx>, request: InitProducerIdRequest) -> InitProducerIdResponse {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if request.transactional_id.is_some() {
        return response.with_error_code(ec::TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
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
