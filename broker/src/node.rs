//! Wires one broker node together: storage -> metadata Raft -> partition replicas -> Kafka
//! listener, and tears it down in the reverse order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::handlers::Ctx;
use crate::metadata::Metadata;
use crate::replicas::Replicas;
use crate::storage::Store;

pub struct Node {
    pub ctx: Arc<Ctx>,
    pub local_addr: SocketAddr,
    listener: TcpListener,
    store: Arc<Store>,
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
        tokio::spawn(replicas.clone().follow(metadata.subscribe()));
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
        });
        Ok(Node {
            ctx,
            local_addr,
            listener,
            store,
        })
    }

    /// Serves until `shutdown` fires, then stops partitions and metadata.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(listen = %self.local_addr, "serving Kafka clients");
        crate::server::listener::run(self.listener, self.ctx.clone(), shutdown).await;
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
