//! Metric names, help texts, buckets, and the cached handles the hot paths use.
//!
//! Every name starts with `broker_` and follows Prometheus conventions: snake_case, base units
//! as suffix (`_seconds`, `_bytes`), `_total` on counters. Per-topic series are always on;
//! per-partition series only with `metrics_per_partition` (their count grows with partitions).
//! Gauges that describe state (partitions, Raft, storage) are computed when scraped, in
//! `metrics_scrape.rs`, so the request path only bumps counters and histograms.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, ResponseKind};
use metrics::{describe_counter, describe_gauge, describe_histogram, Counter, Histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::partition::batch;

/// Latency buckets from 100 us to 10 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Batch sizes from 64 B to 64 MiB, powers of 4.
const BYTES_BUCKETS: &[f64] = &[
    64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
    67108864.0,
];

/// Records per batch, writes per group commit: 1 to 16384, powers of 4.
const COUNT_BUCKETS: &[f64] = &[1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0];

/// A scrape-time gauge not refreshed for this long belongs to something that is gone (a
/// deleted topic's partition) and is dropped from the output.
const GAUGE_IDLE_TIMEOUT: Duration = Duration::from_secs(600);

static PER_PARTITION: AtomicBool = AtomicBool::new(false);

/// Installs the global recorder. Call once, before anything records.
pub fn install(per_partition: bool) -> anyhow::Result<PrometheusHandle> {
    PER_PARTITION.store(per_partition, Ordering::Relaxed);
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)?
        .set_buckets_for_metric(Matcher::Suffix("_bytes".into()), BYTES_BUCKETS)?
        .set_buckets_for_metric(Matcher::Suffix("_records".into()), COUNT_BUCKETS)?
        .set_buckets_for_metric(Matcher::Suffix("_writes".into()), COUNT_BUCKETS)?
        .idle_timeout(
            metrics_util::MetricKindMask::GAUGE,
            Some(GAUGE_IDLE_TIMEOUT),
        )
        .install_recorder()
        .map_err(|e| anyhow::anyhow!("installing the metrics recorder: {e}"))?;
    describe();
    Ok(handle)
}

pub fn per_partition() -> bool {
    PER_PARTITION.load(Ordering::Relaxed)
}

