//! ACLs on the wire: CreateAcls, DescribeAcls and DeleteAcls as Kafka answers them, and the
//! checks of the APIs a client uses (Metadata, Produce, Fetch, groups) for PLAIN users on a
//! SASL_PLAINTEXT listener, with `User:admin` a super user. ACLs survive a restart.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use protocol_tests::broker::config::{ListenerConfig, SaslConfig, SaslMechanism, SecurityProtocol};
use protocol_tests::broker::security::acl::Authorizer;
use protocol_tests::{fetch_request, record_batch, RawClient, TestBroker};

const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const CLUSTER: i8 = 4;
const ANY: i8 = 1;
const MATCH: i8 = 2;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const READ: i8 = 3;
const WRITE: i8 = 4;
const DENY: i8 = 2;
const ALLOW: i8 = 3;

const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const GROUP_AUTHORIZATION_FAILED: i16 = 30;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const SECURITY_DISABLED: i16 = 54;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

fn secure(config: &mut protocol_tests::broker::config::Config) {
    let mut sasl = ListenerConfig::plaintext("127.0.0.1:0".parse().unwrap());
    sasl.name = "SASL_PLAINTEXT".into();
    sasl.protocol = SecurityProtocol::SaslPlaintext;
    sasl.sasl = Some(SaslConfig {
        mechanisms: vec![SaslMechanism::Plain],
        plain_users: BTreeMap::from([
            ("admin".into(), "admin-secret".into()),
            ("alice".into(), "alice-secret".into()),
        ]),
    });
    config.listeners.push(sasl);
    config.authorizer = Some(Authorizer {
        super_users: vec!["User:admin".into()],
        allow_everyone_if_no_acl_found: false,
    });
}

async fn login(broker: &TestBroker, user: &str) -> RawClient {
    let mut client = RawClient::connect(broker.addrs[1]).await;
    let handshake = SaslHandshakeRequest::default().with_mechanism(s("PLAIN"));
    assert_eq!(client.request(1, &handshake).await.error_code, 0);
    let token = Bytes::from(format!("\0{user}\0{user}-secret").into_bytes());
    let response = client
        .request(
            2,
            &SaslAuthenticateRequest::default().with_auth_bytes(token),
        )
        .await;
    assert_eq!(response.error_code, 0, "{:?}", response.error_message);
    client
}

fn acl(
    resource_type: i8,
    name: &str,
    pattern: i8,
    principal: &str,
    operation: i8,
    permission: i8,
) -> AclCreation {
    AclCreation::default()
        .with_resource_type(resource_type)
        .with_resource_name(s(name))
        .with_resource_pattern_type(pattern)
        .with_principal(s(principal))
        .with_host(s("*"))
        .with_operation(operation)
        .with_permission_type(permission)
}

async fn create_acls(client: &mut RawClient, creations: Vec<AclCreation>) -> Vec<i16> {
    let response = client
        .request(3, &CreateAclsRequest::default().with_creations(creations))
        .await;
    response.results.iter().map(|r| r.error_code).collect()
}

/// Every binding DescribeAcls returns for `filter`, as (resource, pattern, principal,
/// operation, permission).
async fn describe(
    client: &mut RawClient,
    filter: DescribeAclsRequest,
) -> Vec<(String, i8, String, i8, i8)> {
    let response = client.request(3, &filter).await;
    assert_eq!(response.error_code, 0, "{:?}", response.error_message);
    let mut found = Vec::new();
    for resource in &response.resources {
        for acl in &resource.acls {
            found.push((
                resource.resource_name.to_string(),
                resource.pattern_type,
                acl.principal.to_string(),
                acl.operation,
                acl.permission_type,
            ));
        }
    }
    found
}

/// A filter matching every binding (kafka-protocol's defaults are empty strings, not null).
fn all_acls() -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_name_filter(None)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_resource_type_filter(ANY)
        .with_pattern_type_filter(ANY)
        .with_operation(ANY)
        .with_permission_type(ANY)
}

async fn create_topics(client: &mut RawClient, names: &[&str]) -> Vec<i16> {
    let topics = names
        .iter()
        .map(|name| {
            CreatableTopic::default()
                .with_name(TopicName(s(name)))
                .with_num_partitions(1)
                .with_replication_factor(1)
        })
        .collect();
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(topics);
    let response = client.request(7, &request).await;
    response.topics.iter().map(|t| t.error_code).collect()
}

