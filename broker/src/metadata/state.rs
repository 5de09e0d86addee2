//! The cluster metadata image and the deterministic application of commands to it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::commands::{LeaderReport, MetadataCommand, MetadataResult};
use super::configs;
use crate::config::Config;
use crate::protocol::error_codes as ec;
use crate::security::acl::Acls;
use crate::security::scram::ScramCredential;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TopicMeta {
    pub name: String,
    pub id: [u8; 16],
    /// The Raft group of each partition, by partition index.
    pub partitions: Vec<u64>,
    /// Overrides only; defaults come from [`configs::TOPIC_CONFIGS`].
    pub configs: BTreeMap<String, String>,
}

/// A broker as clients and peers reach it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BrokerInfo {
    /// Its first listener's advertised address (its Kafka address in kbroker.peers).
    pub host: String,
    pub port: i32,
    /// host:port of its internal (Raft) listener.
    pub raft: String,
    /// The advertised address of each of its client listeners, by listener name; empty for a
    /// broker registered before listeners had names, which has just `host:port`.
    #[serde(default)]
    pub listeners: BTreeMap<String, Endpoint>,
}

/// Where clients of one listener reach a broker.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: i32,
}

impl BrokerInfo {
    /// Its address on the listener `name`, as Kafka's Metadata gives each client the
    /// endpoints of the listener it came in on; None when it has no such listener (Kafka then
    /// leaves the broker out).
    pub fn endpoint(&self, name: &str) -> Option<Endpoint> {
        if self.listeners.is_empty() {
            return Some(Endpoint {
                host: self.host.clone(),
                port: self.port,
            });
        }
        self.listeners.get(name).cloned()
    }
}

/// Where a partition lives and who leads it, as last reported by its leader.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Assignment {
    /// Preferred leader first.
    pub replicas: Vec<u64>,
    /// -1 until a leader reports itself.
    pub leader: i64,
    pub leader_epoch: i32,
    pub isr: Vec<u64>,
    /// Replicas a reassignment in progress moves the partition to.
    #[serde(default)]
    pub target: Option<Vec<u64>>,
}

