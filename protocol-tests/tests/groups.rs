//! Group coordinator APIs at their lowest and highest versions, through raw frames.

use bytes::Bytes;
use kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use protocol_tests::{RawClient, TestBroker};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn group(v: &str) -> GroupId {
    GroupId(s(v))
}

fn topic(v: &str) -> TopicName {
    TopicName(s(v))
}

async fn create_topic(client: &mut RawClient, name: &str, partitions: i32) {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic(name))
            .with_num_partitions(partitions)
            .with_replication_factor(1)]);
    assert_eq!(client.request(7, &request).await.topics[0].error_code, 0);
}

fn join(group_id: &str, member_id: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(group(group_id))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(s(member_id))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(Bytes::from_static(b"meta"))])
}

#[tokio::test]
async fn find_coordinator_single_and_batched() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let v0 = client
        .request(0, &FindCoordinatorRequest::default().with_key(s("g")))
        .await;
    assert_eq!(
        (v0.error_code, v0.node_id.0, v0.port),
        (0, 1, broker.addr.port() as i32)
    );
    let v6 = client
        .request(
            6,
            &FindCoordinatorRequest::default()
                .with_key_type(0)
                .with_coordinator_keys(vec![s("a"), s("b"), s("")]),
        )
        .await;
    let codes: Vec<i16> = v6.coordinators.iter().map(|c| c.error_code).collect();
    assert_eq!(codes, vec![0, 0, 42]);
    // A transaction coordinator: COORDINATOR_NOT_AVAILABLE (retriable) while the first
    // request creates `__transaction_state`, then this broker.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let txn = client
            .request(
                3,
                &FindCoordinatorRequest::default()
                    .with_key(s("tx"))
                    .with_key_type(1),
            )
            .await;
        if txn.error_code == 0 {
            assert_eq!((txn.node_id.0, txn.port), (1, broker.addr.port() as i32));
            break;
        }
        assert_eq!(txn.error_code, 15);
        assert!(
            std::time::Instant::now() < deadline,
            "no transaction coordinator"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let unknown = client
        .request(
            3,
            &FindCoordinatorRequest::default()
                .with_key(s("x"))
                .with_key_type(7),
        )
        .await;
    assert_eq!(unknown.error_code, 42);
}

