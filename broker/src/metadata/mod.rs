//! Cluster metadata: topics, partitions, configs, producer ids. Changed only through commands
//! in the metadata Raft group (group 0), read from the published image.

pub mod commands;
pub mod configs;
pub mod placement;
pub mod quorum;
pub mod state;
pub mod state_machine;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};

use tokio::sync::watch;

use crate::cluster::peers::CallError;
use crate::cluster::wire::{Request, Response};
use crate::protocol::error_codes as ec;
use crate::raft::log_store::LogStore;
use crate::raft::tail::LogTail;
use crate::raft::{Command, CommandResult, Members, Raft, RaftEnv};
use crate::storage::keys::METADATA_GROUP;
use crate::storage::Store;
use commands::{MetadataCommand, MetadataResult};
pub use state::{Assignment, BrokerInfo, Endpoint, MetadataState, TopicMeta};

/// Kafka's internal topics: written only by their coordinators, reported `is_internal`.
pub fn is_internal_topic(name: &str) -> bool {
    name == crate::group::store::OFFSETS_TOPIC || name == crate::txn::store::TRANSACTION_STATE_TOPIC
}

/// How long a proposal may wait for a metadata leader (an election takes 1-2 s).
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Producer ids a broker takes from metadata at a time.
const PRODUCER_ID_BLOCK: i64 = 1000;

#[derive(Clone)]
pub struct Metadata {
    raft: Raft,
    env: RaftEnv,
    image: watch::Receiver<Arc<MetadataState>>,
    /// The rest of this node's current block of producer ids: next, end (exclusive).
    producer_ids: Arc<std::sync::Mutex<(i64, i64)>>,
    /// Raft addresses of other brokers from configuration, asked when this node knows no
    /// metadata leader yet (it is joining).
    seeds: Vec<String>,
}

impl Metadata {
    /// Starts this node's member of the metadata group. `voters`: the founding brokers (a
    /// joining node has none and waits for the leader to add it); `seeds`: where to send
    /// proposals while no leader is known.
    pub async fn open(
        env: &RaftEnv,
        voters: Option<Members>,
        seeds: Vec<String>,
        store: Arc<Store>,
    ) -> anyhow::Result<Metadata> {
        let tail = Arc::new(LogTail::default());
        let log_store = LogStore::new(METADATA_GROUP, store.clone(), tail.clone());
        let (state_machine, image) = state_machine::MetadataStateMachine::open(store, tail)?;
        let (raft, _) =
            crate::raft::start_group(env, METADATA_GROUP, voters, None, log_store, state_machine)
                .await?;
        env.quorum.attach(raft.metrics());
        Ok(Metadata {
            raft,
            env: env.clone(),
            image,
            producer_ids: Arc::default(),
            seeds,
        })
    }

    /// Waits (bounded) until the metadata group has a leader, anywhere.
    pub async fn wait_for_leader(&self, timeout: Duration) -> bool {
        self.raft
            .wait(Some(timeout))
            .metrics(|m| m.current_leader.is_some(), "metadata leader")
            .await
            .is_ok()
    }

    /// Makes sure the cluster has its id and broker list (proposed by whichever node gets
    /// there first; later proposals change nothing).
    pub async fn init_cluster(&self, brokers: BTreeMap<u64, BrokerInfo>) -> anyhow::Result<()> {
        if self.current().cluster_id.is_empty() {
            let cluster_id = new_cluster_id();
            self.propose(MetadataCommand::InitCluster {
                cluster_id,
                brokers,
            })
            .await?;
        }
        Ok(())
    }

