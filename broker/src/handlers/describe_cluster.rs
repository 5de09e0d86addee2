//! DescribeCluster: the brokers (at their addresses on the client's listener), and the
//! metadata leader as the controller.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::{str_bytes, Ctx};
use crate::protocol::error_codes as ec;
use crate::security::Session;

/// Kafka checks nothing here (DESCRIBE on the cluster only decides the authorized operations
/// it reports, which this broker does not compute).
pub fn handle(
    ctx: &Ctx,
    session: &Session,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let image = ctx.metadata.current();
    let brokers = ctx
        .endpoints(&image, &session.listener.name)
        .into_iter()
        .map(|(id, endpoint)| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(id as i32))
                .with_host(str_bytes(&endpoint.host))
                .with_port(endpoint.port)
        })
        .collect();
    DescribeClusterResponse::default()
        .with_error_code(ec::NONE)
        .with_endpoint_type(request.endpoint_type.max(1))
        .with_cluster_id(str_bytes(&image.cluster_id))
        .with_controller_id(BrokerId(ctx.controller_id()))
        .with_brokers(brokers)
        .with_cluster_authorized_operations(i32::MIN)
}
