//! The partition replicas this node hosts. Follows the metadata image: starts a partition's Raft
//! group when it appears, stops it and drops its data when its topic is deleted.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::watch;

use openraft::BasicNode;

use crate::metadata::commands::{LeaderReport, MetadataCommand};
use crate::metadata::{Metadata, MetadataState};
use crate::partition::cache::BatchCache;
use crate::partition::Partition;
use crate::raft::transfer::{self, LeadershipAnswer};
use crate::raft::{Members, RaftEnv};
use crate::storage::keys::{self, METADATA_GROUP};
use crate::storage::{Store, CF_SM_STATE};

const LEADERSHIP_REPORT_INTERVAL: Duration = Duration::from_millis(250);
/// A standalone broker's report looks at every partition this often, as a safety net; between
/// those passes it looks only at partitions whose leadership changed.
const FULL_REPORT_INTERVAL: Duration = Duration::from_secs(10);

pub struct Replicas {
    env: RaftEnv,
    store: Arc<Store>,
    batch_cache: Arc<BatchCache>,
    partitions: RwLock<HashMap<u64, Arc<Partition>>>,
    /// Partitions whose vote, role, leader or membership changed since the leadership report
    /// last looked at them (marked by a watcher per partition, see [`Replicas::watch_leadership`]).
    leadership_changed: Arc<Mutex<HashSet<u64>>>,
    /// Reconciles run one at a time, so a partition's Raft group is never started twice.
    reconciling: tokio::sync::Mutex<()>,
    /// Hosted partitions whose replica could not be started (a corrupt checkpoint, an
    /// unreadable log), with why: left offline, reported, not retried, while the rest serve.
    offline: Mutex<HashMap<u64, String>>,
}

impl Replicas {
    pub fn new(env: RaftEnv, store: Arc<Store>, batch_cache: Arc<BatchCache>) -> Replicas {
        Replicas {
            env,
            store,
            batch_cache,
            partitions: RwLock::new(HashMap::new()),
            leadership_changed: Arc::default(),
            reconciling: tokio::sync::Mutex::new(()),
            offline: Mutex::default(),
        }
    }

    /// Why this node's replica of `group` is offline, if it is.
    pub fn offline(&self, group: u64) -> Option<String> {
        self.offline_map().get(&group).cloned()
    }

    pub fn offline_count(&self) -> usize {
        self.offline_map().len()
    }

