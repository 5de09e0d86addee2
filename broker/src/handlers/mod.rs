//! Kafka API handlers, one module per API family, and the one table of supported APIs and
//! versions that both dispatch and ApiVersions use.

pub mod api_versions;
pub mod configs;
pub mod consumer_group;
pub mod delete_records;
pub mod describe_cluster;
pub mod describe_log_dirs;
pub mod describe_quorum;
pub mod elect_leaders;
pub mod fetch;
pub mod groups;
pub mod leader_epoch;
pub mod list_offsets;
pub mod metadata;
pub mod offsets;
pub mod produce;
pub mod producer_id;
pub mod reassignments;
pub mod topics;
pub mod unregister_broker;

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Message;

use crate::config::Config;
use crate::metadata::{BrokerInfo, Metadata, MetadataState, TopicMeta};
use crate::partition::Partition;
use crate::protocol::error_codes as ec;
use crate::replicas::Replicas;

/// Everything a handler may use. Cheap to clone through its `Arc`.
pub struct Ctx {
    pub config: Arc<Config>,
    pub metadata: Metadata,
    pub replicas: Arc<Replicas>,
    pub groups: Arc<crate::group::Coordinator>,
}

#[derive(Debug, Clone, Copy)]
pub struct ApiSpec {
    pub key: ApiKey,
    pub min: i16,
    pub max: i16,
}

/// The versions both the request and the response codec handle.
macro_rules! api {
    ($key:ident, $request:ty, $response:ty) => {{
        let (request, response) = (
            <$request as Message>::VERSIONS,
            <$response as Message>::VERSIONS,
        );
        ApiSpec {
            key: ApiKey::$key,
            min: if request.min > response.min {
                request.min
            } else {
                response.min
            },
            max: if request.max < response.max {
                request.max
            } else {
                response.max
            },
        }
    }};
}

/// Every API this broker serves, with every version its codec handles. The minimums keep the
/// low versions older librdkafka probes for (Produce 3, Fetch 4, ListOffsets 1, Metadata 0).
pub const SUPPORTED: &[ApiSpec] = &[
    api!(Produce, ProduceRequest, ProduceResponse),
    api!(Fetch, FetchRequest, FetchResponse),
    api!(ListOffsets, ListOffsetsRequest, ListOffsetsResponse),
    api!(Metadata, MetadataRequest, MetadataResponse),
    api!(ApiVersions, ApiVersionsRequest, ApiVersionsResponse),
    api!(CreateTopics, CreateTopicsRequest, CreateTopicsResponse),
    api!(DeleteTopics, DeleteTopicsRequest, DeleteTopicsResponse),
    api!(
        InitProducerId,
        InitProducerIdRequest,
        InitProducerIdResponse
    ),
    api!(
        DescribeConfigs,
        DescribeConfigsRequest,
        DescribeConfigsResponse
    ),
    api!(AlterConfigs, AlterConfigsRequest, AlterConfigsResponse),
    api!(
        CreatePartitions,
        CreatePartitionsRequest,
        CreatePartitionsResponse
    ),
    api!(
        IncrementalAlterConfigs,
        IncrementalAlterConfigsRequest,
        IncrementalAlterConfigsResponse
    ),
    api!(
        DescribeCluster,
        DescribeClusterRequest,
        DescribeClusterResponse
    ),
    api!(DeleteRecords, DeleteRecordsRequest, DeleteRecordsResponse),
    api!(
        AlterPartitionReassignments,
        AlterPartitionReassignmentsRequest,
        AlterPartitionReassignmentsResponse
    ),
    api!(
        ListPartitionReassignments,
        ListPartitionReassignmentsRequest,
        ListPartitionReassignmentsResponse
    ),
    api!(
        UnregisterBroker,
        UnregisterBrokerRequest,
        UnregisterBrokerResponse
    ),
    api!(
        OffsetForLeaderEpoch,
        OffsetForLeaderEpochRequest,
        OffsetForLeaderEpochResponse
    ),
    api!(
        DescribeLogDirs,
        DescribeLogDirsRequest,
        DescribeLogDirsResponse
    ),
    api!(
        DescribeQuorum,
        DescribeQuorumRequest,
        DescribeQuorumResponse
    ),
    api!(ElectLeaders, ElectLeadersRequest, ElectLeadersResponse),
    api!(
        FindCoordinator,
        FindCoordinatorRequest,
        FindCoordinatorResponse
    ),
    api!(JoinGroup, JoinGroupRequest, JoinGroupResponse),
    api!(SyncGroup, SyncGroupRequest, SyncGroupResponse),
    api!(Heartbeat, HeartbeatRequest, HeartbeatResponse),
    api!(LeaveGroup, LeaveGroupRequest, LeaveGroupResponse),
    api!(OffsetCommit, OffsetCommitRequest, OffsetCommitResponse),
    api!(OffsetFetch, OffsetFetchRequest, OffsetFetchResponse),
    api!(
        DescribeGroups,
        DescribeGroupsRequest,
        DescribeGroupsResponse
    ),
    api!(ListGroups, ListGroupsRequest, ListGroupsResponse),
    api!(DeleteGroups, DeleteGroupsRequest, DeleteGroupsResponse),
    api!(OffsetDelete, OffsetDeleteRequest, OffsetDeleteResponse),
    api!(
        ConsumerGroupHeartbeat,
        ConsumerGroupHeartbeatRequest,
        ConsumerGroupHeartbeatResponse
    ),
    api!(
        ConsumerGroupDescribe,
        ConsumerGroupDescribeRequest,
        ConsumerGroupDescribeResponse
    ),
];