    /// Waits until the image is the cluster's for `node` ([`MetadataState::is_cluster_image`])
    /// and returns it; None if `cancel` fires first.
    pub async fn wait_for_cluster_image(
        &self,
        node: u64,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Option<Arc<MetadataState>> {
        let mut images = self.image.clone();
        loop {
            let image = images.borrow_and_update().clone();
            if image.is_cluster_image(node) {
                return Some(image);
            }
            tokio::select! {
                _ = cancel.cancelled() => return None,
                changed = images.changed() => changed.ok()?,
            }
        }
    }

    /// Waits (bounded) until every partition of `groups` has a reported leader in the image,
    /// so that every broker's Metadata shows one; false at the timeout.
    pub async fn wait_for_leaders(&self, groups: &[u64], timeout: Duration) -> bool {
        let mut images = self.image.clone();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if images.borrow_and_update().leaderless(groups) == 0 {
                return true;
            }
            match tokio::time::timeout_at(deadline, images.changed()).await {
                Ok(Ok(())) => continue,
                _ => return false,
            }
        }
    }

    pub fn current(&self) -> Arc<MetadataState> {
        self.image.borrow().clone()
    }

    /// The metadata group's Raft node (for its metrics).
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataState>> {
        self.image.clone()
    }

    /// Commits a command through the metadata leader, wherever it is, and returns its result
    /// once this node has applied it too (so `current()` shows the change).
    pub async fn propose(&self, command: MetadataCommand) -> anyhow::Result<MetadataResult> {
        // A leader that lost its quorum would wait forever for the commit.
        match tokio::time::timeout(PROPOSE_TIMEOUT, self.propose_unbounded(command)).await {
            Ok(result) => result,
            Err(_) => anyhow::bail!("metadata command not committed within {PROPOSE_TIMEOUT:?}"),
        }
    }

