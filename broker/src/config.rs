//! Broker configuration: flags, environment variables and an optional TOML file or Kafka
//! `server.properties` file (kafka.rs: Kafka's names, also as `KAFKA_*` variables).
//!
//! Precedence: command-line flag > `BROKER_*` variable > `KAFKA_*` variable > config file >
//! embedded default. Every limit lives here, unit last.

mod kafka;
pub mod security;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::security::acl::Authorizer;
use clap::Parser;
use serde::Deserialize;

pub use security::{ClusterTlsConfig, ListenerConfig, SaslConfig, SaslMechanism, SecurityProtocol};

#[derive(Debug, Clone, Parser)]
#[command(
    name = "broker",
    about = "A Kafka-compatible broker backed by RocksDB and openraft"
)]
pub struct Args {
    /// Optional config file: TOML, whose keys are the long flag names with '_' for '-', or a
    /// Kafka server.properties file (a name ending in .properties) with Kafka's names.
    #[arg(long, env = "BROKER_CONFIG")]
    pub config: Option<PathBuf>,
    #[arg(long, env = "BROKER_NODE_ID")]
    pub node_id: Option<u64>,
    /// Address the Kafka listener binds to (the first of several `listeners`).
    #[arg(long, env = "BROKER_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// host:port clients are told to connect to (Metadata, FindCoordinator).
    #[arg(long, env = "BROKER_ADVERTISED_LISTENER")]
    pub advertised_listener: Option<String>,
    #[arg(long, env = "BROKER_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of the HTTP listener serving /metrics, /health and /ready.
    #[arg(long, env = "BROKER_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Also label throughput counters and Raft gauges by partition (many series).
    #[arg(long, env = "BROKER_METRICS_PER_PARTITION")]
    pub metrics_per_partition: Option<bool>,
    /// fsync (every acknowledged append is synced) or interval (synced every flush_interval_ms).
    #[arg(long, env = "BROKER_FLUSH_POLICY")]
    pub flush_policy: Option<FlushPolicy>,
    #[arg(long, env = "BROKER_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// tracing filter, e.g. "info" or "info,broker::server=debug" (RUST_LOG syntax).
    #[arg(long, env = "BROKER_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// The cluster's brokers, the same list on every node: `ID@KAFKA_HOST:PORT/RAFT_HOST:PORT`,
    /// comma separated. Empty: a single-node cluster of this broker alone.
    #[arg(long, env = "BROKER_PEERS")]
    pub peers: Option<String>,
    /// Join a running cluster: register with the brokers in --peers instead of founding a
    /// cluster with them. This node follows metadata without voting on it.
    #[arg(long, env = "BROKER_JOIN")]
    pub join: bool,
    /// Read the configuration (file, KAFKA_* and BROKER_* variables, flags), print what it
    /// comes to and exit: status 0 if the broker would start with it.
    #[arg(long)]
    pub check_config: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FlushPolicy {
    Fsync,
    Interval,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Keys accepted in the TOML file; all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    node_id: Option<u64>,
    listen: Option<SocketAddr>,
    advertised_listener: Option<String>,
    data_dir: Option<PathBuf>,
    metrics_listen: Option<SocketAddr>,
    metrics_per_partition: Option<bool>,
    flush_policy: Option<FlushPolicy>,
    flush_interval_ms: Option<u64>,
    log_format: Option<LogFormat>,
    log_level: Option<String>,
    request_bytes_max: Option<u32>,
    connections_max: Option<u32>,
    connections_per_ip_max: Option<u32>,
    connections_max_idle_ms: Option<u64>,
    /// Bytes; -1: unbounded (Kafka's default).
    queued_request_bytes_max: Option<i64>,
    fetch_bytes_max: Option<u32>,
    broker_partitions_max: Option<u32>,
    auto_create_topics_enable: Option<bool>,
    num_partitions: Option<i32>,
    offsets_topic_partitions: Option<i32>,
    offsets_retention_minutes: Option<u64>,
    transaction_state_partitions: Option<i32>,
    transaction_max_timeout_ms: Option<i32>,
    transactional_id_expiration_ms: Option<u64>,
    transaction_cleanup_interval_ms: Option<u64>,
    group_initial_rebalance_delay_ms: Option<u64>,
    retention_check_interval_ms: Option<u64>,
    cleaner_backoff_ms: Option<u64>,
    offsets_topic_segment_bytes: Option<u64>,
    peers: Option<String>,
    join: Option<bool>,
    default_replication_factor: Option<i16>,
    replica_lag_time_max_ms: Option<u64>,
    /// Where the Raft listener binds (a server.properties' controller listener).
    raft_listen: Option<SocketAddr>,
    fetch_cache_bytes: Option<usize>,
    raft_heartbeat_interval_ms: Option<u64>,
    /// connection.failed.authentication.delay.ms
    failed_authentication_delay_ms: Option<u64>,
    /// Static broker configs by Kafka name (server.properties and `KAFKA_*` only).
    #[serde(skip)]
    broker_configs: BTreeMap<String, String>,
    /// Every client listener with its security (server.properties and `KAFKA_*` only).
    #[serde(skip)]
    listeners: Option<Vec<ListenerConfig>>,
    /// authorizer.class.name, super.users, allow.everyone.if.no.acl.found (server.properties
    /// and `KAFKA_*` only).
    #[serde(skip)]
    authorizer: Option<Authorizer>,
    /// The controller listener's TLS (server.properties and `KAFKA_*` only).
    #[serde(skip)]
    cluster_tls: Option<ClusterTlsConfig>,
}

impl FileConfig {
    /// Each setting of `self`, else of `under`.
    fn over(self, under: FileConfig) -> FileConfig {
        let mut broker_configs = under.broker_configs;
        broker_configs.extend(self.broker_configs);
        FileConfig {
            node_id: self.node_id.or(under.node_id),
            listen: self.listen.or(under.listen),
            advertised_listener: self.advertised_listener.or(under.advertised_listener),
            data_dir: self.data_dir.or(under.data_dir),
            metrics_listen: self.metrics_listen.or(under.metrics_listen),
            metrics_per_partition: self.metrics_per_partition.or(under.metrics_per_partition),
            flush_policy: self.flush_policy.or(under.flush_policy),
            flush_interval_ms: self.flush_interval_ms.or(under.flush_interval_ms),
            log_format: self.log_format.or(under.log_format),
            log_level: self.log_level.or(under.log_level),
            request_bytes_max: self.request_bytes_max.or(under.request_bytes_max),
            connections_max: self.connections_max.or(under.connections_max),
            connections_per_ip_max: self.connections_per_ip_max.or(under.connections_per_ip_max),
            connections_max_idle_ms: self
                .connections_max_idle_ms
                .or(under.connections_max_idle_ms),
            queued_request_bytes_max: self
                .queued_request_bytes_max
                .or(under.queued_request_bytes_max),
            fetch_bytes_max: self.fetch_bytes_max.or(under.fetch_bytes_max),
            broker_partitions_max: self.broker_partitions_max.or(under.broker_partitions_max),
            auto_create_topics_enable: self
                .auto_create_topics_enable
                .or(under.auto_create_topics_enable),
            num_partitions: self.num_partitions.or(under.num_partitions),
            offsets_topic_partitions: self
                .offsets_topic_partitions
                .or(under.offsets_topic_partitions),
            offsets_retention_minutes: self
                .offsets_retention_minutes
                .or(under.offsets_retention_minutes),
            transaction_state_partitions: self
                .transaction_state_partitions
                .or(under.transaction_state_partitions),
            transaction_max_timeout_ms: self
                .transaction_max_timeout_ms
                .or(under.transaction_max_timeout_ms),
            transactional_id_expiration_ms: self
                .transactional_id_expiration_ms
                .or(under.transactional_id_expiration_ms),
            transaction_cleanup_interval_ms: self
                .transaction_cleanup_interval_ms
                .or(under.transaction_cleanup_interval_ms),
            group_initial_rebalance_delay_ms: self
                .group_initial_rebalance_delay_ms
                .or(under.group_initial_rebalance_delay_ms),
            retention_check_interval_ms: self
                .retention_check_interval_ms
                .or(under.retention_check_interval_ms),
            cleaner_backoff_ms: self.cleaner_backoff_ms.or(under.cleaner_backoff_ms),
            offsets_topic_segment_bytes: self
                .offsets_topic_segment_bytes
                .or(under.offsets_topic_segment_bytes),
            peers: self.peers.or(under.peers),
            join: self.join.or(under.join),
            default_replication_factor: self
                .default_replication_factor
                .or(under.default_replication_factor),
            replica_lag_time_max_ms: self
                .replica_lag_time_max_ms
                .or(under.replica_lag_time_max_ms),
            raft_listen: self.raft_listen.or(under.raft_listen),
            fetch_cache_bytes: self.fetch_cache_bytes.or(under.fetch_cache_bytes),
            raft_heartbeat_interval_ms: self
                .raft_heartbeat_interval_ms
                .or(under.raft_heartbeat_interval_ms),
            failed_authentication_delay_ms: self
                .failed_authentication_delay_ms
                .or(under.failed_authentication_delay_ms),
            broker_configs,
            listeners: self.listeners.or(under.listeners),
            authorizer: self.authorizer.or(under.authorizer),
            cluster_tls: self.cluster_tls.or(under.cluster_tls),
        }
    }
}

/// One broker of the cluster as every node knows it from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub id: u64,
    /// host:port Kafka clients connect to.
    pub kafka: String,
    /// host:port of the internal listener carrying Raft traffic.
    pub raft: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub node_id: u64,
    /// The client listeners, never empty. The first is this broker's address in the cluster
    /// (`kbroker.peers`, `--listen`, `--advertised-listener`).
    pub listeners: Vec<ListenerConfig>,
    pub data_dir: PathBuf,
    pub metrics_listen: SocketAddr,
    pub metrics_per_partition: bool,
    pub flush_policy: FlushPolicy,
    pub flush_interval_ms: u64,
    pub log_format: LogFormat,
    /// tracing filter directives; RUST_LOG when neither flag, env nor file sets it.
    pub log_level: String,
    /// socket.request.max.bytes: a frame longer than this closes the connection before allocation.
    pub request_bytes_max: u32,
    /// max.connections: accepting waits while this many client connections are open.
    pub connections_max: u32,
    /// max.connections.per.ip: a connection from an address that already has this many open
    /// is closed at once, as Kafka does.
    pub connections_per_ip_max: u32,
    /// connections.max.idle.ms: a connection with no request for this long, and no response
    /// owed, is closed.
    pub connections_max_idle_ms: u64,
    /// queued.max.request.bytes: request bytes all connections may hold until answered; when
    /// spent, connections are not read until responses free some (None: unbounded).
    pub queued_request_bytes_max: Option<u64>,
    /// fetch.max.bytes: the most record bytes one Fetch response carries, whatever the client
    /// asks (at least one batch, as Kafka: a batch larger than this still goes out alone).
    pub fetch_bytes_max: u32,
    /// max.broker.partitions (KIP-578): partition replicas one broker may host; CreateTopics
    /// and CreatePartitions beyond it get POLICY_VIOLATION. Every replica is a Raft group.
    pub broker_partitions_max: u32,
    /// Requests of one connection being processed at once (responses still leave in order).
    pub connection_inflight_max: usize,
    pub auto_create_topics_enable: bool,
    pub num_partitions: i32,
    pub cluster_id: String,
    /// offsets.topic.num.partitions: partitions of the internal `__consumer_offsets` topic.
    pub offsets_topic_partitions: i32,
    /// offsets.retention.minutes: committed offsets of an empty group expire after this.
    pub offsets_retention_minutes: u64,
    /// transaction.state.log.num.partitions: partitions of `__transaction_state`.
    pub transaction_state_partitions: i32,
    /// transaction.max.timeout.ms: the longest transaction.timeout.ms a producer may ask.
    pub transaction_max_timeout_ms: i32,
    /// transactional.id.expiration.ms: a transactional id with no transaction under way and
    /// no state change for this long is forgotten (a tombstone in `__transaction_state`).
    pub transactional_id_expiration_ms: u64,
    /// transaction.remove.expired.transaction.cleanup.interval.ms: how often the coordinator
    /// looks for such ids.
    pub transaction_cleanup_interval_ms: u64,
    /// group.initial.rebalance.delay.ms.
    pub group_initial_rebalance_delay_ms: u64,
    /// log.retention.check.interval.ms.
    pub retention_check_interval_ms: u64,
    /// log.cleaner.backoff.ms: how often the leaders of compacted partitions look for logs
    /// worth a compaction pass.
    pub cleaner_backoff_ms: u64,
    /// offsets.topic.segment.bytes: `__consumer_offsets`' segment.bytes, the most its
    /// compaction leaves uncleaned in the active segment (and so what a coordinator load
    /// replays beyond the live groups' records).
    pub offsets_topic_segment_bytes: u64,
    /// Every broker of the cluster, this one included; empty on a single node.
    pub peers: Vec<Peer>,
    /// This node joins a running cluster rather than founding one with `peers`.
    pub join: bool,
    /// default.replication.factor (and offsets.topic.replication.factor): capped by the
    /// number of brokers.
    pub default_replication_factor: i16,
    /// replica.lag.time.max.ms: a follower that has not caught up with the leader's log end
    /// for this long leaves the ISR.
    pub replica_lag_time_max_ms: u64,
    /// Where the Raft listener binds when that is not this node's peers entry (the controller
    /// listener of a server.properties, e.g. `CONTROLLER://:9093` for every interface).
    pub raft_bind: Option<SocketAddr>,
    /// Bytes of recently applied record batches kept in memory for Fetch, for all partitions
    /// together (0: none; every read goes to RocksDB).
    pub fetch_cache_bytes: usize,
    /// How often a Raft leader of a cluster sends heartbeats; it is also openraft's timeout for
    /// every AppendEntries round trip (network both ways plus the follower's durable write), so
    /// it must exceed the slowest peer round trip or nothing commits. Elections time out after
    /// 4-8 heartbeat intervals, so failover takes about 8-12 of them.
    pub raft_heartbeat_interval_ms: u64,
    /// connection.failed.authentication.delay.ms: a failed SASL authentication is answered (and
    /// its connection closed) only after this long, which slows down password guessing without
    /// holding anything but that connection's timer.
    pub failed_authentication_delay_ms: u64,
    /// Static broker configs by Kafka name (e.g. log.retention.ms): below the dynamic ones,
    /// above Kafka's defaults, described as STATIC_BROKER_CONFIG.
    pub broker_configs: BTreeMap<String, String>,
    /// `authorizer.class.name` set: requests are checked against the ACLs in metadata. None:
    /// everything is allowed and the ACL APIs answer SECURITY_DISABLED, as in Kafka.
    pub authorizer: Option<Authorizer>,
    /// The controller listener is SSL: node-to-node traffic is mutual TLS with these
    /// certificates. None: plaintext.
    pub cluster_tls: Option<ClusterTlsConfig>,
    /// Configuration the broker ignores, to log once logging is set up.
    pub notices: Vec<String>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9092";
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9644";
pub const DEFAULT_LOG_LEVEL: &str = "info,openraft=off";
pub const DEFAULT_FETCH_CACHE_BYTES: usize = 256 * 1024 * 1024;
pub const DEFAULT_RAFT_HEARTBEAT_INTERVAL_MS: u64 = 150;
/// Kafka's connection.failed.authentication.delay.ms.
pub const FAILED_AUTHENTICATION_DELAY_MS: u64 = 100;

/// Kafka's defaults for its limits of the same names (see the fields of [`Config`]).
pub const CONNECTIONS_PER_IP_MAX: u32 = i32::MAX as u32;
pub const CONNECTIONS_MAX_IDLE_MS: u64 = 600_000;
/// Kafka's default is -1 (unbounded); bounded here so that a flood of large produce requests
/// slows its clients down instead of exhausting the broker's memory.
pub const QUEUED_REQUEST_BYTES_MAX: u64 = 1 << 30;
pub const FETCH_BYTES_MAX: u32 = 57_671_680;
/// Kafka's transactional.id.expiration.ms (7 days) and
/// transaction.remove.expired.transaction.cleanup.interval.ms (1 hour).
pub const TRANSACTIONAL_ID_EXPIRATION_MS: u64 = 604_800_000;
pub const TRANSACTION_CLEANUP_INTERVAL_MS: u64 = 3_600_000;
/// Not a Kafka default (Kafka has no such limit): about the partitions per broker Kafka's
/// operators are advised to stay under, and 4x what was measured idle here (docs/benchmarks.md).
pub const BROKER_PARTITIONS_MAX: u32 = 4_000;
/// Partitions one CreateTopics or CreatePartitions request may add, over all its topics: Kafka's
/// controller refuses more with POLICY_VIOLATION ("Excessively large number of partitions per
/// request."); not configurable in Kafka either.
pub const REQUEST_PARTITIONS_MAX: i64 = 10_000;

impl Config {
    pub fn load(args: Args) -> anyhow::Result<Config> {
        Config::load_with_env(args, std::env::vars())
    }

