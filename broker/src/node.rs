//! Wires one broker node together: storage -> metadata Raft -> partition replicas -> Kafka
//! listener, and tears it down in the reverse order.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::group::store::OFFSETS_TOPIC;
use crate::group::Coordinator;
use crate::handlers::Ctx;
use crate::metadata::commands::MetadataCommand;
use crate::metadata::Metadata;
use crate::replicas::Replicas;
use crate::storage::Store;

pub struct Node {
    pub ctx: Arc<Ctx>,
    pub local_addr: SocketAddr,
    listener: TcpListener,
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
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("binding {}: {e}", config.listen))?;
        let local_addr = listener.local_addr()?;
        if config.advertised_port == 0 {
            config.advertised_port = local_addr.port() as i32;
        }
        let advertised = format!("{}:{}", config.advertised_host, config.advertised_port);
        let store = Arc::new(Store::open(
            &config.data_dir.join("rocksdb"),
            config.flush_policy,
            config.flush_interval_ms,
        )?);
        let metadata = Metadata::open(config.node_id, advertised.clone(), store.clone()).await?;
        let replicas = Arc::new(Replicas::new(config.node_id, advertised, store.clone()));
        let image = metadata.current();
        replicas.remove_orphans(&image).await?;
        replicas.reconcile(&image).await?;
        let background = Background::default();
        background.spawn(replicas.clone().follow(metadata.subscribe()));
        let groups = start_group_coordinator(&config, &metadata, &replicas).await?;
        background.spawn(groups.clone().run());
        background.spawn(crate::partition::retention::enforce(
            metadata.clone(),
            replicas.clone(),
            Duration::from_millis(config.retention_check_interval_ms.max(100)),
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
        });
        Ok(Node {
            ctx,
            local_addr,
            listener,
            store,
            background,
        })
    }

    /// Serves until `shutdown` fires, then stops partitions and metadata.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(listen = %self.local_addr, "serving Kafka clients");
        crate::server::listener::run(self.listener, self.ctx.clone(), shutdown).await;
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

/// Creates `__consumer_offsets` on first start, waits for its partitions, and replays them.
async fn start_group_coordinator(
    config: &Config,
    metadata: &Metadata,
    replicas: &Arc<Replicas>,
) -> anyhow::Result<Arc<Coordinator>> {
    if !metadata.current().topics.contains_key(OFFSETS_TOPIC) {
        let command = MetadataCommand::CreateTopic {
            name: OFFSETS_TOPIC.to_string(),
            topic_id: *uuid::Uuid::new_v4().as_bytes(),
            partitions: config.offsets_topic_partitions,
            configs: BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]),
        };
        metadata.propose(command).await?;
        replicas.reconcile(&metadata.current()).await?;
    }
    let groups = metadata
        .current()
        .topics
        .get(OFFSETS_TOPIC)
        .map(|t| t.partitions.clone())
        .unwrap_or_default();
    if !replicas.wait_ready(&groups, Duration::from_secs(30)).await {
        anyhow::bail!("{OFFSETS_TOPIC} partitions did not elect leaders within 30s");
    }
    let retention = Duration::from_secs(config.offsets_retention_minutes * 60);
    let initial_delay = Duration::from_millis(config.group_initial_rebalance_delay_ms);
    let coordinator = Arc::new(Coordinator::new(
        metadata.clone(),
        replicas.clone(),
        retention,
        initial_delay,
    ));
    coordinator.load()?;
    Ok(coordinator)
}