    fn offline_map(&self) -> std::sync::MutexGuard<'_, HashMap<u64, String>> {
        self.offline.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, group: u64) -> Option<Arc<Partition>> {
        self.read().get(&group).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.read().values().cloned().collect()
    }

    pub fn count(&self) -> usize {
        self.read().len()
    }

    /// What this node's Raft groups share: its id, the connections to its peers.
    pub fn env(&self) -> &RaftEnv {
        &self.env
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<u64, Arc<Partition>>> {
        self.partitions.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<u64, Arc<Partition>>> {
        self.partitions.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Brings the hosted partitions in line with `image`.
    pub async fn reconcile(&self, image: &MetadataState) -> anyhow::Result<()> {
        let _serialized = self.reconciling.lock().await;
        let me = self.env.node_id;
        let mut wanted = HashMap::new();
        for topic in image.topics.values() {
            for (index, group) in topic.partitions.iter().enumerate() {
                if image.hosted_on(*group, me) {
                    wanted.insert(*group, (topic.name.clone(), index as i32));
                }
            }
        }
        let missing: Vec<(u64, (String, i32))> = {
            let current = self.read();
            wanted
                .iter()
                .filter(|(g, _)| !current.contains_key(g) && self.offline(**g).is_none())
                .map(|(g, v)| (*g, v.clone()))
                .collect()
        };
        for (group, (topic, index)) in missing {
            let replicas = image.replicas_of(group, me);
            let members: Members = replicas
                .iter()
                .map(|id| {
                    let addr = image.brokers.get(id).map(|b| b.raft.clone());
                    (*id, BasicNode::new(addr.unwrap_or_default()))
                })
                .collect();
            // A replica added by a reassignment waits for the leader to bring it in.
            let initial = replicas.contains(&me).then_some(members);
            let started = Partition::start(
                topic.clone(),
                index,
                group,
                &self.env,
                initial,
                replicas.first() == Some(&me),
                self.store.clone(),
                self.batch_cache.partition(),
            )
            .await;
            let partition = match started {
                Ok(partition) => partition,
                Err(error) => {
                    // One bad replica must not keep the broker, and every other partition,
                    // from starting (Kafka takes a failed log offline the same way).
                    tracing::error!(%topic, partition = index, %error, "replica cannot start: left offline");
                    self.offline_map().insert(group, format!("{error:#}"));
                    continue;
                }
            };
            // A cluster's report looks at every partition on every pass (see report_leadership).
            if !self.env.clustered {
                self.watch_leadership(&partition);
            }
            self.write().insert(group, partition);
        }
        let removed: Vec<Arc<Partition>> = {
            let mut current = self.write();
            let gone: Vec<u64> = current
                .keys()
                .filter(|g| !wanted.contains_key(g))
                .copied()
                .collect();
            gone.iter().filter_map(|g| current.remove(g)).collect()
        };
        for partition in removed {
            partition.shutdown().await;
            self.store
                .write_durable(self.store.delete_group_batch(partition.group))
                .await?;
            tracing::info!(topic = %partition.topic, partition = partition.index, "deleted partition");
        }
        Ok(())
    }

    /// Drops data of groups that metadata no longer knows (deleted while this node was down).
    pub async fn remove_orphans(&self, image: &MetadataState) -> anyhow::Result<()> {
        let me = self.env.node_id;
        let known: HashSet<u64> = image
            .topics
            .values()
            .flat_map(|t| t.partitions.iter().copied())
            .filter(|g| image.hosted_on(*g, me))
            .collect();
        let mut orphans = Vec::new();
        let mut iter = self.store.db.raw_iterator_cf(self.store.cf(CF_SM_STATE));
        iter.seek_to_first();
        while iter.valid() {
            if let Some(key) = iter.key() {
                let group = u64::from_be_bytes(key[..8].try_into().unwrap_or([0; 8]));
                let is_checkpoint = key.len() == 9 && key[8] == keys::TAG_CHECKPOINT;
                if is_checkpoint && group != METADATA_GROUP && !known.contains(&group) {
                    orphans.push(group);
                }
            }
            iter.next();
        }
        iter.status()?;
        drop(iter);
        for group in orphans {
            tracing::info!(group, "removing data of a deleted partition");
            self.store
                .write_durable(self.store.delete_group_batch(group))
                .await?;
        }
        Ok(())
    }

    /// Follows metadata until the sender goes away.
    pub async fn follow(self: Arc<Self>, mut image: watch::Receiver<Arc<MetadataState>>) {
        loop {
            let current = image.borrow_and_update().clone();
            if let Err(error) = self.reconcile(&current).await {
                tracing::error!(%error, "reconciling partitions with metadata");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            if image.changed().await.is_err() {
                return;
            }
        }
    }

    /// Waits (bounded) until every one of `groups` that `image` places on this node runs
    /// here and knows its leader.
    pub async fn wait_ready(
        &self,
        image: &MetadataState,
        groups: &[u64],
        timeout: Duration,
    ) -> bool {
        let me = self.env.node_id;
        let local: Vec<u64> = groups
            .iter()
            .copied()
            .filter(|g| image.hosted_on(*g, me))
            .collect();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let ready = local
                .iter()
                .all(|g| self.get(*g).is_some_and(|p| p.leader().is_some()));
            if ready {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Marks the partition for the leadership report now and whenever openraft's server
    /// metrics (vote, role, leader, membership) change. A parked task per partition costs nothing
    /// while nothing changes; the watcher ends when the partition's Raft group shuts down.
    fn watch_leadership(&self, partition: &Partition) {
        let (group, changed) = (partition.group, self.leadership_changed.clone());
        let mut server = partition.raft.server_metrics();
        lock(&changed).insert(group);
        tokio::spawn(async move {
            while server.changed().await.is_ok() {
                lock(&changed).insert(group);
            }
        });
    }

    /// Tells metadata, when it changes, who leads the partitions led here, in which epoch and
    /// with which in-sync replicas, so every broker can answer Metadata for them.
    ///
    /// In a cluster every pass looks at every partition, since a follower falling behind or
    /// catching up changes the ISR without any change of leadership. A standalone broker's ISR
    /// is always itself, so a pass looks only at the partitions whose leadership changed, and
    /// at all of them every [`FULL_REPORT_INTERVAL`]: with 1,000 idle partitions, visiting each
    /// one 4 times a second was most of the broker's idle CPU (docs/benchmarks.md).
    pub async fn report_leadership(self: Arc<Self>, metadata: Metadata, lag_max: Duration) {
        let mut last_full = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(LEADERSHIP_REPORT_INTERVAL).await;
            let full = self.env.clustered || last_full.elapsed() >= FULL_REPORT_INTERVAL;
            let changed = std::mem::take(&mut *lock(&self.leadership_changed));
            let candidates: Vec<Arc<Partition>> = if full {
                last_full = tokio::time::Instant::now();
                self.all()
            } else {
                changed
                    .iter()
                    .filter_map(|group| self.get(*group))
                    .collect()
            };
            let image = metadata.current();
            let reports: Vec<LeaderReport> = candidates
                .iter()
                .filter_map(|partition| {
                    let (epoch, isr) = partition.leadership(lag_max)?;
                    let leader = partition.node_id();
                    let known = image.assignments.get(&partition.group)?;
                    let changed = known.leader != leader as i64
                        || known.leader_epoch != epoch
                        || known.isr != isr;
                    changed.then_some(LeaderReport {
                        group: partition.group,
                        leader,
                        epoch,
                        isr,
                    })
                })
                .collect();
            if reports.is_empty() {
                continue;
            }
            let groups: Vec<u64> = reports.iter().map(|report| report.group).collect();
            if let Err(error) = metadata
                .propose(MetadataCommand::ReportLeaders(reports))
                .await
            {
                tracing::debug!(%error, "reporting partition leaders");
                // Not reported: look at them again next pass.
                lock(&self.leadership_changed).extend(groups);
            }
        }
    }

    /// Carries out reassignments of the partitions led here: adds the new replicas as
    /// learners, waits until they caught up, makes the target the voters (openraft's joint
    /// consensus), then records the move in metadata. Replicas left out drop their data when
    /// they see it.
    pub async fn carry_out_reassignments(self: Arc<Self>, metadata: Metadata) {
        let moving: Arc<Mutex<HashSet<u64>>> = Arc::default();
        loop {
            tokio::time::sleep(LEADERSHIP_REPORT_INTERVAL).await;
            let image = metadata.current();
            // Moves are rare and partitions many: look at the pending moves, not at every
            // partition (that was about half of an idle broker's CPU with 1,000 partitions).
            let pending = image
                .assignments
                .iter()
                .filter_map(|(group, a)| Some((*group, a.target.clone()?)));
            for (group, target) in pending {
                let Some(partition) = self.get(group).filter(|p| p.is_leader()) else {
                    continue;
                };
                if !lock(&moving).insert(partition.group) {
                    continue;
                }
                let (metadata, moving) = (metadata.clone(), moving.clone());
                tokio::spawn(async move {
                    let group = partition.group;
                    if let Err(error) = reassign(&partition, &metadata, target).await {
                        tracing::warn!(topic = %partition.topic, partition = partition.index, %error, "reassignment (will retry)");
                    }
                    lock(&moving).remove(&group);
                });
            }
        }
    }

    /// Controlled shutdown, as Kafka's: each partition this node leads is handed to one of its
    /// in-sync replicas (see `raft::transfer`), all at once, so clients find the new leader
    /// right away instead of after an election timeout. Bounded by `budget`; a partition not
    /// handed over by then is left to the election that follows this node's stop. Returns
    /// (handed over, led).
    pub async fn hand_over_leadership(
        &self,
        lag_max: Duration,
        budget: Duration,
    ) -> (usize, usize) {
        if !self.env.clustered {
            return (0, 0);
        }
        let me = self.env.node_id;
        let transfers: Vec<_> = self
            .all()
            .into_iter()
            .filter_map(|partition| {
                let (_, in_sync) = partition.leadership(lag_max)?;
                let target = in_sync.into_iter().find(|id| *id != me);
                Some((partition, target))
            })
            .map(|(partition, target)| async move {
                let Some(target) = target else {
                    return false;
                };
                let answer = transfer::leadership(
                    &partition.raft,
                    &self.env.peers,
                    partition.group,
                    Some(target),
                    lag_max,
                    budget,
                )
                .await;
                if answer != LeadershipAnswer::Transferred {
                    tracing::info!(topic = %partition.topic, partition = partition.index, ?answer, "leadership not handed over before stopping");
                }
                answer == LeadershipAnswer::Transferred
            })
            .collect();
        let led = transfers.len();
        let moved = futures::future::join_all(transfers)
            .await
            .into_iter()
            .filter(|moved| *moved)
            .count();
        (moved, led)
    }

    pub async fn shutdown(&self) {
        let all: Vec<Arc<Partition>> = self.write().drain().map(|(_, p)| p).collect();
        for partition in all {
            partition.shutdown().await;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// How long a new replica may take to copy the log before the move is retried.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(300);

async fn reassign(
    partition: &Partition,
    metadata: &Metadata,
    target: Vec<u64>,
) -> anyhow::Result<()> {
    let image = metadata.current();
    let current = partition
        .raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .clone();
    for id in &target {
        if current.get_node(id).is_some() {
            continue;
        }
        let addr = image
            .brokers
            .get(id)
            .map(|b| b.raft.clone())
            .ok_or_else(|| anyhow::anyhow!("broker {id} is not in the cluster"))?;
        tracing::info!(topic = %partition.topic, partition = partition.index, replica = id, "adding replica");
        tokio::time::timeout(
            CATCH_UP_TIMEOUT,
            partition.raft.add_learner(*id, BasicNode::new(addr), true),
        )
        .await
        .map_err(|_| anyhow::anyhow!("replica {id} did not catch up in {CATCH_UP_TIMEOUT:?}"))??;
    }
    let still_wanted = metadata
        .current()
        .assignments
        .get(&partition.group)
        .is_some_and(|a| a.target.as_ref() == Some(&target));
    if !still_wanted {
        return Ok(());
    }
    let voters: std::collections::BTreeSet<u64> = target.iter().copied().collect();
    partition.raft.change_membership(voters, false).await?;
    metadata
        .propose(MetadataCommand::CompleteReassignment {
            group: partition.group,
            replicas: target,
        })
        .await?;
    tracing::info!(topic = %partition.topic, partition = partition.index, "reassignment done");
    Ok(())
}