/// Help texts: promtool (and people) want one for every family.
fn describe() {
    describe_counter!(
        "broker_partition_snapshots_sent_total",
        "Partition snapshots produced for a follower that needed entries this node's log purged."
    );
    describe_counter!(
        "broker_partition_snapshot_bytes_sent_total",
        Unit::Bytes,
        "Bytes of the partition snapshots produced for followers (checkpoint, offset index, retained entries)."
    );
    describe_counter!(
        "broker_producers_expired_total",
        "Idempotent producers forgotten after producer.id.expiration.ms without a batch (partitions this node leads)."
    );
    describe_counter!(
        "broker_partition_snapshots_installed_total",
        "Partition snapshots this node installed as a follower."
    );
    describe_counter!(
        "broker_requests_total",
        "Requests answered, by API (a request with acks=0 gets no answer and is not counted)."
    );
    describe_counter!(
        "broker_request_errors_total",
        "Requests whose response carried an error code, by API and code; a request counts once per distinct code."
    );
    describe_gauge!(
        "broker_txn_open_transactions",
        "Transactions ongoing or being completed, of the transactional ids this node coordinates."
    );
    describe_counter!(
        "broker_txn_ended_total",
        "Transactions ended by EndTxn, by result (commit, abort)."
    );
    describe_counter!(
        "broker_txn_expired_total",
        "Transactions aborted by the coordinator after transaction.timeout.ms."
    );
    describe_counter!(
        "broker_txn_ids_expired_total",
        "Transactional ids forgotten after transactional.id.expiration.ms without a transaction."
    );
    describe_histogram!(
        "broker_txn_coordinator_load_seconds",
        Unit::Seconds,
        "Time to load a __transaction_state partition when this node becomes its leader."
    );
    describe_histogram!(
        "broker_cleaner_pass_seconds",
        Unit::Seconds,
        "Time one compaction pass took to apply on this replica."
    );
    describe_histogram!(
        "broker_request_duration_seconds",
        Unit::Seconds,
        "Time from decoding a request to having its response, by API."
    );
    describe_gauge!(
        "broker_connections_active",
        "Open Kafka client connections."
    );
    describe_counter!(
        "broker_connections_refused_total",
        "Client connections closed on accept, by the limit that refused them (max.connections.per.ip)."
    );
    describe_counter!(
        "broker_sasl_authentications_total",
        "SASL authentications that ended, by mechanism and result (success, failure)."
    );
    describe_counter!(
        "broker_authorization_denials_total",
        "Actions the authorizer refused, by API (one per resource refused: a Produce to two forbidden topics counts two)."
    );
    describe_counter!(
        "broker_tls_handshake_failures_total",
        "Connections to a TLS listener closed because the TLS handshake failed or timed out (a plaintext client, an untrusted client certificate), by listener."
    );
    describe_counter!(
        "broker_connections_idle_closed_total",
        "Client connections closed after connections.max.idle.ms without a request."
    );
    describe_counter!(
        "broker_topic_bytes_in_total",
        Unit::Bytes,
        "Record batch bytes accepted by Produce, by topic."
    );
    describe_counter!(
        "broker_topic_records_in_total",
        Unit::Count,
        "Records accepted by Produce, by topic."
    );
    describe_counter!(
        "broker_topic_bytes_out_total",
        Unit::Bytes,
        "Record batch bytes returned by Fetch, by topic."
    );
    describe_counter!(
        "broker_topic_records_out_total",
        Unit::Count,
        "Records returned by Fetch, by topic."
    );
    describe_histogram!(
        "broker_produce_batch_size_bytes",
        Unit::Bytes,
        "Size of each record batch accepted by Produce."
    );
    describe_histogram!(
        "broker_produce_batch_records",
        Unit::Count,
        "Records in each record batch accepted by Produce."
    );
    describe_histogram!(
        "broker_fetch_batch_size_bytes",
        Unit::Bytes,
        "Size of each record batch returned by Fetch."
    );
    describe_histogram!(
        "broker_storage_group_commit_seconds",
        Unit::Seconds,
        "Time to write one group of durable writes, WAL sync included."
    );
    describe_histogram!(
        "broker_storage_group_commit_writes",
        Unit::Count,
        "Write batches sharing one group commit."
    );
    describe_histogram!(
        "broker_storage_wal_sync_seconds",
        Unit::Seconds,
        "Time of one RocksDB WAL fsync."
    );
    describe_histogram!(
        "broker_partition_append_seconds",
        Unit::Seconds,
        "Time from handing one record batch to its partition's Raft group to its offset being assigned (log write and sync, replication, commit, apply)."
    );
    describe_gauge!(
        "broker_request_queued_bytes",
        Unit::Bytes,
        "Bytes of client requests read and not yet answered (queued.max.request.bytes bounds them)."
    );
    describe_gauge!(
        "broker_fetch_cache_bytes",
        Unit::Bytes,
        "Bytes of recently applied record batches held in memory for Fetch (fetch_cache_bytes is the budget)."
    );
    describe_counter!(
        "broker_fetch_cache_reads_total",
        "Fetch reads of one partition, by whether the batch asked for was in memory (hit) or read from RocksDB (miss)."
    );
    describe_counter!(
        "broker_partition_checkpoints_total",
        "Partition state-machine checkpoints written (every 1,000 applied entries or 1 s, and before each snapshot)."
    );
    crate::metrics_scrape::describe();
}

/// Open connections, kept here rather than as an incremented gauge so that the scrape-time
/// idle timeout can never drop and reset it.
static CONNECTIONS_ACTIVE: AtomicI64 = AtomicI64::new(0);

/// Counts one open connection while alive.
pub struct ConnectionGuard(());

impl ConnectionGuard {
    pub fn open() -> ConnectionGuard {
        CONNECTIONS_ACTIVE.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(())
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let before = CONNECTIONS_ACTIVE.fetch_sub(1, Ordering::Relaxed);
        debug_assert!(before > 0, "more connections closed than opened");
    }
}