    /// [`Config::load`] with `vars` as the environment's `KAFKA_*` variables.
    pub fn load_with_env(
        args: Args,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        let (mut file, notices) = read_files(args.config.as_deref(), vars)?;
        let listen = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("constant address parses"));
        let advertised = args
            .advertised_listener
            .or(file.advertised_listener.take())
            .unwrap_or_else(|| listen.to_string());
        let (advertised_host, advertised_port) = split_host_port(&advertised)?;
        let mut listeners = file
            .listeners
            .take()
            .unwrap_or_else(|| vec![ListenerConfig::plaintext(listen)]);
        listeners[0].bind = listen;
        listeners[0].advertised_host = advertised_host;
        listeners[0].advertised_port = advertised_port;
        check_listeners(&listeners)?;
        let node_id = args.node_id.or(file.node_id).unwrap_or(1);
        let peers = match args.peers.or(file.peers) {
            Some(list) => parse_peers(&list)?,
            None => Vec::new(),
        };
        if !peers.is_empty() && !peers.iter().any(|p| p.id == node_id) {
            anyhow::bail!("--peers does not list this node's id {node_id}");
        }
        check_raft_bind(file.raft_listen, peers.iter().find(|p| p.id == node_id))?;
        Ok(Config {
            node_id,
            listeners,
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./data")),
            metrics_listen: args
                .metrics_listen
                .or(file.metrics_listen)
                .unwrap_or_else(|| {
                    DEFAULT_METRICS_LISTEN
                        .parse()
                        .expect("constant address parses")
                }),
            metrics_per_partition: args
                .metrics_per_partition
                .or(file.metrics_per_partition)
                .unwrap_or(false),
            flush_policy: args
                .flush_policy
                .or(file.flush_policy)
                .unwrap_or(FlushPolicy::Fsync),
            flush_interval_ms: file.flush_interval_ms.unwrap_or(100),
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(LogFormat::Text),
            log_level: args
                .log_level
                .or(file.log_level)
                .or_else(|| std::env::var("RUST_LOG").ok())
                .unwrap_or_else(|| DEFAULT_LOG_LEVEL.to_string()),
            request_bytes_max: file.request_bytes_max.unwrap_or(100 * 1024 * 1024),
            connections_max: file.connections_max.unwrap_or(10_000),
            connections_per_ip_max: file
                .connections_per_ip_max
                .unwrap_or(CONNECTIONS_PER_IP_MAX),
            connections_max_idle_ms: file
                .connections_max_idle_ms
                .unwrap_or(CONNECTIONS_MAX_IDLE_MS),
            queued_request_bytes_max: match file.queued_request_bytes_max {
                None => Some(QUEUED_REQUEST_BYTES_MAX),
                Some(-1) => None,
                Some(bytes) if bytes > 0 => Some(bytes as u64),
                Some(bytes) => {
                    anyhow::bail!("queued_request_bytes_max must be positive or -1, not {bytes}")
                }
            },
            fetch_bytes_max: file.fetch_bytes_max.unwrap_or(FETCH_BYTES_MAX),
            broker_partitions_max: file.broker_partitions_max.unwrap_or(BROKER_PARTITIONS_MAX),
            connection_inflight_max: 16,
            auto_create_topics_enable: file.auto_create_topics_enable.unwrap_or(true),
            num_partitions: file.num_partitions.unwrap_or(1),
            cluster_id: String::new(),
            offsets_topic_partitions: file.offsets_topic_partitions.unwrap_or(16),
            offsets_retention_minutes: file.offsets_retention_minutes.unwrap_or(10080),
            transaction_state_partitions: file.transaction_state_partitions.unwrap_or(16),
            transaction_max_timeout_ms: file.transaction_max_timeout_ms.unwrap_or(900_000),
            transactional_id_expiration_ms: file
                .transactional_id_expiration_ms
                .unwrap_or(TRANSACTIONAL_ID_EXPIRATION_MS),
            transaction_cleanup_interval_ms: file
                .transaction_cleanup_interval_ms
                .unwrap_or(TRANSACTION_CLEANUP_INTERVAL_MS),
            group_initial_rebalance_delay_ms: file.group_initial_rebalance_delay_ms.unwrap_or(3000),
            retention_check_interval_ms: file.retention_check_interval_ms.unwrap_or(300_000),
            cleaner_backoff_ms: file.cleaner_backoff_ms.unwrap_or(15_000),
            offsets_topic_segment_bytes: file.offsets_topic_segment_bytes.unwrap_or(104_857_600),
            default_replication_factor: file.default_replication_factor.unwrap_or(3),
            replica_lag_time_max_ms: file.replica_lag_time_max_ms.unwrap_or(10_000),
            fetch_cache_bytes: file.fetch_cache_bytes.unwrap_or(DEFAULT_FETCH_CACHE_BYTES),
            raft_heartbeat_interval_ms: match file.raft_heartbeat_interval_ms {
                Some(ms) if !(10..=60_000).contains(&ms) => {
                    anyhow::bail!("raft_heartbeat_interval_ms must be 10..=60000, not {ms}")
                }
                ms => ms.unwrap_or(DEFAULT_RAFT_HEARTBEAT_INTERVAL_MS),
            },
            join: args.join || file.join.unwrap_or(false),
            peers,
            raft_bind: file.raft_listen,
            failed_authentication_delay_ms: file
                .failed_authentication_delay_ms
                .unwrap_or(FAILED_AUTHENTICATION_DELAY_MS),
            broker_configs: file.broker_configs,
            authorizer: file.authorizer,
            cluster_tls: file.cluster_tls,
            notices,
        })
    }

