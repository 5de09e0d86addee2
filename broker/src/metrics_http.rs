//! The metrics listener: `/metrics` (Prometheus text format), `/health` (the process answers)
//! and `/ready` (storage opened, metadata loaded, every partition recovered with a leader).
//!
//! It starts before the node so that `/health` answers and `/ready` says 503 while the node
//! recovers; `attach` hands it the node once started.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::metrics_scrape::{self, NodeView};

/// Scrapers and probes are few; more connections than this wait for a free one.
const CONNECTIONS_MAX: usize = 32;
/// A client that has not sent its request headers by then is dropped.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Histograms keep raw samples until upkeep folds them into buckets; without scrapes this
/// bounds their memory.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

struct State {
    handle: PrometheusHandle,
    node: Mutex<Option<NodeView>>,
    /// Set once every partition had a leader after start. Latched so that a topic being
    /// created (partitions briefly without a leader) does not take the broker out of service.
    recovered: AtomicBool,
    stopping: AtomicBool,
}

impl State {
    fn node(&self) -> Option<NodeView> {
        self.node.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

pub struct MetricsServer {
    state: Arc<State>,
    pub local_addr: SocketAddr,
}

impl MetricsServer {
    /// Installs the metrics recorder and serves on `listen` until the runtime stops.
    pub async fn start(listen: SocketAddr, per_partition: bool) -> anyhow::Result<MetricsServer> {
        let handle = crate::metrics::install(per_partition)?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("binding metrics listener {listen}: {e}"))?;
        let local_addr = listener.local_addr()?;
        let state = Arc::new(State {
            handle: handle.clone(),
            node: Mutex::new(None),
            recovered: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
        });
        tokio::spawn(serve(listener, state.clone()));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(UPKEEP_INTERVAL);
            loop {
                ticks.tick().await;
                handle.run_upkeep();
            }
        });
        tracing::info!(listen = %local_addr, "serving /metrics, /health, /ready");
        Ok(MetricsServer { state, local_addr })
    }

    /// The node has started: its gauges are exported and `/ready` can turn 200.
    pub fn attach(&self, node: NodeView) {
        *self.state.node.lock().unwrap_or_else(|p| p.into_inner()) = Some(node);
    }

    /// Shutdown began: `/ready` answers 503 from now on, so load balancers move away first.
    pub fn stopping(&self) {
        self.state.stopping.store(true, Ordering::Release);
    }

    /// The node stopped: release it so its storage can close.
    pub fn detach(&self) {
        self.stopping();
        self.state
            .node
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }
}

async fn serve(listener: TcpListener, state: Arc<State>) {
    let permits = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    loop {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore is never closed");
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(respond(&state, &request)) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%error, "metrics connection");
            }
            drop(permit);
        });
    }
}

fn respond<B>(state: &State, request: &Request<B>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n".into());
    }
    match request.uri().path() {
        "/metrics" => {
            let node = state.node();
            metrics_scrape::collect(node.as_ref());
            let mut body = state.handle.render();
            metrics_scrape::render_process(&mut body);
            let mut response = text(StatusCode::OK, body);
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
            response
        }
        "/health" => text(StatusCode::OK, "ok\n".into()),
        "/ready" => match not_ready(state) {
            None => text(StatusCode::OK, "ready\n".into()),
            Some(why) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "try /metrics, /health or /ready\n".into(),
        ),
    }
}

/// Why the broker should not get traffic yet, if it should not.
fn not_ready(state: &State) -> Option<String> {
    if state.stopping.load(Ordering::Acquire) {
        return Some("shutting down".into());
    }
    let Some(node) = state.node() else {
        return Some("starting: opening storage, loading metadata, recovering partitions".into());
    };
    if !node
        .ctx
        .metadata
        .current()
        .is_cluster_image(node.ctx.config.node_id)
    {
        return Some("waiting for the cluster metadata (its id and brokers)".into());
    }
    if state.recovered.load(Ordering::Acquire) {
        return None;
    }
    let counts = metrics_scrape::partitions(&node, false);
    if counts.offline > 0 {
        return Some(format!(
            "recovering: {} partitions without a leader",
            counts.offline
        ));
    }
    state.recovered.store(true, Ordering::Release);
    None
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_exporter_prometheus::PrometheusBuilder;

    fn state() -> State {
        State {
            // Not installed globally: tests share one process.
            handle: PrometheusBuilder::new().build_recorder().handle(),
            node: Mutex::new(None),
            recovered: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
        }
    }

    fn get(state: &State, method: Method, path: &str) -> (StatusCode, String) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .expect("valid request");
        let response = respond(state, &request);
        let body = response.body().clone();
        let bytes = futures::executor::block_on(http_body_util::BodyExt::collect(body))
            .expect("full body")
            .to_bytes();
        (
            response.status(),
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    #[test]
    fn health_ready_and_metrics() {
        let state = state();
        assert_eq!(get(&state, Method::GET, "/health").0, StatusCode::OK);
        let (status, body) = get(&state, Method::GET, "/ready");
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.starts_with("starting"), "{body}");
        let (status, body) = get(&state, Method::GET, "/metrics");
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("# TYPE process_cpu_seconds_total counter"));
        assert_eq!(get(&state, Method::GET, "/nope").0, StatusCode::NOT_FOUND);
        assert_eq!(
            get(&state, Method::POST, "/metrics").0,
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[test]
    fn not_ready_while_stopping() {
        let state = state();
        state.recovered.store(true, Ordering::Release);
        state.stopping.store(true, Ordering::Release);
        let (status, body) = get(&state, Method::GET, "/ready");
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "shutting down\n");
    }
}