impl Assignment {
    /// Every broker that holds or is receiving a replica.
    pub fn hosts(&self) -> Vec<u64> {
        let mut hosts = self.replicas.clone();
        for id in self.target.iter().flatten() {
            if !hosts.contains(id) {
                hosts.push(*id);
            }
        }
        hosts
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct MetadataState {
    pub cluster_id: String,
    pub topics: BTreeMap<String, TopicMeta>,
    /// Dynamic broker configs for the whole cluster (Kafka's DYNAMIC_DEFAULT_BROKER_CONFIG).
    pub broker_configs: BTreeMap<String, String>,
    /// Dynamic broker configs of one broker (DYNAMIC_BROKER_CONFIG): ahead of the cluster's
    /// on that broker.
    #[serde(default)]
    pub per_broker_configs: BTreeMap<u64, BTreeMap<String, String>>,
    /// Next Raft group id for a partition; ids are never reused, so a re-created topic never
    /// sees an old topic's records.
    pub next_group: u64,
    pub next_producer_id: i64,
    #[serde(default)]
    pub brokers: BTreeMap<u64, BrokerInfo>,
    /// Replicas and reported leadership of every partition, by Raft group.
    #[serde(default)]
    pub assignments: BTreeMap<u64, Assignment>,
    /// SCRAM credentials (salted and hashed, never passwords) by user, then by mechanism name
    /// (SCRAM-SHA-256, SCRAM-SHA-512): Kafka's UserScramCredentialRecords.
    #[serde(default)]
    pub scram_credentials: BTreeMap<String, BTreeMap<String, ScramCredential>>,
    /// Every ACL binding (CreateAcls): Kafka's AccessControlEntryRecords.
    #[serde(default)]
    pub acls: Acls,
}

impl Default for MetadataState {
    fn default() -> Self {
        MetadataState {
            cluster_id: String::new(),
            topics: BTreeMap::new(),
            broker_configs: BTreeMap::new(),
            per_broker_configs: BTreeMap::new(),
            next_group: 1,
            next_producer_id: 1000,
            brokers: BTreeMap::new(),
            assignments: BTreeMap::new(),
            scram_credentials: BTreeMap::new(),
            acls: Acls::new(),
        }
    }
}

pub const TOPIC_NAME_LENGTH_MAX: usize = 249;

/// Kafka's topic name rules; the error is the message for INVALID_TOPIC_EXCEPTION.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." {
        return Err(format!("Topic name {name:?} is illegal"));
    }
    if name.len() > TOPIC_NAME_LENGTH_MAX {
        return Err(format!(
            "Topic name is longer than {TOPIC_NAME_LENGTH_MAX} characters"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(format!("Topic name {name:?} contains characters other than ASCII alphanumerics, '.', '_' and '-'"));
    }
    Ok(())
}

fn failed(error_code: i16, message: impl Into<String>) -> MetadataResult {
    MetadataResult::Failed {
        error_code,
        message: message.into(),
    }
}

pub fn validate_topic_configs<'a>(
    configs: impl Iterator<Item = (&'a String, &'a String)>,
) -> Result<(), String> {
    for (key, value) in configs {
        let def = configs::topic_config(key)
            .ok_or_else(|| format!("Unknown topic config name: {key}"))?;
        configs::validate(def, value)?;
    }
    Ok(())
}

impl MetadataState {
    pub fn apply(&mut self, command: &MetadataCommand) -> MetadataResult {
        match command {
            MetadataCommand::InitCluster {
                cluster_id,
                brokers,
            } => {
                if self.cluster_id.is_empty() {
                    self.cluster_id = cluster_id.clone();
                    self.brokers = brokers.clone();
                }
                MetadataResult::Done
            }
            MetadataCommand::CreateTopic {
                name,
                topic_id,
                partitions,
                configs,
                assignments,
            } => self.create_topic(name, *topic_id, *partitions, configs, assignments),
            MetadataCommand::DeleteTopic { name } => match self.topics.remove(name) {
                Some(topic) => {
                    for group in &topic.partitions {
                        self.assignments.remove(group);
                    }
                    MetadataResult::Done
                }
                None => failed(
                    ec::UNKNOWN_TOPIC_OR_PARTITION,
                    "This server does not host this topic-partition.",
                ),
            },
            MetadataCommand::CreatePartitions {
                name,
                count,
                assignments,
            } => self.create_partitions(name, *count, assignments),
            MetadataCommand::ReportLeaders(reports) => {
                self.report_leaders(reports);
                MetadataResult::Done
            }
            MetadataCommand::Reassign { group, target } => {
                let Some(assignment) = self.assignments.get_mut(group) else {
                    return failed(ec::UNKNOWN_TOPIC_OR_PARTITION, "Unknown partition.");
                };
                if target.is_none() && assignment.target.is_none() {
                    return failed(
                        ec::NO_REASSIGNMENT_IN_PROGRESS,
                        "No reassignment is in progress for this partition.",
                    );
                }
                assignment.target = target.clone();
                MetadataResult::Done
            }
            MetadataCommand::RegisterBroker { id, info } => {
                self.brokers.insert(*id, info.clone());
                MetadataResult::Done
            }
            MetadataCommand::UnregisterBroker { id } => {
                if !self.brokers.contains_key(id) {
                    return failed(
                        ec::BROKER_ID_NOT_REGISTERED,
                        format!("Broker {id} is not registered."),
                    );
                }
                let holds = self
                    .assignments
                    .values()
                    .filter(|a| a.hosts().contains(id))
                    .count();
                if holds > 0 {
                    return failed(
                        ec::INVALID_REQUEST,
                        format!("Broker {id} still holds {holds} partition replicas; reassign them first."),
                    );
                }
                self.brokers.remove(id);
                MetadataResult::Done
            }
            MetadataCommand::CompleteReassignment { group, replicas } => {
                if let Some(assignment) = self.assignments.get_mut(group) {
                    assignment.replicas = replicas.clone();
                    assignment.target = None;
                    assignment.isr.retain(|id| replicas.contains(id));
                }
                MetadataResult::Done
            }
            MetadataCommand::AlterTopicConfigs {
                name,
                changes,
                replace,
            } => {
                let Some(topic) = self.topics.get_mut(name) else {
                    return failed(
                        ec::UNKNOWN_TOPIC_OR_PARTITION,
                        format!("Topic {name} does not exist"),
                    );
                };
                apply_changes(&mut topic.configs, changes, *replace);
                MetadataResult::Done
            }
            MetadataCommand::AlterBrokerConfigs {
                broker: None,
                changes,
                replace,
            } => {
                apply_changes(&mut self.broker_configs, changes, *replace);
                MetadataResult::Done
            }
            MetadataCommand::AlterBrokerConfigs {
                broker: Some(id),
                changes,
                replace,
            } => {
                let configs = self.per_broker_configs.entry(*id).or_default();
                apply_changes(configs, changes, *replace);
                if configs.is_empty() {
                    self.per_broker_configs.remove(id);
                }
                MetadataResult::Done
            }
            MetadataCommand::AlterScramCredentials {
                upsertions,
                deletions,
            } => {
                for (user, mechanism) in deletions {
                    if let Some(credentials) = self.scram_credentials.get_mut(user) {
                        credentials.remove(mechanism);
                        if credentials.is_empty() {
                            self.scram_credentials.remove(user);
                        }
                    }
                }
                for upsertion in upsertions {
                    self.scram_credentials
                        .entry(upsertion.user.clone())
                        .or_default()
                        .insert(upsertion.mechanism.clone(), upsertion.credential.clone());
                }
                MetadataResult::Done
            }
            MetadataCommand::CreateAcls { acls } => {
                self.acls.extend(acls.iter().cloned());
                MetadataResult::Done
            }
            MetadataCommand::DeleteAcls { filters } => {
                let deleted = filters
                    .iter()
                    .map(|filter| {
                        self.acls
                            .iter()
                            .filter(|acl| filter.matches(acl))
                            .cloned()
                            .collect::<Vec<_>>()
                    })
                    .collect::<Vec<_>>();
                for acl in deleted.iter().flatten() {
                    self.acls.remove(acl);
                }
                MetadataResult::DeletedAcls(deleted)
            }
            MetadataCommand::AllocateProducerId => {
                let id = self.next_producer_id;
                self.next_producer_id += 1;
                MetadataResult::ProducerId(id)
            }
            MetadataCommand::AllocateProducerIds { count } => {
                let first = self.next_producer_id;
                self.next_producer_id += (*count).max(1);
                MetadataResult::ProducerId(first)
            }
        }
    }

