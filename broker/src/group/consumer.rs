//! KIP-848 consumer groups (`group.protocol=consumer`): members heartbeat their subscriptions,
//! the coordinator computes the assignment, and a partition moves to its new owner only after
//! the previous owner has reported that it let go of it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use indexmap::IndexMap;

use crate::protocol::error_codes as ec;

/// topic id -> partitions.
pub type Assignment = BTreeMap<uuid::Uuid, BTreeSet<i32>>;

/// What the assignor needs to know about a topic.
#[derive(Debug, Clone)]
pub struct TopicInfo {
    pub id: uuid::Uuid,
    pub partitions: i32,
}

pub const SESSION_TIMEOUT: Duration = Duration::from_secs(45);
pub const HEARTBEAT_INTERVAL_MS: i32 = 1000;

pub struct ConsumerMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub epoch: i32,
    previous_epoch: i32,
    pub subscribed: Vec<String>,
    /// What the member owns as far as the coordinator knows (its last report, or what it was
    /// last given, whichever is newer).
    pub owned: Assignment,
    last_sent: Option<Assignment>,
    last_heartbeat: Instant,
}

/// What survives a coordinator restart: members keep their ids, epochs and partitions, so
/// their commits and heartbeats go on being accepted (as in Kafka).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConsumerGroupRecord {
    pub epoch: i32,
    pub members: Vec<MemberRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemberRecord {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub epoch: i32,
    pub previous_epoch: i32,
    pub subscribed: Vec<String>,
    pub owned: Vec<(uuid::Uuid, Vec<i32>)>,
}

pub struct ConsumerGroup {
    pub id: String,
    pub epoch: i32,
    pub members: IndexMap<String, ConsumerMember>,
    pub target: BTreeMap<String, Assignment>,
    pub empty_since: Option<Instant>,
    /// Restored from a record: the next computed target is taken as is, without a new epoch.
    restored: bool,
}

pub struct HeartbeatRequest {
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed: Option<Vec<String>>,
    pub owned: Option<Assignment>,
}

#[derive(Debug, Default)]
pub struct HeartbeatResult {
    pub error_code: i16,
    pub member_id: String,
    pub member_epoch: i32,
    /// None when unchanged since the last response.
    pub assignment: Option<Assignment>,
}

impl ConsumerGroup {
    pub fn new(id: String, now: Instant) -> ConsumerGroup {
        ConsumerGroup {
            id,
            epoch: 0,
            members: IndexMap::new(),
            target: BTreeMap::new(),
            empty_since: Some(now),
            restored: false,
        }
    }

    pub fn state(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self
            .members
            .values()
            .all(|m| m.epoch == self.epoch && Some(&m.owned) == self.target.get(&m.member_id))
        {
            "Stable"
        } else {
            "Reconciling"
        }
    }

    pub fn heartbeat(
        &mut self,
        mut request: HeartbeatRequest,
        topics: &BTreeMap<String, TopicInfo>,
        now: Instant,
    ) -> HeartbeatResult {
        let error = |code: i16, member_id: &str| HeartbeatResult {
            error_code: code,
            member_id: member_id.to_string(),
            ..Default::default()
        };
        match request.member_epoch {
            -1 | -2 => {
                if self.members.shift_remove(&request.member_id).is_none() {
                    return error(ec::UNKNOWN_MEMBER_ID, &request.member_id);
                }
                self.bump(topics, now);
                return HeartbeatResult {
                    member_id: request.member_id,
                    member_epoch: request.member_epoch,
                    ..Default::default()
                };
            }
            0 => {
                let member_id = self.join(&request, now);
                request.member_id = member_id;
            }
            epoch => {
                let Some(member) = self.members.get_mut(&request.member_id) else {
                    return error(ec::UNKNOWN_MEMBER_ID, &request.member_id);
                };
                if epoch != member.epoch && epoch != member.previous_epoch {
                    return error(ec::FENCED_MEMBER_EPOCH, &request.member_id);
                }
                member.last_heartbeat = now;
            }
        }
        let Some(member) = self.members.get_mut(&request.member_id) else {
            return error(ec::UNKNOWN_MEMBER_ID, &request.member_id);
        };
        let mut changed = false;
        if let Some(subscribed) = request.subscribed {
            let mut subscribed = subscribed;
            subscribed.sort();
            changed = subscribed != member.subscribed;
            member.subscribed = subscribed;
        }
        if let Some(owned) = request.owned {
            member.owned = owned;
        }
        let target = compute_target(&self.members, topics);
        if std::mem::take(&mut self.restored) && !changed {
            self.target = target;
        } else if changed || target != self.target {
            self.epoch += 1;
            self.target = target;
        }
        self.reconcile(&request.member_id)
    }

