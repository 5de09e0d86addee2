//! Accepts the connections of one listener, one task each (TLS listeners do the handshake in
//! that task), bounded by a connection permit taken before accept
//! (max.connections) and by a count per client address (max.connections.per.ip).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connection;
use super::frames::RequestBudget;
use crate::config::ListenerConfig;
use crate::handlers::Ctx;
use crate::security::{tls, Session};

/// What every listener of the broker shares: Kafka's max.connections, max.connections.per.ip
/// and queued.max.request.bytes are broker-wide, so a second listener must not double them.
#[derive(Clone)]
pub struct ClientLimits {
    permits: Arc<Semaphore>,
    per_address: PerAddress,
    budget: Arc<RequestBudget>,
}

impl ClientLimits {
    pub fn new(config: &crate::config::Config) -> ClientLimits {
        ClientLimits {
            permits: Arc::new(Semaphore::new(config.connections_max as usize)),
            per_address: PerAddress::new(config.connections_per_ip_max),
            budget: Arc::new(RequestBudget::new(config.queued_request_bytes_max)),
        }
    }
}

pub async fn run(
    listener: TcpListener,
    config: Arc<ListenerConfig>,
    ctx: Arc<Ctx>,
    limits: ClientLimits,
    shutdown: CancellationToken,
) {
    let acceptor = match config.tls.as_ref().map(tls::server_config) {
        None => None,
        Some(Ok(server_config)) => Some(TlsAcceptor::from(server_config)),
        Some(Err(error)) => {
            // Checked when the configuration was read; a file changed since.
            tracing::error!(listener = %config.name, %error, "not serving: TLS configuration");
            return;
        }
    };
    let ClientLimits {
        permits,
        per_address,
        budget,
    } = limits;
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
        let Some(slot) = per_address.open(peer.ip()) else {
            // Kafka closes it at once too; the client sees the connection drop and retries.
            tracing::info!(%peer, limit = ctx.config.connections_per_ip_max,
                "closing connection: max.connections.per.ip reached");
            crate::metrics::connection_refused("max.connections.per.ip");
            continue;
        };
        let _ = socket.set_nodelay(true);
        let ctx = ctx.clone();
        let shutdown = shutdown.clone();
        let budget = budget.clone();
        let config = config.clone();
        let acceptor = acceptor.clone();
        tracker.spawn(async move {
            let _active = crate::metrics::ConnectionGuard::open();
            match acceptor {
                None => {
                    let session = Arc::new(Session::new(config, peer, None));
                    let (read_half, write_half) = socket.into_split();
                    connection::serve(read_half, write_half, session, ctx, budget, shutdown).await;
                }
                Some(acceptor) => serve_tls(acceptor, socket, config, ctx, budget, shutdown).await,
            }
            drop(slot);
            drop(permit);
        });
    }
    tracker.close();
    // Connections finish the request they are writing; bounded so shutdown cannot hang.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), tracker.wait()).await;
}

/// A TLS handshake that takes longer than this is dropped (a client that connects and sends
/// nothing must not hold a connection slot until connections.max.idle.ms).
const TLS_HANDSHAKE_MAX: Duration = Duration::from_secs(10);

/// The TLS handshake, then the connection over the TLS stream's halves. A client that does not
/// speak TLS (a plaintext Kafka client on a TLS port) fails the handshake and is closed.
async fn serve_tls(
    acceptor: TlsAcceptor,
    socket: TcpStream,
    config: Arc<ListenerConfig>,
    ctx: Arc<Ctx>,
    budget: Arc<RequestBudget>,
    shutdown: CancellationToken,
) {
    let peer = match socket.peer_addr() {
        Ok(peer) => peer,
        Err(_) => return,
    };
    let handshake = tokio::time::timeout(TLS_HANDSHAKE_MAX, acceptor.accept(socket));
    let stream = tokio::select! {
        _ = shutdown.cancelled() => return,
        handshake = handshake => match handshake {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::info!(%peer, listener = %config.name, %error,
                    "closing connection: TLS handshake failed");
                crate::metrics::tls_handshake_failed(&config.name);
                return;
            }
            Err(_) => {
                tracing::info!(%peer, listener = %config.name,
                    "closing connection: no TLS handshake within {TLS_HANDSHAKE_MAX:?}");
                crate::metrics::tls_handshake_failed(&config.name);
                return;
            }
        },
    };
    // Verified against the truststore by rustls; the leaf names the client.
    let principal = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(tls::certificate_principal);
    if let Some(principal) = &principal {
        tracing::debug!(%peer, %principal, "client certificate");
    }
    let session = Arc::new(Session::new(config, peer, principal));
    let (read_half, write_half) = tokio::io::split(stream);
    connection::serve(read_half, write_half, session, ctx, budget, shutdown).await;
}

/// Open connections per client address.
#[derive(Clone)]
struct PerAddress {
    limit: u32,
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

/// One open connection of an address, counted until dropped.
struct AddressSlot {
    address: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl PerAddress {
    fn new(limit: u32) -> PerAddress {
        PerAddress {
            limit,
            open: Arc::default(),
        }
    }

    /// A slot for one more connection from `address`, or None at the limit.
    fn open(&self, address: IpAddr) -> Option<AddressSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.get(&address).copied().unwrap_or(0) >= self.limit {
            return None;
        }
        *open.entry(address).or_insert(0) += 1;
        Some(AddressSlot {
            address,
            open: self.open.clone(),
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                // No entry per address ever seen: the map holds only addresses with connections.
                open.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_address_limit_counts_open_connections() {
        let limits = PerAddress::new(2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let first = limits.open(a).unwrap();
        let _second = limits.open(a).unwrap();
        assert!(limits.open(a).is_none());
        assert!(
            limits.open(b).is_some(),
            "other addresses are counted apart"
        );
        drop(first);
        assert!(limits.open(a).is_some());
        drop(limits.open(b));
        assert!(!limits.open.lock().unwrap().contains_key(&b));
    }
}
