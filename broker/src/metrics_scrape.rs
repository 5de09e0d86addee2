//! Gauges computed when /metrics is scraped: partitions and leaders, Raft state, RocksDB and
//! disk, and the process itself. Computing them here rather than on every change keeps the
//! request path free of them; a scrape reads in-memory Raft metrics and a few RocksDB
//! properties, a few microseconds per partition.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use metrics::{describe_gauge, Unit};

use crate::handlers::Ctx;
use crate::storage::{Store, CF_LOG, CF_OFFSET_INDEX, CF_RAFT_STATE, CF_SM_STATE};

/// What the scrape reads, once the node has started.
#[derive(Clone)]
pub struct NodeView {
    pub ctx: Arc<Ctx>,
    pub store: Arc<Store>,
}

/// The name the metadata Raft group is shown under, as Kafka's KRaft calls its log.
const METADATA_TOPIC: &str = "__cluster_metadata";

/// A follower this many entries behind its leader makes the partition under-replicated.
const REPLICA_LAG_ENTRIES_MAX: u64 = 10_000;

type RaftMetrics = openraft::RaftMetrics<u64, openraft::BasicNode>;

pub(crate) fn describe() {
    describe_gauge!("broker_topics", "Topics in the cluster metadata.");
    describe_gauge!(
        "broker_partitions",
        "Partition replicas hosted on this broker."
    );
    describe_gauge!("broker_partition_leaders", "Partitions this broker leads.");
    describe_gauge!(
        "broker_partitions_under_replicated",
        "Partitions led here with a replica more than 10000 entries behind or not yet matched."
    );
    describe_gauge!(
        "broker_partitions_offline",
        "Partitions in the metadata whose replica here has no known leader, or that have no replica here."
    );
    describe_gauge!(
        "broker_raft_term",
        "Current Raft term (the Kafka leader epoch) of a group; the metadata group is topic __cluster_metadata."
    );
    describe_gauge!(
        "broker_raft_leader",
        "1 if this broker leads the group, else 0."
    );
    describe_gauge!(
        "broker_raft_last_log_index",
        "Last Raft log index appended on this broker."
    );
    describe_gauge!(
        "broker_raft_commit_index",
        "On the leader, the highest log index a majority of voters has; elsewhere the last applied index."
    );
    describe_gauge!(
        "broker_raft_applied_index",
        "Last Raft log index applied to the state machine on this broker."
    );
    describe_gauge!(
        "broker_raft_purged_index",
        "Last Raft log index removed from this broker's log (by retention, or after a snapshot install)."
    );
    describe_gauge!(
        "broker_raft_replication_lag_entries",
        "On the leader, entries each replica (the leader included: not yet flushed) is behind the leader's log."
    );
    describe_gauge!(
        "broker_partition_high_watermark",
        "High watermark (next offset consumers can read) of a partition (per-partition metrics only)."
    );
    describe_storage();
    describe_gauge!(
        "broker_cleaner_cleanable_bytes",
        Unit::Bytes,
        "Bytes of a compacted topic's partitions led here that a compaction pass could clean now."
    );
    metrics::describe_counter!(
        "broker_cleaner_reclaimed_bytes_total",
        Unit::Bytes,
        "Bytes of record batches compaction removed from a topic's replicas on this broker."
    );
    describe_gauge!(
        "broker_cleaner_lag_records",
        "Records of a compacted topic's replicas here not cleaned yet (high watermark minus the first dirty offset)."
    );
    describe_gauge!(
        "broker_consumer_groups",
        "Consumer groups (classic and KIP-848) coordinated here, by state."
    );
    describe_gauge!(
        "broker_consumer_group_lag_records",
        "High watermark minus the group's committed offset, summed by group and topic (by partition too with per-partition metrics)."
    );
}

fn describe_storage() {
    describe_gauge!(
        "broker_storage_live_data_size_bytes",
        Unit::Bytes,
        "RocksDB estimate of live data, by column family."
    );
    describe_gauge!(
        "broker_storage_sst_files_size_bytes",
        Unit::Bytes,
        "Size of all RocksDB SST files, by column family."
    );
    describe_gauge!(
        "broker_storage_blob_files_size_bytes",
        Unit::Bytes,
        "Size of RocksDB blob files (the record batches of raft_log), by column family."
    );
    describe_gauge!(
        "broker_storage_blob_garbage_bytes",
        Unit::Bytes,
        "Bytes of trimmed or deleted batches still inside blob files, by column family."
    );
    describe_gauge!(
        "broker_storage_memtable_size_bytes",
        Unit::Bytes,
        "Size of RocksDB memtables, by column family."
    );
    describe_gauge!(
        "broker_storage_pending_compaction_bytes",
        Unit::Bytes,
        "RocksDB estimate of bytes compaction still has to rewrite, by column family."
    );
    describe_gauge!(
        "broker_storage_disk_free_bytes",
        Unit::Bytes,
        "Bytes available to the broker on the data directory's file system."
    );
    describe_gauge!(
        "broker_storage_disk_size_bytes",
        Unit::Bytes,
        "Size of the data directory's file system."
    );
}