    fn join(&mut self, request: &HeartbeatRequest, now: Instant) -> String {
        let member_id = if request.member_id.is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else {
            request.member_id.clone()
        };
        // A static member rejoining under a new id replaces its previous incarnation.
        if let Some(instance) = &request.instance_id {
            let previous: Vec<String> = self
                .members
                .values()
                .filter(|m| m.instance_id.as_ref() == Some(instance))
                .map(|m| m.member_id.clone())
                .collect();
            for id in previous {
                self.members.shift_remove(&id);
            }
        }
        self.members.insert(
            member_id.clone(),
            ConsumerMember {
                member_id: member_id.clone(),
                instance_id: request.instance_id.clone(),
                rack_id: request.rack_id.clone(),
                client_id: request.client_id.clone(),
                client_host: request.client_host.clone(),
                epoch: 0,
                previous_epoch: 0,
                subscribed: Vec::new(),
                owned: Assignment::new(),
                last_sent: None,
                last_heartbeat: now,
            },
        );
        self.empty_since = None;
        member_id
    }

    /// The member's next assignment: its target, minus partitions another member still owns.
    fn reconcile(&mut self, member_id: &str) -> HeartbeatResult {
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let mut held_elsewhere: BTreeSet<(uuid::Uuid, i32)> = BTreeSet::new();
        for other in self.members.values().filter(|m| m.member_id != member_id) {
            for (topic, partitions) in &other.owned {
                held_elsewhere.extend(partitions.iter().map(|p| (*topic, *p)));
            }
        }
        let mut next = Assignment::new();
        for (topic, partitions) in &target {
            let free: BTreeSet<i32> = partitions
                .iter()
                .copied()
                .filter(|p| !held_elsewhere.contains(&(*topic, *p)))
                .collect();
            if !free.is_empty() {
                next.insert(*topic, free);
            }
        }
        let epoch = self.epoch;
        let member = self
            .members
            .get_mut(member_id)
            .expect("reconciling a member");
        let assignment = if member.last_sent.as_ref() != Some(&next) {
            // Adding is safe because nobody else owns what we hand out; what is taken away stays
            // held by this member until its next report.
            member.previous_epoch = member.epoch;
            member.epoch = epoch;
            member.owned = owned_after(&member.owned, &next);
            member.last_sent = Some(next.clone());
            Some(next)
        } else {
            if member.epoch != epoch && member.owned == target {
                member.previous_epoch = member.epoch;
                member.epoch = epoch;
            }
            None
        };
        HeartbeatResult {
            error_code: ec::NONE,
            member_id: member_id.to_string(),
            member_epoch: member.epoch,
            assignment,
        }
    }

    fn bump(&mut self, topics: &BTreeMap<String, TopicInfo>, now: Instant) {
        self.epoch += 1;
        self.target = compute_target(&self.members, topics);
        if self.members.is_empty() {
            self.empty_since = Some(now);
        }
    }