    /// A config for tests: everything on loopback with ephemeral ports.
    pub fn for_test(data_dir: PathBuf) -> Config {
        Config {
            node_id: 1,
            listeners: vec![ListenerConfig::plaintext(
                "127.0.0.1:0".parse().expect("constant address parses"),
            )],
            data_dir,
            metrics_listen: "127.0.0.1:0".parse().expect("constant address parses"),
            metrics_per_partition: false,
            flush_policy: FlushPolicy::Fsync,
            flush_interval_ms: 100,
            log_format: LogFormat::Text,
            log_level: DEFAULT_LOG_LEVEL.to_string(),
            request_bytes_max: 100 * 1024 * 1024,
            connections_max: 1000,
            connections_per_ip_max: CONNECTIONS_PER_IP_MAX,
            connections_max_idle_ms: CONNECTIONS_MAX_IDLE_MS,
            queued_request_bytes_max: Some(QUEUED_REQUEST_BYTES_MAX),
            fetch_bytes_max: FETCH_BYTES_MAX,
            broker_partitions_max: BROKER_PARTITIONS_MAX,
            connection_inflight_max: 16,
            auto_create_topics_enable: true,
            num_partitions: 1,
            cluster_id: String::new(),
            offsets_topic_partitions: 4,
            offsets_retention_minutes: 10080,
            transaction_state_partitions: 4,
            transaction_max_timeout_ms: 900_000,
            transactional_id_expiration_ms: TRANSACTIONAL_ID_EXPIRATION_MS,
            transaction_cleanup_interval_ms: TRANSACTION_CLEANUP_INTERVAL_MS,
            group_initial_rebalance_delay_ms: 0,
            retention_check_interval_ms: 300_000,
            cleaner_backoff_ms: 15_000,
            offsets_topic_segment_bytes: 104_857_600,
            peers: Vec::new(),
            join: false,
            default_replication_factor: 3,
            replica_lag_time_max_ms: 10_000,
            raft_bind: None,
            fetch_cache_bytes: DEFAULT_FETCH_CACHE_BYTES,
            raft_heartbeat_interval_ms: DEFAULT_RAFT_HEARTBEAT_INTERVAL_MS,
            failed_authentication_delay_ms: FAILED_AUTHENTICATION_DELAY_MS,
            broker_configs: BTreeMap::new(),
            authorizer: None,
            cluster_tls: None,
            notices: Vec::new(),
        }
    }

