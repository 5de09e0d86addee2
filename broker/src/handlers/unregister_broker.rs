//! UnregisterBroker: removes a broker from the cluster once it holds no partition replicas
//! (move them away first with AlterPartitionReassignments). Brokers join by starting with
//! `--join`.

use std::sync::Arc;

use kafka_protocol::messages::{UnregisterBrokerRequest, UnregisterBrokerResponse};

use super::access::Access;
use super::{str_bytes, Ctx};
use crate::metadata::commands::MetadataCommand;
use crate::protocol::error_codes as ec;
use crate::security::acl::Operation;

pub async fn handle(
    ctx: &Arc<Ctx>,
    access: Access,
    request: UnregisterBrokerRequest,
) -> UnregisterBrokerResponse {
    // Kafka: ALTER on the cluster.
    if let Err(code) = access.cluster_code(Operation::Alter) {
        return UnregisterBrokerResponse::default().with_error_code(code);
    }
    if request.broker_id.0 < 0 {
        return UnregisterBrokerResponse::default()
            .with_error_code(ec::BROKER_ID_NOT_REGISTERED)
            .with_error_message(Some(str_bytes("Broker ids are not negative.")));
    }
    let command = MetadataCommand::UnregisterBroker {
        id: request.broker_id.0 as u64,
    };
    match ctx.metadata.propose_for_client(command).await {
        Ok(_) => UnregisterBrokerResponse::default().with_error_code(ec::NONE),
        Err((code, message)) => UnregisterBrokerResponse::default()
            .with_error_code(code)
            .with_error_message(Some(str_bytes(&message))),
    }
}
