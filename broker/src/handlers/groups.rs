//! Classic consumer group APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
//! DescribeGroups, ListGroups, DeleteGroups.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator as CoordinatorEntry;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::access::Access;
use super::{str_bytes, Ctx};
use crate::group::classic::{JoinRequest, JoinResult};
use crate::group::Group;
use crate::protocol::error_codes as ec;
use crate::security::acl::{Operation, ResourceType};
use crate::security::Session;

/// group.min.session.timeout.ms and group.max.session.timeout.ms.
const SESSION_TIMEOUT_MIN: Duration = Duration::from_millis(6_000);
const SESSION_TIMEOUT_MAX: Duration = Duration::from_millis(1_800_000);
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

fn opt_str(s: Option<&str>) -> Option<StrBytes> {
    s.map(str_bytes)
}

/// Where a coordinator lives: node id, host and port.
type Location = (i32, String, i32);

/// The coordinator for a key: the broker leading the group's `__consumer_offsets` partition,
/// or the transactional id's `__transaction_state` partition.
fn locate(
    ctx: &Ctx,
    access: &Access,
    listener: &str,
    key: &str,
    key_type: i8,
) -> Result<Location, (i16, Option<String>)> {
    // Kafka: DESCRIBE on the group, or on the transactional id.
    let denied = match key_type {
        KEY_TYPE_TRANSACTION => access.transactional_id_code(Operation::Describe, key).err(),
        KEY_TYPE_GROUP => access.group_code(Operation::Describe, key).err(),
        _ => None,
    };
    if let Some(code) = denied {
        return Err((code, None));
    }
    if key_type == KEY_TYPE_TRANSACTION {
        if key.is_empty() {
            return Err((
                ec::INVALID_REQUEST,
                Some("Transactional id must not be empty".into()),
            ));
        }
        let node = ctx
            .txns
            .coordinator_node(key)
            .map_err(|code| (code, None))?;
        return broker_location(ctx, listener, node);
    }
    if key_type != KEY_TYPE_GROUP {
        return Err((
            ec::INVALID_REQUEST,
            Some(format!("Unknown coordinator type {key_type}")),
        ));
    }
    if key.is_empty() {
        return Err((
            ec::INVALID_REQUEST,
            Some("Group id must not be empty".into()),
        ));
    }
    let node = ctx
        .groups
        .coordinator_node(key)
        .map_err(|code| (code, None))?;
    broker_location(ctx, listener, node)
}

/// The broker's address on the listener the client came in on.
fn broker_location(
    ctx: &Ctx,
    listener: &str,
    node: u64,
) -> Result<Location, (i16, Option<String>)> {
    let image = ctx.metadata.current();
    ctx.endpoints(&image, listener)
        .into_iter()
        .find(|(id, _)| *id == node)
        .map(|(id, endpoint)| (id as i32, endpoint.host, endpoint.port))
        .ok_or((ec::COORDINATOR_NOT_AVAILABLE, None))
}