    /// The first client listener: this broker's address in the cluster.
    pub fn primary_listener(&self) -> &ListenerConfig {
        &self.listeners[0]
    }

    /// The settings a deployment most often gets wrong, one `name=value` a line, in Kafka's
    /// names where Kafka has one (for `--check-config`).
    pub fn summary(&self) -> String {
        let peers: Vec<String> = self
            .peers
            .iter()
            .map(|p| format!("{}@{}/{}", p.id, p.kafka, p.raft))
            .collect();
        let mut listeners: Vec<String> = self
            .listeners
            .iter()
            .map(|l| format!("{}://{}", l.name, l.bind))
            .collect();
        listeners.extend(self.raft_bind.map(|raft| format!("CONTROLLER://{raft}")));
        let advertised: Vec<String> = self
            .listeners
            .iter()
            .map(|l| format!("{}://{}", l.name, l.advertised()))
            .collect();
        let protocols: Vec<String> = self
            .listeners
            .iter()
            .map(|l| format!("{}:{}", l.name, l.protocol.name()))
            .collect();
        let mut lines = vec![
            format!("node.id={}", self.node_id),
            format!("listeners={}", listeners.join(",")),
            format!("advertised.listeners={}", advertised.join(",")),
            format!("listener.security.protocol.map={}", protocols.join(",")),
            format!("log.dirs={}", self.data_dir.display()),
            format!("kbroker.peers={}", peers.join(",")),
            format!("kbroker.join={}", self.join),
            format!(
                "kbroker.raft.heartbeat.interval.ms={}",
                self.raft_heartbeat_interval_ms
            ),
            format!("kbroker.metrics.listen={}", self.metrics_listen),
            format!("num.partitions={}", self.num_partitions),
            format!(
                "default.replication.factor={}",
                self.default_replication_factor
            ),
        ];
        for listener in &self.listeners {
            if let Some(sasl) = &listener.sasl {
                let mechanisms: Vec<&str> = sasl.mechanisms.iter().map(|m| m.name()).collect();
                let users: Vec<&str> = sasl.plain_users.keys().map(String::as_str).collect();
                lines.push(format!(
                    "listener.name.{}.sasl.enabled.mechanisms={}",
                    listener.name.to_ascii_lowercase(),
                    mechanisms.join(",")
                ));
                lines.push(format!(
                    "listener.name.{}: PLAIN users {}",
                    listener.name.to_ascii_lowercase(),
                    users.join(",")
                ));
            }
        }
        if let Some(cluster) = &self.cluster_tls {
            let name = cluster.listener.to_ascii_lowercase();
            lines.push(format!("listener.name.{name}.ssl.client.auth=required"));
            lines.push(format!(
                "listener.name.{name}.ssl.endpoint.identification.algorithm={}",
                if cluster.verify_hostname { "https" } else { "" }
            ));
        }
        lines.extend(self.broker_configs.iter().map(|(k, v)| format!("{k}={v}")));
        lines.join("\n")
    }

