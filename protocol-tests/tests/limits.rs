//! Limits (README "Limits"): each one hit through raw frames, answered with Kafka's error or a
//! closed connection, as Apache Kafka 4.3.1 does where it has the same limit.

use std::time::Duration;

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use protocol_tests::{fetch_request, record_batch, RawClient, TestBroker};

const POLICY_VIOLATION: i16 = 44;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const INVALID_REPLICATION_FACTOR: i16 = 38;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn topic(topic: &str, partitions: i32, factor: i16) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(name(topic))
        .with_num_partitions(partitions)
        .with_replication_factor(factor)
}

async fn create(
    client: &mut RawClient,
    topics: Vec<CreatableTopic>,
    validate_only: bool,
) -> Vec<i16> {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_validate_only(validate_only)
        .with_topics(topics);
    let response = client.request(7, &request).await;
    response.topics.iter().map(|t| t.error_code).collect()
}

async fn grow(client: &mut RawClient, topic: &str, count: i32, validate_only: bool) -> i16 {
    let request = CreatePartitionsRequest::default()
        .with_timeout_ms(10_000)
        .with_validate_only(validate_only)
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(name(topic))
            .with_count(count)]);
    client.request(3, &request).await.results[0].error_code
}

#[tokio::test]
async fn partition_counts_are_bounded_per_request_and_per_broker() {
    let broker = TestBroker::start_with(|config| config.broker_partitions_max = 60).await;
    let mut client = broker.client().await;
    // Kafka 4.3.1 answers these exactly so (its controller's per-request bound is 10,000).
    assert_eq!(
        create(&mut client, vec![topic("huge", 2_000_000_000, 1)], false).await,
        [POLICY_VIOLATION]
    );
    assert_eq!(
        create(&mut client, vec![topic("huge", 10_001, 1)], true).await,
        [POLICY_VIOLATION]
    );
    assert_eq!(
        create(
            &mut client,
            vec![topic("a", 6_000, 1), topic("b", 6_000, 1)],
            true
        )
        .await,
        [POLICY_VIOLATION, POLICY_VIOLATION],
        "6,000 is over max.broker.partitions here; 12,000 over the request bound"
    );
    assert_eq!(
        create(&mut client, vec![topic("rf", 1, 30_000)], false).await,
        [INVALID_REPLICATION_FACTOR]
    );
    // max.broker.partitions: 4 __consumer_offsets partitions (test config) + 40 + 20 > 60.
    assert_eq!(
        create(&mut client, vec![topic("forty", 40, 1)], false).await,
        [0]
    );
    assert_eq!(
        create(&mut client, vec![topic("twenty", 20, 1)], true).await,
        [POLICY_VIOLATION]
    );
    assert_eq!(
        create(&mut client, vec![topic("ten", 10, 1)], false).await,
        [0]
    );
    assert_eq!(grow(&mut client, "ten", 20, true).await, POLICY_VIOLATION);
    assert_eq!(
        grow(&mut client, "ten", 2_000_000_000, false).await,
        POLICY_VIOLATION
    );
    assert_eq!(grow(&mut client, "ten", 12, false).await, 0);
    let metadata = client
        .request(12, &MetadataRequest::default().with_topics(None))
        .await;
    let partitions: usize = metadata.topics.iter().map(|t| t.partitions.len()).sum();
    assert_eq!(partitions, 4 + 40 + 12, "nothing refused was created");
}

#[tokio::test]
async fn consumer_offsets_cannot_grow_or_lose_records() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    assert_eq!(
        grow(&mut client, "__consumer_offsets", 20, false).await,
        POLICY_VIOLATION
    );
    let request = DeleteRecordsRequest::default()
        .with_timeout_ms(5_000)
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name(name("__consumer_offsets"))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(0)
                .with_offset(-1)])]);
    let response = client.request(2, &request).await;
    // As Kafka 4.3.1: "Broker: Invalid topic".
    assert_eq!(
        response.topics[0].partitions[0].error_code,
        INVALID_TOPIC_EXCEPTION
    );
}

/// FindCoordinator v4 (flexible: compact strings with a varint length) for one group.
fn find_coordinator(client: &mut RawClient, group: &str) -> bytes::BytesMut {
    let request = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![StrBytes::from_string(group.to_string())]);
    client.encode_request(4, &request)
}

#[tokio::test]
async fn strings_longer_than_kafka_allows_close_the_connection() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let longest = "g".repeat(i16::MAX as usize);
    let frame = find_coordinator(&mut client, &longest);
    client.send_frame(&frame).await;
    assert!(
        client.recv_frame().await.is_some(),
        "32,767 bytes is a valid group id"
    );
    // Kafka: "string field coordinatorKeys element had invalid length 32768", connection closed.
    // A group id of 64 KiB would otherwise reach keys that store its length in 16 bits.
    for length in [i16::MAX as usize + 1, 70_000] {
        let mut client = broker.client().await;
        let frame = find_coordinator(&mut client, &"g".repeat(length));
        client.send_frame(&frame).await;
        assert!(
            client.recv_frame().await.is_none(),
            "{length}-byte group id"
        );
    }
}

