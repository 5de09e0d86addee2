use clap::Parser;
use tokio_util::sync::CancellationToken;

use broker::config::{Args, Config, LogFormat};
use broker::metrics_http::MetricsServer;
use broker::metrics_scrape::NodeView;
use broker::node::Node;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let check_only = args.check_config;
    let config = Config::load(args)?;
    if check_only {
        for notice in &config.notices {
            eprintln!("notice: {notice}");
        }
        println!("{}", config.summary());
        return Ok(());
    }
    init_logging(config.log_format, &config.log_level)?;
    for notice in &config.notices {
        tracing::warn!("config: {notice}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(config))
}

async fn run(config: Config) -> anyhow::Result<()> {
    // Before the node, so /health answers and /ready says 503 during recovery.
    let metrics = MetricsServer::start(config.metrics_listen, config.metrics_per_partition).await?;
    let node = Node::start(config).await?;
    metrics.attach(NodeView {
        ctx: node.ctx.clone(),
        store: node.store.clone(),
    });
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    let storage_failed = node.store.failed.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = wait_for_signal() => tracing::info!("shutting down"),
            _ = storage_failed.cancelled() => tracing::error!(
                "a write to the data dir failed: stopping, as Kafka stops when its last log \
                 directory fails; start the broker again once the disk is writable (e.g. has \
                 free space): it recovers and catches up from its peers"
            ),
        }
        signal.cancel();
    });
    let stopping = shutdown.clone();
    let readiness = async {
        stopping.cancelled().await;
        metrics.stopping();
    };
    let failed = node.store.failed.clone();
    tokio::join!(node.run(shutdown), readiness);
    metrics.detach();
    if failed.is_cancelled() {
        anyhow::bail!("stopped after a failed write to the data dir");
    }
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Every event carries the spans it happens in: a request's api, version, correlation_id and
/// client_id (server/dispatch.rs) come with anything logged while serving it.
fn init_logging(format: LogFormat, level: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .map_err(|e| anyhow::anyhow!("log level {level:?}: {e}"))?;
    // Colours only on a terminal: escape codes in log files get in the way of grep.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    Ok(())
}