    /// Where this node's Raft listener binds, when it is part of a multi-node cluster.
    pub fn raft_listen(&self) -> Option<String> {
        let entry = self.peers.iter().find(|p| p.id == self.node_id)?;
        Some(match self.raft_bind {
            Some(address) => address.to_string(),
            None => entry.raft.clone(),
        })
    }
}

/// The config file (TOML, or Kafka's properties for a `.properties` name) with the `KAFKA_*`
/// variables of `vars` over it, and notices about ignored settings.
fn read_files(
    path: Option<&std::path::Path>,
    vars: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<(FileConfig, Vec<String>)> {
    let Some(path) = path else {
        return kafka::file_config(kafka::env_settings(vars));
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("reading config {}: {e}", path.display()))?;
    let context = |e: anyhow::Error| anyhow::anyhow!("config {}: {e}", path.display());
    if path.extension().is_some_and(|e| e == "properties") {
        let mut settings = kafka::parse_properties(&text).map_err(context)?;
        settings.extend(kafka::env_settings(vars));
        return kafka::file_config(settings).map_err(context);
    }
    let file: FileConfig = toml::from_str(&text).map_err(|e| context(e.into()))?;
    let (env, notices) = kafka::file_config(kafka::env_settings(vars))?;
    Ok((env.over(file), notices))
}

/// Listener names and bind addresses are each used once.
fn check_listeners(listeners: &[ListenerConfig]) -> anyhow::Result<()> {
    for (index, listener) in listeners.iter().enumerate() {
        for other in &listeners[..index] {
            if other.name == listener.name {
                anyhow::bail!("listener name {} is used twice", listener.name);
            }
            if other.bind == listener.bind && listener.bind.port() != 0 {
                anyhow::bail!(
                    "listeners {} and {} both bind {}",
                    other.name,
                    listener.name,
                    listener.bind
                );
            }
        }
    }
    Ok(())
}

/// The other nodes connect to this node's Raft address in the peers, so a separate bind
/// address must have its port.
fn check_raft_bind(bind: Option<SocketAddr>, me: Option<&Peer>) -> anyhow::Result<()> {
    let (Some(bind), Some(me)) = (bind, me) else {
        return Ok(());
    };
    let (_, port) = split_host_port(&me.raft)?;
    if i32::from(bind.port()) != port {
        anyhow::bail!(
            "the Raft listener {bind} (the controller listener) is not on the port of this node's Raft address {} in the peers",
            me.raft
        );
    }
    Ok(())
}

/// Parses `ID@KAFKA_HOST:PORT/RAFT_HOST:PORT[,...]`.
pub fn parse_peers(list: &str) -> anyhow::Result<Vec<Peer>> {
    let mut peers: Vec<Peer> = Vec::new();
    for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let parse = || -> Option<Peer> {
            let (id, addresses) = item.split_once('@')?;
            let (kafka, raft) = addresses.split_once('/')?;
            split_host_port(kafka).ok()?;
            split_host_port(raft).ok()?;
            Some(Peer {
                id: id.parse().ok()?,
                kafka: kafka.to_string(),
                raft: raft.to_string(),
            })
        };
        let peer = parse().ok_or_else(|| {
            anyhow::anyhow!("peer {item:?} is not ID@KAFKA_HOST:PORT/RAFT_HOST:PORT")
        })?;
        if peers.iter().any(|p| p.id == peer.id) {
            anyhow::bail!("peer id {} is listed twice", peer.id);
        }
        peers.push(peer);
    }
    Ok(peers)
}