    fn create_topic(
        &mut self,
        name: &str,
        topic_id: [u8; 16],
        partitions: i32,
        configs: &BTreeMap<String, String>,
        assignments: &[Vec<u64>],
    ) -> MetadataResult {
        if let Err(message) = validate_topic_name(name) {
            return failed(ec::INVALID_TOPIC_EXCEPTION, message);
        }
        if self.topics.contains_key(name) {
            return failed(
                ec::TOPIC_ALREADY_EXISTS,
                format!("Topic '{name}' already exists."),
            );
        }
        if partitions <= 0 {
            return failed(
                ec::INVALID_PARTITIONS,
                "Number of partitions must be larger than 0.",
            );
        }
        if let Err(message) = validate_topic_configs(configs.iter()) {
            return failed(ec::INVALID_CONFIG, message);
        }
        let groups: Vec<u64> = (0..partitions as u64)
            .map(|i| self.next_group + i)
            .collect();
        self.next_group += partitions as u64;
        self.assign(&groups, assignments);
        let topic = TopicMeta {
            name: name.to_string(),
            id: topic_id,
            partitions: groups,
            configs: configs.clone(),
        };
        self.topics.insert(name.to_string(), topic);
        MetadataResult::Done
    }

    fn assign(&mut self, groups: &[u64], assignments: &[Vec<u64>]) {
        for (index, group) in groups.iter().enumerate() {
            let replicas = assignments.get(index).cloned().unwrap_or_default();
            let assignment = Assignment {
                replicas,
                leader: -1,
                ..Default::default()
            };
            self.assignments.insert(*group, assignment);
        }
    }