fn produce_frame(client: &mut RawClient, topic: &str, acks: i16, value: &[u8]) -> bytes::BytesMut {
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(record_batch(&[(None, Some(value))], None)))])]);
    client.encode_request(9, &request)
}

#[tokio::test]
async fn fetch_responses_are_bounded_by_fetch_max_bytes() {
    let broker = TestBroker::start_with(|config| config.fetch_bytes_max = 100_000).await;
    let mut client = broker.client().await;
    assert_eq!(
        create(&mut client, vec![topic("big", 1, 1)], false).await,
        [0]
    );
    let value = vec![7u8; 60_000];
    for _ in 0..3 {
        let batch = record_batch(&[(None, Some(&value))], None);
        assert_eq!(client.produce("big", 0, batch).await.error_code, 0);
    }
    let request = FetchRequest::default()
        .with_max_wait_ms(100)
        .with_min_bytes(1)
        .with_max_bytes(i32::MAX)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(name("big"))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_current_leader_epoch(-1)
                .with_partition_max_bytes(i32::MAX)])]);
    let response = client.request(12, &request).await;
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    let records = partition.records.as_ref().map_or(0, |r| r.len());
    // One 60 KB batch: a second would pass fetch.max.bytes (the client asked for 2 GiB).
    assert!((60_000..100_000).contains(&records), "{records} bytes");
}

#[tokio::test]
async fn idle_connections_are_closed_after_connections_max_idle_ms() {
    let broker = TestBroker::start_with(|config| config.connections_max_idle_ms = 300).await;
    let mut idle = broker.client().await;
    let mut busy = broker.client().await;
    let versions = ApiVersionsRequest::default();
    idle.request(3, &versions).await;
    for _ in 0..8 {
        busy.request(3, &versions).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(idle.is_closed().await, "idle for 800 ms");
    busy.request(3, &versions).await;
}

#[tokio::test]
async fn connections_beyond_max_connections_per_ip_are_closed() {
    let broker = TestBroker::start_with(|config| config.connections_per_ip_max = 2).await;
    let versions = ApiVersionsRequest::default();
    let mut first = broker.client().await;
    let mut second = broker.client().await;
    first.request(3, &versions).await;
    second.request(3, &versions).await;
    let mut third = broker.client().await;
    assert!(third.is_closed().await);
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = broker.client().await;
        let frame = again.encode_request(3, &versions);
        again.send_frame(&frame).await;
        if again.recv_frame().await.is_some() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "a slot was freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.request(3, &versions).await;
}

#[tokio::test]
async fn acks_zero_produce_holds_its_place_in_the_connection_pipeline() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    assert_eq!(
        create(&mut client, vec![topic("fire", 1, 1)], false).await,
        [0]
    );
    // Pipelined acks=0 requests and then, on the same connection, ListOffsets: the broker
    // reads no further than its in-flight bound ahead of the appends, and answers
    // ListOffsets after every batch before it is in the log.
    let requests = 50;
    let mut frames = Vec::new();
    for i in 0..requests {
        frames.push(produce_frame(
            &mut client,
            "fire",
            0,
            format!("v{i}").as_bytes(),
        ));
    }
    for frame in &frames {
        client.send_frame(frame).await;
    }
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(name("fire"))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_current_leader_epoch(-1)
                .with_timestamp(-1)])]);
    let response = client.request(7, &request).await;
    assert_eq!(response.topics[0].partitions[0].offset, requests as i64);
}

#[tokio::test]
async fn queued_request_bytes_bound_what_all_connections_hold_unanswered() {
    // Room for one long-polling Fetch, not for a second request beside it.
    let broker = TestBroker::start_with(|config| config.queued_request_bytes_max = Some(150)).await;
    let mut setup = broker.client().await;
    assert_eq!(
        create(&mut setup, vec![topic("quiet", 1, 1)], false).await,
        [0]
    );
    drop(setup);
    let mut poller = broker.client().await;
    let fetch = fetch_request("quiet", 0, 0)
        .with_max_wait_ms(1500)
        .with_min_bytes(1);
    let frame = poller.encode_request(12, &fetch);
    assert!((75..150).contains(&frame.len()), "{} bytes", frame.len());
    poller.send_frame(&frame).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut other = broker.client().await;
    let versions = ApiVersionsRequest::default().with_client_software_name(
        StrBytes::from_static_str("a-client-name-long-enough-to-pass-what-the-fetch-left"),
    );
    let request = other.encode_request(3, &versions);
    assert!(
        frame.len() + request.len() > 150,
        "the two do not fit together"
    );
    let started = tokio::time::Instant::now();
    other.send_frame(&request).await;
    assert!(other.recv_frame().await.is_some(), "answered at last");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1000),
        "answered after {waited:?}, before the long poll gave its bytes back"
    );
    assert!(poller.recv_frame().await.is_some(), "the fetch is answered");
}
