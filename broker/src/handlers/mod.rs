//! Kafka API handlers, one module per API family, and the one declaration of every supported
//! API ([`apis`]) that the version table (ApiVersions), dispatch and the error metrics all come
//! from.

pub mod access;
pub mod acls;
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
pub mod sasl;
pub mod scram_credentials;
pub mod topics;
pub mod transactions;
pub mod unregister_broker;

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Message;

use crate::config::Config;
use crate::metadata::{BrokerInfo, Endpoint, Metadata, MetadataState, TopicMeta};
use crate::partition::Partition;
use crate::protocol::error_codes as ec;
use crate::replicas::Replicas;
use crate::security::Session;

/// Everything a handler may use. Cheap to clone through its `Arc`.
pub struct Ctx {
    pub config: Arc<Config>,
    pub metadata: Metadata,
    pub replicas: Arc<Replicas>,
    pub groups: Arc<crate::group::Coordinator>,
    pub txns: Arc<crate::txn::TxnCoordinator>,
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

/// Every API this broker serves, each declared once: its request and response types (the
/// versions both codecs handle make its range), how it is handled, and where its response
/// carries error codes (for `broker_request_errors_total`). The version table that answers
/// ApiVersions, the dispatch match and the error extraction are all generated from this one
/// list, so an advertised API always has a handler and is always in the error metrics.
///
/// Handlers come in four shapes: `now` (a synchronous handler run as the request is read, for
/// answers that depend on nothing an earlier pipelined request could change), `lazy` (a
/// synchronous handler run when the connection's turn comes), `later` (an async handler
/// awaited when its turn comes) and `own` (the handler returns its own future of
/// `Option<ResponseKind>`: Produce, which queues its batches synchronously, in request order,
/// and answers nothing for acks=0).
macro_rules! apis {
    ($(
        $key:ident($request:ty, $response:ty)
            $shape:ident |$ctx:ident, $session:ident, $header:ident, $version:ident, $req:ident| $handle:expr;
            errors |$resp:ident, $each:ident| $errors:expr;
    )*) => {
        /// The minimums keep the low versions older librdkafka probes for (Produce 3, Fetch 4,
        /// ListOffsets 1, Metadata 0).
        pub const SUPPORTED: &[ApiSpec] = &[$(api!($key, $request, $response)),*];

        /// Routes a decoded request. Synchronous on purpose: produce queues its batches here,
        /// in request order; the returned future does the waiting.
        pub fn handle(
            ctx: &Arc<Ctx>,
            session: &Arc<Session>,
            header: RequestHeader,
            request: RequestKind,
        ) -> BoxFuture<'static, Option<ResponseKind>> {
            match request {
                $(RequestKind::$key($req) => {
                    let $ctx = ctx.clone();
                    let $session = session.clone();
                    let $version = header.request_api_version;
                    let $header = header;
                    respond!($shape, $key, $handle)
                })*
                other => {
                    // Unreachable: `dispatch` lets through only keys in SUPPORTED, which this
                    // same list generates.
                    tracing::error!(request = ?std::mem::discriminant(&other), "request without a handler");
                    std::future::ready(None).boxed()
                }
            }
        }

        /// Calls `each` with every error code in a response: top level, per topic, per
        /// partition.
        pub fn error_codes(response: &ResponseKind, each: &mut dyn FnMut(i16)) {
            match response {
                $(ResponseKind::$key($resp) => {
                    let $each = &mut *each;
                    $errors
                })*
                _ => {}
            }
        }

        /// A request of every supported API with default fields, for conformance tests that
        /// go through the whole table.
        pub fn default_request(key: ApiKey) -> Option<RequestKind> {
            match key {
                $(ApiKey::$key => Some(RequestKind::$key(<$request>::default())),)*
                _ => None,
            }
        }
    };
}

/// The future a handler's answer becomes, by its shape (see [`apis`]).
macro_rules! respond {
    (now, $key:ident, $handle:expr) => {
        std::future::ready(Some(ResponseKind::$key($handle))).boxed()
    };
    (lazy, $key:ident, $handle:expr) => {
        async move { Some(ResponseKind::$key($handle)) }.boxed()
    };
    (later, $key:ident, $handle:expr) => {
        async move { Some(ResponseKind::$key($handle.await)) }.boxed()
    };
    (own, $key:ident, $handle:expr) => {
        $handle.boxed()
    };
}