    /// Keeps the newest report per partition: a report from an older epoch (a deposed
    /// leader's, delayed) never overwrites a newer one.
    fn report_leaders(&mut self, reports: &[LeaderReport]) {
        for report in reports {
            let Some(assignment) = self.assignments.get_mut(&report.group) else {
                continue;
            };
            if report.epoch >= assignment.leader_epoch {
                assignment.leader = report.leader as i64;
                assignment.leader_epoch = report.epoch;
                assignment.isr = report.isr.clone();
            }
        }
    }

    /// The replicas of a partition; `fallback` for partitions created before assignments
    /// were recorded (single-node data directories).
    /// Whether this image is the cluster's, as far as `node` is concerned: the cluster has its
    /// id and broker list, and lists `node` (a joining broker, once it registered). Before, a
    /// node would describe a cluster without an id whose only broker is itself.
    pub fn is_cluster_image(&self, node: u64) -> bool {
        // A single node's data from before the broker list existed has an id and no brokers.
        !self.cluster_id.is_empty() && (self.brokers.is_empty() || self.brokers.contains_key(&node))
    }

    /// The partitions of `groups` whose leader no broker has reported yet.
    pub fn leaderless(&self, groups: &[u64]) -> usize {
        groups
            .iter()
            .filter(|g| self.assignments.get(g).is_none_or(|a| a.leader < 0))
            .count()
    }

    pub fn replicas_of(&self, group: u64, fallback: u64) -> Vec<u64> {
        match self.assignments.get(&group) {
            Some(a) if !a.replicas.is_empty() => a.replicas.clone(),
            _ => vec![fallback],
        }
    }

    /// Whether `node` holds, or is receiving, a replica of the partition (partitions created
    /// before assignments were recorded live on the single node that has them).
    pub fn hosted_on(&self, group: u64, node: u64) -> bool {
        match self.assignments.get(&group) {
            Some(a) if !a.replicas.is_empty() => a.hosts().contains(&node),
            _ => true,
        }
    }

    fn create_partitions(
        &mut self,
        name: &str,
        count: i32,
        assignments: &[Vec<u64>],
    ) -> MetadataResult {
        let Some(topic) = self.topics.get_mut(name) else {
            return failed(
                ec::UNKNOWN_TOPIC_OR_PARTITION,
                format!("Topic {name} does not exist"),
            );
        };
        let current = topic.partitions.len() as i32;
        if count <= current {
            return failed(
                ec::INVALID_PARTITIONS,
                format!("Topic currently has {current} partitions, which is higher than the requested {count}."),
            );
        }
        let mut added = Vec::new();
        for _ in current..count {
            topic.partitions.push(self.next_group);
            added.push(self.next_group);
            self.next_group += 1;
        }
        self.assign(&added, assignments);
        MetadataResult::Done
    }

    pub fn topic_by_id(&self, id: &[u8; 16]) -> Option<&TopicMeta> {
        self.topics.values().find(|t| &t.id == id)
    }

    /// A dynamic broker config as broker `node` sees it: its own override, else the
    /// cluster-wide one.
    pub fn broker_config_value(&self, node: u64, key: &str) -> Option<String> {
        self.per_broker_configs
            .get(&node)
            .and_then(|c| c.get(key))
            .or_else(|| self.broker_configs.get(key))
            .cloned()
    }

    /// A broker config on `broker`: its dynamic value (its own, else the cluster's), else its
    /// static one (its server.properties), else Kafka's default.
    pub fn broker_value(&self, broker: &Config, key: &str) -> Option<String> {
        self.broker_config_value(broker.node_id, key)
            .or_else(|| broker.broker_configs.get(key).cloned())
            .or_else(|| configs::broker_config(key).map(|d| d.default.to_string()))
    }

    /// Effective value of a topic config on broker `node`: the topic's override, else
    /// [`Self::topic_default`].
    pub fn topic_config_value(
        &self,
        broker: &Config,
        topic: &TopicMeta,
        key: &str,
    ) -> Option<String> {
        match topic.configs.get(key) {
            Some(value) => Some(value.clone()),
            None => self.topic_default(broker, key),
        }
    }