#[tokio::test]
async fn classic_group_lifecycle_lowest_and_highest() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "gt", 2).await;
    // v0: no member id handshake; the only member leads generation 1.
    let joined = client.request(0, &join("old", "")).await;
    assert_eq!((joined.error_code, joined.generation_id), (0, 1));
    assert_eq!(joined.leader, joined.member_id);
    assert_eq!(joined.members.len(), 1);
    let sync = SyncGroupRequest::default()
        .with_group_id(group("old"))
        .with_generation_id(1)
        .with_member_id(joined.member_id.clone())
        .with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(joined.member_id.clone())
            .with_assignment(Bytes::from_static(b"assigned"))]);
    let synced = client.request(0, &sync).await;
    assert_eq!(
        (synced.error_code, &synced.assignment[..]),
        (0, &b"assigned"[..])
    );
    let heartbeat = HeartbeatRequest::default()
        .with_group_id(group("old"))
        .with_generation_id(1)
        .with_member_id(joined.member_id.clone());
    assert_eq!(client.request(0, &heartbeat).await.error_code, 0);
    assert_eq!(
        client
            .request(0, &heartbeat.clone().with_generation_id(7))
            .await
            .error_code,
        22
    );
    assert_eq!(
        client
            .request(0, &heartbeat.clone().with_member_id(s("ghost")))
            .await
            .error_code,
        25
    );
    let leave = LeaveGroupRequest::default()
        .with_group_id(group("old"))
        .with_member_id(joined.member_id.clone());
    assert_eq!(client.request(0, &leave).await.error_code, 0);

    // v9: MEMBER_ID_REQUIRED first, then a real join.
    let first = client.request(9, &join("new", "")).await;
    assert_eq!(first.error_code, 79);
    assert!(!first.member_id.is_empty());
    let joined = client
        .request(9, &join("new", first.member_id.as_str()))
        .await;
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(joined.protocol_type.as_deref(), Some("consumer"));
    let sync = SyncGroupRequest::default()
        .with_group_id(group("new"))
        .with_generation_id(joined.generation_id)
        .with_member_id(joined.member_id.clone())
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(Some(s("range")))
        .with_assignments(vec![]);
    let synced = client.request(5, &sync).await;
    assert_eq!(
        (synced.error_code, synced.protocol_name.as_deref()),
        (0, Some("range"))
    );
    let heartbeat = HeartbeatRequest::default()
        .with_group_id(group("new"))
        .with_generation_id(joined.generation_id)
        .with_member_id(joined.member_id.clone());
    assert_eq!(client.request(4, &heartbeat).await.error_code, 0);

    let described = client
        .request(
            6,
            &DescribeGroupsRequest::default().with_groups(vec![group("new"), group("nope")]),
        )
        .await;
    assert_eq!(described.groups[0].group_state.as_str(), "Stable");
    assert_eq!(described.groups[0].members.len(), 1);
    // Kafka 4.x (KIP-1043): an unknown group is GROUP_ID_NOT_FOUND from v6 on, Dead before.
    assert_eq!(described.groups[1].error_code, 69);
    assert_eq!(
        described.groups[1].error_message.as_deref(),
        Some("Group nope not found.")
    );
    let v5 = client
        .request(
            5,
            &DescribeGroupsRequest::default().with_groups(vec![group("nope")]),
        )
        .await;
    assert_eq!(
        (v5.groups[0].error_code, v5.groups[0].group_state.as_str()),
        (0, "Dead")
    );
    let low = client
        .request(
            0,
            &DescribeGroupsRequest::default().with_groups(vec![group("new")]),
        )
        .await;
    assert_eq!(low.groups[0].protocol_data.as_str(), "range");

    let listed = client.request(0, &ListGroupsRequest::default()).await;
    assert!(listed.groups.iter().any(|g| g.group_id.as_str() == "new"));
    let stable = client
        .request(
            5,
            &ListGroupsRequest::default().with_states_filter(vec![s("Stable")]),
        )
        .await;
    assert_eq!(stable.groups.len(), 1);
    assert_eq!(stable.groups[0].group_type.as_str(), "classic");

    // A non-empty group cannot be deleted; after the batched leave it can.
    let delete =
        DeleteGroupsRequest::default().with_groups_names(vec![group("new"), group("missing")]);
    let codes: Vec<i16> = client
        .request(2, &delete)
        .await
        .results
        .iter()
        .map(|r| r.error_code)
        .collect();
    assert_eq!(codes, vec![68, 69]);
    let leave = LeaveGroupRequest::default()
        .with_group_id(group("new"))
        .with_members(vec![
            MemberIdentity::default().with_member_id(joined.member_id.clone()),
            MemberIdentity::default().with_member_id(s("x")),
        ]);
    let left = client.request(5, &leave).await;
    assert_eq!(
        left.members
            .iter()
            .map(|m| m.error_code)
            .collect::<Vec<_>>(),
        vec![0, 25]
    );
    let codes: Vec<i16> = client
        .request(
            0,
            &DeleteGroupsRequest::default().with_groups_names(vec![group("new")]),
        )
        .await
        .results
        .iter()
        .map(|r| r.error_code)
        .collect();
    assert_eq!(codes, vec![0]);
}

fn commit(
    group_id: &str,
    generation: i32,
    member: &str,
    partition: i32,
    offset: i64,
) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(group(group_id))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic("ot"))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(partition)
                .with_committed_offset(offset)
                .with_committed_leader_epoch(-1)
                .with_committed_metadata(Some(s("meta")))])])
}