apis! {
    Produce(ProduceRequest, ProduceResponse)
        own |ctx, session, _header, version, req| produce::submit(&ctx, ctx.access(&session, ApiKey::Produce), version, req);
        errors |r, each| r
            .responses
            .iter()
            .flat_map(|t| &t.partition_responses)
            .for_each(|p| each(p.error_code));
    Fetch(FetchRequest, FetchResponse)
        later |ctx, session, _header, version, req| fetch::handle(&ctx, ctx.access(&session, ApiKey::Fetch), version, req);
        errors |r, each| {
            each(r.error_code);
            r.responses
                .iter()
                .flat_map(|t| &t.partitions)
                .for_each(|p| each(p.error_code));
        };
    ListOffsets(ListOffsetsRequest, ListOffsetsResponse)
        later |ctx, session, _header, version, req| list_offsets::handle(&ctx, ctx.access(&session, ApiKey::ListOffsets), version, req);
        errors |r, each| r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| each(p.error_code));
    Metadata(MetadataRequest, MetadataResponse)
        later |ctx, session, _header, version, req| metadata::handle(&ctx, &session, version, req);
        errors |r, each| {
            each(r.error_code);
            for topic in &r.topics {
                each(topic.error_code);
                topic.partitions.iter().for_each(|p| each(p.error_code));
            }
        };
    ApiVersions(ApiVersionsRequest, ApiVersionsResponse)
        now |ctx, _session, _header, version, req| api_versions::handle(&ctx, version, req);
        errors |r, each| each(r.error_code);
    CreateTopics(CreateTopicsRequest, CreateTopicsResponse)
        later |ctx, session, _header, version, req| topics::create_topics(&ctx, ctx.access(&session, ApiKey::CreateTopics), version, req);
        errors |r, each| r.topics.iter().for_each(|t| each(t.error_code));
    DeleteTopics(DeleteTopicsRequest, DeleteTopicsResponse)
        later |ctx, session, _header, version, req| topics::delete_topics(&ctx, ctx.access(&session, ApiKey::DeleteTopics), version, req);
        errors |r, each| r.responses.iter().for_each(|t| each(t.error_code));
    InitProducerId(InitProducerIdRequest, InitProducerIdResponse)
        later |ctx, session, _header, version, req| producer_id::handle(&ctx, ctx.access(&session, ApiKey::InitProducerId), version, req);
        errors |r, each| each(r.error_code);
    DescribeConfigs(DescribeConfigsRequest, DescribeConfigsResponse)
        // After a pipelined AlterConfigs before it has been applied.
        lazy |ctx, session, _header, version, req| configs::describe(&ctx, ctx.access(&session, ApiKey::DescribeConfigs), version, req);
        errors |r, each| r.results.iter().for_each(|t| each(t.error_code));
    AlterConfigs(AlterConfigsRequest, AlterConfigsResponse)
        later |ctx, session, _header, _version, req| configs::alter(&ctx, ctx.access(&session, ApiKey::AlterConfigs), req);
        errors |r, each| r.responses.iter().for_each(|t| each(t.error_code));
    CreatePartitions(CreatePartitionsRequest, CreatePartitionsResponse)
        later |ctx, session, _header, _version, req| topics::create_partitions(&ctx, ctx.access(&session, ApiKey::CreatePartitions), req);
        errors |r, each| r.results.iter().for_each(|t| each(t.error_code));
    IncrementalAlterConfigs(IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse)
        later |ctx, session, _header, _version, req| configs::incremental_alter(&ctx, ctx.access(&session, ApiKey::IncrementalAlterConfigs), req);
        errors |r, each| r.responses.iter().for_each(|t| each(t.error_code));
    DescribeCluster(DescribeClusterRequest, DescribeClusterResponse)
        now |ctx, session, _header, _version, req| describe_cluster::handle(&ctx, &session, req);
        errors |r, each| each(r.error_code);
    DeleteRecords(DeleteRecordsRequest, DeleteRecordsResponse)
        later |ctx, session, _header, _version, req| delete_records::handle(&ctx, ctx.access(&session, ApiKey::DeleteRecords), req);
        errors |r, each| r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| each(p.error_code));
    AlterPartitionReassignments(AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse)
        later |ctx, session, _header, version, req| reassignments::alter(&ctx, ctx.access(&session, ApiKey::AlterPartitionReassignments), version, req);
        errors |r, each| {
            each(r.error_code);
            r.responses
                .iter()
                .flat_map(|t| &t.partitions)
                .for_each(|p| each(p.error_code));
        };
    ListPartitionReassignments(ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse)
        now |ctx, session, _header, _version, req| reassignments::list(&ctx, ctx.access(&session, ApiKey::ListPartitionReassignments), req);
        errors |r, each| each(r.error_code);
    UnregisterBroker(UnregisterBrokerRequest, UnregisterBrokerResponse)
        later |ctx, session, _header, _version, req| unregister_broker::handle(&ctx, ctx.access(&session, ApiKey::UnregisterBroker), req);
        errors |r, each| each(r.error_code);
    OffsetForLeaderEpoch(OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse)
        now |ctx, session, _header, _version, req| leader_epoch::handle(&ctx, ctx.access(&session, ApiKey::OffsetForLeaderEpoch), req);
        errors |r, each| r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| each(p.error_code));
    DescribeLogDirs(DescribeLogDirsRequest, DescribeLogDirsResponse)
        now |ctx, session, _header, _version, req| describe_log_dirs::handle(&ctx, ctx.access(&session, ApiKey::DescribeLogDirs), req);
        errors |r, each| {
            each(r.error_code);
            r.results.iter().for_each(|d| each(d.error_code));
        };
    DescribeQuorum(DescribeQuorumRequest, DescribeQuorumResponse)
        later |ctx, session, _header, version, req| describe_quorum::handle(&ctx, ctx.access(&session, ApiKey::DescribeQuorum), version, req);
        errors |r, each| {
            each(r.error_code);
            r.topics
                .iter()
                .flat_map(|t| &t.partitions)
                .for_each(|p| each(p.error_code));
        };
    ElectLeaders(ElectLeadersRequest, ElectLeadersResponse)
        later |ctx, session, _header, version, req| elect_leaders::handle(&ctx, ctx.access(&session, ApiKey::ElectLeaders), version, req);
        errors |r, each| {
            each(r.error_code);
            r.replica_election_results
                .iter()
                .flat_map(|t| &t.partition_result)
                .for_each(|p| each(p.error_code));
        };
    FindCoordinator(FindCoordinatorRequest, FindCoordinatorResponse)
        now |ctx, session, _header, version, req| groups::find_coordinator(&ctx, &session, version, req);
        errors |r, each| {
            each(r.error_code);
            r.coordinators.iter().for_each(|c| each(c.error_code));
        };
    JoinGroup(JoinGroupRequest, JoinGroupResponse)
        later |ctx, session, header, _version, req| groups::join_group(&ctx, ctx.access(&session, ApiKey::JoinGroup), &header, req);
        errors |r, each| each(r.error_code);
    SyncGroup(SyncGroupRequest, SyncGroupResponse)
        later |ctx, session, _header, version, req| groups::sync_group(&ctx, ctx.access(&session, ApiKey::SyncGroup), version, req);
        errors |r, each| each(r.error_code);
    Heartbeat(HeartbeatRequest, HeartbeatResponse)
        now |ctx, session, _header, _version, req| groups::heartbeat(&ctx, ctx.access(&session, ApiKey::Heartbeat), req);
        errors |r, each| each(r.error_code);
    LeaveGroup(LeaveGroupRequest, LeaveGroupResponse)
        now |ctx, session, _header, version, req| groups::leave_group(&ctx, ctx.access(&session, ApiKey::LeaveGroup), version, req);
        errors |r, each| {
            each(r.error_code);
            r.members.iter().for_each(|m| each(m.error_code));
        };
    OffsetCommit(OffsetCommitRequest, OffsetCommitResponse)
        later |ctx, session, _header, version, req| offsets::commit(&ctx, ctx.access(&session, ApiKey::OffsetCommit), version, req);
        errors |r, each| r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| each(p.error_code));
    OffsetFetch(OffsetFetchRequest, OffsetFetchResponse)
        now |ctx, session, _header, version, req| offsets::fetch(&ctx, ctx.access(&session, ApiKey::OffsetFetch), version, req);
        errors |r, each| {
            each(r.error_code);
            r.topics
                .iter()
                .flat_map(|t| &t.partitions)
                .for_each(|p| each(p.error_code));
            for group in &r.groups {
                each(group.error_code);
                group
                    .topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .for_each(|p| each(p.error_code));
            }
        };
    DescribeGroups(DescribeGroupsRequest, DescribeGroupsResponse)
        now |ctx, session, _header, version, req| groups::describe_groups(&ctx, ctx.access(&session, ApiKey::DescribeGroups), version, req);
        errors |r, each| r.groups.iter().for_each(|g| each(g.error_code));
    ListGroups(ListGroupsRequest, ListGroupsResponse)
        now |ctx, session, _header, version, req| groups::list_groups(&ctx, ctx.access(&session, ApiKey::ListGroups), version, req);
        errors |r, each| each(r.error_code);
    DeleteGroups(DeleteGroupsRequest, DeleteGroupsResponse)
        later |ctx, session, _header, _version, req| groups::delete_groups(&ctx, ctx.access(&session, ApiKey::DeleteGroups), req);
        errors |r, each| r.results.iter().for_each(|g| each(g.error_code));
    OffsetDelete(OffsetDeleteRequest, OffsetDeleteResponse)
        later |ctx, session, _header, _version, req| offsets::delete(&ctx, ctx.access(&session, ApiKey::OffsetDelete), req);
        errors |r, each| {
            each(r.error_code);
            r.topics
                .iter()
                .flat_map(|t| &t.partitions)
                .for_each(|p| each(p.error_code));
        };
    ConsumerGroupHeartbeat(ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse)
        later |ctx, session, header, _version, req| consumer_group::heartbeat(&ctx, ctx.access(&session, ApiKey::ConsumerGroupHeartbeat), &header, req);
        errors |r, each| each(r.error_code);
    AddPartitionsToTxn(AddPartitionsToTxnRequest, AddPartitionsToTxnResponse)
        later |ctx, session, _header, version, req| transactions::add_partitions(&ctx, ctx.access(&session, ApiKey::AddPartitionsToTxn), version, req);
        errors |r, each| {
            each(r.error_code);
            r.results_by_topic_v3_and_below
                .iter()
                .chain(r.results_by_transaction.iter().flat_map(|t| &t.topic_results))
                .flat_map(|t| &t.results_by_partition)
                .for_each(|p| each(p.partition_error_code));
        };
    AddOffsetsToTxn(AddOffsetsToTxnRequest, AddOffsetsToTxnResponse)
        later |ctx, session, _header, version, req| transactions::add_offsets(&ctx, ctx.access(&session, ApiKey::AddOffsetsToTxn), version, req);
        errors |r, each| each(r.error_code);
    EndTxn(EndTxnRequest, EndTxnResponse)
        later |ctx, session, _header, version, req| transactions::end_txn(&ctx, ctx.access(&session, ApiKey::EndTxn), version, req);
        errors |r, each| each(r.error_code);
    TxnOffsetCommit(TxnOffsetCommitRequest, TxnOffsetCommitResponse)
        later |ctx, session, _header, version, req| transactions::txn_offset_commit(&ctx, ctx.access(&session, ApiKey::TxnOffsetCommit), version, req);
        errors |r, each| r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| each(p.error_code));
    DescribeTransactions(DescribeTransactionsRequest, DescribeTransactionsResponse)
        now |ctx, session, _header, _version, req| transactions::describe_transactions(&ctx, ctx.access(&session, ApiKey::DescribeTransactions), req);
        errors |r, each| r.transaction_states.iter().for_each(|t| each(t.error_code));
    ListTransactions(ListTransactionsRequest, ListTransactionsResponse)
        now |ctx, session, _header, version, req| transactions::list_transactions(&ctx, ctx.access(&session, ApiKey::ListTransactions), version, req);
        errors |r, each| each(r.error_code);
    DescribeProducers(DescribeProducersRequest, DescribeProducersResponse)
        lazy |ctx, session, _header, _version, req| transactions::describe_producers(&ctx, ctx.access(&session, ApiKey::DescribeProducers), req);
        errors |r, each| r
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .for_each(|p| each(p.error_code));
    ConsumerGroupDescribe(ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse)
        now |ctx, session, _header, _version, req| consumer_group::describe(&ctx, ctx.access(&session, ApiKey::ConsumerGroupDescribe), req);
        errors |r, each| r.groups.iter().for_each(|g| each(g.error_code));
    DescribeUserScramCredentials(DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse)
        // After a pipelined AlterUserScramCredentials before it has been applied.
        lazy |ctx, session, _header, _version, req| scram_credentials::describe(&ctx, ctx.access(&session, ApiKey::DescribeUserScramCredentials), req);
        errors |r, each| {
            each(r.error_code);
            r.results.iter().for_each(|u| each(u.error_code));
        };
    AlterUserScramCredentials(AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse)
        later |ctx, session, _header, _version, req| scram_credentials::alter(&ctx, ctx.access(&session, ApiKey::AlterUserScramCredentials), req);
        errors |r, each| r.results.iter().for_each(|u| each(u.error_code));
    CreateAcls(CreateAclsRequest, CreateAclsResponse)
        later |ctx, session, _header, _version, req| acls::create(&ctx, &session, req);
        errors |r, each| r.results.iter().for_each(|a| each(a.error_code));
    DescribeAcls(DescribeAclsRequest, DescribeAclsResponse)
        // After a pipelined CreateAcls or DeleteAcls before it has been applied.
        lazy |ctx, session, _header, _version, req| acls::describe(&ctx, &session, req);
        errors |r, each| each(r.error_code);
    DeleteAcls(DeleteAclsRequest, DeleteAclsResponse)
        later |ctx, session, _header, _version, req| acls::delete(&ctx, &session, req);
        errors |r, each| {
            for result in &r.filter_results {
                each(result.error_code);
                result.matching_acls.iter().for_each(|a| each(a.error_code));
            }
        };
    SaslHandshake(SaslHandshakeRequest, SaslHandshakeResponse)
        now |_ctx, session, _header, version, req| sasl::handshake(&session, version, req);
        errors |r, each| each(r.error_code);
    SaslAuthenticate(SaslAuthenticateRequest, SaslAuthenticateResponse)
        // The exchange advances now, in request order; a failure is answered after a delay.
        own |ctx, session, _header, _version, req| sasl::authenticate(&ctx, &session, req);
        errors |r, each| each(r.error_code);
}

