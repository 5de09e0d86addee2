//! DescribeLogDirs (`kafka-log-dirs --describe`, Admin `describeLogDirs`): a broker has one log
//! directory, its data dir, where one RocksDB holds every partition replica it hosts. Each
//! partition reports the bytes of record batches it retains; the directory reports its
//! filesystem's size and free space (v4+).

use std::collections::{BTreeMap, HashMap, HashSet};

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse};

use super::access::Access;
use super::{str_bytes, topic_name, Ctx};
use crate::protocol::error_codes as ec;
use crate::security::acl::Operation;

pub fn handle(
    ctx: &Ctx,
    access: Access,
    request: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    // Kafka: DESCRIBE on the cluster; v0-v2 have no error code and answer no directory.
    if let Err(code) = access.cluster_code(Operation::Describe) {
        return DescribeLogDirsResponse::default().with_error_code(code);
    }
    DescribeLogDirsResponse::default()
        .with_error_code(ec::NONE)
        .with_results(vec![describe_data_dir(ctx, &request)])
}

fn describe_data_dir(ctx: &Ctx, request: &DescribeLogDirsRequest) -> DescribeLogDirsResult {
    let data_dir = &ctx.config.data_dir;
    let path = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.clone());
    let result = DescribeLogDirsResult::default().with_log_dir(str_bytes(&path.to_string_lossy()));
    let failed = |what: &str, error: &dyn std::fmt::Display| {
        tracing::warn!(dir = %path.display(), %error, "describing the log dir: {what}");
        result.clone().with_error_code(ec::KAFKA_STORAGE_ERROR)
    };
    let filesystem = match rustix::fs::statvfs(data_dir) {
        Ok(filesystem) => filesystem,
        Err(error) => return failed("statvfs", &error),
    };
    // null: every partition hosted here. Named partitions this broker does not host (or that
    // do not exist) are left out, as Kafka does.
    let wanted: Option<HashMap<&str, HashSet<i32>>> = request.topics.as_ref().map(|topics| {
        let mut wanted: HashMap<&str, HashSet<i32>> = HashMap::new();
        for topic in topics {
            wanted
                .entry(topic.topic.as_str())
                .or_default()
                .extend(topic.partitions.iter().copied());
        }
        wanted
    });
    let mut topics: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    for partition in ctx.replicas.all() {
        let asked = wanted.as_ref().is_none_or(|wanted| {
            wanted
                .get(partition.topic.as_str())
                .is_some_and(|indexes| indexes.contains(&partition.index))
        });
        if !asked {
            continue;
        }
        let size = partition.retained_bytes();
        topics.entry(partition.topic.clone()).or_default().push(
            DescribeLogDirsPartition::default()
                .with_partition_index(partition.index)
                .with_partition_size(clamp(size))
                // Kafka's lag of a current (not future) replica: max(HW - LEO, 0). A replica's
                // high watermark never passes its log end, so this is 0 on leaders and
                // followers alike, in Kafka as here.
                .with_offset_lag(0)
                .with_is_future_key(false),
        );
    }
    let topics = topics
        .into_iter()
        .map(|(name, mut partitions)| {
            partitions.sort_by_key(|p| p.partition_index);
            DescribeLogDirsTopic::default()
                .with_name(topic_name(&name))
                .with_partitions(partitions)
        })
        .collect();
    result
        .with_error_code(ec::NONE)
        .with_topics(topics)
        .with_total_bytes(clamp(
            filesystem.f_blocks.saturating_mul(filesystem.f_frsize),
        ))
        .with_usable_bytes(clamp(
            filesystem.f_bavail.saturating_mul(filesystem.f_frsize),
        ))
}

/// Kafka reports sizes beyond a signed 64-bit long as `Long.MAX_VALUE`.
fn clamp(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}