    /// A topic config without a topic override, on `broker`: the broker's dynamic config of
    /// the same meaning (e.g. `log.retention.ms` for `retention.ms`), else its static one (its
    /// server.properties), else Kafka's default.
    pub fn topic_default(&self, broker: &Config, key: &str) -> Option<String> {
        let broker_key = match key {
            "retention.ms" => "log.retention.ms",
            "retention.bytes" => "log.retention.bytes",
            "cleanup.policy" => "log.cleanup.policy",
            "segment.bytes" => "log.segment.bytes",
            "segment.ms" => "log.roll.ms",
            "min.cleanable.dirty.ratio" => "log.cleaner.min.cleanable.ratio",
            "min.compaction.lag.ms" => "log.cleaner.min.compaction.lag.ms",
            "max.compaction.lag.ms" => "log.cleaner.max.compaction.lag.ms",
            "delete.retention.ms" => "log.cleaner.delete.retention.ms",
            "max.message.bytes" => "message.max.bytes",
            other => other,
        };
        self.broker_config_value(broker.node_id, broker_key)
            .or_else(|| broker.broker_configs.get(broker_key).cloned())
            .or_else(|| configs::topic_config(key).map(|d| d.default.to_string()))
    }
}

fn apply_changes(
    target: &mut BTreeMap<String, String>,
    changes: &BTreeMap<String, Option<String>>,
    replace: bool,
) {
    if replace {
        target.clear();
    }
    for (key, value) in changes {
        match value {
            Some(value) => target.insert(key.clone(), value.clone()),
            None => target.remove(key),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(state: &mut MetadataState, name: &str, partitions: i32) -> MetadataResult {
        state.apply(&MetadataCommand::CreateTopic {
            name: name.into(),
            topic_id: [1; 16],
            partitions,
            configs: BTreeMap::new(),
            assignments: Vec::new(),
        })
    }

    #[test]
    fn topics_get_fresh_groups() {
        let mut state = MetadataState::default();
        assert_eq!(create(&mut state, "a", 2), MetadataResult::Done);
        assert_eq!(state.topics["a"].partitions, vec![1, 2]);
        assert!(matches!(
            create(&mut state, "a", 2),
            MetadataResult::Failed {
                error_code: ec::TOPIC_ALREADY_EXISTS,
                ..
            }
        ));
        state.apply(&MetadataCommand::DeleteTopic { name: "a".into() });
        assert_eq!(create(&mut state, "a", 1), MetadataResult::Done);
        assert_eq!(state.topics["a"].partitions, vec![3]);
        assert_eq!(
            state.apply(&MetadataCommand::CreatePartitions {
                name: "a".into(),
                count: 3,
                assignments: Vec::new(),
            }),
            MetadataResult::Done
        );
        assert_eq!(state.topics["a"].partitions, vec![3, 4, 5]);
        assert!(matches!(
            state.apply(&MetadataCommand::CreatePartitions {
                name: "a".into(),
                count: 2,
                assignments: Vec::new(),
            }),
            MetadataResult::Failed {
                error_code: ec::INVALID_PARTITIONS,
                ..
            }
        ));
    }

    #[test]
    fn brokers_leave_only_without_replicas() {
        let mut state = MetadataState::default();
        let info = BrokerInfo::default();
        for id in [1, 2] {
            let command = MetadataCommand::RegisterBroker {
                id,
                info: info.clone(),
            };
            assert_eq!(state.apply(&command), MetadataResult::Done);
        }
        state.apply(&MetadataCommand::CreateTopic {
            name: "t".into(),
            topic_id: [1; 16],
            partitions: 1,
            configs: BTreeMap::new(),
            assignments: vec![vec![2]],
        });
        let leave = MetadataCommand::UnregisterBroker { id: 2 };
        assert!(matches!(
            state.apply(&leave),
            MetadataResult::Failed {
                error_code: ec::INVALID_REQUEST,
                ..
            }
        ));
        let group = state.topics["t"].partitions[0];
        state.apply(&MetadataCommand::Reassign {
            group,
            target: Some(vec![1]),
        });
        // Still receiving or giving up a replica counts as holding one.
        assert!(matches!(state.apply(&leave), MetadataResult::Failed { .. }));
        state.apply(&MetadataCommand::CompleteReassignment {
            group,
            replicas: vec![1],
        });
        assert_eq!(state.apply(&leave), MetadataResult::Done);
        assert!(matches!(
            state.apply(&leave),
            MetadataResult::Failed {
                error_code: ec::BROKER_ID_NOT_REGISTERED,
                ..
            }
        ));
        let cancel = MetadataCommand::Reassign {
            group,
            target: None,
        };
        assert!(matches!(
            state.apply(&cancel),
            MetadataResult::Failed {
                error_code: ec::NO_REASSIGNMENT_IN_PROGRESS,
                ..
            }
        ));
    }

    #[test]
    fn rejects_bad_names_and_counts() {
        let mut state = MetadataState::default();
        for name in ["", ".", "..", "has space", &"x".repeat(250)] {
            assert!(matches!(
                create(&mut state, name, 1),
                MetadataResult::Failed {
                    error_code: ec::INVALID_TOPIC_EXCEPTION,
                    ..
                }
            ));
        }
        assert!(matches!(
            create(&mut state, "ok", 0),
            MetadataResult::Failed {
                error_code: ec::INVALID_PARTITIONS,
                ..
            }
        ));
    }

    #[test]
    fn acls_are_created_once_and_deleted_by_filter() {
        use crate::security::acl::*;
        let binding = |name: &str, permission: Permission| AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: name.into(),
            pattern_type: PatternType::Literal,
            principal: "User:alice".into(),
            host: WILDCARD.into(),
            operation: Operation::Read,
            permission,
        };
        let mut state = MetadataState::default();
        let acls = vec![
            binding("a", Permission::Allow),
            binding("a", Permission::Allow),
            binding("b", Permission::Deny),
        ];
        state.apply(&MetadataCommand::CreateAcls { acls });
        assert_eq!(state.acls.len(), 2);
        let denials = AclFilter {
            resource_type: None,
            resource_name: None,
            pattern: PatternFilter::Any,
            principal: None,
            host: None,
            operation: None,
            permission: Some(Permission::Deny),
        };
        let nothing = AclFilter {
            principal: Some("User:bob".into()),
            ..denials.clone()
        };
        let result = state.apply(&MetadataCommand::DeleteAcls {
            filters: vec![denials, nothing],
        });
        assert_eq!(
            result,
            MetadataResult::DeletedAcls(vec![vec![binding("b", Permission::Deny)], vec![]])
        );
        assert_eq!(
            state.acls.iter().collect::<Vec<_>>(),
            [&binding("a", Permission::Allow)]
        );
    }

    #[test]
    fn config_overrides_and_defaults() {
        let mut state = MetadataState::default();
        create(&mut state, "t", 1);
        let changes = BTreeMap::from([("retention.ms".to_string(), Some("1000".to_string()))]);
        state.apply(&MetadataCommand::AlterTopicConfigs {
            name: "t".into(),
            changes,
            replace: false,
        });
        let topic = state.topics["t"].clone();
        let mut broker = Config::for_test(std::path::PathBuf::new());
        let value = |state: &MetadataState, broker: &Config, key: &str| {
            state.topic_config_value(broker, &topic, key)
        };
        assert_eq!(
            value(&state, &broker, "retention.ms").as_deref(),
            Some("1000")
        );
        assert_eq!(
            value(&state, &broker, "max.message.bytes").as_deref(),
            Some("1048588")
        );
        // The static broker config (server.properties) is below the dynamic ones.
        broker
            .broker_configs
            .insert("message.max.bytes".into(), "2000".into());
        assert_eq!(
            value(&state, &broker, "max.message.bytes").as_deref(),
            Some("2000")
        );
        state
            .broker_configs
            .insert("message.max.bytes".into(), "3000".into());
        assert_eq!(
            value(&state, &broker, "max.message.bytes").as_deref(),
            Some("3000")
        );
    }
}