fn split_host_port(address: &str) -> anyhow::Result<(String, i32)> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| anyhow::anyhow!("advertised listener {address:?} is not host:port"))?;
    let port: i32 = port
        .parse()
        .map_err(|e| anyhow::anyhow!("advertised listener port {port:?}: {e}"))?;
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_embedded() {
        let config = Config::load_with_env(Args::parse_from(["broker"]), []).unwrap();
        assert_eq!(config.listeners.len(), 1);
        let listener = config.primary_listener();
        assert_eq!(listener.bind.to_string(), DEFAULT_LISTEN);
        assert_eq!(listener.protocol, SecurityProtocol::Plaintext);
        assert_eq!(listener.advertised(), DEFAULT_LISTEN);
        assert_eq!(config.request_bytes_max, 100 * 1024 * 1024);
        assert_eq!(config.flush_policy, FlushPolicy::Fsync);
        assert_eq!(config.metrics_listen.to_string(), DEFAULT_METRICS_LISTEN);
        assert!(!config.metrics_per_partition);
    }

    #[test]
    fn metrics_and_log_settings_from_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broker.toml");
        std::fs::write(
            &path,
            "metrics_per_partition = true\nlog_level = \"debug\"\nmetrics_listen = \"127.0.0.1:9999\"\n",
        )
        .unwrap();
        let args = Args::parse_from(["broker", "--config", path.to_str().unwrap()]);
        let config = Config::load_with_env(args, []).unwrap();
        assert!(config.metrics_per_partition);
        assert_eq!(config.log_level, "debug");
        assert_eq!(config.metrics_listen.port(), 9999);
    }

    #[test]
    fn flags_override_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broker.toml");
        std::fs::write(&path, "node_id = 7\nlisten = \"127.0.0.1:9999\"\n").unwrap();
        let args = Args::parse_from([
            "broker",
            "--config",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:9100",
        ]);
        let config = Config::load_with_env(args, []).unwrap();
        assert_eq!(config.node_id, 7);
        assert_eq!(config.primary_listener().bind.port(), 9100);
    }

    #[test]
    fn peers_parse_and_reject_garbage() {
        let peers = parse_peers("1@127.0.0.1:9092/127.0.0.1:9192, 2@h:1/h:2").unwrap();
        assert_eq!(peers.len(), 2);
        assert_eq!(peers[1].id, 2);
        assert_eq!(peers[1].kafka, "h:1");
        assert_eq!(peers[1].raft, "h:2");
        assert!(parse_peers("1@127.0.0.1:9092").is_err());
        assert!(parse_peers("x@a:1/b:2").is_err());
        assert!(parse_peers("1@a:1/b:2,1@c:1/d:2").is_err());
    }

    #[test]
    fn bad_advertised_listener_is_an_error() {
        assert!(split_host_port("nohostport").is_err());
        assert_eq!(split_host_port("[::1]:9092").unwrap(), ("::1".into(), 9092));
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn server_properties_file_with_kafka_env_over_it_and_flags_over_both() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.properties");
        std::fs::write(
            &path,
            "node.id=2\nlisteners=PLAINTEXT://127.0.0.1:9300\nnum.partitions=4\n\
             log.retention.hours=1\nprocess.roles=broker,controller\n",
        )
        .unwrap();
        let vars = env(&[("KAFKA_NUM_PARTITIONS", "6"), ("KAFKA_NODE_ID", "3")]);
        let args = Args::parse_from([
            "broker",
            "--config",
            path.to_str().unwrap(),
            "--node-id",
            "5",
        ]);
        let config = Config::load_with_env(args, vars).unwrap();
        assert_eq!(config.node_id, 5);
        assert_eq!(config.num_partitions, 6);
        assert_eq!(config.primary_listener().bind.port(), 9300);
        assert_eq!(config.primary_listener().advertised(), "127.0.0.1:9300");
        assert_eq!(
            config
                .broker_configs
                .get("log.retention.ms")
                .map(String::as_str),
            Some("3600000")
        );
        assert_eq!(config.notices.len(), 1, "{:?}", config.notices);
        // The TOML file is not read as properties, nor the other way round.
        std::fs::write(&path, "node_id = 2\n").unwrap();
        let args = Args::parse_from(["broker", "--config", path.to_str().unwrap()]);
        let error = Config::load_with_env(args, []).unwrap_err().to_string();
        assert!(
            error.contains("server.properties: line 1: node_id: not a Kafka"),
            "{error}"
        );
    }

    #[test]
    fn kafka_env_over_a_toml_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broker.toml");
        std::fs::write(&path, "node_id = 7\nnum_partitions = 2\n").unwrap();
        let args = Args::parse_from(["broker", "--config", path.to_str().unwrap()]);
        let config = Config::load_with_env(args, env(&[("KAFKA_NUM_PARTITIONS", "9")])).unwrap();
        assert_eq!((config.node_id, config.num_partitions), (7, 9));
        let args = Args::parse_from(["broker"]);
        let error = Config::load_with_env(args, env(&[("KAFKA_NUM_PARTITIONS", "x")]));
        assert!(error.is_err());
    }

    #[test]
    fn the_controller_listener_is_where_raft_binds_on_the_peers_port() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server.properties");
        let properties = |controller: &str| {
            format!(
                "node.id=2\nlisteners=PLAINTEXT://:9092,CONTROLLER://{controller}\n\
                 controller.listener.names=CONTROLLER\nadvertised.listeners=PLAINTEXT://b:9092\n\
                 kbroker.peers=1@a:9092/a:9093,2@b:9092/b:9093\n"
            )
        };
        std::fs::write(&path, properties(":9093")).unwrap();
        let args = || Args::parse_from(["broker", "--config", path.to_str().unwrap()]);
        let config = Config::load_with_env(args(), []).unwrap();
        assert_eq!(config.raft_listen().as_deref(), Some("0.0.0.0:9093"));
        std::fs::write(&path, properties(":9094")).unwrap();
        assert!(Config::load_with_env(args(), []).is_err());
        std::fs::write(
            &path,
            "node.id=2\nkbroker.peers=1@a:9092/a:9093,2@b:9092/b:9093\n",
        )
        .unwrap();
        let config = Config::load_with_env(args(), []).unwrap();
        assert_eq!(config.raft_listen().as_deref(), Some("b:9093"));
    }
}