    pub fn record(&self) -> ConsumerGroupRecord {
        ConsumerGroupRecord {
            epoch: self.epoch,
            members: self
                .members
                .values()
                .map(|m| MemberRecord {
                    member_id: m.member_id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    epoch: m.epoch,
                    previous_epoch: m.previous_epoch,
                    subscribed: m.subscribed.clone(),
                    owned: m
                        .owned
                        .iter()
                        .map(|(t, p)| (*t, p.iter().copied().collect()))
                        .collect(),
                })
                .collect(),
        }
    }

    /// A group as it was persisted; its members have a new session to come back in.
    pub fn restore(id: String, record: &ConsumerGroupRecord, now: Instant) -> ConsumerGroup {
        let mut group = ConsumerGroup::new(id, now);
        group.epoch = record.epoch;
        group.restored = true;
        for m in &record.members {
            let owned: Assignment = m
                .owned
                .iter()
                .map(|(t, p)| (*t, p.iter().copied().collect()))
                .collect();
            group.members.insert(
                m.member_id.clone(),
                ConsumerMember {
                    member_id: m.member_id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    epoch: m.epoch,
                    previous_epoch: m.previous_epoch,
                    subscribed: m.subscribed.clone(),
                    last_sent: Some(owned.clone()),
                    owned,
                    last_heartbeat: now,
                },
            );
        }
        if !group.members.is_empty() {
            group.empty_since = None;
        }
        group
    }

    /// Commits must carry the member's current (or just previous) epoch.
    pub fn check_commit(&self, member_id: &str, epoch: i32) -> i16 {
        if epoch < 0 && member_id.is_empty() {
            return if self.members.is_empty() {
                ec::NONE
            } else {
                ec::UNKNOWN_MEMBER_ID
            };
        }
        match self.members.get(member_id) {
            None => ec::UNKNOWN_MEMBER_ID,
            Some(member) if epoch == member.epoch || epoch == member.previous_epoch => ec::NONE,
            Some(_) => ec::STALE_MEMBER_EPOCH,
        }
    }

    pub fn tick(&mut self, topics: &BTreeMap<String, TopicInfo>, now: Instant) {
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| now.duration_since(m.last_heartbeat) > SESSION_TIMEOUT)
            .map(|m| m.member_id.clone())
            .collect();
        if expired.is_empty() {
            return;
        }
        for id in &expired {
            tracing::info!(group = %self.id, member = %id, "consumer group member session expired");
            self.members.shift_remove(id);
        }
        self.bump(topics, now);
    }
}

/// Until the member reports again, it still holds what it is asked to give up (it revokes
/// before it reports) and also holds what it was just given.
fn owned_after(owned: &Assignment, sent: &Assignment) -> Assignment {
    let mut union = owned.clone();
    for (topic, partitions) in sent {
        union
            .entry(*topic)
            .or_default()
            .extend(partitions.iter().copied());
    }
    union
}

/// Range assignment per topic over the members subscribed to it, in member-id order.
pub fn compute_target(
    members: &IndexMap<String, ConsumerMember>,
    topics: &BTreeMap<String, TopicInfo>,
) -> BTreeMap<String, Assignment> {
    let mut target: BTreeMap<String, Assignment> = members
        .keys()
        .map(|id| (id.clone(), Assignment::new()))
        .collect();
    let subscribed: BTreeSet<&String> =
        members.values().flat_map(|m| m.subscribed.iter()).collect();
    for name in subscribed {
        let Some(topic) = topics.get(name) else {
            continue;
        };
        let mut subscribers: Vec<&String> = members
            .values()
            .filter(|m| m.subscribed.contains(name))
            .map(|m| &m.member_id)
            .collect();
        subscribers.sort();
        let count = subscribers.len() as i32;
        for (index, member) in subscribers.iter().enumerate() {
            let index = index as i32;
            let per = topic.partitions / count;
            let extra = topic.partitions % count;
            let start = index * per + index.min(extra);
            let length = per + i32::from(index < extra);
            if length > 0 {
                let entry = target.get_mut(*member).expect("every member has an entry");
                entry.insert(topic.id, (start..start + length).collect());
            }
        }
    }
    target
}