async fn visible_topics(client: &mut RawClient) -> Vec<String> {
    let all = MetadataRequest::default().with_topics(None);
    let response = client.request(12, &all).await;
    let mut names: Vec<String> = response
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
        .collect();
    names.sort();
    names
}

async fn produce_code(client: &mut RawClient, topic: &str) -> i16 {
    let batch = record_batch(&[(None, Some(b"v".as_slice()))], None);
    client.produce(topic, 0, batch).await.error_code
}

#[tokio::test]
async fn acl_apis_answer_security_disabled_without_an_authorizer() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let created = create_acls(
        &mut client,
        vec![acl(TOPIC, "t", LITERAL, "User:a", READ, ALLOW)],
    )
    .await;
    assert_eq!(created, [SECURITY_DISABLED]);
    let described = client.request(3, &all_acls()).await;
    assert_eq!(described.error_code, SECURITY_DISABLED);
    // Everything else is allowed, as before.
    assert_eq!(create_topics(&mut client, &["free"]).await, [0]);
    assert_eq!(produce_code(&mut client, "free").await, 0);
}

#[tokio::test]
async fn acls_decide_what_a_principal_may_do_and_survive_a_restart() {
    let broker = TestBroker::start_with(secure).await;
    let mut admin = login(&broker, "admin").await;
    let mut alice = login(&broker, "alice").await;

    // Only ALTER on the cluster (or a super user) may create ACLs.
    let refused = create_acls(
        &mut alice,
        vec![acl(TOPIC, "orders", LITERAL, "User:alice", READ, ALLOW)],
    )
    .await;
    assert_eq!(refused, [CLUSTER_AUTHORIZATION_FAILED]);
    assert_eq!(
        alice.request(3, &all_acls()).await.error_code,
        CLUSTER_AUTHORIZATION_FAILED
    );
    assert_eq!(
        create_topics(&mut alice, &["mine"]).await,
        [TOPIC_AUTHORIZATION_FAILED]
    );

    let topics = ["orders", "pay-eu", "pay-secret", "private"];
    assert_eq!(create_topics(&mut admin, &topics).await, [0; 4]);
    let created = create_acls(
        &mut admin,
        vec![
            acl(TOPIC, "orders", LITERAL, "User:alice", READ, ALLOW),
            acl(TOPIC, "pay-", PREFIXED, "User:alice", WRITE, ALLOW),
            acl(TOPIC, "pay-", PREFIXED, "User:alice", READ, ALLOW),
            acl(TOPIC, "pay-secret", LITERAL, "User:*", READ, DENY),
            // Invalid: ANY is a filter, not an operation.
            acl(TOPIC, "orders", LITERAL, "User:alice", ANY, ALLOW),
        ],
    )
    .await;
    assert_eq!(created, [0, 0, 0, 0, 42]);

    // Metadata lists only what alice may describe (READ and WRITE imply DESCRIBE).
    assert_eq!(
        visible_topics(&mut alice).await,
        ["orders", "pay-eu", "pay-secret"]
    );
    let named =
        MetadataRequest::default()
            .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
            )
            .with_name(Some(TopicName(s("private"))))]));
    let response = alice.request(12, &named).await;
    assert_eq!(response.topics[0].error_code, TOPIC_AUTHORIZATION_FAILED);

    assert_eq!(
        produce_code(&mut alice, "orders").await,
        TOPIC_AUTHORIZATION_FAILED
    );
    assert_eq!(produce_code(&mut alice, "pay-eu").await, 0);
    assert_eq!(alice.fetch_error("orders", 0, 0).await, 0);
    assert_eq!(
        alice.fetch_error("private", 0, 0).await,
        TOPIC_AUTHORIZATION_FAILED
    );
    assert_eq!(alice.fetch_error("pay-eu", 0, 0).await, 0);
    assert_eq!(
        alice.fetch_error("pay-secret", 0, 0).await,
        TOPIC_AUTHORIZATION_FAILED,
        "the DENY overrides the prefixed ALLOW"
    );
    // An unknown topic one may not describe does not reveal that it does not exist.
    assert_eq!(
        alice.fetch_error("nowhere", 0, 0).await,
        TOPIC_AUTHORIZATION_FAILED
    );

    // No READ on the group.
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(s(""))
        .with_protocol_type(s("consumer"));
    assert_eq!(
        alice.request(5, &join).await.error_code,
        GROUP_AUTHORIZATION_FAILED
    );
    let find = FindCoordinatorRequest::default().with_key(s("g"));
    assert_eq!(
        alice.request(2, &find).await.error_code,
        GROUP_AUTHORIZATION_FAILED
    );
    assert_eq!(
        create_acls(
            &mut admin,
            vec![acl(GROUP, "g", LITERAL, "User:alice", READ, ALLOW)]
        )
        .await,
        [0]
    );
    assert_eq!(alice.request(2, &find).await.error_code, 0);

    // MATCH: every binding that applies to pay-eu (the two prefixed ones).
    let matching = describe(
        &mut admin,
        all_acls()
            .with_resource_type_filter(TOPIC)
            .with_resource_name_filter(Some(s("pay-eu")))
            .with_pattern_type_filter(MATCH),
    )
    .await;
    assert_eq!(matching.len(), 2, "{matching:?}");
    assert!(matching
        .iter()
        .all(|(name, pattern, ..)| name == "pay-" && *pattern == PREFIXED));

    // DeleteAcls answers what each filter removed; the DENY gone, alice reads pay-secret.
    let any = || {
        DeleteAclsFilter::default()
            .with_resource_name_filter(None)
            .with_principal_filter(None)
            .with_host_filter(None)
    };
    let delete = DeleteAclsRequest::default().with_filters(vec![
        any()
            .with_resource_type_filter(TOPIC)
            .with_resource_name_filter(Some(s("pay-secret")))
            .with_pattern_type_filter(LITERAL)
            .with_operation(ANY)
            .with_permission_type(DENY),
        any()
            .with_resource_type_filter(CLUSTER)
            .with_pattern_type_filter(ANY)
            .with_operation(ANY)
            .with_permission_type(ANY),
    ]);
    let deleted = admin.request(2, &delete).await;
    let counts: Vec<(i16, usize)> = deleted
        .filter_results
        .iter()
        .map(|r| (r.error_code, r.matching_acls.len()))
        .collect();
    assert_eq!(counts, [(0, 1), (0, 0)]);
    assert_eq!(
        deleted.filter_results[0].matching_acls[0]
            .principal
            .as_str(),
        "User:*"
    );
    assert_eq!(alice.fetch_error("pay-secret", 0, 0).await, 0);
    let before = describe(&mut admin, all_acls()).await;
    assert_eq!(before.len(), 4, "{before:?}");

    let (dir, keep) = broker.stop().await;
    let broker = TestBroker::start_in_with(dir, secure).await;
    let mut admin = login(&broker, "admin").await;
    assert_eq!(describe(&mut admin, all_acls()).await, before);
    let mut alice = login(&broker, "alice").await;
    assert_eq!(
        alice.fetch_error("private", 0, 0).await,
        TOPIC_AUTHORIZATION_FAILED
    );
    assert_eq!(alice.fetch_error("orders", 0, 0).await, 0);
    drop(keep);
}

#[tokio::test]
async fn a_plaintext_client_is_anonymous_and_super_users_bypass_the_acls() {
    let broker = TestBroker::start_with(|config| {
        secure(config);
        if let Some(authorizer) = config.authorizer.as_mut() {
            authorizer.super_users.push("User:ANONYMOUS".into());
        }
    })
    .await;
    let mut anonymous = broker.client().await;
    assert_eq!(create_topics(&mut anonymous, &["open"]).await, [0]);
    assert_eq!(produce_code(&mut anonymous, "open").await, 0);
    let response = anonymous.request(12, &fetch_request("open", 0, 0)).await;
    assert_eq!(response.responses[0].partitions[0].error_code, 0);
    let mut alice = login(&broker, "alice").await;
    assert_eq!(
        produce_code(&mut alice, "open").await,
        TOPIC_AUTHORIZATION_FAILED
    );
    assert!(visible_topics(&mut alice).await.is_empty());
}