pub fn supported(key: ApiKey) -> Option<ApiSpec> {
    SUPPORTED.iter().copied().find(|spec| spec.key == key)
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
            let me = crate::node::broker_info(&self.config, String::new());
            return vec![(self.config.node_id, me)];
        }
        image
            .brokers
            .iter()
            .map(|(id, info)| (*id, info.clone()))
            .collect()
    }

    /// Every broker with an address on the listener `listener` (the one a client came in on),
    /// this one from its own configuration (which registration may not have reached yet).
    pub fn endpoints(&self, image: &MetadataState, listener: &str) -> Vec<(u64, Endpoint)> {
        self.brokers(image)
            .into_iter()
            .filter_map(|(id, info)| {
                if id == self.config.node_id && info.listeners.is_empty() {
                    let mine = crate::node::broker_info(&self.config, String::new());
                    return Some((id, mine.endpoint(listener)?));
                }
                Some((id, info.endpoint(listener)?))
            })
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

    /// For reads (Fetch, ListOffsets, OffsetForLeaderEpoch): the partition if this node leads
    /// it and has applied everything committed before its term; `not_caught_up` (a retriable
    /// code) for a leader that has not yet, whose high watermark may still be behind.
    pub fn read_partition(
        &self,
        topic: &TopicMeta,
        index: i32,
        not_caught_up: i16,
    ) -> Result<Arc<Partition>, i16> {
        let partition = self.leader_partition(topic, index)?;
        if !partition.is_leader_caught_up() {
            return Err(not_caught_up);
        }
        Ok(partition)
    }

    /// The partition a client addressed, if this node leads it; else the error code to return.
    pub fn leader_partition(&self, topic: &TopicMeta, index: i32) -> Result<Arc<Partition>, i16> {
        let group = usize::try_from(index)
            .ok()
            .and_then(|i| topic.partitions.get(i))
            .ok_or(ec::UNKNOWN_TOPIC_OR_PARTITION)?;
        let Some(partition) = self.replicas.get(*group) else {
            // Kafka's answer for a replica on a failed log dir of this broker
            return Err(match self.replicas.offline(*group) {
                Some(_) => ec::KAFKA_STORAGE_ERROR,
                None => ec::NOT_LEADER_OR_FOLLOWER,
            });
        };
        if !partition.is_running() {
            return Err(ec::KAFKA_STORAGE_ERROR);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::produce_response::{
        PartitionProduceResponse, TopicProduceResponse,
    };

    #[test]
    fn error_codes_walk_partitions() {
        let partition = |code| PartitionProduceResponse::default().with_error_code(code);
        let response = ResponseKind::Produce(ProduceResponse::default().with_responses(vec![
            TopicProduceResponse::default().with_partition_responses(vec![
                partition(0),
                partition(6),
                partition(6),
            ]),
            TopicProduceResponse::default().with_partition_responses(vec![partition(3)]),
        ]));
        let mut codes = Vec::new();
        error_codes(&response, &mut |code| codes.push(code));
        assert_eq!(codes, vec![0, 6, 6, 3]);
    }

    #[test]
    fn every_declared_api_has_a_request_and_a_distinct_key() {
        for (i, spec) in SUPPORTED.iter().enumerate() {
            assert!(spec.min <= spec.max, "{:?}", spec.key);
            assert!(default_request(spec.key).is_some(), "{:?}", spec.key);
            assert!(
                SUPPORTED[..i].iter().all(|other| other.key != spec.key),
                "{:?} declared twice",
                spec.key
            );
        }
    }
}