pub fn supported(key: ApiKey) -> Option<ApiSpec> {
    SUPPORTED.iter().copied().find(|spec| spec.key == key)
}

/// Routes a decoded request. Synchronous on purpose: produce queues its batches here, in
/// request order; the returned future does the waiting.
pub fn handle(
    ctx: &Arc<Ctx>,
    header: RequestHeader,
    request: RequestKind,
) -> BoxFuture<'static, Option<ResponseKind>> {
    let ctx = ctx.clone();
    let version = header.request_api_version;
    match request {
        RequestKind::Produce(req) => produce::submit(&ctx, version, req).boxed(),
        RequestKind::ApiVersions(req) => ready(ResponseKind::ApiVersions(api_versions::handle(
            &ctx, version, req,
        ))),
        RequestKind::Fetch(req) => {
            async move { Some(ResponseKind::Fetch(fetch::handle(&ctx, version, req).await)) }
                .boxed()
        }
        RequestKind::ListOffsets(req) => async move {
            Some(ResponseKind::ListOffsets(
                list_offsets::handle(&ctx, version, req).await,
            ))
        }
        .boxed(),
        RequestKind::Metadata(req) => async move {
            Some(ResponseKind::Metadata(
                metadata::handle(&ctx, version, req).await,
            ))
        }
        .boxed(),
        RequestKind::CreateTopics(req) => async move {
            Some(ResponseKind::CreateTopics(
                topics::create_topics(&ctx, version, req).await,
            ))
        }
        .boxed(),
        RequestKind::DeleteTopics(req) => async move {
            Some(ResponseKind::DeleteTopics(
                topics::delete_topics(&ctx, version, req).await,
            ))
        }
        .boxed(),
        RequestKind::CreatePartitions(req) => async move {
            Some(ResponseKind::CreatePartitions(
                topics::create_partitions(&ctx, req).await,
            ))
        }
        .boxed(),
        RequestKind::InitProducerId(req) => async move {
            Some(ResponseKind::InitProducerId(
                producer_id::handle(&ctx, req).await,
            ))
        }
        .boxed(),
        RequestKind::DescribeConfigs(req) => async move {
            Some(ResponseKind::DescribeConfigs(configs::describe(
                &ctx, version, req,
            )))
        }
        .boxed(),
        RequestKind::AlterConfigs(req) => {
            async move { Some(ResponseKind::AlterConfigs(configs::alter(&ctx, req).await)) }.boxed()
        }
        RequestKind::IncrementalAlterConfigs(req) => async move {
            Some(ResponseKind::IncrementalAlterConfigs(
                configs::incremental_alter(&ctx, req).await,
            ))
        }
        .boxed(),
        RequestKind::AlterPartitionReassignments(req) => async move {
            Some(ResponseKind::AlterPartitionReassignments(
                reassignments::alter(&ctx, version, req).await,
            ))
        }
        .boxed(),
        RequestKind::ListPartitionReassignments(req) => ready(
            ResponseKind::ListPartitionReassignments(reassignments::list(&ctx, req)),
        ),
        RequestKind::UnregisterBroker(req) => async move {
            Some(ResponseKind::UnregisterBroker(
                unregister_broker::handle(&ctx, req).await,
            ))
        }
        .boxed(),
        RequestKind::OffsetForLeaderEpoch(req) => ready(ResponseKind::OffsetForLeaderEpoch(
            leader_epoch::handle(&ctx, req),
        )),
        RequestKind::DescribeCluster(req) => std::future::ready(Some(
            ResponseKind::DescribeCluster(describe_cluster::handle(&ctx, req)),
        ))
        .boxed(),
        RequestKind::DescribeLogDirs(req) => ready(ResponseKind::DescribeLogDirs(
            describe_log_dirs::handle(&ctx, req),
        )),
        RequestKind::DescribeQuorum(req) => async move {
            Some(ResponseKind::DescribeQuorum(
                describe_quorum::handle(&ctx, version, req).await,
            ))
        }
        .boxed(),
        RequestKind::ElectLeaders(req) => async move {
            Some(ResponseKind::ElectLeaders(
                elect_leaders::handle(&ctx, version, req).await,
            ))
        }
        .boxed(),
        RequestKind::DeleteRecords(req) => async move {
            Some(ResponseKind::DeleteRecords(
                delete_records::handle(&ctx, req).await,
            ))
        }
        .boxed(),
        RequestKind::FindCoordinator(req) => ready(ResponseKind::FindCoordinator(
            groups::find_coordinator(&ctx, version, req),
        )),
        RequestKind::JoinGroup(req) => async move {
            Some(ResponseKind::JoinGroup(
                groups::join_group(&ctx, &header, req).await,
            ))
        }
        .boxed(),
        RequestKind::SyncGroup(req) => async move {
            Some(ResponseKind::SyncGroup(
                groups::sync_group(&ctx, version, req).await,
            ))
        }
        .boxed(),
        RequestKind::Heartbeat(req) => ready(ResponseKind::Heartbeat(groups::heartbeat(&ctx, req))),
        RequestKind::LeaveGroup(req) => ready(ResponseKind::LeaveGroup(groups::leave_group(
            &ctx, version, req,
        ))),
        RequestKind::OffsetCommit(req) => async move {
            Some(ResponseKind::OffsetCommit(
                offsets::commit(&ctx, version, req).await,
            ))
        }
        .boxed(),
        RequestKind::OffsetFetch(req) => ready(ResponseKind::OffsetFetch(offsets::fetch(
            &ctx, version, req,
        ))),
        RequestKind::DescribeGroups(req) => ready(ResponseKind::DescribeGroups(
            groups::describe_groups(&ctx, version, req),
        )),
        RequestKind::ListGroups(req) => ready(ResponseKind::ListGroups(groups::list_groups(
            &ctx, version, req,
        ))),
        RequestKind::DeleteGroups(req) => async move {
            Some(ResponseKind::DeleteGroups(
                groups::delete_groups(&ctx, req).await,
            ))
        }
        .boxed(),
        RequestKind::OffsetDelete(req) => {
            async move { Some(ResponseKind::OffsetDelete(offsets::delete(&ctx, req).await)) }
                .boxed()
        }
        RequestKind::ConsumerGroupHeartbeat(req) => async move {
            Some(ResponseKind::ConsumerGroupHeartbeat(
                consumer_group::heartbeat(&ctx, &header, req).await,
            ))
        }
        .boxed(),
        RequestKind::ConsumerGroupDescribe(req) => ready(ResponseKind::ConsumerGroupDescribe(
            consumer_group::describe(&ctx, req),
        )),
        other => {
            // `dispatch` only lets through keys in SUPPORTED, and each has an arm above.
            tracing::error!(request = ?std::mem::discriminant(&other), "request without a handler");
            std::future::ready(None).boxed()
        }
    }
}

