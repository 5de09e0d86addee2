//! Writing a transaction's markers to its partitions: here when this node leads the partition,
//! otherwise by asking the leader over the internal connection (Kafka's WriteTxnMarkers,
//! which this broker does not offer to clients). Either way the marker is appended through
//! the partition's Raft group like any batch, and a `__consumer_offsets` partition's marker
//! goes through the group coordinator, which settles the transaction's offsets with it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;

use super::TxnCoordinator;
use crate::cluster::router::TxnMarkerWriter;
use crate::cluster::wire::{Request, Response};
use crate::group::now_ms;
use crate::group::store::OFFSETS_TOPIC;
use crate::partition::control;
use crate::protocol::error_codes as ec;

/// How long one marker is retried (leader elections, a busy peer) before the transaction is
/// left prepared for the coordinator's background loop.
const MARKER_RETRY_MAX: Duration = Duration::from_secs(10);
const MARKER_RETRY_BACKOFF: Duration = Duration::from_millis(100);
const PEER_TIMEOUT: Duration = Duration::from_secs(5);

/// Writes one marker to `topic`-`index`, retrying retriable failures for a while. A partition
/// whose topic was deleted needs none.
pub async fn write(
    coordinator: &Arc<TxnCoordinator>,
    topic: &str,
    index: i32,
    producer_id: i64,
    epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
) -> Result<(), i16> {
    let marker = control::marker_batch(producer_id, epoch, commit, coordinator_epoch, now_ms())
        .map_err(|error| {
            tracing::error!(%error, "encoding a transaction marker");
            ec::UNKNOWN_SERVER_ERROR
        })?;
    let deadline = tokio::time::Instant::now() + MARKER_RETRY_MAX;
    loop {
        let image = coordinator.metadata().current();
        let Some(raft_group) = image
            .topics
            .get(topic)
            .and_then(|t| {
                usize::try_from(index)
                    .ok()
                    .and_then(|i| t.partitions.get(i))
            })
            .copied()
        else {
            return Ok(());
        };
        let result = if local_leader(coordinator, raft_group) {
            write_local(coordinator, raft_group, marker.clone()).await
        } else {
            write_remote(coordinator, raft_group, marker.clone()).await
        };
        match result {
            Ok(_) => return Ok(()),
            // Fenced: a newer epoch already ended this producer's transaction here.
            Err(ec::INVALID_PRODUCER_EPOCH) => return Ok(()),
            Err(code) if tokio::time::Instant::now() >= deadline => return Err(code),
            Err(_) => tokio::time::sleep(MARKER_RETRY_BACKOFF).await,
        }
    }
}

fn local_leader(coordinator: &TxnCoordinator, raft_group: u64) -> bool {
    coordinator
        .replicas()
        .get(raft_group)
        .is_some_and(|p| p.is_leader())
}

/// Appends `marker` to partition `raft_group`, which this node must lead.
async fn write_local(
    coordinator: &TxnCoordinator,
    raft_group: u64,
    marker: Bytes,
) -> Result<i64, i16> {
    let partition = coordinator
        .replicas()
        .get(raft_group)
        .filter(|p| p.is_leader())
        .ok_or(ec::NOT_LEADER_OR_FOLLOWER)?;
    if partition.topic == OFFSETS_TOPIC {
        return coordinator.groups().write_marker(partition, marker).await;
    }
    partition.submit(marker).await
}

/// Asks the node leading `raft_group` to append `marker`.
async fn write_remote(
    coordinator: &TxnCoordinator,
    raft_group: u64,
    marker: Bytes,
) -> Result<i64, i16> {
    let image = coordinator.metadata().current();
    let leader = match coordinator.replicas().get(raft_group) {
        Some(partition) => partition.leader().map(|(leader, _)| leader),
        None => image
            .assignments
            .get(&raft_group)
            .and_then(|a| u64::try_from(a.leader).ok()),
    }
    .ok_or(ec::NOT_LEADER_OR_FOLLOWER)?;
    let address = image
        .brokers
        .get(&leader)
        .map(|b| b.raft.clone())
        .ok_or(ec::NOT_LEADER_OR_FOLLOWER)?;
    let request = Request::WriteTxnMarker {
        group: raft_group,
        records: marker,
    };
    match coordinator
        .replicas()
        .env()
        .peers
        .get(&address)
        .call(request, PEER_TIMEOUT)
        .await
    {
        Ok(Response::TxnMarker(result)) => result,
        Ok(_) => Err(ec::NOT_LEADER_OR_FOLLOWER),
        Err(error) => {
            tracing::debug!(%error, "sending a transaction marker");
            Err(ec::NOT_LEADER_OR_FOLLOWER)
        }
    }
}

/// A marker sent by the coordinator of another node, for a partition led here.
impl TxnMarkerWriter for TxnCoordinator {
    fn write_marker(
        self: Arc<Self>,
        group: u64,
        marker: Bytes,
    ) -> BoxFuture<'static, Result<i64, i16>> {
        async move {
            if crate::partition::batch::parse_header(&marker)
                .map(|h| h.is_control() && h.size_bytes() == marker.len())
                != Ok(true)
            {
                return Err(ec::INVALID_RECORD);
            }
            write_local(&self, group, marker).await
        }
        .boxed()
    }
}
