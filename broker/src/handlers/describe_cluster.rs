//! DescribeCluster: the brokers, and the metadata leader as the controller.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::{str_bytes, Ctx};
use crate::protocol::error_codes as ec;

pub fn handle(ctx: &Ctx, request: DescribeClusterRequest) -> DescribeClusterResponse {
    let image = ctx.metadata.current();
    let brokers = ctx
        .brokers(&image)
        .into_iter()
        .map(|(id, info)| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(id as i32))
                .with_host(str_bytes(&info.host))
                .with_port(info.port)
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