#[tokio::test]
async fn offsets_commit_fetch_delete_and_survive_restart() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "ot", 2).await;
    // Simple (group-less) commits at the lowest and highest versions.
    let response = client.request(2, &commit("og", -1, "", 0, 42)).await;
    assert_eq!(response.topics[0].partitions[0].error_code, 0);
    let response = client.request(9, &commit("og", -1, "", 1, 7)).await;
    assert_eq!(response.topics[0].partitions[0].error_code, 0);
    let response = client.request(9, &commit("og", -1, "", 9, 7)).await;
    assert_eq!(response.topics[0].partitions[0].error_code, 3);

    let v1 = OffsetFetchRequest::default()
        .with_group_id(group("og"))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(topic("ot"))
            .with_partition_indexes(vec![0, 1])]));
    let fetched = client.request(1, &v1).await;
    let offsets: Vec<i64> = fetched.topics[0]
        .partitions
        .iter()
        .map(|p| p.committed_offset)
        .collect();
    assert_eq!(offsets, vec![42, 7]);
    let v9 = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(group("og"))
            .with_member_epoch(-1)
            .with_topics(None),
        OffsetFetchRequestGroup::default()
            .with_group_id(group("other"))
            .with_member_epoch(-1)
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(topic("ot"))
                .with_partition_indexes(vec![0])])),
    ]);
    let fetched = client.request(9, &v9).await;
    assert_eq!(fetched.groups[0].topics[0].partitions.len(), 2);
    assert_eq!(
        fetched.groups[1].topics[0].partitions[0].committed_offset,
        -1
    );

    // Members of a live group must name the current generation.
    let joined = client.request(3, &join("og", "")).await;
    assert_eq!(
        client
            .request(
                7,
                &commit(
                    "og",
                    joined.generation_id + 5,
                    joined.member_id.as_str(),
                    0,
                    1
                )
            )
            .await
            .topics[0]
            .partitions[0]
            .error_code,
        22
    );
    assert_eq!(
        client.request(7, &commit("og", -1, "", 0, 1)).await.topics[0].partitions[0].error_code,
        25
    );
    let delete = OffsetDeleteRequest::default()
        .with_group_id(group("og"))
        .with_topics(vec![OffsetDeleteRequestTopic::default()
            .with_name(topic("ot"))
            .with_partitions(vec![
                OffsetDeleteRequestPartition::default().with_partition_index(1)
            ])]);
    let refused = client.request(0, &delete).await;
    assert_eq!(refused.topics[0].partitions[0].error_code, 86);
    let leave = LeaveGroupRequest::default()
        .with_group_id(group("og"))
        .with_member_id(joined.member_id.clone());
    assert_eq!(client.request(1, &leave).await.error_code, 0);
    let deleted = client.request(0, &delete).await;
    assert_eq!(
        (
            deleted.error_code,
            deleted.topics[0].partitions[0].error_code
        ),
        (0, 0)
    );

    drop(client);
    let (dir, keep) = broker.stop().await;
    let broker = TestBroker::start_in(dir).await;
    let mut client = broker.client().await;
    let fetched = client.request(1, &v1).await;
    let offsets: Vec<i64> = fetched.topics[0]
        .partitions
        .iter()
        .map(|p| p.committed_offset)
        .collect();
    assert_eq!(
        offsets,
        vec![42, -1],
        "commits survive a restart, the deleted one stays deleted"
    );
    assert_eq!(
        fetched.topics[0].partitions[0].metadata.as_deref(),
        Some("meta")
    );
    drop(keep);
}

