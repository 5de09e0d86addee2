//! Metadata commands: the only way cluster metadata changes. They are applied in Raft log
//! order by every node's metadata state machine, so they must be deterministic: anything random
//! (topic ids, the cluster id) is chosen by the proposer and carried in the command.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::state::BrokerInfo;
use crate::security::acl::{AclBinding, AclFilter};
use crate::security::scram::ScramCredential;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum MetadataCommand {
    InitCluster {
        cluster_id: String,
        /// The brokers named in the configuration of the node that initialised the cluster.
        #[serde(default)]
        brokers: BTreeMap<u64, BrokerInfo>,
    },
    CreateTopic {
        name: String,
        topic_id: [u8; 16],
        partitions: i32,
        configs: BTreeMap<String, String>,
        /// The replicas of each partition, preferred leader first (chosen by the proposer).
        #[serde(default)]
        assignments: Vec<Vec<u64>>,
    },
    DeleteTopic {
        name: String,
    },
    CreatePartitions {
        name: String,
        count: i32,
        /// The replicas of each new partition.
        #[serde(default)]
        assignments: Vec<Vec<u64>>,
    },
    /// Partition leaders report who leads, in which epoch, with which in-sync replicas, so
    /// brokers that do not host a partition can still answer Metadata for it.
    ReportLeaders(Vec<LeaderReport>),
    /// Starts moving a partition to `target` replicas (`None`: cancels a move not yet made).
    /// The partition's leader carries it out through Raft membership changes.
    Reassign {
        group: u64,
        target: Option<Vec<u64>>,
    },
    /// A broker joins (or changes its addresses); it follows metadata as a learner.
    RegisterBroker {
        id: u64,
        info: BrokerInfo,
    },
    /// A broker leaves; refused while it holds replicas.
    UnregisterBroker {
        id: u64,
    },
    /// The partition's Raft membership now is `replicas`: the move is done.
    CompleteReassignment {
        group: u64,
        replicas: Vec<u64>,
    },
    /// `None` removes the override and returns the key to its default.
    AlterTopicConfigs {
        name: String,
        changes: BTreeMap<String, Option<String>>,
        replace: bool,
    },
    /// Dynamic broker configs: for one broker (`kafka-configs --entity-name 1`), or the
    /// cluster-wide default when `broker` is None (`--entity-default`).
    AlterBrokerConfigs {
        #[serde(default)]
        broker: Option<u64>,
        changes: BTreeMap<String, Option<String>>,
        replace: bool,
    },
    AllocateProducerId,
    /// SCRAM credentials set (AlterUserScramCredentials): deletions first, then upsertions.
    /// The handler has validated them; applying cannot fail.
    AlterScramCredentials {
        upsertions: Vec<ScramUpsertion>,
        /// (user, mechanism name)
        deletions: Vec<(String, String)>,
    },
    /// A block of `count` producer ids for one broker to hand out without a Raft round trip
    /// each (and while the metadata quorum is away); answers the first.
    AllocateProducerIds {
        count: i64,
    },
    /// CreateAcls: validated bindings; one already there is kept once.
    CreateAcls {
        acls: Vec<AclBinding>,
    },
    /// DeleteAcls: every binding any filter matches; answers those of each filter.
    DeleteAcls {
        filters: Vec<AclFilter>,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum MetadataResult {
    Done,
    ProducerId(i64),
    /// DeleteAcls: the bindings removed, by filter (a binding two filters match is listed by
    /// both, as Kafka does).
    DeletedAcls(Vec<Vec<AclBinding>>),
    /// A Kafka error code and message.
    Failed {
        error_code: i16,
        message: String,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScramUpsertion {
    pub user: String,
    /// SCRAM-SHA-256 or SCRAM-SHA-512
    pub mechanism: String,
    pub credential: ScramCredential,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LeaderReport {
    pub group: u64,
    pub leader: u64,
    pub epoch: i32,
    pub isr: Vec<u64>,
}