/// Sets every scrape-time gauge; `node` is None until the node has started.
pub fn collect(node: Option<&NodeView>) {
    metrics::gauge!("broker_connections_active").set(crate::metrics::connections_active() as f64);
    metrics::gauge!("broker_request_queued_bytes")
        .set(crate::metrics::request_bytes_queued_total() as f64);
    let Some(node) = node else {
        return;
    };
    let counts = partitions(node, true);
    metrics::gauge!("broker_partitions").set(counts.hosted as f64);
    metrics::gauge!("broker_partition_leaders").set(counts.leaders as f64);
    metrics::gauge!("broker_partitions_under_replicated").set(counts.under_replicated as f64);
    metrics::gauge!("broker_partitions_offline").set(counts.offline as f64);
    metrics::gauge!("broker_topics").set(node.ctx.metadata.current().topics.len() as f64);
    raft_gauges(
        METADATA_TOPIC,
        0,
        &node.ctx.metadata.raft().metrics().borrow(),
    );
    storage(node);
    consumer_groups(&node.ctx.groups);
    cleaner(node);
}

/// Compaction, per compacted topic: the bytes a pass could clean now (on the partitions led
/// here, as of the leader's last look), the bytes passes gave back on this broker, and the
/// records not cleaned yet (high watermark minus the first dirty offset: the dirty section and
/// the active segment).
fn cleaner(node: &NodeView) {
    let image = node.ctx.metadata.current();
    for topic in image.topics.values() {
        if !crate::partition::cleaner::compacts(&image, &node.ctx.config, topic) {
            continue;
        }
        let (mut cleanable, mut reclaimed, mut lag) = (0u64, 0u64, 0i64);
        for group in &topic.partitions {
            let Some(partition) = node.ctx.replicas.get(*group) else {
                continue;
            };
            let (cleanable_bytes, reclaimed_bytes) = partition.compaction_stats();
            if partition.is_leader() {
                cleanable += cleanable_bytes;
            }
            reclaimed += reclaimed_bytes;
            lag += (partition.high_watermark() - partition.clean_offset()).max(0);
        }
        let name = topic.name.clone();
        metrics::gauge!("broker_cleaner_cleanable_bytes", "topic" => name.clone())
            .set(cleanable as f64);
        metrics::counter!("broker_cleaner_reclaimed_bytes_total", "topic" => name.clone())
            .absolute(reclaimed);
        metrics::gauge!("broker_cleaner_lag_records", "topic" => name).set(lag as f64);
    }
}

/// Every state a classic or a consumer (KIP-848) group can be in, so that a state whose last
/// group left reads 0 rather than keeping its old count.
const GROUP_STATES: [&str; 6] = [
    "Empty",
    "PreparingRebalance",
    "CompletingRebalance",
    "Stable",
    "Assigning",
    "Reconciling",
];

