//! DescribeCluster: this node is the whole cluster, as broker and as controller.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::{str_bytes, Ctx};
use crate::protocol::error_codes as ec;

pub fn handle(ctx: &Ctx, request: DescribeClusterRequest) -> DescribeClusterResponse {
    let image = ctx.metadata.current();
    let broker = DescribeClusterBroker::default()
        .with_broker_id(BrokerId(ctx.node_id()))
        .with_host(str_bytes(&ctx.config.advertised_host))
        .with_port(ctx.config.advertised_port);
    DescribeClusterResponse::default()
        .with_error_code(ec::NONE)
        .with_endpoint_type(request.endpoint_type.max(1))
        .with_cluster_id(str_bytes(&image.cluster_id))
        .with_controller_id(BrokerId(ctx.node_id()))
        .with_brokers(vec![broker])
        .with_cluster_authorized_operations(i32::MIN)
}