#[tokio::test]
async fn consumer_group_heartbeat_and_describe() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "kt", 4).await;
    let heartbeat = |member: &str, epoch: i32| {
        ConsumerGroupHeartbeatRequest::default()
            .with_group_id(group("kg"))
            .with_member_id(s(member))
            .with_member_epoch(epoch)
            .with_rebalance_timeout_ms(10_000)
            .with_subscribed_topic_names(Some(vec![topic("kt")]))
    };
    let first = client.request(0, &heartbeat("", 0)).await;
    assert_eq!(first.error_code, 0);
    let member_a = first.member_id.clone().unwrap();
    let assigned = first.assignment.as_ref().unwrap();
    assert_eq!(assigned.topic_partitions[0].partitions, vec![0, 1, 2, 3]);
    // v1: the client picks its member id. B must wait for A to release half.
    let second = client
        .request(1, &heartbeat("member-b-0000000000000000", 0))
        .await;
    assert_eq!(second.error_code, 0);
    let empty = second.assignment.as_ref().map_or(0, |a| {
        a.topic_partitions
            .iter()
            .map(|t| t.partitions.len())
            .sum::<usize>()
    });
    assert_eq!(empty, 0, "nothing is handed out that A still owns");
    let a_again = client
        .request(
            1,
            &heartbeat(member_a.as_str(), first.member_epoch).with_subscribed_topic_names(None),
        )
        .await;
    let kept: Vec<i32> = a_again.assignment.unwrap().topic_partitions[0]
        .partitions
        .clone();
    assert_eq!(kept.len(), 2);
    // A reports it let go; now B gets the other two.
    let topic_id = assigned.topic_partitions[0].topic_id;
    let report = heartbeat(member_a.as_str(), a_again.member_epoch)
        .with_subscribed_topic_names(None)
        .with_topic_partitions(Some(vec![TopicPartitions::default()
            .with_topic_id(topic_id)
            .with_partitions(kept.clone())]));
    assert_eq!(client.request(1, &report).await.error_code, 0);
    let b_again = client
        .request(
            1,
            &heartbeat("member-b-0000000000000000", second.member_epoch)
                .with_subscribed_topic_names(None),
        )
        .await;
    let got: Vec<i32> = b_again.assignment.unwrap().topic_partitions[0]
        .partitions
        .clone();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|p| !kept.contains(p)));
    // A stale epoch is fenced.
    assert_eq!(
        client
            .request(1, &heartbeat(member_a.as_str(), 999))
            .await
            .error_code,
        110
    );

    for version in [0, 1] {
        let described = client
            .request(
                version,
                &ConsumerGroupDescribeRequest::default()
                    .with_group_ids(vec![group("kg"), group("none")]),
            )
            .await;
        assert_eq!(described.groups[0].error_code, 0);
        assert_eq!(described.groups[0].members.len(), 2);
        assert_eq!(described.groups[1].error_code, 69);
    }
    let leave = client.request(1, &heartbeat(member_a.as_str(), -1)).await;
    assert_eq!((leave.error_code, leave.member_epoch), (0, -1));
    let listed = client
        .request(
            5,
            &ListGroupsRequest::default().with_types_filter(vec![s("consumer")]),
        )
        .await;
    assert_eq!(listed.groups.len(), 1);
}

#[tokio::test]
async fn consumer_group_members_survive_a_restart() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "rt", 2).await;
    let join = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(group("rg"))
        .with_member_id(s("member-r-000000000000000000"))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(10_000)
        .with_subscribed_topic_names(Some(vec![topic("rt")]));
    let joined = client.request(1, &join).await;
    assert_eq!(joined.error_code, 0);
    drop(client);
    let (dir, keep) = broker.stop().await;
    let broker = TestBroker::start_in(dir).await;
    let mut client = broker.client().await;
    // The member's epoch is still valid for commits and heartbeats.
    let commit = OffsetCommitRequest::default()
        .with_group_id(group("rg"))
        .with_generation_id_or_member_epoch(joined.member_epoch)
        .with_member_id(s("member-r-000000000000000000"))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic("rt"))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(5)
                .with_committed_leader_epoch(-1)])]);
    assert_eq!(
        client.request(9, &commit).await.topics[0].partitions[0].error_code,
        0
    );
    let again = join
        .clone()
        .with_member_epoch(joined.member_epoch)
        .with_subscribed_topic_names(None);
    let beat = client.request(1, &again).await;
    assert_eq!(
        (beat.error_code, beat.member_epoch),
        (0, joined.member_epoch)
    );
    drop(keep);
}

