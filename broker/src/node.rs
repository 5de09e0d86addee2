//! Wires one broker node together: storage -> metadata Raft -> partition replicas -> Kafka
//! listener, and tears it down in the reverse order.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::BasicNode;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::group::store::OFFSETS_TOPIC;
use crate::group::Coordinator;
use crate::handlers::Ctx;
use crate::metadata::commands::{MetadataCommand, MetadataResult};
use crate::metadata::{placement, BrokerInfo, Endpoint, Metadata};
use crate::protocol::error_codes as ec;
use crate::raft::{Members, RaftEnv};
use crate::replicas::Replicas;
use crate::storage::Store;

/// How long a stopping broker spends handing its partitions' leadership over (each transfer
/// waits out one Raft lease, 1.2-2.4 s, then an election); well inside systemd's
/// TimeoutStopSec and the Kubernetes grace period of deploy/.
const HAND_OVER_MAX: Duration = Duration::from_secs(10);

pub struct Node {
    pub ctx: Arc<Ctx>,
    /// Where the first client listener is bound.
    pub local_addr: SocketAddr,
    /// Where each client listener is bound, in the order of `config.listeners`.
    pub local_addrs: Vec<SocketAddr>,
    listeners: Vec<TcpListener>,
    pub store: Arc<Store>,
    /// Tasks that run for the node's lifetime (metadata follower, group timers).
    background: Background,
}

/// Lifetime tasks, cancelled and awaited at shutdown so nothing keeps the store open.
#[derive(Clone, Default)]
struct Background {
    cancel: CancellationToken,
    tracker: tokio_util::task::TaskTracker,
}