pub fn connection_refused(limit: &'static str) {
    metrics::counter!("broker_connections_refused_total", "limit" => limit).increment(1);
}

/// One step of a SASL exchange that ended it (success or failure), by mechanism.
pub fn sasl_step(mechanism: &'static str, step: &crate::security::sasl::Step) {
    use crate::security::sasl::Step;
    let result = match step {
        Step::Continue(_) => return,
        Step::Done { .. } => "success",
        Step::Failed(_) => "failure",
    };
    metrics::counter!("broker_sasl_authentications_total", "mechanism" => mechanism, "result" => result)
        .increment(1);
}

/// One action the authorizer refused while serving `api_key`.
pub fn authorization_denied(api_key: ApiKey) {
    let name = match api_metrics(api_key) {
        Some(api) => api.name,
        None => "unknown",
    };
    metrics::counter!("broker_authorization_denials_total", "api" => name).increment(1);
}

pub fn tls_handshake_failed(listener: &str) {
    metrics::counter!("broker_tls_handshake_failures_total", "listener" => listener.to_string())
        .increment(1);
}

pub fn connection_idle_closed() {
    metrics::counter!("broker_connections_idle_closed_total").increment(1);
}

static REQUEST_BYTES_QUEUED: AtomicI64 = AtomicI64::new(0);

/// Request bytes read and not yet answered (queued.max.request.bytes bounds them).
pub fn request_bytes_queued(delta: i64) {
    REQUEST_BYTES_QUEUED.fetch_add(delta, Ordering::Relaxed);
}

pub fn request_bytes_queued_total() -> i64 {
    REQUEST_BYTES_QUEUED.load(Ordering::Relaxed)
}

pub fn connections_active() -> i64 {
    CONNECTIONS_ACTIVE.load(Ordering::Relaxed)
}

/// Per-API handles, built on first use of each API so that unused APIs export nothing.
struct ApiMetrics {
    name: &'static str,
    requests: Counter,
    duration: Histogram,
}

const API_SLOTS: usize = 128;
static API_METRICS: [OnceLock<ApiMetrics>; API_SLOTS] = [const { OnceLock::new() }; API_SLOTS];

fn api_metrics(api_key: ApiKey) -> Option<&'static ApiMetrics> {
    let slot = API_METRICS.get(api_key as i16 as usize)?;
    Some(slot.get_or_init(|| {
        // Leaked once per API key (fewer than API_SLOTS), so labels are never reallocated.
        let name: &'static str = Box::leak(format!("{api_key:?}").into_boxed_str());
        ApiMetrics {
            name,
            requests: metrics::counter!("broker_requests_total", "api" => name),
            duration: metrics::histogram!("broker_request_duration_seconds", "api" => name),
        }
    }))
}

/// Counts one answered request: total, latency, and each distinct error code in its response
/// (`error_codes` walks it: the extraction declared with the API's handler).
pub fn record_request(
    api_key: ApiKey,
    elapsed: Duration,
    response: &ResponseKind,
    error_codes: fn(&ResponseKind, &mut dyn FnMut(i16)),
) {
    let Some(api) = api_metrics(api_key) else {
        return;
    };
    api.requests.increment(1);
    api.duration.record(elapsed.as_secs_f64());
    let mut codes: Vec<i16> = Vec::new();
    error_codes(response, &mut |code| {
        if code != 0 && !codes.contains(&code) {
            codes.push(code);
        }
    });
    for code in codes {
        let error = ResponseError::try_from_code(code)
            .map(|e| format!("{e:?}"))
            .unwrap_or_default();
        metrics::counter!(
            "broker_request_errors_total",
            "api" => api.name,
            "error_code" => code.to_string(),
            "error" => error,
        )
        .increment(1);
    }
}

/// Produce and Fetch counters of one partition, resolved once when the partition starts so
/// the hot path never looks a metric up by name. Labelled by topic, and also by partition
/// when per-partition metrics are on.
pub struct PartitionMetrics {
    bytes_in: Counter,
    records_in: Counter,
    bytes_out: Counter,
    records_out: Counter,
}