/// One OffsetCommit request per group carrying several partitions of several topics, for
/// groups that share one `__consumer_offsets` partition: every committed offset survives a
/// restart, not only one per request (issue 20).
#[tokio::test]
async fn multi_partition_commits_of_groups_sharing_a_partition_survive_restart() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "ma", 3).await;
    create_topic(&mut client, "mb", 2).await;
    // Three groups in the same offsets partition (the test broker has 4).
    let count = 4;
    let index = |g: &str| (broker::group::java_hash(g) & 0x7fff_ffff) % count;
    let groups: Vec<String> = (0..)
        .map(|i| format!("shared-{i}"))
        .filter(|g| index(g) == index("shared-0"))
        .take(3)
        .collect();
    let commit_all = |group_id: &str, base: i64| {
        let partitions = |n: i32, base: i64| {
            (0..n)
                .map(|p| {
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(p)
                        .with_committed_offset(base + p as i64)
                        .with_committed_leader_epoch(-1)
                        .with_committed_metadata(Some(s(&format!("m{p}"))))
                })
                .collect::<Vec<_>>()
        };
        OffsetCommitRequest::default()
            .with_group_id(group(group_id))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(s(""))
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(topic("ma"))
                    .with_partitions(partitions(3, base)),
                OffsetCommitRequestTopic::default()
                    .with_name(topic("mb"))
                    .with_partitions(partitions(2, base + 100)),
            ])
    };
    for (i, g) in groups.iter().enumerate() {
        let response = client
            .request(9, &commit_all(g, 1000 * (i as i64 + 1)))
            .await;
        for t in &response.topics {
            for p in &t.partitions {
                assert_eq!(
                    p.error_code, 0,
                    "commit {g} {:?} {}",
                    t.name, p.partition_index
                );
            }
        }
    }
    // Overwrite one partition of the first group in a later request: the newest value wins.
    let overwrite = OffsetCommitRequest::default()
        .with_group_id(group(&groups[0]))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(s(""))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic("ma"))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(1)
                .with_committed_offset(5)
                .with_committed_leader_epoch(3)
                .with_committed_metadata(Some(s("newer")))])]);
    assert_eq!(
        client.request(9, &overwrite).await.topics[0].partitions[0].error_code,
        0
    );

    async fn all_offsets(
        client: &mut RawClient,
        groups: &[String],
    ) -> Vec<(String, String, i32, i64, i32, String)> {
        let request = OffsetFetchRequest::default().with_groups(
            groups
                .iter()
                .map(|g| {
                    OffsetFetchRequestGroup::default()
                        .with_group_id(group(g))
                        .with_member_epoch(-1)
                        .with_topics(None)
                })
                .collect(),
        );
        let response = client.request(9, &request).await;
        let mut out = Vec::new();
        for g in &response.groups {
            assert_eq!(g.error_code, 0);
            for t in &g.topics {
                for p in &t.partitions {
                    out.push((
                        g.group_id.to_string(),
                        t.name.to_string(),
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.metadata.as_deref().unwrap_or("").to_string(),
                    ));
                }
            }
        }
        out.sort();
        out
    }

    let before = all_offsets(&mut client, &groups).await;
    assert_eq!(
        before.len(),
        15,
        "5 partitions for each of 3 groups: {before:?}"
    );
    assert!(before.contains(&(groups[0].clone(), "ma".into(), 1, 5, 3, "newer".into())));
    assert!(before.contains(&(groups[2].clone(), "mb".into(), 1, 3101, -1, "m1".into())));

    drop(client);
    let (dir, keep) = broker.stop().await;
    let broker = TestBroker::start_in(dir).await;
    let mut client = broker.client().await;
    let after = loop {
        // The coordinator loads its partitions right after startup.
        let response = client
            .request(
                9,
                &OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default(
                )
                .with_group_id(group(&groups[0]))
                .with_member_epoch(-1)
                .with_topics(None)]),
            )
            .await;
        if response.groups[0].error_code == 0 {
            break all_offsets(&mut client, &groups).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(after, before, "every committed offset survives the restart");
    // Known only by its offsets, the group is an Empty classic group, as in Kafka.
    let described = client
        .request(
            6,
            &DescribeGroupsRequest::default().with_groups(vec![group(&groups[1])]),
        )
        .await;
    assert_eq!(
        (
            described.groups[0].error_code,
            described.groups[0].group_state.as_str()
        ),
        (0, "Empty")
    );
    drop(keep);
}