pub fn find_coordinator(
    ctx: &Arc<Ctx>,
    session: &Arc<Session>,
    version: i16,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let access = ctx.access(session, ApiKey::FindCoordinator);
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .map(|key| {
                let entry = CoordinatorEntry::default().with_key(key.clone());
                match locate(
                    ctx,
                    &access,
                    &session.listener.name,
                    key.as_str(),
                    request.key_type,
                ) {
                    Ok((node, host, port)) => entry
                        .with_error_code(ec::NONE)
                        .with_node_id(BrokerId(node))
                        .with_host(str_bytes(&host))
                        .with_port(port),
                    Err((code, message)) => entry
                        .with_error_code(code)
                        .with_node_id(BrokerId(-1))
                        .with_host(str_bytes(""))
                        .with_port(-1)
                        .with_error_message(opt_str(message.as_deref())),
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let listener = &session.listener.name;
    let (code, message, location) = match locate(
        ctx,
        &access,
        listener,
        request.key.as_str(),
        request.key_type,
    ) {
        Ok(location) => (ec::NONE, None, Some(location)),
        Err((code, message)) => (code, message, None),
    };
    let response = FindCoordinatorResponse::default().with_error_code(code);
    let response = if version >= 1 {
        response.with_error_message(opt_str(message.as_deref()))
    } else {
        response
    };
    match location {
        Some((node, host, port)) => response
            .with_node_id(BrokerId(node))
            .with_host(str_bytes(&host))
            .with_port(port),
        None => response
            .with_node_id(BrokerId(-1))
            .with_host(str_bytes(""))
            .with_port(-1),
    }
}

pub async fn join_group(
    ctx: &Arc<Ctx>,
    access: Access,
    header: &RequestHeader,
    request: JoinGroupRequest,
) -> JoinGroupResponse {
    let version = header.request_api_version;
    let group_id = request.group_id.to_string();
    let error = |code: i16, member_id: &str| {
        JoinGroupResponse::default()
            .with_error_code(code)
            .with_generation_id(-1)
            .with_member_id(str_bytes(member_id))
            .with_leader(str_bytes(""))
            .with_protocol_name(if version >= 7 {
                None
            } else {
                Some(str_bytes(""))
            })
    };
    if let Err(code) = access.group_code(Operation::Read, &group_id) {
        return error(code, request.member_id.as_str());
    }
    if group_id.is_empty() {
        return error(ec::INVALID_GROUP_ID, request.member_id.as_str());
    }
    if let Err(code) = ctx.groups.partition_for(&group_id) {
        return error(code, request.member_id.as_str());
    }
    let session_timeout = Duration::from_millis(request.session_timeout_ms.max(0) as u64);
    if !(SESSION_TIMEOUT_MIN..=SESSION_TIMEOUT_MAX).contains(&session_timeout) {
        return error(ec::INVALID_SESSION_TIMEOUT, request.member_id.as_str());
    }
    // v0 has no rebalance timeout: it is the session timeout.
    let rebalance_timeout = if version >= 1 {
        Duration::from_millis(request.rebalance_timeout_ms.max(0) as u64)
    } else {
        session_timeout
    };
    let join = JoinRequest {
        member_id: request.member_id.to_string(),
        instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
        client_id: header
            .client_id
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        client_host: "/127.0.0.1".into(),
        session_timeout,
        rebalance_timeout,
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.clone()))
            .collect(),
        require_known_member_id: version >= 4,
    };
    let result = ctx.groups.join(&group_id, join).await;
    join_response(version, result)
}

fn join_response(version: i16, result: JoinResult) -> JoinGroupResponse {
    let members = result
        .members
        .into_iter()
        .map(|(member_id, instance_id, metadata)| {
            let member = JoinGroupResponseMember::default()
                .with_member_id(str_bytes(&member_id))
                .with_metadata(metadata);
            if version >= 5 {
                member.with_group_instance_id(opt_str(instance_id.as_deref()))
            } else {
                member
            }
        })
        .collect();
    let protocol_name = match (result.protocol_name, version >= 7) {
        (Some(name), _) => Some(str_bytes(&name)),
        (None, true) => None,
        (None, false) => Some(str_bytes("")),
    };
    let mut response = JoinGroupResponse::default()
        .with_error_code(result.error_code)
        .with_generation_id(result.generation_id)
        .with_protocol_name(protocol_name)
        .with_leader(str_bytes(&result.leader))
        .with_member_id(str_bytes(&result.member_id))
        .with_members(members);
    if version >= 7 {
        response = response.with_protocol_type(opt_str(result.protocol_type.as_deref()));
    }
    response
}

pub async fn sync_group(
    ctx: &Arc<Ctx>,
    access: Access,
    version: i16,
    request: SyncGroupRequest,
) -> SyncGroupResponse {
    let group_id = request.group_id.to_string();
    if let Err(code) = access.group_code(Operation::Read, &group_id) {
        return SyncGroupResponse::default().with_error_code(code);
    }
    if let Err(code) = ctx.groups.partition_for(&group_id) {
        return SyncGroupResponse::default().with_error_code(code);
    }
    let assignments = request
        .assignments
        .iter()
        .map(|a| (a.member_id.to_string(), a.assignment.clone()))
        .collect();
    let instance_id = request.group_instance_id.as_ref().map(|s| s.to_string());
    let result = ctx
        .groups
        .sync(
            &group_id,
            request.member_id.as_str(),
            instance_id.as_deref(),
            request.generation_id,
            assignments,
        )
        .await;
    // v5 clients send the protocol they expect; a mismatch is INCONSISTENT_GROUP_PROTOCOL.
    let mismatch = |sent: &Option<StrBytes>, ours: &Option<String>| {
        sent.as_ref()
            .is_some_and(|s| ours.as_deref().is_some_and(|o| o != s.as_str()))
    };
    if result.error_code == ec::NONE
        && (mismatch(&request.protocol_type, &result.protocol_type)
            || mismatch(&request.protocol_name, &result.protocol_name))
    {
        return SyncGroupResponse::default().with_error_code(ec::INCONSISTENT_GROUP_PROTOCOL);
    }
    let response = SyncGroupResponse::default()
        .with_error_code(result.error_code)
        .with_assignment(result.assignment);
    if version >= 5 {
        response
            .with_protocol_type(opt_str(result.protocol_type.as_deref()))
            .with_protocol_name(opt_str(result.protocol_name.as_deref()))
    } else {
        response
    }
}

pub fn heartbeat(ctx: &Arc<Ctx>, access: Access, request: HeartbeatRequest) -> HeartbeatResponse {
    let group_id = request.group_id.to_string();
    if let Err(code) = access.group_code(Operation::Read, &group_id) {
        return HeartbeatResponse::default().with_error_code(code);
    }
    if let Err(code) = ctx.groups.partition_for(&group_id) {
        return HeartbeatResponse::default().with_error_code(code);
    }
    let instance_id = request.group_instance_id.as_ref().map(|s| s.to_string());
    let code = ctx.groups.heartbeat(
        &group_id,
        request.member_id.as_str(),
        instance_id.as_deref(),
        request.generation_id,
    );
    HeartbeatResponse::default().with_error_code(code)
}

pub fn leave_group(
    ctx: &Arc<Ctx>,
    access: Access,
    version: i16,
    request: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let group_id = request.group_id.to_string();
    if let Err(code) = access.group_code(Operation::Read, &group_id) {
        return LeaveGroupResponse::default().with_error_code(code);
    }
    if let Err(code) = ctx.groups.partition_for(&group_id) {
        return LeaveGroupResponse::default().with_error_code(code);
    }
    if version < 3 {
        let code = ctx
            .groups
            .leave(&group_id, request.member_id.as_str(), None);
        return LeaveGroupResponse::default().with_error_code(code);
    }
    let members = request
        .members
        .iter()
        .map(|m| {
            let instance_id = m.group_instance_id.as_ref().map(|s| s.to_string());
            let code = ctx
                .groups
                .leave(&group_id, m.member_id.as_str(), instance_id.as_deref());
            MemberResponse::default()
                .with_member_id(m.member_id.clone())
                .with_group_instance_id(m.group_instance_id.clone())
                .with_error_code(code)
        })
        .collect();
    LeaveGroupResponse::default()
        .with_error_code(ec::NONE)
        .with_members(members)
}

pub fn describe_groups(
    ctx: &Arc<Ctx>,
    access: Access,
    version: i16,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let groups = request
        .groups
        .iter()
        .map(|group_id| {
            let described = DescribedGroup::default().with_group_id(group_id.clone());
            if let Err(code) = access.group_code(Operation::Describe, group_id) {
                return described.with_error_code(code);
            }
            if let Err(code) = ctx.groups.partition_for(group_id.as_str()) {
                return described.with_error_code(code);
            }
            let has_offsets = ctx.groups.has_offsets(group_id.as_str());
            ctx.groups.with_group(group_id.as_str(), |group| {
                describe_one(described, version, group, has_offsets)
            })
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}

/// One group as Kafka 4.x describes it. A group known only by its committed offsets is an
/// Empty classic group (as Kafka, which keeps such a group until its offsets are gone); an
/// unknown one is GROUP_ID_NOT_FOUND from v6 on (KIP-1043) and Dead before.
fn describe_one(
    described: DescribedGroup,
    version: i16,
    group: Option<&Group>,
    has_offsets: bool,
) -> DescribedGroup {
    let described = described.with_error_code(ec::NONE);
    let described = if version >= 3 {
        described.with_authorized_operations(i32::MIN)
    } else {
        described
    };
    let group_id = described.group_id.to_string();
    match group {
        None if has_offsets => described
            .with_group_state(str_bytes("Empty"))
            .with_protocol_type(str_bytes(""))
            .with_protocol_data(str_bytes("")),
        None if version >= 6 => described
            .with_error_code(ec::GROUP_ID_NOT_FOUND)
            .with_error_message(Some(str_bytes(&format!("Group {group_id} not found.")))),
        None => described
            .with_group_state(str_bytes("Dead"))
            .with_protocol_type(str_bytes(""))
            .with_protocol_data(str_bytes("")),
        Some(Group::Consumer(_)) if version >= 6 => described
            .with_error_code(ec::GROUP_ID_NOT_FOUND)
            .with_error_message(Some(str_bytes(&format!(
                "Group {group_id} is not a classic group."
            )))),
        Some(Group::Consumer(g)) => described
            .with_group_state(str_bytes(g.state()))
            .with_protocol_type(str_bytes("consumer"))
            .with_protocol_data(str_bytes("")),
        Some(Group::Classic(g)) => {
            let protocol = g.protocol_name.clone().unwrap_or_default();
            let members = g
                .members
                .values()
                .map(|m| {
                    let member = DescribedGroupMember::default()
                        .with_member_id(str_bytes(&m.member_id))
                        .with_client_id(str_bytes(&m.client_id))
                        .with_client_host(str_bytes(&m.client_host))
                        .with_member_metadata(m.metadata(&protocol))
                        .with_member_assignment(m.assignment.clone());
                    if version >= 4 {
                        member.with_group_instance_id(opt_str(m.instance_id.as_deref()))
                    } else {
                        member
                    }
                })
                .collect();
            described
                .with_group_state(str_bytes(g.state.name()))
                .with_protocol_type(str_bytes(g.protocol_type.as_deref().unwrap_or("")))
                .with_protocol_data(str_bytes(&protocol))
                .with_members(members)
        }
    }
}

pub fn list_groups(
    ctx: &Arc<Ctx>,
    access: Access,
    version: i16,
    request: ListGroupsRequest,
) -> ListGroupsResponse {
    // Kafka: every group with DESCRIBE on the cluster, else those one may DESCRIBE.
    let all = access.cluster_quietly(Operation::Describe);
    let states: Vec<String> = request
        .states_filter
        .iter()
        .map(|s| s.to_lowercase())
        .collect();
    let types: Vec<String> = request
        .types_filter
        .iter()
        .map(|s| s.to_lowercase())
        .collect();
    let groups = ctx
        .groups
        .list()
        .into_iter()
        .filter(|(_, _, state, _)| states.is_empty() || states.contains(&state.to_lowercase()))
        .filter(|(_, _, _, kind)| types.is_empty() || types.iter().any(|t| t == kind))
        .filter(|(id, _, _, _)| all || access.quietly(Operation::Describe, ResourceType::Group, id))
        .map(|(id, protocol_type, state, kind)| {
            let listed = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(&id)))
                .with_protocol_type(str_bytes(&protocol_type));
            let listed = if version >= 4 {
                listed.with_group_state(str_bytes(state))
            } else {
                listed
            };
            if version >= 5 {
                listed.with_group_type(str_bytes(kind))
            } else {
                listed
            }
        })
        .collect();
    ListGroupsResponse::default()
        .with_error_code(ec::NONE)
        .with_groups(groups)
}

pub async fn delete_groups(
    ctx: &Arc<Ctx>,
    access: Access,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let mut results = Vec::new();
    for group_id in &request.groups_names {
        let allowed = access.group_code(Operation::Delete, group_id);
        let code = match allowed.and_then(|_| ctx.groups.partition_for(group_id.as_str())) {
            Err(code) => code,
            Ok(_) => ctx.groups.delete_group(group_id.as_str()).await,
        };
        results.push(
            DeletableGroupResult::default()
                .with_group_id(group_id.clone())
                .with_error_code(code),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}