impl PartitionMetrics {
    pub fn new(topic: &str, partition: i32) -> PartitionMetrics {
        let mut labels = vec![metrics::Label::new("topic", topic.to_string())];
        if per_partition() {
            labels.push(metrics::Label::new("partition", partition.to_string()));
        }
        PartitionMetrics {
            bytes_in: metrics::counter!("broker_topic_bytes_in_total", labels.clone()),
            records_in: metrics::counter!("broker_topic_records_in_total", labels.clone()),
            bytes_out: metrics::counter!("broker_topic_bytes_out_total", labels.clone()),
            records_out: metrics::counter!("broker_topic_records_out_total", labels),
        }
    }

    /// One produce request's record set for this partition, already validated into batches.
    pub fn produced(&self, batches: &[(usize, batch::BatchHeader)], bytes: usize) {
        let mut records = 0u64;
        for (_, header) in batches {
            debug_assert!(header.record_count >= 0, "validated batches count records");
            records += header.record_count as u64;
            produce_batch_bytes().record(header.size_bytes() as f64);
            produce_batch_records().record(header.record_count as f64);
        }
        self.bytes_in.increment(bytes as u64);
        self.records_in.increment(records);
    }

    /// Whole batches read for a Fetch response. Reads only the batch headers.
    pub fn fetched(&self, records: &[u8]) {
        let mut at = 0usize;
        let mut count = 0u64;
        while let Ok(header) = batch::parse_header(&records[at..]) {
            count += header.record_count.max(0) as u64;
            fetch_batch_bytes().record(header.size_bytes() as f64);
            at += header.size_bytes();
        }
        debug_assert_eq!(at, records.len(), "fetch returns whole batches");
        self.bytes_out.increment(records.len() as u64);
        self.records_out.increment(count);
    }
}

fn produce_batch_bytes() -> &'static Histogram {
    static HANDLE: OnceLock<Histogram> = OnceLock::new();
    HANDLE.get_or_init(|| metrics::histogram!("broker_produce_batch_size_bytes"))
}

fn produce_batch_records() -> &'static Histogram {
    static HANDLE: OnceLock<Histogram> = OnceLock::new();
    HANDLE.get_or_init(|| metrics::histogram!("broker_produce_batch_records"))
}

fn fetch_batch_bytes() -> &'static Histogram {
    static HANDLE: OnceLock<Histogram> = OnceLock::new();
    HANDLE.get_or_init(|| metrics::histogram!("broker_fetch_batch_size_bytes"))
}

/// Per appended batch: resolved once, as the other hot-path handles.
pub fn partition_append_seconds() -> &'static Histogram {
    static HANDLE: OnceLock<Histogram> = OnceLock::new();
    HANDLE.get_or_init(|| metrics::histogram!("broker_partition_append_seconds"))
}

/// Set on every batch the fetch cache admits.
pub fn fetch_cache_bytes() -> &'static metrics::Gauge {
    static HANDLE: OnceLock<metrics::Gauge> = OnceLock::new();
    HANDLE.get_or_init(|| metrics::gauge!("broker_fetch_cache_bytes"))
}

/// Per Fetch read of one partition, by where the batches came from.
pub fn fetch_cache_read(hit: bool) -> &'static metrics::Counter {
    static HIT: OnceLock<metrics::Counter> = OnceLock::new();
    static MISS: OnceLock<metrics::Counter> = OnceLock::new();
    match hit {
        true => HIT
            .get_or_init(|| metrics::counter!("broker_fetch_cache_reads_total", "result" => "hit")),
        false => MISS.get_or_init(
            || metrics::counter!("broker_fetch_cache_reads_total", "result" => "miss"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_slots_cover_every_api_key() {
        let highest = (0..i16::MAX)
            .filter(|k| ApiKey::try_from(*k).is_ok())
            .max()
            .expect("some api key exists");
        assert!((highest as usize) < API_SLOTS);
    }
}