/// Groups by state, and lag by group and topic (by partition too with per-partition metrics).
fn consumer_groups(groups: &crate::group::Coordinator) {
    let mut by_state: BTreeMap<&'static str, u64> =
        GROUP_STATES.iter().map(|state| (*state, 0)).collect();
    for (_, _, state, _) in groups.list() {
        *by_state.entry(state).or_default() += 1;
    }
    for (state, count) in by_state {
        metrics::gauge!("broker_consumer_groups", "state" => state).set(count as f64);
    }
    let per_partition = crate::metrics::per_partition();
    let mut by_topic: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (group, topic, partition, lag) in groups.lag() {
        debug_assert!(lag >= 0, "lag is clamped at 0");
        if per_partition {
            metrics::gauge!(
                "broker_consumer_group_lag_records",
                "group" => group.clone(),
                "topic" => topic.clone(),
                "partition" => partition.to_string(),
            )
            .set(lag as f64);
        } else {
            *by_topic.entry((group, topic)).or_default() += lag;
        }
    }
    for ((group, topic), lag) in by_topic {
        metrics::gauge!("broker_consumer_group_lag_records", "group" => group, "topic" => topic)
            .set(lag as f64);
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct PartitionCounts {
    pub hosted: u64,
    pub leaders: u64,
    pub under_replicated: u64,
    pub offline: u64,
}

/// Walks every partition of the metadata image; with `gauges`, also sets the per-partition
/// gauges when those are on.
pub fn partitions(node: &NodeView, gauges: bool) -> PartitionCounts {
    let node_id = node.ctx.config.node_id;
    let per_partition = gauges && crate::metrics::per_partition();
    let image = node.ctx.metadata.current();
    let mut counts = PartitionCounts::default();
    for topic in image.topics.values() {
        for (index, group) in topic.partitions.iter().enumerate() {
            // Single node: every partition has its one replica here. With several nodes a
            // partition without a replica here is someone else's to count.
            let Some(partition) = node.ctx.replicas.get(*group) else {
                counts.offline += 1;
                continue;
            };
            counts.hosted += 1;
            let raft = partition.raft.metrics();
            let raft = raft.borrow();
            // a stopped Raft group (storage error) is offline, whatever it last saw
            let leader = raft.running_state.is_ok().then_some(raft.current_leader);
            match leader.flatten() {
                None => counts.offline += 1,
                Some(leader) if leader == node_id => {
                    counts.leaders += 1;
                    if under_replicated(&raft) {
                        counts.under_replicated += 1;
                    }
                }
                Some(_) => {}
            }
            if per_partition {
                raft_gauges(&topic.name, index as i32, &raft);
                metrics::gauge!(
                    "broker_partition_high_watermark",
                    "topic" => topic.name.clone(),
                    "partition" => index.to_string(),
                )
                .set(partition.high_watermark() as f64);
            }
        }
    }
    debug_assert!(counts.leaders <= counts.hosted);
    counts
}

fn under_replicated(raft: &RaftMetrics) -> bool {
    let Some(replication) = &raft.replication else {
        return false;
    };
    let last = raft.last_log_index.unwrap_or(0);
    replication.iter().any(|(replica, matched)| {
        *replica != raft.id
            && matched.is_none_or(|m| last.saturating_sub(m.index) > REPLICA_LAG_ENTRIES_MAX)
    })
}

/// The leader's commit index: the highest index a majority of voters has. Followers do not
/// know it from openraft 0.9's metrics; their last applied index is a lower bound.
fn commit_index(raft: &RaftMetrics) -> u64 {
    let applied = raft.last_applied.map_or(0, |l| l.index);
    let Some(replication) = &raft.replication else {
        return applied;
    };
    let mut matched: Vec<u64> = raft
        .membership_config
        .voter_ids()
        .map(|voter| {
            replication
                .get(&voter)
                .copied()
                .flatten()
                .map_or(0, |l| l.index)
        })
        .collect();
    if matched.is_empty() {
        return applied;
    }
    matched.sort_unstable_by(|a, b| b.cmp(a));
    // Sorted high to low, the entry at len/2 is held by len/2 + 1 voters: a majority.
    matched[matched.len() / 2].max(applied)
}

fn raft_gauges(topic: &str, partition: i32, raft: &RaftMetrics) {
    let labels = [
        ("topic", topic.to_string()),
        ("partition", partition.to_string()),
    ];
    let is_leader = raft.running_state.is_ok() && raft.current_leader == Some(raft.id);
    metrics::gauge!("broker_raft_term", &labels).set(raft.current_term as f64);
    metrics::gauge!("broker_raft_leader", &labels).set(if is_leader { 1.0 } else { 0.0 });
    metrics::gauge!("broker_raft_last_log_index", &labels)
        .set(raft.last_log_index.unwrap_or(0) as f64);
    metrics::gauge!("broker_raft_applied_index", &labels)
        .set(raft.last_applied.map_or(0, |l| l.index) as f64);
    metrics::gauge!("broker_raft_commit_index", &labels).set(commit_index(raft) as f64);
    metrics::gauge!("broker_raft_purged_index", &labels)
        .set(raft.purged.map_or(0, |l| l.index) as f64);
    let last = raft.last_log_index.unwrap_or(0);
    for (replica, matched) in raft.replication.iter().flatten() {
        let lag = last.saturating_sub(matched.map_or(0, |m| m.index));
        metrics::gauge!(
            "broker_raft_replication_lag_entries",
            "topic" => topic.to_string(),
            "partition" => partition.to_string(),
            "replica" => replica.to_string(),
        )
        .set(lag as f64);
    }
}

fn storage(node: &NodeView) {
    let db = &node.store.db;
    let properties = [
        (
            "broker_storage_live_data_size_bytes",
            "rocksdb.estimate-live-data-size",
        ),
        (
            "broker_storage_sst_files_size_bytes",
            "rocksdb.total-sst-files-size",
        ),
        (
            "broker_storage_blob_files_size_bytes",
            "rocksdb.total-blob-file-size",
        ),
        (
            "broker_storage_blob_garbage_bytes",
            "rocksdb.live-blob-file-garbage-size",
        ),
        (
            "broker_storage_memtable_size_bytes",
            "rocksdb.cur-size-all-mem-tables",
        ),
        (
            "broker_storage_pending_compaction_bytes",
            "rocksdb.estimate-pending-compaction-bytes",
        ),
    ];
    for cf in [CF_LOG, CF_RAFT_STATE, CF_OFFSET_INDEX, CF_SM_STATE] {
        for (metric, property) in properties {
            match db.property_int_value_cf(node.store.cf(cf), property) {
                Ok(Some(value)) => metrics::gauge!(metric, "cf" => cf).set(value as f64),
                Ok(None) => {}
                Err(error) => tracing::debug!(%error, cf, property, "reading RocksDB property"),
            }
        }
    }
    match rustix::fs::statvfs(&node.ctx.config.data_dir) {
        Ok(fs) => {
            metrics::gauge!("broker_storage_disk_free_bytes")
                .set(fs.f_bavail.saturating_mul(fs.f_frsize) as f64);
            metrics::gauge!("broker_storage_disk_size_bytes")
                .set(fs.f_blocks.saturating_mul(fs.f_frsize) as f64);
        }
        Err(error) => tracing::debug!(%error, "statvfs of the data dir"),
    }
}

/// The standard `process_*` metrics of Prometheus client libraries, in the exposition format.
/// Written by hand because the `metrics` crate's counters are integers and CPU seconds are not;
/// the names are unprefixed on purpose so existing dashboards and alerts work as they are.
pub fn render_process(out: &mut String) {
    let Some(stat) = ProcessStat::read() else {
        return;
    };
    let ticks = rustix::param::clock_ticks_per_second().max(1) as f64;
    let mut family = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n\n"
        );
    };
    family(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        stat.cpu_ticks as f64 / ticks,
    );
    family(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        stat.resident_pages as f64 * rustix::param::page_size() as f64,
    );
    family(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        stat.virtual_bytes as f64,
    );
    family(
        "process_threads",
        "gauge",
        "Number of OS threads in the process.",
        stat.threads as f64,
    );
    if let Some(boot_seconds) = boot_time_seconds() {
        family(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            boot_seconds + stat.start_ticks as f64 / ticks,
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        family(
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            fds.count() as f64,
        );
    }
    if let Some(max) = rustix::process::getrlimit(rustix::process::Resource::Nofile).current {
        family(
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            max as f64,
        );
    }
}

/// The fields of /proc/self/stat this module uses.
#[derive(Debug, PartialEq, Eq)]
struct ProcessStat {
    cpu_ticks: u64,
    threads: u64,
    start_ticks: u64,
    virtual_bytes: u64,
    resident_pages: u64,
}

impl ProcessStat {
    fn read() -> Option<ProcessStat> {
        ProcessStat::parse(&std::fs::read_to_string("/proc/self/stat").ok()?)
    }

    /// proc(5): the command name (field 2) may contain spaces and parentheses, so fields are
    /// counted from the last ')'; field 3 (state) is then index 0.
    fn parse(text: &str) -> Option<ProcessStat> {
        let after_name = &text[text.rfind(')')? + 1..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let field = |number: usize| fields.get(number - 3)?.parse::<u64>().ok();
        Some(ProcessStat {
            cpu_ticks: field(14)? + field(15)?,
            threads: field(20)?,
            start_ticks: field(22)?,
            virtual_bytes: field(23)?,
            resident_pages: field(24)?,
        })
    }
}

fn boot_time_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_fields_count_from_the_last_parenthesis() {
        let line =
            "4242 (a) b (c)) S 1 2 3 4 5 6 7 8 9 10 110 220 13 14 15 16 7 18 5000 65536 300 rest";
        let stat = ProcessStat::parse(line).unwrap();
        assert_eq!(
            stat,
            ProcessStat {
                cpu_ticks: 330,
                threads: 7,
                start_ticks: 5000,
                virtual_bytes: 65536,
                resident_pages: 300,
            }
        );
        assert_eq!(ProcessStat::parse("no parenthesis"), None);
    }

    #[test]
    fn process_metrics_render() {
        let mut out = String::new();
        render_process(&mut out);
        assert!(out.contains("process_cpu_seconds_total "));
        assert!(out.contains("process_open_fds "));
    }
}
