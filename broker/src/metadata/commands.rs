//! Metadata commands: the only way cluster metadata changes. They are applied in Raft log
//! order by every node's metadata state machine, so they must be deterministic: anything random
//! (topic ids, the cluster id) is chosen by the proposer and carried in the command.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum MetadataCommand {
    InitCluster {
        cluster_id: String,
    },
    CreateTopic {
        name: String,
        topic_id: [u8; 16],
        partitions: i32,
        configs: BTreeMap<String, String>,
    },
    DeleteTopic {
        name: String,
    },
    CreatePartitions {
        name: String,
        count: i32,
    },
    /// `None` removes the override and returns the key to its default.
    AlterTopicConfigs {
        name: String,
        changes: BTreeMap<String, Option<String>>,
        replace: bool,
    },
    AlterBrokerConfigs {
        changes: BTreeMap<String, Option<String>>,
        replace: bool,
    },
    AllocateProducerId,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum MetadataResult {
    Done,
    ProducerId(i64),
    /// A Kafka error code and message.
    Failed {
        error_code: i16,
        message: String,
    },
}
