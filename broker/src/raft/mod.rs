//! openraft integration shared by every Raft group on this node: the partition groups and the
//! metadata group use one type config, one log store implementation and one network.

pub mod codec;
pub mod log_store;
pub mod network;
pub mod snapshot_data;
pub mod tail;
pub mod transfer;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::metadata::commands::{MetadataCommand, MetadataResult};

openraft::declare_raft_types!(
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = snapshot_data::SnapshotData,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<u64>;
pub type StorageResult<T> = Result<T, openraft::StorageError<u64>>;

/// What a Raft entry asks its state machine to do.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Command {
    /// A Kafka record batch (magic v2) exactly as the producer sent it; offsets are assigned
    /// when the entry is applied, so every replica derives the same ones.
    Append(Bytes),
    Metadata(MetadataCommand),
    /// Moves a partition's log start offset forward (retention, DeleteRecords). Applied by
    /// every replica, so all of them drop the same records.
    TrimLog {
        log_start_offset: i64,
    },
    /// Compacts a partition's log below `upto_offset` as of `now_ms` (the leader's clock, so
    /// every replica keeps and drops the same records; see `partition::cleaner`).
    Compact {
        upto_offset: i64,
        now_ms: i64,
        delete_retention_ms: i64,
    },
    /// Forgets the idempotent producers with no open transaction whose last batch is
    /// `expiration_ms` older than `now_ms` (the leader's clock, so every replica forgets the
    /// same ones): Kafka's producer.id.expiration.ms.
    ExpireProducers {
        now_ms: i64,
        expiration_ms: i64,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum CommandResult {
    Appended {
        base_offset: i64,
        duplicate: bool,
    },
    /// The batch was not appended; the Kafka error code says why.
    Rejected {
        error_code: i16,
    },
    /// The log start offset after a TrimLog.
    Trimmed {
        log_start_offset: i64,
    },
    /// Where a Compact left the first dirty offset (what the next pass starts mapping from).
    Compacted {
        clean_offset: i64,
    },
    /// How many producers an ExpireProducers forgot.
    ProducersExpired {
        count: u64,
    },
    Metadata(MetadataResult),
    /// The command does not belong to this kind of group.
    Ignored,
}

/// Raft timing for every group. In a cluster, a failover takes about the leader lease
/// (openraft 0.9 makes it `election_timeout_max`: followers refuse votes that long after the
/// last heartbeat) plus one election timeout: 1.2-2.4 s with the default heartbeat of 150 ms
/// (elections time out after 4-8 heartbeats). Shorter timeouts elect spuriously when three
/// nodes share two loaded cores. openraft also uses the heartbeat interval as the timeout of
/// every AppendEntries, so a peer round trip longer than it commits nothing: links with more
/// latency need a longer interval (`raft_heartbeat_interval_ms`).
///
/// A standalone broker's groups have one voter each: nobody to send heartbeats to and no
/// failover to detect, but every group's timer still wakes its Raft core every 1.5 heartbeat
/// intervals. Slower timers there keep 1,000 idle partitions cheap; a restarted single voter
/// that led before leads again at once, without waiting for an election timeout.
pub fn raft_config(clustered: bool, heartbeat_interval_ms: u64) -> Arc<openraft::Config> {
    let (heartbeat_interval, election_timeout_min) = if clustered {
        (heartbeat_interval_ms, 4 * heartbeat_interval_ms)
    } else {
        (500, 1500)
    };
    let config = openraft::Config {
        cluster_name: "kafka-broker".into(),
        heartbeat_interval,
        election_timeout_min,
        election_timeout_max: election_timeout_min * 2,
        snapshot_policy: openraft::SnapshotPolicy::Never,
        // Logs are purged only when retention asks (Partition::purge), never by openraft's
        // policy after a snapshot.
        max_in_snapshot_log_to_keep: u64::MAX,
        max_payload_entries: 1024,
        ..Default::default()
    };
    Arc::new(config.validate().expect("constant raft config is valid"))
}

pub fn storage_error(what: impl ToString) -> openraft::StorageError<u64> {
    openraft::StorageIOError::<u64>::write(&std::io::Error::other(what.to_string())).into()
}

pub fn read_error(what: impl ToString) -> openraft::StorageError<u64> {
    openraft::StorageIOError::<u64>::read(&std::io::Error::other(what.to_string())).into()
}

/// What every Raft group on this node shares: who we are, the connections to peers, and the
/// table incoming RPCs are routed by.
#[derive(Clone)]
pub struct RaftEnv {
    pub node_id: u64,
    /// Part of a cluster (peers configured), as opposed to a standalone broker.
    pub clustered: bool,
    /// Every group's Raft config (see [`raft_config`]).
    pub config: Arc<openraft::Config>,
    pub peers: Arc<crate::cluster::peers::Peers>,
    pub router: Arc<crate::cluster::router::Router>,
    /// Follower timestamps of the metadata group, for DescribeQuorum.
    pub quorum: Arc<crate::metadata::quorum::QuorumTracker>,
}

impl RaftEnv {
    /// `tls`: the cluster transport is mutual TLS (the controller listener is SSL).
    pub fn new(
        node_id: u64,
        clustered: bool,
        heartbeat_interval_ms: u64,
        tls: Option<Arc<crate::cluster::tls::ClusterTls>>,
    ) -> RaftEnv {
        let peers = Arc::new(crate::cluster::peers::Peers::new(tls));
        let quorum: Arc<crate::metadata::quorum::QuorumTracker> = Arc::default();
        RaftEnv {
            node_id,
            clustered,
            config: raft_config(clustered, heartbeat_interval_ms),
            router: Arc::new(crate::cluster::router::Router::new(
                peers.clone(),
                quorum.clone(),
            )),
            peers,
            quorum,
        }
    }
}

/// The voters of a group, as openraft's membership wants them: node id -> Raft address.
pub type Members = std::collections::BTreeMap<u64, openraft::BasicNode>;

/// Creates a group's Raft node and registers it for incoming RPCs. A group never started
/// before is initialised with `initial` as its voters when that names this node (every
/// initial voter writes the same first entry); otherwise it waits for a leader to add it.
/// Returns whether this call initialised the group.
///
/// openraft campaigns as soon as it initialises. With `initialize_after` set, this node
/// initialises only that much later, and only if no candidate has reached it meanwhile: the
/// replica that initialises at once (Kafka's preferred replica) is then elected first, and
/// the others still elect a leader among themselves if it is down.
pub async fn start_group<SM>(
    env: &RaftEnv,
    group: u64,
    initial: Option<Members>,
    initialize_after: Option<Duration>,
    log_store: log_store::LogStore,
    state_machine: SM,
) -> anyhow::Result<(Raft, bool)>
where
    SM: openraft::storage::RaftStateMachine<TypeConfig>,
{
    // The metadata group's followers' answers feed DescribeQuorum.
    let quorum = (group == crate::storage::keys::METADATA_GROUP).then(|| env.quorum.clone());
    let network = network::Network::new(env.node_id, group, env.peers.clone(), quorum);
    let raft = Raft::new(
        env.node_id,
        env.config.clone(),
        network,
        log_store,
        state_machine,
    )
    .await?;
    env.router.register(group, raft.clone());
    let members = initial.filter(|m| m.contains_key(&env.node_id));
    let initialized = match (members, initialize_after) {
        (None, _) => false,
        (Some(members), None) => initialize(&raft, members).await?,
        (Some(members), Some(delay)) => {
            let raft = raft.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Err(error) = initialize(&raft, members).await {
                    tracing::error!(group, %error, "initialising a Raft group");
                }
            });
            false
        }
    };
    Ok((raft, initialized))
}

/// Initialises a group that has no log and no vote yet; returns whether it did.
async fn initialize(raft: &Raft, members: Members) -> anyhow::Result<bool> {
    if raft.is_initialized().await? {
        return Ok(false);
    }
    match raft.initialize(members).await {
        Ok(()) => Ok(true),
        Err(openraft::error::RaftError::APIError(
            openraft::error::InitializeError::NotAllowed(_),
        )) => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// Stops a group's Raft node and its RPC routing.
pub async fn stop_group(env: &RaftEnv, group: u64, raft: &Raft) {
    env.router.unregister(group);
    if let Err(error) = raft.shutdown().await {
        tracing::warn!(group, %error, "raft shutdown");
    }
}

/// Waits until `node_id` leads the group (bounded).
pub async fn wait_leader(raft: &Raft, node_id: u64, timeout: std::time::Duration) -> bool {
    raft.wait(Some(timeout))
        .current_leader(node_id, "waiting for leadership")
        .await
        .is_ok()
}