fn ready(response: ResponseKind) -> BoxFuture<'static, Option<ResponseKind>> {
    std::future::ready(Some(response)).boxed()
}

impl Ctx {
    pub fn node_id(&self) -> i32 {
        self.config.node_id as i32
    }

    /// The broker leading the metadata group (Kafka's active controller), or this node
    /// while there is none.
    pub fn controller_id(&self) -> i32 {
        self.metadata
            .raft()
            .metrics()
            .borrow()
            .current_leader
            .map_or(self.node_id(), |id| id as i32)
    }

    /// The cluster's brokers: those in metadata, or this one alone (a single node whose
    /// data predates the broker list).
    pub fn brokers(&self, image: &MetadataState) -> Vec<(u64, BrokerInfo)> {
        if image.brokers.is_empty() {
            let me = BrokerInfo {
                host: self.config.advertised_host.clone(),
                port: self.config.advertised_port,
                raft: String::new(),
            };
            return vec![(self.config.node_id, me)];
        }
        image
            .brokers
            .iter()
            .map(|(id, info)| (*id, info.clone()))
            .collect()
    }

    pub fn broker_ids(&self, image: &MetadataState) -> Vec<u64> {
        self.brokers(image).into_iter().map(|(id, _)| id).collect()
    }

    /// A replica list from a request (CreateTopics assignments, reassignments) as broker ids,
    /// or INVALID_REPLICA_ASSIGNMENT when it is empty, repeats a broker or names one that is not
    /// in the cluster.
    pub fn replica_list(
        &self,
        image: &MetadataState,
        brokers: &[BrokerId],
    ) -> Result<Vec<u64>, (i16, String)> {
        let known = self.broker_ids(image);
        let mut replicas = Vec::with_capacity(brokers.len());
        for broker in brokers {
            let id = u64::try_from(broker.0).ok().filter(|id| known.contains(id));
            match id {
                Some(id) if !replicas.contains(&id) => replicas.push(id),
                _ => break,
            }
        }
        if replicas.is_empty() || replicas.len() != brokers.len() {
            return Err((
                crate::protocol::error_codes::INVALID_REPLICA_ASSIGNMENT,
                "The replica list is empty, repeats a broker or names an unknown one.".into(),
            ));
        }
        Ok(replicas)
    }