    async fn propose_unbounded(&self, command: MetadataCommand) -> anyhow::Result<MetadataResult> {
        let deadline = tokio::time::Instant::now() + PROPOSE_TIMEOUT;
        loop {
            let why = match self
                .raft
                .client_write(Command::Metadata(command.clone()))
                .await
            {
                Ok(response) => {
                    return match response.data {
                        CommandResult::Metadata(result) => Ok(result),
                        other => anyhow::bail!("metadata command answered {other:?}"),
                    }
                }
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward))) => {
                    match forward.leader_node {
                        Some(leader) => match self.forward(&leader.addr, &command, deadline).await?
                        {
                            Some(result) => return Ok(result),
                            None => format!("leader {} stepped down", leader.addr),
                        },
                        None => match self.forward_to_seeds(&command, deadline).await? {
                            Some(result) => return Ok(result),
                            None => "no metadata leader".to_string(),
                        },
                    }
                }
                Err(error) => return Err(error.into()),
            };
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!("metadata command not committed within {PROPOSE_TIMEOUT:?}: {why}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Tries the configured brokers in turn; one of them leads the metadata group.
    async fn forward_to_seeds(
        &self,
        command: &MetadataCommand,
        deadline: tokio::time::Instant,
    ) -> anyhow::Result<Option<MetadataResult>> {
        for seed in &self.seeds {
            if let Some(result) = self.forward(seed, command, deadline).await? {
                return Ok(Some(result));
            }
        }
        Ok(None)
    }

    /// On the metadata leader: makes every registered broker a learner of the metadata group
    /// (so it follows metadata) and drops learners that were unregistered. Voters stay.
    pub async fn follow_brokers(self) {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let membership = {
                let metrics = self.raft.metrics();
                let metrics = metrics.borrow();
                if metrics.current_leader != Some(self.env.node_id) {
                    continue;
                }
                metrics.membership_config.membership().clone()
            };
            let image = self.current();
            for (id, broker) in &image.brokers {
                if membership.get_node(id).is_none() {
                    let node = openraft::BasicNode::new(broker.raft.clone());
                    match self.raft.add_learner(*id, node, false).await {
                        Ok(_) => tracing::info!(broker = id, "broker joined; following metadata"),
                        Err(error) => {
                            tracing::warn!(broker = id, %error, "adding a metadata learner")
                        }
                    }
                }
            }
            let voters: Vec<u64> = membership.voter_ids().collect();
            let gone: std::collections::BTreeSet<u64> = membership
                .nodes()
                .map(|(id, _)| *id)
                .filter(|id| !voters.contains(id) && !image.brokers.contains_key(id))
                .collect();
            if !gone.is_empty() {
                let change = openraft::ChangeMembers::RemoveNodes(gone.clone());
                match self.raft.change_membership(change, false).await {
                    Ok(_) => tracing::info!(brokers = ?gone, "brokers left"),
                    Err(error) => tracing::warn!(%error, "removing metadata learners"),
                }
            }
        }
    }

    /// Sends `command` to the metadata leader at `addr`. `None`: it was not the leader (nothing
    /// applied, try again); an error: the outcome is unknown or it failed.
    async fn forward(
        &self,
        addr: &str,
        command: &MetadataCommand,
        deadline: tokio::time::Instant,
    ) -> anyhow::Result<Option<MetadataResult>> {
        let timeout = deadline.saturating_duration_since(tokio::time::Instant::now());
        let request = Request::ProposeMetadata(command.clone());
        match self.env.peers.get(addr).call(request, timeout).await {
            Ok(Response::ProposeMetadata(Ok((result, index)))) => {
                let applied = self
                    .raft
                    .wait(Some(timeout))
                    .applied_index_at_least(Some(index), "forwarded metadata command")
                    .await;
                if applied.is_err() {
                    anyhow::bail!("metadata command committed at {index} but not applied here yet");
                }
                Ok(Some(result))
            }
            Ok(Response::ProposeMetadata(Err(why))) => anyhow::bail!("metadata leader: {why}"),
            Ok(Response::NotLeader | Response::UnknownGroup) => Ok(None),
            Ok(other) => anyhow::bail!("metadata leader answered {other:?}"),
            Err(CallError::Unreachable(..)) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// A producer id never handed out before, from this node's block (a new block is taken
    /// through Raft when it runs out; the unused rest of a block is lost at restart).
    pub async fn next_producer_id(&self) -> anyhow::Result<i64> {
        if let Some(id) = self.take_producer_id() {
            return Ok(id);
        }
        self.refill_producer_ids().await?;
        self.take_producer_id()
            .ok_or_else(|| anyhow::anyhow!("the producer id block just taken ran out"))
    }

    /// Takes a block of producer ids now, so InitProducerId is answered at once later, also
    /// while the metadata quorum is away.
    pub async fn prefetch_producer_ids(&self) -> anyhow::Result<()> {
        let (next, end) = *self.producer_ids.lock().unwrap_or_else(|p| p.into_inner());
        if next < end {
            return Ok(());
        }
        self.refill_producer_ids().await
    }

    async fn refill_producer_ids(&self) -> anyhow::Result<()> {
        let command = MetadataCommand::AllocateProducerIds {
            count: PRODUCER_ID_BLOCK,
        };
        let MetadataResult::ProducerId(first) = self.propose(command).await? else {
            anyhow::bail!("producer id allocation answered something else");
        };
        // Another caller may have refilled meanwhile; the newer block wins, ids stay unique.
        *self.producer_ids.lock().unwrap_or_else(|p| p.into_inner()) =
            (first, first + PRODUCER_ID_BLOCK);
        Ok(())
    }

    fn take_producer_id(&self) -> Option<i64> {
        let mut block = self.producer_ids.lock().unwrap_or_else(|p| p.into_inner());
        (block.0 < block.1).then(|| {
            block.0 += 1;
            block.0 - 1
        })
    }

    /// Like [`propose`], with failures folded into a Kafka error code and message.
    pub async fn propose_for_client(
        &self,
        command: MetadataCommand,
    ) -> Result<MetadataResult, (i16, String)> {
        match self.propose(command).await {
            Ok(MetadataResult::Failed {
                error_code,
                message,
            }) => Err((error_code, message)),
            Ok(result) => Ok(result),
            Err(error) => Err((ec::NOT_CONTROLLER, error.to_string())),
        }
    }

    pub async fn shutdown(&self) {
        crate::raft::stop_group(&self.env, METADATA_GROUP, &self.raft).await;
    }
}

/// Kafka cluster ids are 16 random bytes in URL-safe base64 without padding (22 chars).
fn new_cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bits = uuid::Uuid::new_v4().as_u128();
    (0..22)
        .map(|i| ALPHABET[((bits >> (i * 6)) & 63) as usize] as char)
        .collect()
}
