//! Accepts connections, one task each, bounded by a connection permit taken before accept.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connection;
use crate::handlers::Ctx;

pub async fn run(listener: TcpListener, ctx: Arc<Ctx>, shutdown: CancellationToken) {
    let permits = Arc::new(Semaphore::new(ctx.config.connections_max as usize));
    let tracker = TaskTracker::new();
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = permits.clone().acquire_owned() => permit.expect("semaphore is never closed"),
        };
        let (socket, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = socket.set_nodelay(true);
        let ctx = ctx.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let _active = crate::metrics::ConnectionGuard::open();
            connection::serve(socket, peer, ctx, shutdown).await;
            drop(permit);
        });
    }
    tracker.close();
    // Connections finish the request they are writing; bounded so shutdown cannot hang.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), tracker.wait()).await;
}