    /// The replication factor a CreateTopics entry asks for (-1: the default, capped by the
    /// number of brokers), or INVALID_REPLICATION_FACTOR.
    pub fn replication_factor(
        &self,
        image: &MetadataState,
        requested: i16,
    ) -> Result<i16, (i16, String)> {
        let brokers = self.brokers(image).len() as i16;
        match requested {
            -1 => Ok(self
                .config
                .default_replication_factor
                .clamp(1, brokers.max(1))),
            n if n <= 0 => Err((
                ec::INVALID_REPLICATION_FACTOR,
                "Replication factor must be larger than 0.".into(),
            )),
            n if n > brokers => Err((
                ec::INVALID_REPLICATION_FACTOR,
                format!("Replication factor: {n} larger than available brokers: {brokers}."),
            )),
            n => Ok(n),
        }
    }

    /// Replicas for `count` new partitions, spread over the brokers.
    pub fn place(
        &self,
        image: &MetadataState,
        count: i32,
        factor: i16,
    ) -> Result<Vec<Vec<u64>>, (i16, String)> {
        let factor = self.replication_factor(image, factor)?;
        let existing = image.assignments.len();
        Ok(crate::metadata::placement::assign(
            &self.broker_ids(image),
            count.max(0) as usize,
            factor as usize,
            existing,
        ))
    }

    /// The partition a client addressed, if this node leads it; else the error code to return.
    pub fn leader_partition(&self, topic: &TopicMeta, index: i32) -> Result<Arc<Partition>, i16> {
        let group = usize::try_from(index)
            .ok()
            .and_then(|i| topic.partitions.get(i))
            .ok_or(ec::UNKNOWN_TOPIC_OR_PARTITION)?;
        let partition = self
            .replicas
            .get(*group)
            .ok_or(ec::NOT_LEADER_OR_FOLLOWER)?;
        if !partition.is_leader() {
            return Err(ec::NOT_LEADER_OR_FOLLOWER);
        }
        Ok(partition)
    }
}

/// kafka-protocol string helpers.
pub fn str_bytes(s: &str) -> kafka_protocol::protocol::StrBytes {
    kafka_protocol::protocol::StrBytes::from_string(s.to_string())
}

pub fn topic_name(s: &str) -> kafka_protocol::messages::TopicName {
    kafka_protocol::messages::TopicName(str_bytes(s))
}

pub fn uuid_of(id: &[u8; 16]) -> uuid::Uuid {
    uuid::Uuid::from_bytes(*id)
}
