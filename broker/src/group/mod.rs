//! The group coordinator: classic and KIP-848 consumer groups, and committed offsets.
//!
//! State lives in memory under one lock (never held across an await); every change that must
//! survive a restart is first appended to the group's `__consumer_offsets` partition through
//! Raft, like any other partition, and replayed from there at startup.

pub mod classic;
pub mod consumer;
pub mod store;
pub mod txn_offsets;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::metadata::{Metadata, MetadataState};
use crate::partition::Partition;
use crate::protocol::error_codes as ec;
use crate::replicas::Replicas;
use classic::{ClassicGroup, GroupRecord, JoinRequest, JoinResult, Reply, SyncResult};
use consumer::{ConsumerGroup, TopicInfo};
use store::{GroupKey, GroupValue, OffsetValue, OFFSETS_TOPIC};

pub const OFFSET_METADATA_BYTES_MAX: usize = 4096;
const TICK_INTERVAL: Duration = Duration::from_millis(100);
const OFFSET_EXPIRY_CHECK_INTERVAL: Duration = Duration::from_secs(60);

// Groups live in one map and are few; boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Group {
    Classic(ClassicGroup),
    Consumer(ConsumerGroup),
}

impl Group {
    pub fn state_name(&self) -> &'static str {
        match self {
            Group::Classic(g) => g.state.name(),
            Group::Consumer(g) => g.state(),
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Group::Classic(_) => "classic",
            Group::Consumer(_) => "consumer",
        }
    }

    pub fn protocol_type(&self) -> String {
        match self {
            Group::Classic(g) => g.protocol_type.clone().unwrap_or_default(),
            Group::Consumer(_) => "consumer".into(),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Group::Classic(g) => g.is_empty(),
            Group::Consumer(g) => g.members.is_empty(),
        }
    }

    fn empty_since(&self) -> Option<Instant> {
        match self {
            Group::Classic(g) => g.empty_since,
            Group::Consumer(g) => g.empty_since,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub value: OffsetValue,
}

#[derive(Default)]
struct State {
    groups: HashMap<String, Group>,
    offsets: HashMap<String, BTreeMap<(String, i32), Committed>>,
    /// TxnOffsetCommit offsets waiting for their transaction's marker, by producer id.
    txn_offsets: txn_offsets::Pending,
}

/// The `__consumer_offsets` partition index of a group.
pub fn partition_index(group: &str, count: usize) -> usize {
    ((java_hash(group) & 0x7fff_ffff) % count.max(1) as i32) as usize
}

pub struct Coordinator {
    metadata: Metadata,
    replicas: Arc<Replicas>,
    offsets_retention: Duration,
    initial_rebalance_delay: Duration,
    state: Mutex<State>,
    /// `__consumer_offsets` partitions (by Raft group) whose groups are loaded here, with the
    /// Raft term of the leadership they were loaded under. Apart from `state`: it is read
    /// while `state` is locked, and is only written with `state` locked first.
    loaded: Mutex<HashMap<u64, u64>>,
}

/// Java's `String.hashCode`, so a group maps to the same partition as on a Kafka cluster.
pub fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Coordinator {
    pub fn new(
        metadata: Metadata,
        replicas: Arc<Replicas>,
        offsets_retention: Duration,
        initial_rebalance_delay: Duration,
    ) -> Coordinator {
        Coordinator {
            metadata,
            replicas,
            offsets_retention,
            initial_rebalance_delay,
            state: Mutex::new(State::default()),
            loaded: Mutex::new(HashMap::new()),
        }
    }

    fn new_classic(&self, id: &str, now: Instant) -> Group {
        Group::Classic(ClassicGroup::new(
            id.to_string(),
            now,
            self.initial_rebalance_delay,
        ))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn loaded(&self) -> MutexGuard<'_, HashMap<u64, u64>> {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The Raft group of the `__consumer_offsets` partition that stores `group`.
    fn offsets_group(&self, group: &str) -> Result<u64, i16> {
        let image = self.metadata.current();
        let topic = image
            .topics
            .get(OFFSETS_TOPIC)
            .ok_or(ec::COORDINATOR_NOT_AVAILABLE)?;
        if topic.partitions.is_empty() {
            return Err(ec::COORDINATOR_NOT_AVAILABLE);
        }
        Ok(topic.partitions[partition_index(group, topic.partitions.len())])
    }

    /// The broker coordinating `group`: the leader of its `__consumer_offsets` partition, as
    /// this node's replica knows it, else as metadata last heard from that leader.
    pub fn coordinator_node(&self, group: &str) -> Result<u64, i16> {
        let raft_group = self.offsets_group(group)?;
        let leader = match self.replicas.get(raft_group) {
            Some(partition) => partition.leader().map(|(leader, _)| leader),
            None => self
                .metadata
                .current()
                .assignments
                .get(&raft_group)
                .and_then(|a| u64::try_from(a.leader).ok()),
        };
        leader.ok_or(ec::COORDINATOR_NOT_AVAILABLE)
    }

    /// The `__consumer_offsets` partition that stores `group`, if this node leads it and has
    /// loaded its groups.
    pub fn partition_for(&self, group: &str) -> Result<Arc<Partition>, i16> {
        let raft_group = self.offsets_group(group)?;
        let partition = self.replicas.get(raft_group).ok_or(ec::NOT_COORDINATOR)?;
        let Some((_, term)) = partition.leader() else {
            return Err(ec::COORDINATOR_NOT_AVAILABLE);
        };
        if !partition.is_leader() {
            return Err(ec::NOT_COORDINATOR);
        }
        if self.loaded().get(&raft_group) != Some(&(term as u64)) {
            return Err(ec::COORDINATOR_LOAD_IN_PROGRESS);
        }
        Ok(partition)
    }

    /// Follows the leadership of `__consumer_offsets` partitions: loads the groups of a
    /// partition this node has come to lead (once it has applied its whole log, so every
    /// commit of the previous leader is in), and drops those of a partition it no longer
    /// leads, so a coordinator never answers from stale state. Returns whether every
    /// partition led here is loaded.
    pub fn follow_leadership(&self) -> anyhow::Result<bool> {
        let image = self.metadata.current();
        let Some(topic) = image.topics.get(OFFSETS_TOPIC) else {
            return Ok(true);
        };
        let count = topic.partitions.len();
        let now = Instant::now();
        let mut all_loaded = true;
        for (index, raft_group) in topic.partitions.iter().enumerate() {
            let partition = self.replicas.get(*raft_group);
            let leading = partition.as_ref().and_then(|p| p.leading_term());
            let loaded = self.loaded().get(raft_group).copied();
            match (leading, loaded) {
                (Some((term, _)), Some(at)) if term == at => {}
                (Some((term, true)), _) => {
                    let Some(partition) = partition else { continue };
                    let started = Instant::now();
                    let mut state = self.lock();
                    unload(&mut state, index, count);
                    let records = load_partition(
                        &mut state,
                        &partition,
                        count,
                        now,
                        self.initial_rebalance_delay,
                    )?;
                    self.loaded().insert(*raft_group, term);
                    let elapsed_ms = started.elapsed().as_millis() as u64;
                    tracing::info!(
                        partition = index,
                        term,
                        records,
                        elapsed_ms,
                        "loaded consumer groups"
                    );
                }
                (Some((_, false)), _) => all_loaded = false,
                (None, Some(_)) => {
                    let mut state = self.lock();
                    unload(&mut state, index, count);
                    self.loaded().remove(raft_group);
                    tracing::info!(partition = index, "no longer coordinating its groups");
                }
                (None, None) => {}
            }
        }
        Ok(all_loaded)
    }

    async fn append(&self, group: &str, records: Vec<(Bytes, Option<Bytes>)>) -> Result<(), i16> {
        self.submit(group, records).await
    }

    /// Queues `records` on the group's partition now (so calls made under the lock land in
    /// lock order) and returns the wait for their commit.
    fn submit(
        &self,
        group: &str,
        records: Vec<(Bytes, Option<Bytes>)>,
    ) -> impl std::future::Future<Output = Result<(), i16>> + Send + 'static {
        self.submit_as(group, records, None)
    }

    /// [`submit`](Self::submit), as a transactional producer's batch when `producer` (id,
    /// epoch) is set (TxnOffsetCommit).
    fn submit_as(
        &self,
        group: &str,
        records: Vec<(Bytes, Option<Bytes>)>,
        producer: Option<(i64, i16)>,
    ) -> impl std::future::Future<Output = Result<(), i16>> + Send + 'static {
        let queued = self.partition_for(group).and_then(|partition| {
            let batch = match producer {
                None => store::batch(&records, now_ms()),
                Some((id, epoch)) => store::transactional_batch(&records, now_ms(), id, epoch),
            }
            .map_err(|_| ec::UNKNOWN_SERVER_ERROR)?;
            Ok(partition.submit(batch))
        });
        async move {
            queued?.await.map(|_| ()).map_err(|code| match code {
                ec::NOT_LEADER_OR_FOLLOWER => ec::NOT_COORDINATOR,
                ec::MESSAGE_TOO_LARGE | ec::RECORD_LIST_TOO_LARGE => ec::INVALID_COMMIT_OFFSET_SIZE,
                ec::INVALID_PRODUCER_EPOCH => ec::PRODUCER_FENCED,
                ec::REQUEST_TIMED_OUT
                | ec::NOT_ENOUGH_REPLICAS
                | ec::UNKNOWN_TOPIC_OR_PARTITION => ec::COORDINATOR_NOT_AVAILABLE,
                _ => ec::UNKNOWN_SERVER_ERROR,
            })
        }
    }

    fn group_record(group: &str, value: &GroupValue) -> (Bytes, Option<Bytes>) {
        let key = GroupKey::Group {
            group: group.to_string(),
        }
        .encode();
        (key, Some(store::encode_group(value)))
    }

    /// Drives timeouts (sessions, rebalances) and offset expiry until the process ends.
    pub async fn run(self: Arc<Self>) {
        let mut last_expiry = Instant::now();
        loop {
            tokio::time::sleep(TICK_INTERVAL).await;
            if let Err(error) = self.follow_leadership() {
                tracing::error!(%error, "loading consumer groups");
            }
            let now = Instant::now();
            let topics = topic_infos(&self.metadata.current());
            let mut persist = Vec::new();
            let mut consumer_changes = Vec::new();
            {
                let mut state = self.lock();
                for (id, group) in state.groups.iter_mut() {
                    match group {
                        Group::Classic(g) => {
                            let generation = g.generation_id;
                            g.tick(now);
                            if g.generation_id != generation {
                                persist.push((id.clone(), g.generation_record()));
                            }
                        }
                        Group::Consumer(g) => {
                            let before = g.record();
                            g.tick(&topics, now);
                            let after = g.record();
                            if after != before {
                                consumer_changes.push(self.submit(
                                    id,
                                    vec![Self::group_record(id, &GroupValue::Consumer(after))],
                                ));
                            }
                        }
                    }
                }
            }
            for (group, record) in persist {
                self.persist_group(&group, &record).await;
            }
            for change in consumer_changes {
                if let Err(code) = change.await {
                    tracing::warn!(code, "persisting a consumer group after expiring members");
                }
            }
            if now.duration_since(last_expiry) >= OFFSET_EXPIRY_CHECK_INTERVAL {
                last_expiry = now;
                self.expire_offsets(now).await;
            }
        }
    }

    async fn persist_group(&self, group: &str, record: &GroupRecord) {
        let value = GroupValue::Classic(record.clone());
        if let Err(code) = self
            .append(group, vec![Self::group_record(group, &value)])
            .await
        {
            tracing::warn!(group, code, "persisting group generation");
        }
    }

    /// offsets.retention.minutes: offsets of a group that has been empty that long go away.
    async fn expire_offsets(&self, now: Instant) {
        let expired: Vec<(String, Vec<(String, i32)>)> = {
            let state = self.lock();
            state
                .offsets
                .iter()
                .filter(|(group, _)| {
                    state.groups.get(*group).is_none_or(|g| {
                        g.is_empty()
                            && g.empty_since()
                                .is_some_and(|t| now.duration_since(t) >= self.offsets_retention)
                    })
                })
                .map(|(group, offsets)| {
                    let retention_ms = self.offsets_retention.as_millis() as i64;
                    let stale = offsets
                        .iter()
                        .filter(|(_, c)| now_ms() - c.value.commit_timestamp >= retention_ms)
                        .map(|(k, _)| k.clone())
                        .collect();
                    (group.clone(), stale)
                })
                .filter(|(_, stale): &(String, Vec<_>)| !stale.is_empty())
                .collect()
        };
        for (group, partitions) in expired {
            tracing::info!(group = %group, partitions = partitions.len(), "expiring committed offsets");
            if let Err(code) = self.delete_offsets_unchecked(&group, &partitions).await {
                tracing::warn!(group = %group, code, "expiring offsets");
            }
        }
    }

    pub async fn join(&self, group_id: &str, request: JoinRequest) -> JoinResult {
        let reply = {
            let mut state = self.lock();
            let now = Instant::now();
            let group = state
                .groups
                .entry(group_id.to_string())
                .or_insert_with(|| self.new_classic(group_id, now));
            if let Group::Consumer(consumer) = group {
                if !consumer.members.is_empty() {
                    return JoinResult {
                        error_code: ec::INCONSISTENT_GROUP_PROTOCOL,
                        ..Default::default()
                    };
                }
                *group = self.new_classic(group_id, now);
            }
            let Group::Classic(classic) = group else {
                unreachable!("made classic above")
            };
            classic.join(request, now)
        };
        let result = match reply {
            Reply::Now(result) => result,
            Reply::Wait(receiver) => receiver.await.unwrap_or(JoinResult {
                error_code: ec::UNKNOWN_MEMBER_ID,
                ..Default::default()
            }),
        };
        if result.error_code == ec::NONE && result.leader == result.member_id {
            let record = GroupRecord {
                protocol_type: result.protocol_type.clone(),
                generation_id: result.generation_id,
            };
            self.persist_group(group_id, &record).await;
        }
        result
    }

    pub async fn sync(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        assignments: Vec<(String, Bytes)>,
    ) -> SyncResult {
        let reply = {
            let mut state = self.lock();
            match state.groups.get_mut(group_id) {
                Some(Group::Classic(group)) => group.sync(
                    member_id,
                    instance_id,
                    generation_id,
                    assignments,
                    Instant::now(),
                ),
                _ => {
                    return SyncResult {
                        error_code: ec::UNKNOWN_MEMBER_ID,
                        ..Default::default()
                    }
                }
            }
        };
        match reply {
            Reply::Now(result) => result,
            Reply::Wait(receiver) => receiver.await.unwrap_or(SyncResult {
                error_code: ec::UNKNOWN_MEMBER_ID,
                ..Default::default()
            }),
        }
    }

    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
    ) -> i16 {
        match self.lock().groups.get_mut(group_id) {
            Some(Group::Classic(group)) => {
                group.heartbeat(member_id, instance_id, generation_id, Instant::now())
            }
            _ => ec::UNKNOWN_MEMBER_ID,
        }
    }

    pub fn leave(&self, group_id: &str, member_id: &str, instance_id: Option<&str>) -> i16 {
        match self.lock().groups.get_mut(group_id) {
            Some(Group::Classic(group)) => group.leave(member_id, instance_id, Instant::now()),
            _ => ec::UNKNOWN_MEMBER_ID,
        }
    }

    fn check_commit(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> i16 {
        match self.lock().groups.get(group_id) {
            None if generation < 0 => ec::NONE,
            None => ec::ILLEGAL_GENERATION,
            Some(Group::Classic(group)) => group.check_commit(member_id, instance_id, generation),
            Some(Group::Consumer(group)) => group.check_commit(member_id, generation),
        }
    }

    /// Commits offsets: all of the request's partitions in one record batch, one Raft append.
    /// Returns one error code per input entry.
    pub async fn commit(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        offsets: Vec<(String, i32, OffsetValue)>,
    ) -> Vec<i16> {
        let group_error = self.check_commit(group_id, member_id, instance_id, generation);
        if group_error != ec::NONE {
            return vec![group_error; offsets.len()];
        }
        let image = self.metadata.current();
        let mut codes = Vec::with_capacity(offsets.len());
        let mut records = Vec::new();
        for (topic, partition, value) in offsets {
            let known = image
                .topics
                .get(&topic)
                .is_some_and(|t| partition >= 0 && (partition as usize) < t.partitions.len());
            let code = if !known {
                ec::UNKNOWN_TOPIC_OR_PARTITION
            } else if value.metadata.len() > OFFSET_METADATA_BYTES_MAX {
                ec::OFFSET_METADATA_TOO_LARGE
            } else {
                let key = GroupKey::Offset {
                    group: group_id.to_string(),
                    topic: topic.clone(),
                    partition,
                };
                records.push((key.encode(), Some(store::encode_offset(&value))));
                ec::NONE
            };
            codes.push(code);
        }
        if records.is_empty() {
            return codes;
        }
        if let Err(code) = self.append(group_id, records.clone()).await {
            return codes
                .into_iter()
                .map(|c| if c == ec::NONE { code } else { c })
                .collect();
        }
        let mut state = self.lock();
        let now = Instant::now();
        state
            .groups
            .entry(group_id.to_string())
            .or_insert_with(|| self.new_classic(group_id, now));
        self.apply_records(&mut state, &records, now);
        codes
    }

    /// Applies records just committed to `__consumer_offsets` to the live state, exactly as
    /// a replay of the partition will, so that what a restart rebuilds is what was answered.
    fn apply_records(&self, state: &mut State, records: &[(Bytes, Option<Bytes>)], now: Instant) {
        apply_records(state, records, now, self.initial_rebalance_delay);
    }

    /// Committed offsets of a group: the requested partitions, or all of them.
    pub fn fetch(
        &self,
        group_id: &str,
        wanted: Option<Vec<(String, Vec<i32>)>>,
    ) -> Vec<(String, i32, Option<OffsetValue>)> {
        let state = self.lock();
        let committed = state.offsets.get(group_id);
        match wanted {
            Some(topics) => topics
                .into_iter()
                .flat_map(|(topic, partitions)| {
                    partitions
                        .into_iter()
                        .map(move |p| (topic.clone(), p))
                        .collect::<Vec<_>>()
                })
                .map(|(topic, p)| {
                    let value = committed
                        .and_then(|c| c.get(&(topic.clone(), p)))
                        .map(|c| c.value.clone());
                    (topic, p, value)
                })
                .collect(),
            None => committed
                .map(|c| {
                    c.iter()
                        .map(|((t, p), v)| (t.clone(), *p, Some(v.value.clone())))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Whether `group_id` has committed offsets (a group Kafka lists and describes as Empty
    /// even when it has no members or generation).
    pub fn has_offsets(&self, group_id: &str) -> bool {
        self.lock().offsets.contains_key(group_id)
    }

    pub fn with_group<T>(&self, group_id: &str, f: impl FnOnce(Option<&Group>) -> T) -> T {
        f(self.lock().groups.get(group_id))
    }

    /// (group id, protocol type, state, type) of every group.
    pub fn list(&self) -> Vec<(String, String, &'static str, &'static str)> {
        let state = self.lock();
        let mut groups: Vec<_> = state
            .groups
            .iter()
            .map(|(id, g)| (id.clone(), g.protocol_type(), g.state_name(), g.type_name()))
            .collect();
        // Groups known only by their committed offsets are Empty classic groups.
        for id in state
            .offsets
            .keys()
            .filter(|id| !state.groups.contains_key(*id))
        {
            groups.push((id.clone(), String::new(), "Empty", "classic"));
        }
        groups.sort();
        groups
    }

    pub async fn delete_group(&self, group_id: &str) -> i16 {
        let partitions: Vec<(String, i32)> = {
            let state = self.lock();
            match state.groups.get(group_id) {
                Some(group) if !group.is_empty() => return ec::NON_EMPTY_GROUP,
                None if !state.offsets.contains_key(group_id) => return ec::GROUP_ID_NOT_FOUND,
                _ => {}
            }
            state
                .offsets
                .get(group_id)
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        let mut records = store::offset_tombstones(group_id, &partitions);
        records.push((
            GroupKey::Group {
                group: group_id.into(),
            }
            .encode(),
            None,
        ));
        if let Err(code) = self.append(group_id, records.clone()).await {
            return code;
        }
        let mut state = self.lock();
        self.apply_records(&mut state, &records, Instant::now());
        ec::NONE
    }

    /// OffsetDelete: refused for topics an active classic group is consuming.
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        partitions: Vec<(String, i32)>,
    ) -> Result<(), i16> {
        {
            let state = self.lock();
            match state.groups.get(group_id) {
                None if !state.offsets.contains_key(group_id) => {
                    return Err(ec::GROUP_ID_NOT_FOUND)
                }
                Some(group) if !group.is_empty() => return Err(ec::GROUP_SUBSCRIBED_TO_TOPIC),
                _ => {}
            }
        }
        self.delete_offsets_unchecked(group_id, &partitions).await
    }

    async fn delete_offsets_unchecked(
        &self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<(), i16> {
        let records = store::offset_tombstones(group_id, partitions);
        self.append(group_id, records.clone()).await?;
        let mut state = self.lock();
        self.apply_records(&mut state, &records, Instant::now());
        Ok(())
    }

    /// A KIP-848 heartbeat. Membership and assignment changes are persisted before the answer,
    /// so members keep their epochs across a coordinator restart.
    pub async fn consumer_heartbeat(
        &self,
        group_id: &str,
        request: consumer::HeartbeatRequest,
    ) -> consumer::HeartbeatResult {
        let topics = topic_infos(&self.metadata.current());
        let (result, persisted) = {
            let mut state = self.lock();
            let now = Instant::now();
            let group = state
                .groups
                .entry(group_id.to_string())
                .or_insert_with(|| Group::Consumer(ConsumerGroup::new(group_id.to_string(), now)));
            if let Group::Classic(classic) = group {
                if !classic.is_empty() {
                    return consumer::HeartbeatResult {
                        error_code: ec::GROUP_ID_NOT_FOUND,
                        ..Default::default()
                    };
                }
                *group = Group::Consumer(ConsumerGroup::new(group_id.to_string(), now));
            }
            let Group::Consumer(consumer) = group else {
                unreachable!("made a consumer group above")
            };
            let before = consumer.record();
            let result = consumer.heartbeat(request, &topics, now);
            let after = consumer.record();
            let persisted = (after != before).then(|| {
                self.submit(
                    group_id,
                    vec![Self::group_record(group_id, &GroupValue::Consumer(after))],
                )
            });
            (result, persisted)
        };
        if let Some(persisted) = persisted {
            if let Err(code) = persisted.await {
                return consumer::HeartbeatResult {
                    error_code: code,
                    ..Default::default()
                };
            }
        }
        result
    }

    /// Consumer lag per group and partition: high watermark minus committed offset.
    pub fn lag(&self) -> Vec<(String, String, i32, i64)> {
        let image = self.metadata.current();
        let state = self.lock();
        let mut out = Vec::new();
        for (group, offsets) in &state.offsets {
            for ((topic, partition), committed) in offsets {
                let Some(meta) = image.topics.get(topic) else {
                    continue;
                };
                let Some(replica) = meta
                    .partitions
                    .get(*partition as usize)
                    .and_then(|g| self.replicas.get(*g))
                else {
                    continue;
                };
                out.push((
                    group.clone(),
                    topic.clone(),
                    *partition,
                    (replica.high_watermark() - committed.value.offset).max(0),
                ));
            }
        }
        out
    }
}

/// Forgets the groups stored in `__consumer_offsets` partition `index`.
fn unload(state: &mut State, index: usize, count: usize) {
    state
        .groups
        .retain(|group, _| partition_index(group, count) != index);
    state
        .offsets
        .retain(|group, _| partition_index(group, count) != index);
    txn_offsets::unload(&mut state.txn_offsets, |group| {
        partition_index(group, count) == index
    });
}

/// Replays one `__consumer_offsets` partition into `state`; returns the records seen.
fn load_partition(
    state: &mut State,
    partition: &Partition,
    partition_count: usize,
    now: Instant,
    initial_delay: Duration,
) -> anyhow::Result<usize> {
    let mut records = 0;
    for entry in partition.batches()? {
        let stored = partition.entry_records(&entry)?;
        let decoded = store::decode_records(stored).map_err(|e| {
            anyhow::anyhow!("decoding {OFFSETS_TOPIC} entry {}: {e}", entry.log_index)
        })?;
        for record in decoded {
            if record.transactional {
                // TxnOffsetCommit offsets and the markers that settle them.
                let count = partition_count;
                txn_offsets::replay(state, record, |group| {
                    partition_index(group, count) == partition.index as usize
                });
                records += 1;
                continue;
            }
            let Some(key) = record.key.and_then(GroupKey::decode) else {
                continue;
            };
            apply_record(state, key, record.value, now, initial_delay);
            records += 1;
        }
    }
    Ok(records)
}

fn apply_records(
    state: &mut State,
    records: &[(Bytes, Option<Bytes>)],
    now: Instant,
    initial_delay: Duration,
) {
    for (key, value) in records {
        if let Some(key) = GroupKey::decode(key.clone()) {
            apply_record(state, key, value.clone(), now, initial_delay);
        }
    }
}

fn apply_record(
    state: &mut State,
    key: GroupKey,
    value: Option<Bytes>,
    now: Instant,
    initial_delay: Duration,
) {
    match key {
        GroupKey::Offset {
            group,
            topic,
            partition,
        } => match value.and_then(|v| serde_json::from_slice(&v).ok()) {
            Some(value) => {
                state
                    .offsets
                    .entry(group)
                    .or_default()
                    .insert((topic, partition), Committed { value });
            }
            None => {
                if let Some(offsets) = state.offsets.get_mut(&group) {
                    offsets.remove(&(topic, partition));
                    if offsets.is_empty() {
                        state.offsets.remove(&group);
                    }
                }
            }
        },
        GroupKey::Group { group } => match value
            .and_then(|v| serde_json::from_slice::<GroupValue>(&v).ok())
        {
            Some(GroupValue::Classic(record)) => {
                let restored = ClassicGroup::restore(group.clone(), &record, now, initial_delay);
                state.groups.insert(group, Group::Classic(restored));
            }
            Some(GroupValue::Consumer(record)) => {
                let restored = ConsumerGroup::restore(group.clone(), &record, now);
                state.groups.insert(group, Group::Consumer(restored));
            }
            None => {
                state.groups.remove(&group);
            }
        },
    }
}

pub fn topic_infos(image: &MetadataState) -> BTreeMap<String, TopicInfo> {
    image
        .topics
        .values()
        .map(|t| {
            (
                t.name.clone(),
                TopicInfo {
                    id: uuid::Uuid::from_bytes(t.id),
                    partitions: t.partitions.len() as i32,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    /// What a coordinator writes to `__consumer_offsets`, as the live paths build it.
    #[derive(Debug, Clone)]
    enum Op {
        Commit(usize, Vec<(usize, i32, i64)>),
        DeleteOffsets(usize, Vec<(usize, i32)>),
        DeleteGroup(usize),
        /// Offsets committed at or before this timestamp expire.
        Expire(usize, i64),
        Generation(usize, i32),
    }

    const GROUPS: [&str; 3] = ["g", "h", "группа"];
    const TOPICS: [&str; 2] = ["t", "u.v"];

    fn op() -> impl Strategy<Value = Op> {
        let group = 0..GROUPS.len();
        let topic = 0..TOPICS.len();
        prop_oneof![
            4 => (group.clone(), prop::collection::vec((topic.clone(), 0..4i32, 0..1_000i64), 1..8))
                .prop_map(|(g, e)| Op::Commit(g, e)),
            1 => (group.clone(), prop::collection::vec((topic, 0..4i32), 1..4))
                .prop_map(|(g, p)| Op::DeleteOffsets(g, p)),
            1 => group.clone().prop_map(Op::DeleteGroup),
            1 => (group.clone(), 0..40i64).prop_map(|(g, t)| Op::Expire(g, t)),
            1 => (group, 1..100i32).prop_map(|(g, n)| Op::Generation(g, n)),
        ]
    }

    /// The records one operation writes, given the state it runs against (deletes and
    /// expirations look at what is committed, as the coordinator does).
    fn records_of(op: &Op, state: &State, at: i64) -> Vec<(Bytes, Option<Bytes>)> {
        let committed = |g: usize| -> Vec<((String, i32), i64)> {
            state
                .offsets
                .get(GROUPS[g])
                .map(|o| {
                    o.iter()
                        .map(|(k, c)| (k.clone(), c.value.commit_timestamp))
                        .collect()
                })
                .unwrap_or_default()
        };
        match op {
            Op::Commit(g, entries) => entries
                .iter()
                .map(|(t, p, offset)| {
                    let key = GroupKey::Offset {
                        group: GROUPS[*g].into(),
                        topic: TOPICS[*t].into(),
                        partition: *p,
                    };
                    let value = OffsetValue {
                        offset: *offset,
                        leader_epoch: (*offset % 3) as i32 - 1,
                        metadata: format!("m{offset}"),
                        commit_timestamp: at,
                    };
                    (key.encode(), Some(store::encode_offset(&value)))
                })
                .collect(),
            Op::DeleteOffsets(g, partitions) => {
                let partitions: Vec<(String, i32)> = partitions
                    .iter()
                    .map(|(t, p)| (TOPICS[*t].to_string(), *p))
                    .collect();
                store::offset_tombstones(GROUPS[*g], &partitions)
            }
            Op::DeleteGroup(g) => {
                let partitions: Vec<(String, i32)> =
                    committed(*g).into_iter().map(|(k, _)| k).collect();
                let mut records = store::offset_tombstones(GROUPS[*g], &partitions);
                let key = GroupKey::Group {
                    group: GROUPS[*g].into(),
                };
                records.push((key.encode(), None));
                records
            }
            Op::Expire(g, before) => {
                let stale: Vec<(String, i32)> = committed(*g)
                    .into_iter()
                    .filter(|(_, ts)| ts <= before)
                    .map(|(k, _)| k)
                    .collect();
                store::offset_tombstones(GROUPS[*g], &stale)
            }
            Op::Generation(g, generation) => {
                let value = GroupValue::Classic(GroupRecord {
                    protocol_type: Some("consumer".into()),
                    generation_id: *generation,
                });
                vec![(
                    GroupKey::Group {
                        group: GROUPS[*g].into(),
                    }
                    .encode(),
                    Some(store::encode_group(&value)),
                )]
            }
        }
    }

    type Offsets = BTreeMap<(String, String, i32), OffsetValue>;

    /// What a state holds that survives a restart: committed offsets and group generations.
    fn durable(state: &State) -> (Offsets, BTreeMap<String, i32>) {
        let offsets = state
            .offsets
            .iter()
            .flat_map(|(g, o)| {
                o.iter()
                    .map(move |((t, p), c)| ((g.clone(), t.clone(), *p), c.value.clone()))
            })
            .collect();
        let generations = state
            .groups
            .iter()
            .filter_map(|(g, group)| match group {
                Group::Classic(c) => Some((g.clone(), c.generation_id)),
                Group::Consumer(_) => None,
            })
            .collect();
        (offsets, generations)
    }

    fn replay(entries: &[Bytes], now: Instant) -> State {
        let mut state = State::default();
        for entry in entries {
            for record in store::decode_records(entry.clone()).expect("entry decodes") {
                if let Some(key) = record.key.and_then(GroupKey::decode) {
                    apply_record(&mut state, key, record.value, now, Duration::ZERO);
                }
            }
        }
        state
    }

    proptest! {
        /// Commits, offset deletes, group deletes and expirations, applied live, give the
        /// same committed offsets and generations as replaying what they wrote, which are
        /// those of a plain model of the operations.
        #[test]
        fn replay_rebuilds_the_live_state(ops in prop::collection::vec(op(), 1..40)) {
            let now = Instant::now();
            let mut live = State::default();
            let mut model: Offsets = BTreeMap::new();
            let mut generations: BTreeMap<String, i32> = BTreeMap::new();
            let mut entries = Vec::new();
            // Before issue 20's fix: one batch per record, all in one entry.
            let mut legacy_entries = Vec::new();
            for (at, op) in ops.iter().enumerate() {
                let at = at as i64;
                let records = records_of(op, &live, at);
                if records.is_empty() {
                    continue;
                }
                entries.push(store::batch(&records, at).expect("one batch"));
                let mut legacy = Vec::new();
                for record in &records {
                    legacy.extend_from_slice(&store::batch(std::slice::from_ref(record), at).expect("batch"));
                }
                legacy_entries.push(Bytes::from(legacy));
                apply_records(&mut live, &records, now, Duration::ZERO);

                match op {
                    Op::Commit(g, e) => {
                        for (t, p, offset) in e {
                            model.insert(
                                (GROUPS[*g].into(), TOPICS[*t].into(), *p),
                                OffsetValue {
                                    offset: *offset,
                                    leader_epoch: (*offset % 3) as i32 - 1,
                                    metadata: format!("m{offset}"),
                                    commit_timestamp: at,
                                },
                            );
                        }
                    }
                    Op::DeleteOffsets(g, parts) => {
                        for (t, p) in parts {
                            model.remove(&(GROUPS[*g].into(), TOPICS[*t].into(), *p));
                        }
                    }
                    Op::DeleteGroup(g) => {
                        model.retain(|(group, _, _), _| group != GROUPS[*g]);
                        generations.remove(GROUPS[*g]);
                    }
                    Op::Expire(g, before) => {
                        model.retain(|(group, _, _), v| {
                            group != GROUPS[*g] || v.commit_timestamp > *before
                        });
                    }
                    Op::Generation(g, n) => {
                        generations.insert(GROUPS[*g].into(), *n);
                    }
                }
            }
            let expected = (model, generations);
            prop_assert_eq!(&durable(&live), &expected);
            prop_assert_eq!(&durable(&replay(&entries, now)), &expected);
            prop_assert_eq!(&durable(&replay(&legacy_entries, now)), &expected);
        }
    }

    #[test]
    fn java_string_hash() {
        assert_eq!(java_hash(""), 0);
        assert_eq!(java_hash("a"), 97);
        assert_eq!(java_hash("my-group"), -1_906_497_762);
    }
}
