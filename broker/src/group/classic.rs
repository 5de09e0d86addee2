//! Kafka's classic group protocol (JoinGroup/SyncGroup/Heartbeat/LeaveGroup) as a state machine.
//!
//! Everything here is synchronous and runs under the coordinator's lock; a request that must
//! wait (a join until the rebalance completes, a follower's sync until the leader's) gets a
//! oneshot receiver and awaits it after the lock is released.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use indexmap::IndexMap;
use tokio::sync::oneshot;

use crate::protocol::error_codes as ec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassicState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl ClassicState {
    pub fn name(self) -> &'static str {
        match self {
            ClassicState::Empty => "Empty",
            ClassicState::PreparingRebalance => "PreparingRebalance",
            ClassicState::CompletingRebalance => "CompletingRebalance",
            ClassicState::Stable => "Stable",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct JoinResult {
    pub error_code: i16,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Only the leader gets the members (member id, instance id, metadata).
    pub members: Vec<(String, Option<String>, Bytes)>,
}

#[derive(Debug, Clone, Default)]
pub struct SyncResult {
    pub error_code: i16,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

pub enum Reply<T> {
    Now(T),
    Wait(oneshot::Receiver<T>),
}

pub struct Member {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    join_waiter: Option<oneshot::Sender<JoinResult>>,
    sync_waiter: Option<oneshot::Sender<SyncResult>>,
    last_heartbeat: Instant,
}

impl Member {
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
}

pub struct JoinRequest {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a new member first gets an id with MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
}

pub struct ClassicGroup {
    pub id: String,
    pub state: ClassicState,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    /// In join order, as Kafka: the first member becomes leader.
    pub members: IndexMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED and their deadline to rejoin.
    pending: HashMap<String, Instant>,
    static_members: HashMap<String, String>,
    /// Members that rejoined during the current rebalance.
    joined: Vec<String>,
    rebalance_deadline: Option<Instant>,
    /// group.initial.rebalance.delay.ms: the first rebalance of an empty group waits this long
    /// (more per arriving member, up to the rebalance timeout) so that consumers starting
    /// together land in one generation instead of one rebalance each.
    initial_delay: Duration,
    /// While set: (don't complete before, never wait past).
    initial_join: Option<(Instant, Instant)>,
    /// When the group last became Empty (offset expiry counts from there).
    pub empty_since: Option<Instant>,
}

impl ClassicGroup {
    pub fn new(id: String, now: Instant, initial_delay: Duration) -> ClassicGroup {
        ClassicGroup {
            id,
            state: ClassicState::Empty,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: IndexMap::new(),
            pending: HashMap::new(),
            static_members: HashMap::new(),
            joined: Vec::new(),
            rebalance_deadline: None,
            initial_delay,
            initial_join: None,
            empty_since: Some(now),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.pending.is_empty()
    }

    /// Topics the members subscribe to are not parsed here; the consumer protocol name is
    /// enough for OffsetDelete to refuse while members are active.
    pub fn has_members(&self) -> bool {
        !self.members.is_empty()
    }

    pub fn join(&mut self, request: JoinRequest, now: Instant) -> Reply<JoinResult> {
        if let Some(code) = self.check_protocols(&request) {
            return Reply::Now(error_join(code, &request.member_id));
        }
        if request.member_id.is_empty() {
            return self.join_new_member(request, now);
        }
        if self.pending.remove(&request.member_id).is_some() {
            return self.add_member_and_rebalance(request, now);
        }
        if let Some(code) = self.check_static(&request.member_id, request.instance_id.as_deref()) {
            return Reply::Now(error_join(code, &request.member_id));
        }
        let Some(member) = self.members.get_mut(&request.member_id) else {
            return Reply::Now(error_join(ec::UNKNOWN_MEMBER_ID, &request.member_id));
        };
        member.last_heartbeat = now;
        let unchanged = member.protocols == request.protocols;
        member.protocols = request.protocols;
        member.session_timeout = request.session_timeout;
        member.rebalance_timeout = request.rebalance_timeout;
        let is_leader = self.leader.as_deref() == Some(request.member_id.as_str());
        match self.state {
            ClassicState::PreparingRebalance => self.wait_for_join(&request.member_id, now),
            ClassicState::CompletingRebalance | ClassicState::Stable if unchanged && !is_leader => {
                // A follower rejoining with the same metadata: nothing to rebalance.
                Reply::Now(self.join_result(&request.member_id, false))
            }
            _ => {
                self.prepare_rebalance(now);
                self.wait_for_join(&request.member_id, now)
            }
        }
    }

    fn check_protocols(&self, request: &JoinRequest) -> Option<i16> {
        if request.protocol_type.is_empty() || request.protocols.is_empty() {
            return Some(ec::INCONSISTENT_GROUP_PROTOCOL);
        }
        if self.members.is_empty() {
            return None;
        }
        if self
            .protocol_type
            .as_deref()
            .is_some_and(|t| t != request.protocol_type)
        {
            return Some(ec::INCONSISTENT_GROUP_PROTOCOL);
        }
        // Some protocol must be supported by every other member and by this one.
        let common = request.protocols.iter().any(|(name, _)| {
            self.members
                .values()
                .filter(|m| m.member_id != request.member_id)
                .all(|m| m.protocols.iter().any(|(n, _)| n == name))
        });
        (!common).then_some(ec::INCONSISTENT_GROUP_PROTOCOL)
    }

    /// FENCED_INSTANCE_ID when a static member's id does not match its instance.
    pub fn check_static(&self, member_id: &str, instance_id: Option<&str>) -> Option<i16> {
        let instance_id = instance_id?;
        match self.static_members.get(instance_id) {
            Some(current) if current != member_id => Some(ec::FENCED_INSTANCE_ID),
            Some(_) => None,
            None => Some(ec::UNKNOWN_MEMBER_ID),
        }
    }

    fn join_new_member(&mut self, request: JoinRequest, now: Instant) -> Reply<JoinResult> {
        let prefix = request
            .instance_id
            .clone()
            .unwrap_or_else(|| request.client_id.clone());
        let member_id = format!("{prefix}-{}", uuid::Uuid::new_v4());
        if let Some(instance_id) = &request.instance_id {
            if let Some(old_id) = self.static_members.get(instance_id).cloned() {
                return self.replace_static_member(old_id, member_id, request, now);
            }
        } else if request.require_known_member_id {
            self.pending
                .insert(member_id.clone(), now + request.session_timeout);
            return Reply::Now(error_join(ec::MEMBER_ID_REQUIRED, &member_id));
        }
        self.add_member_and_rebalance(
            JoinRequest {
                member_id,
                ..request
            },
            now,
        )
    }

    /// A static member restarted with a new member id: it takes the old one's place, and the
    /// old id is fenced.
    fn replace_static_member(
        &mut self,
        old_id: String,
        new_id: String,
        request: JoinRequest,
        now: Instant,
    ) -> Reply<JoinResult> {
        let Some(mut member) = self.members.shift_remove(&old_id) else {
            self.static_members
                .remove(request.instance_id.as_deref().unwrap_or_default());
            return self.add_member_and_rebalance(
                JoinRequest {
                    member_id: new_id,
                    ..request
                },
                now,
            );
        };
        if let Some(waiter) = member.join_waiter.take() {
            let _ = waiter.send(error_join(ec::FENCED_INSTANCE_ID, &old_id));
        }
        if let Some(waiter) = member.sync_waiter.take() {
            let _ = waiter.send(SyncResult {
                error_code: ec::FENCED_INSTANCE_ID,
                ..Default::default()
            });
        }
        let unchanged = member.protocols == request.protocols;
        member.member_id = new_id.clone();
        member.protocols = request.protocols;
        member.last_heartbeat = now;
        self.members.insert(new_id.clone(), member);
        self.joined.retain(|id| id != &old_id);
        if let Some(instance_id) = &request.instance_id {
            self.static_members
                .insert(instance_id.clone(), new_id.clone());
        }
        let was_leader = self.leader.as_deref() == Some(old_id.as_str());
        if was_leader {
            self.leader = Some(new_id.clone());
        }
        if self.state == ClassicState::Stable && unchanged && !was_leader {
            return Reply::Now(self.join_result(&new_id, false));
        }
        self.prepare_rebalance(now);
        self.wait_for_join(&new_id, now)
    }

    fn add_member_and_rebalance(
        &mut self,
        request: JoinRequest,
        now: Instant,
    ) -> Reply<JoinResult> {
        if let Some(instance_id) = &request.instance_id {
            self.static_members
                .insert(instance_id.clone(), request.member_id.clone());
        }
        if self.members.is_empty() {
            self.protocol_type = Some(request.protocol_type.clone());
        }
        let member_id = request.member_id.clone();
        self.members.insert(
            member_id.clone(),
            Member {
                member_id: member_id.clone(),
                instance_id: request.instance_id,
                client_id: request.client_id,
                client_host: request.client_host,
                session_timeout: request.session_timeout,
                rebalance_timeout: request.rebalance_timeout,
                protocols: request.protocols,
                assignment: Bytes::new(),
                join_waiter: None,
                sync_waiter: None,
                last_heartbeat: now,
            },
        );
        if self.state != ClassicState::PreparingRebalance {
            self.prepare_rebalance(now);
        } else if let Some((until, cap)) = self.initial_join {
            self.initial_join = Some(((now + self.initial_delay).max(until).min(cap), cap));
        }
        self.wait_for_join(&member_id, now)
    }

    fn wait_for_join(&mut self, member_id: &str, now: Instant) -> Reply<JoinResult> {
        let (sender, receiver) = oneshot::channel();
        if let Some(member) = self.members.get_mut(member_id) {
            if let Some(old) = member.join_waiter.replace(sender) {
                let _ = old.send(error_join(ec::UNKNOWN_MEMBER_ID, member_id));
            }
        }
        if !self.joined.iter().any(|id| id == member_id) {
            self.joined.push(member_id.to_string());
        }
        self.maybe_complete_join(now);
        Reply::Wait(receiver)
    }

    fn prepare_rebalance(&mut self, now: Instant) {
        // Followers waiting for a sync of the old generation must rejoin.
        for member in self.members.values_mut() {
            if let Some(waiter) = member.sync_waiter.take() {
                let _ = waiter.send(SyncResult {
                    error_code: ec::REBALANCE_IN_PROGRESS,
                    ..Default::default()
                });
            }
        }
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        if self.state == ClassicState::Empty && !self.initial_delay.is_zero() {
            self.initial_join = Some((now + self.initial_delay.min(timeout), now + timeout));
        }
        self.state = ClassicState::PreparingRebalance;
        self.rebalance_deadline = Some(now + timeout);
        self.joined.clear();
    }

    fn maybe_complete_join(&mut self, now: Instant) {
        if self.state != ClassicState::PreparingRebalance {
            return;
        }
        if let Some((until, _)) = self.initial_join {
            if now < until {
                return;
            }
            self.initial_join = None;
        }
        let all_joined =
            self.pending.is_empty() && self.members.keys().all(|id| self.joined.contains(id));
        let expired = self.rebalance_deadline.is_some_and(|d| now >= d);
        if all_joined || expired {
            self.complete_join(now);
        }
    }

    fn complete_join(&mut self, now: Instant) {
        // Members that did not rejoin in time are dropped from the new generation.
        let gone: Vec<String> = self
            .members
            .keys()
            .filter(|id| !self.joined.contains(id))
            .cloned()
            .collect();
        for id in gone {
            self.remove_member(&id);
        }
        self.generation_id += 1;
        self.rebalance_deadline = None;
        if self.members.is_empty() {
            self.state = ClassicState::Empty;
            self.protocol_name = None;
            self.leader = None;
            self.empty_since = Some(now);
            return;
        }
        self.protocol_name = self.select_protocol();
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        self.state = ClassicState::CompletingRebalance;
        self.empty_since = None;
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let is_leader = self.leader.as_deref() == Some(id.as_str());
            let result = self.join_result(&id, is_leader);
            if let Some(waiter) = self.members.get_mut(&id).and_then(|m| m.join_waiter.take()) {
                let _ = waiter.send(result);
            }
        }
    }

    /// Each member votes for its most preferred protocol among those all members support.
    fn select_protocol(&self) -> Option<String> {
        let candidates: Vec<&String> = self
            .members
            .values()
            .next()?
            .protocols
            .iter()
            .map(|(name, _)| name)
            .filter(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == *name))
            })
            .collect();
        let mut votes: IndexMap<&String, usize> = candidates.iter().map(|c| (*c, 0)).collect();
        for member in self.members.values() {
            if let Some((name, _)) = member.protocols.iter().find(|(n, _)| votes.contains_key(n)) {
                *votes.get_mut(name).expect("voted for a candidate") += 1;
            }
        }
        let best = votes.values().copied().max()?;
        votes
            .into_iter()
            .find(|(_, count)| *count == best)
            .map(|(name, _)| name.clone())
    }

    fn join_result(&self, member_id: &str, with_members: bool) -> JoinResult {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = if with_members {
            self.members
                .values()
                .map(|m| {
                    (
                        m.member_id.clone(),
                        m.instance_id.clone(),
                        m.metadata(&protocol),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinResult {
            error_code: ec::NONE,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members,
        }
    }

    pub fn sync(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        assignments: Vec<(String, Bytes)>,
        now: Instant,
    ) -> Reply<SyncResult> {
        let error = |code| {
            Reply::Now(SyncResult {
                error_code: code,
                ..Default::default()
            })
        };
        if let Some(code) = self.check_static(member_id, instance_id) {
            return error(code);
        }
        if !self.members.contains_key(member_id) {
            return error(ec::UNKNOWN_MEMBER_ID);
        }
        if generation_id != self.generation_id {
            return error(ec::ILLEGAL_GENERATION);
        }
        match self.state {
            ClassicState::Empty => error(ec::UNKNOWN_MEMBER_ID),
            ClassicState::PreparingRebalance => error(ec::REBALANCE_IN_PROGRESS),
            ClassicState::Stable => Reply::Now(self.sync_result(member_id)),
            ClassicState::CompletingRebalance => {
                let (sender, receiver) = oneshot::channel();
                let member = self.members.get_mut(member_id).expect("checked above");
                member.last_heartbeat = now;
                member.sync_waiter = Some(sender);
                if self.leader.as_deref() == Some(member_id) {
                    self.complete_sync(assignments);
                }
                Reply::Wait(receiver)
            }
        }
    }

    fn complete_sync(&mut self, assignments: Vec<(String, Bytes)>) {
        let mut assignments: HashMap<String, Bytes> = assignments.into_iter().collect();
        for member in self.members.values_mut() {
            member.assignment = assignments.remove(&member.member_id).unwrap_or_default();
        }
        self.state = ClassicState::Stable;
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let result = self.sync_result(&id);
            if let Some(waiter) = self.members.get_mut(&id).and_then(|m| m.sync_waiter.take()) {
                let _ = waiter.send(result);
            }
        }
    }

    fn sync_result(&self, member_id: &str) -> SyncResult {
        SyncResult {
            error_code: ec::NONE,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment: self
                .members
                .get(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
        }
    }

    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
        now: Instant,
    ) -> i16 {
        if let Some(code) = self.check_static(member_id, instance_id) {
            return code;
        }
        let Some(member) = self.members.get_mut(member_id) else {
            return ec::UNKNOWN_MEMBER_ID;
        };
        member.last_heartbeat = now;
        if self.state == ClassicState::Empty {
            return ec::UNKNOWN_MEMBER_ID;
        }
        if generation_id != self.generation_id {
            return ec::ILLEGAL_GENERATION;
        }
        match self.state {
            ClassicState::PreparingRebalance => ec::REBALANCE_IN_PROGRESS,
            _ => ec::NONE,
        }
    }

    /// Commits from group members must name the current generation.
    pub fn check_commit(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
    ) -> i16 {
        if generation_id < 0 && member_id.is_empty() {
            // A commit from outside the group (Admin, assign() consumers): only while empty.
            return if self.members.is_empty() {
                ec::NONE
            } else {
                ec::UNKNOWN_MEMBER_ID
            };
        }
        if let Some(code) = self.check_static(member_id, instance_id) {
            return code;
        }
        if !self.members.contains_key(member_id) {
            return ec::UNKNOWN_MEMBER_ID;
        }
        if generation_id != self.generation_id {
            return ec::ILLEGAL_GENERATION;
        }
        // As Kafka: members of the current generation may commit while the next rebalance is
        // being prepared (their final commit before rejoining), but not between join and sync.
        match self.state {
            ClassicState::CompletingRebalance => ec::REBALANCE_IN_PROGRESS,
            _ => ec::NONE,
        }
    }

    pub fn leave(&mut self, member_id: &str, instance_id: Option<&str>, now: Instant) -> i16 {
        let member_id = match (member_id.is_empty(), instance_id) {
            // LeaveGroup v3+ may name a static member by instance id alone.
            (true, Some(instance)) => match self.static_members.get(instance) {
                Some(id) => id.clone(),
                None => return ec::UNKNOWN_MEMBER_ID,
            },
            _ => {
                if let Some(code) = self.check_static(member_id, instance_id) {
                    return code;
                }
                member_id.to_string()
            }
        };
        if self.pending.remove(&member_id).is_some() {
            return ec::NONE;
        }
        if !self.members.contains_key(&member_id) {
            return ec::UNKNOWN_MEMBER_ID;
        }
        self.remove_member(&member_id);
        self.after_departure(now);
        ec::NONE
    }

    fn remove_member(&mut self, member_id: &str) {
        if let Some(mut member) = self.members.shift_remove(member_id) {
            if let Some(instance_id) = &member.instance_id {
                if self.static_members.get(instance_id).map(String::as_str) == Some(member_id) {
                    self.static_members.remove(instance_id);
                }
            }
            if let Some(waiter) = member.join_waiter.take() {
                let _ = waiter.send(error_join(ec::UNKNOWN_MEMBER_ID, member_id));
            }
            if let Some(waiter) = member.sync_waiter.take() {
                let _ = waiter.send(SyncResult {
                    error_code: ec::UNKNOWN_MEMBER_ID,
                    ..Default::default()
                });
            }
        }
        self.joined.retain(|id| id != member_id);
    }

    fn after_departure(&mut self, now: Instant) {
        match self.state {
            ClassicState::Stable | ClassicState::CompletingRebalance => self.prepare_rebalance(now),
            ClassicState::PreparingRebalance => {}
            ClassicState::Empty => return,
        }
        self.maybe_complete_join(now);
    }

    /// Expires silent members and overdue rebalances.
    pub fn tick(&mut self, now: Instant) {
        self.pending.retain(|_, deadline| *deadline > now);
        let awaiting_join = self.state == ClassicState::PreparingRebalance;
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| !(awaiting_join && m.join_waiter.is_some()))
            .filter(|m| now.duration_since(m.last_heartbeat) > m.session_timeout)
            .map(|m| m.member_id.clone())
            .collect();
        if !expired.is_empty() {
            for id in &expired {
                tracing::info!(group = %self.id, member = %id, "member session expired");
                self.remove_member(id);
            }
            self.after_departure(now);
        }
        self.maybe_complete_join(now);
    }

    /// Everything persisted about the group (offsets are stored separately).
    pub fn generation_record(&self) -> GroupRecord {
        GroupRecord {
            protocol_type: self.protocol_type.clone(),
            generation_id: self.generation_id,
        }
    }

    pub fn restore(
        id: String,
        record: &GroupRecord,
        now: Instant,
        initial_delay: Duration,
    ) -> ClassicGroup {
        let mut group = ClassicGroup::new(id, now, initial_delay);
        group.protocol_type = record.protocol_type.clone();
        group.generation_id = record.generation_id;
        group
    }
}

/// The persisted part of a classic group: members rejoin after a coordinator restart, but the
/// generation keeps counting up, so stale members are told ILLEGAL_GENERATION.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct GroupRecord {
    pub protocol_type: Option<String>,
    pub generation_id: i32,
}

fn error_join(code: i16, member_id: &str) -> JoinResult {
    JoinResult {
        error_code: code,
        generation_id: -1,
        member_id: member_id.to_string(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(member_id: &str, instance_id: Option<&str>) -> JoinRequest {
        JoinRequest {
            member_id: member_id.into(),
            instance_id: instance_id.map(String::from),
            client_id: "c".into(),
            client_host: "h".into(),
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(5),
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"m"))],
            require_known_member_id: false,
        }
    }

    fn now_result(reply: Reply<JoinResult>) -> JoinResult {
        match reply {
            Reply::Now(result) => result,
            Reply::Wait(mut receiver) => receiver.try_recv().expect("join completed"),
        }
    }

    #[test]
    fn two_members_then_one_leaves() {
        let t0 = Instant::now();
        let mut group = ClassicGroup::new("g".into(), t0, Duration::ZERO);
        let a = now_result(group.join(request("", None), t0));
        assert_eq!((a.error_code, a.generation_id), (ec::NONE, 1));
        // B joins: A must rejoin before generation 2 completes.
        let Reply::Wait(mut b) = group.join(request("", None), t0) else {
            panic!("B waits")
        };
        assert!(b.try_recv().is_err());
        assert_eq!(
            group.heartbeat(&a.member_id, None, 1, t0),
            ec::REBALANCE_IN_PROGRESS
        );
        let a2 = now_result(group.join(request(&a.member_id, None), t0));
        let b2 = b.try_recv().expect("B completes with A");
        assert_eq!((a2.generation_id, b2.generation_id), (2, 2));
        assert_eq!(a2.members.len(), 2, "the leader gets every member");
        assert!(b2.members.is_empty());
        assert_eq!(group.leave(&a.member_id, None, t0), ec::NONE);
        assert_eq!(group.state, ClassicState::PreparingRebalance);
    }

    #[test]
    fn silent_members_expire_and_rebalances_time_out() {
        let t0 = Instant::now();
        let mut group = ClassicGroup::new("g".into(), t0, Duration::ZERO);
        let a = now_result(group.join(request("", None), t0));
        let Reply::Wait(mut b) = group.join(request("", None), t0) else {
            panic!("B waits")
        };
        // A never rejoins: after the rebalance timeout B proceeds alone.
        group.tick(t0 + Duration::from_secs(6));
        let b = b.try_recv().expect("rebalance timed out");
        assert_eq!(b.members.len(), 1);
        assert_eq!(
            group.heartbeat(&a.member_id, None, b.generation_id, t0),
            ec::UNKNOWN_MEMBER_ID
        );
        // B stops heartbeating: the session timeout removes it and the group empties.
        group.tick(t0 + Duration::from_secs(30));
        assert_eq!(group.state, ClassicState::Empty);
    }

    #[test]
    fn static_member_restart_fences_the_old_id() {
        let t0 = Instant::now();
        let mut group = ClassicGroup::new("g".into(), t0, Duration::ZERO);
        let first = now_result(group.join(request("", Some("instance-1")), t0));
        let sync = group.sync(
            &first.member_id,
            Some("instance-1"),
            first.generation_id,
            vec![],
            t0,
        );
        assert!(matches!(sync, Reply::Wait(_)));
        let again = now_result(group.join(request("", Some("instance-1")), t0));
        assert_ne!(again.member_id, first.member_id);
        assert_eq!(
            group.heartbeat(
                &first.member_id,
                Some("instance-1"),
                again.generation_id,
                t0
            ),
            ec::FENCED_INSTANCE_ID
        );
    }

    #[test]
    fn initial_delay_gathers_members_into_one_generation() {
        let t0 = Instant::now();
        let mut group = ClassicGroup::new("g".into(), t0, Duration::from_secs(3));
        let Reply::Wait(mut a) = group.join(request("", None), t0) else {
            panic!("A waits")
        };
        let Reply::Wait(mut b) = group.join(request("", None), t0 + Duration::from_secs(1)) else {
            panic!("B waits")
        };
        group.tick(t0 + Duration::from_secs(2));
        assert!(a.try_recv().is_err(), "still inside the initial delay");
        group.tick(t0 + Duration::from_secs(5));
        let (a, b) = (a.try_recv().unwrap(), b.try_recv().unwrap());
        assert_eq!((a.generation_id, b.generation_id), (1, 1));
    }

    #[test]
    fn v4_joins_need_a_member_id_first() {
        let t0 = Instant::now();
        let mut group = ClassicGroup::new("g".into(), t0, Duration::ZERO);
        let required = now_result(group.join(
            JoinRequest {
                require_known_member_id: true,
                ..request("", None)
            },
            t0,
        ));
        assert_eq!(required.error_code, ec::MEMBER_ID_REQUIRED);
        let joined = now_result(group.join(request(&required.member_id, None), t0));
        assert_eq!(
            (joined.error_code, joined.member_id),
            (ec::NONE, required.member_id)
        );
        let other = now_result(group.join(
            JoinRequest {
                protocol_type: "connect".into(),
                ..request("", None)
            },
            t0,
        ));
        assert_eq!(other.error_code, ec::INCONSISTENT_GROUP_PROTOCOL);
    }
}