impl Background {
    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let cancel = self.cancel.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = task => {}
            }
        });
    }

    async fn stop(&self) {
        self.cancel.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

impl Node {
    /// Opens storage, recovers metadata and every partition, and binds the listener.
    pub async fn start(mut config: Config) -> anyhow::Result<Node> {
        let started = Instant::now();
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| anyhow::anyhow!("creating data dir {}: {e}", config.data_dir.display()))?;
        let listeners = bind_listeners(&mut config).await?;
        let local_addrs = listeners
            .iter()
            .map(TcpListener::local_addr)
            .collect::<std::io::Result<Vec<_>>>()?;
        let local_addr = local_addrs[0];
        let advertised = config.primary_listener().advertised();
        let store = Arc::new(Store::open(
            &config.data_dir.join("rocksdb"),
            config.flush_policy,
            config.flush_interval_ms,
        )?);
        let cluster_tls = match &config.cluster_tls {
            Some(tls) => Some(Arc::new(crate::cluster::tls::ClusterTls::new(tls)?)),
            None => None,
        };
        let env = RaftEnv::new(
            config.node_id,
            !config.peers.is_empty(),
            config.raft_heartbeat_interval_ms,
            cluster_tls.clone(),
        );
        let background = Background::default();
        if let Some(raft_listen) = config.raft_listen() {
            let internal = TcpListener::bind(&raft_listen)
                .await
                .map_err(|e| anyhow::anyhow!("binding the Raft listener {raft_listen}: {e}"))?;
            let bound = internal.local_addr()?;
            tracing::info!(listen = %raft_listen, tls = cluster_tls.is_some(), "serving peers");
            if cluster_tls.is_none() && !bound.ip().is_loopback() {
                tracing::warn!(listen = %bound,
                    "the Raft listener on {bound} is reachable from the network and \
                     authenticates nobody: anyone who reaches it can change the cluster's \
                     metadata and overwrite partitions; make the controller listener SSL \
                     (README: Security) or bind it to a loopback address");
            }
            background.spawn(crate::cluster::server::serve(
                internal,
                env.router.clone(),
                cluster_tls,
                background.cancel.clone(),
            ));
        }
        let brokers = cluster_brokers(&config, &advertised);
        let voters: Members = brokers
            .iter()
            .map(|(id, b)| (*id, BasicNode::new(b.raft.clone())))
            .collect();
        let seeds: Vec<String> = config
            .peers
            .iter()
            .filter(|p| p.id != config.node_id)
            .map(|p| p.raft.clone())
            .collect();
        let founders = (!config.join).then_some(voters);
        let metadata = Metadata::open(&env, founders, seeds, store.clone()).await?;
        let batch_cache = crate::partition::cache::BatchCache::new(config.fetch_cache_bytes);
        let replicas = Arc::new(Replicas::new(env.clone(), store.clone(), batch_cache));
        let image = metadata.current();
        replicas.remove_orphans(&image).await?;
        replicas.reconcile(&image).await?;
        background.spawn(replicas.clone().follow(metadata.subscribe()));
        let groups = Arc::new(Coordinator::new(
            metadata.clone(),
            replicas.clone(),
            Duration::from_secs(config.offsets_retention_minutes * 60),
            Duration::from_millis(config.group_initial_rebalance_delay_ms),
        ));
        if config.peers.is_empty() {
            // A single node is its own quorum: be fully ready before taking clients.
            if !metadata.wait_for_leader(Duration::from_secs(30)).await {
                anyhow::bail!("metadata group elected no leader within 30s");
            }
            bootstrap(&config, &metadata, &brokers).await?;
            replicas.reconcile(&metadata.current()).await?;
            wait_for_coordinator(&metadata, &replicas, &groups).await?;
        } else {
            // Peers may still be starting: set the cluster up in the background.
            let (config, metadata, brokers) = (config.clone(), metadata.clone(), brokers.clone());
            background.spawn(async move {
                while let Err(error) = bootstrap(&config, &metadata, &brokers).await {
                    tracing::info!(%error, "waiting for the metadata quorum");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            });
        }
        let txns = crate::txn::TxnCoordinator::new(
            metadata.clone(),
            replicas.clone(),
            groups.clone(),
            crate::txn::TxnConfig {
                partitions: config.transaction_state_partitions,
                replication_factor: config.default_replication_factor,
                max_timeout_ms: config.transaction_max_timeout_ms,
                id_expiration: Duration::from_millis(config.transactional_id_expiration_ms),
                cleanup_interval: Duration::from_millis(config.transaction_cleanup_interval_ms),
            },
        );
        let writer: Arc<dyn crate::cluster::router::TxnMarkerWriter> = txns.clone();
        env.router.set_marker_writer(Arc::downgrade(&writer));
        background.spawn(groups.clone().run());
        background.spawn(txns.clone().run());
        background.spawn(replicas.clone().carry_out_reassignments(metadata.clone()));
        background.spawn(metadata.clone().follow_brokers());
        background.spawn(replicas.clone().report_leadership(
            metadata.clone(),
            Duration::from_millis(config.replica_lag_time_max_ms),
        ));
        background.spawn(crate::partition::retention::enforce(
            Arc::new(config.clone()),
            metadata.clone(),
            replicas.clone(),
            Duration::from_millis(config.retention_check_interval_ms.max(100)),
        ));
        background.spawn(crate::partition::cleaner::enforce(
            Arc::new(config.clone()),
            metadata.clone(),
            replicas.clone(),
            Duration::from_millis(config.cleaner_backoff_ms.max(100)),
        ));
        tracing::info!(
            topics = image.topics.len(),
            partitions = replicas.count(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "recovered"
        );
        let ctx = Arc::new(Ctx {
            config: Arc::new(config),
            metadata,
            replicas,
            groups,
            txns,
        });
        Ok(Node {
            ctx,
            local_addr,
            local_addrs,
            listeners,
            store,
            background,
        })
    }

    /// Serves until `shutdown` fires, then stops partitions and metadata.
    pub async fn run(self, shutdown: CancellationToken) {
        // As Kafka's brokers, which open their listeners once they caught up with the metadata
        // log: until this node has the cluster's image, connections wait in the listen backlog
        // rather than being told of a cluster without an id whose only broker is this one.
        let node_id = self.ctx.config.node_id;
        if self.ctx.metadata.current().is_cluster_image(node_id) {
            tracing::info!(listen = %self.local_addr, "serving Kafka clients");
        } else {
            tracing::info!("waiting for the cluster metadata before serving Kafka clients");
        }
        let waited = self.ctx.metadata.wait_for_cluster_image(node_id, &shutdown);
        if let Some(image) = waited.await {
            let limits = crate::server::listener::ClientLimits::new(&self.ctx.config);
            let serving = self
                .listeners
                .into_iter()
                .enumerate()
                .map(|(index, socket)| {
                    let listener = Arc::new(self.ctx.config.listeners[index].clone());
                    tracing::info!(listener = %listener.name, protocol = listener.protocol.name(),
                    listen = %self.local_addrs[index], advertised = %listener.advertised(),
                    cluster_id = %image.cluster_id, "serving Kafka clients");
                    crate::server::listener::run(
                        socket,
                        listener,
                        self.ctx.clone(),
                        limits.clone(),
                        shutdown.clone(),
                    )
                });
            futures::future::join_all(serving).await;
        }
        // Before the peer listener stops: the replicas taking over need this node's vote.
        let lag_max = Duration::from_millis(self.ctx.config.replica_lag_time_max_ms);
        let (moved, led) = self
            .ctx
            .replicas
            .hand_over_leadership(lag_max, HAND_OVER_MAX)
            .await;
        if led > 0 {
            tracing::info!(
                moved,
                led,
                "handed partition leadership over before stopping"
            );
        }
        self.background.stop().await;
        self.ctx.replicas.shutdown().await;
        self.ctx.metadata.shutdown().await;
        // RocksDB aborts the process if its background threads still run while it exits, and
        // tasks still holding the store may outlive this function; stop that work now.
        if let Err(error) = self.store.db.flush_wal(true) {
            tracing::error!(%error, "final WAL sync");
        }
        self.store.db.cancel_all_background_work(true);
        tracing::info!("stopped");
    }
}

/// Binds every client listener; a port of 0 is advertised as the port it got. Warns about
/// listeners that serve anyone on the network without authentication.
async fn bind_listeners(config: &mut Config) -> anyhow::Result<Vec<TcpListener>> {
    let mut bound = Vec::with_capacity(config.listeners.len());
    for listener in &mut config.listeners {
        let socket = TcpListener::bind(listener.bind).await.map_err(|e| {
            anyhow::anyhow!(
                "binding listener {} on {}: {e}",
                listener.name,
                listener.bind
            )
        })?;
        if listener.advertised_port == 0 {
            listener.advertised_port = i32::from(socket.local_addr()?.port());
        }
        if listener.is_unauthenticated() && !listener.bind.ip().is_loopback() {
            tracing::warn!(
                listener = %listener.name,
                protocol = listener.protocol.name(),
                listen = %listener.bind,
                "listener {} on {} is reachable from the network and authenticates nobody: \
                 anyone who reaches it can read, write and delete every topic; use \
                 SASL_PLAINTEXT or SASL_SSL (README: Security) or bind it to a loopback address",
                listener.name,
                listener.bind,
            );
        }
        bound.push(socket);
    }
    Ok(bound)
}

/// This broker as metadata records it: its Kafka address (its kbroker.peers entry in a
/// cluster, else its first listener's advertised address), every listener's address, and its
/// Raft address.
pub fn broker_info(config: &Config, raft: String) -> BrokerInfo {
    let primary = config.primary_listener();
    let mut listeners: BTreeMap<String, Endpoint> = config
        .listeners
        .iter()
        .map(|l| {
            let endpoint = Endpoint {
                host: l.advertised_host.clone(),
                port: l.advertised_port,
            };
            (l.name.clone(), endpoint)
        })
        .collect();
    let mut info = BrokerInfo {
        host: primary.advertised_host.clone(),
        port: primary.advertised_port,
        raft,
        listeners: BTreeMap::new(),
    };
    if let Some(peer) = config.peers.iter().find(|p| p.id == config.node_id) {
        info = peer_info(peer);
        // The others know this broker by its peers entry; so do clients of its first listener.
        let endpoint = Endpoint {
            host: info.host.clone(),
            port: info.port,
        };
        listeners.insert(primary.name.clone(), endpoint);
    }
    info.listeners = listeners;
    info
}

fn peer_info(peer: &crate::config::Peer) -> BrokerInfo {
    let (host, port) = peer.kafka.rsplit_once(':').unwrap_or((&peer.kafka, "9092"));
    BrokerInfo {
        host: host.trim_matches(['[', ']']).to_string(),
        port: port.parse().unwrap_or(9092),
        raft: peer.raft.clone(),
        listeners: BTreeMap::new(),
    }
}

/// Every broker of the cluster from configuration (this one alone without `--peers`). The
/// others' listeners are unknown until they register themselves.
fn cluster_brokers(config: &Config, advertised: &str) -> BTreeMap<u64, BrokerInfo> {
    if config.peers.is_empty() {
        let me = broker_info(config, advertised.to_string());
        return BTreeMap::from([(config.node_id, me)]);
    }
    config
        .peers
        .iter()
        .map(|peer| {
            if peer.id == config.node_id {
                return (peer.id, broker_info(config, peer.raft.clone()));
            }
            (peer.id, peer_info(peer))
        })
        .collect()
}

/// Gives a new cluster its id and broker list, and creates `__consumer_offsets`. Every node
/// tries; the metadata log keeps the first of each.
async fn bootstrap(
    config: &Config,
    metadata: &Metadata,
    brokers: &BTreeMap<u64, BrokerInfo>,
) -> anyhow::Result<()> {
    let result = register_or_init(config, metadata, brokers).await;
    if result.is_ok() {
        metadata.prefetch_producer_ids().await?;
    }
    result
}

async fn register_or_init(
    config: &Config,
    metadata: &Metadata,
    brokers: &BTreeMap<u64, BrokerInfo>,
) -> anyhow::Result<()> {
    if !config.join {
        metadata.init_cluster(brokers.clone()).await?;
    }
    let me = brokers
        .get(&config.node_id)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("--peers does not list this node"))?;
    // A founder restarted with another address (advertised.listeners, a new port mapping)
    // registers it again, as a Kafka broker's registration carries its current endpoints;
    // init_cluster keeps the addresses the cluster was founded with.
    if metadata.current().brokers.get(&config.node_id) != Some(&me) {
        metadata
            .propose(MetadataCommand::RegisterBroker {
                id: config.node_id,
                info: me,
            })
            .await?;
    }
    if config.join {
        return Ok(());
    }
    let image = metadata.current();
    if image.topics.contains_key(OFFSETS_TOPIC) {
        return Ok(());
    }
    let ids: Vec<u64> = image.brokers.keys().copied().collect();
    let partitions = config.offsets_topic_partitions;
    let factor = (config.default_replication_factor.max(1) as usize).min(ids.len().max(1));
    let command = MetadataCommand::CreateTopic {
        name: OFFSETS_TOPIC.to_string(),
        topic_id: *uuid::Uuid::new_v4().as_bytes(),
        partitions,
        configs: BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            (
                "segment.bytes".to_string(),
                config.offsets_topic_segment_bytes.to_string(),
            ),
        ]),
        assignments: placement::assign(&ids, partitions as usize, factor, image.assignments.len()),
    };
    match metadata.propose(command).await? {
        MetadataResult::Failed {
            error_code: ec::TOPIC_ALREADY_EXISTS,
            ..
        }
        | MetadataResult::Done => Ok(()),
        other => anyhow::bail!("creating {OFFSETS_TOPIC}: {other:?}"),
    }
}

/// Waits (bounded) until the `__consumer_offsets` partitions have leaders and the groups of
/// those led here are loaded.
async fn wait_for_coordinator(
    metadata: &Metadata,
    replicas: &Replicas,
    groups: &Coordinator,
) -> anyhow::Result<()> {
    let image = metadata.current();
    let offsets = image
        .topics
        .get(OFFSETS_TOPIC)
        .map(|t| t.partitions.clone())
        .unwrap_or_default();
    if !replicas
        .wait_ready(&image, &offsets, Duration::from_secs(30))
        .await
    {
        anyhow::bail!("{OFFSETS_TOPIC} partitions did not elect leaders within 30s");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !groups.follow_leadership()? {
        if Instant::now() >= deadline {
            anyhow::bail!("{OFFSETS_TOPIC} partitions not loaded within 30s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}
