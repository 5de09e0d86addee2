//! The admin APIs Kafka's tools use (kafka-log-dirs, kafka-metadata-quorum,
//! kafka-leader-election), at their lowest and highest version, through raw frames.

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::describe_quorum_request as quorum;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use protocol_tests::{record_batch, RawClient, TestBroker};

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

async fn create_topic(client: &mut RawClient, topic: &str, partitions: i32) {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(partitions)
            .with_replication_factor(1)]);
    let response = client.request(7, &request).await;
    assert_eq!(response.topics[0].error_code, 0);
}

/// Produces one batch to `topic`-`partition` and returns its size in bytes.
async fn produce(client: &mut RawClient, topic: &str, partition: i32, values: &[&[u8]]) -> usize {
    let records: Vec<_> = values.iter().map(|v| (None, Some(*v))).collect();
    let batch = record_batch(&records, None);
    let size = batch.len();
    assert_eq!(client.produce(topic, partition, batch).await.error_code, 0);
    size
}

/// (partition, size, offset lag, future) of every partition of `topic` in a log dir result.
fn partitions_of(
    result: &describe_log_dirs_response::DescribeLogDirsResult,
    topic: &str,
) -> Vec<(i32, i64, i64, bool)> {
    result
        .topics
        .iter()
        .filter(|t| t.name.as_str() == topic)
        .flat_map(|t| &t.partitions)
        .map(|p| {
            (
                p.partition_index,
                p.partition_size,
                p.offset_lag,
                p.is_future_key,
            )
        })
        .collect()
}

#[tokio::test]
async fn describe_log_dirs_lowest_and_highest() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "dirs", 2).await;
    let first = produce(&mut client, "dirs", 0, &[b"one", b"two"]).await;
    let second = produce(&mut client, "dirs", 0, &[b"three"]).await;

    // v1, topics null: every partition this broker hosts, in its one log dir.
    let v1 = client
        .request(1, &DescribeLogDirsRequest::default().with_topics(None))
        .await;
    assert_eq!(v1.results.len(), 1);
    let dir = &v1.results[0];
    assert_eq!(dir.error_code, 0);
    assert_eq!(dir.log_dir.as_str(), broker.data_dir.to_str().unwrap());
    assert_eq!(
        partitions_of(dir, "dirs"),
        [(0, (first + second) as i64, 0, false), (1, 0, 0, false)]
    );
    // The internal offsets topic lives there too (4 partitions in the test config).
    assert_eq!(partitions_of(dir, "__consumer_offsets").len(), 4);

    // v4, named partitions: unknown topics and partitions are left out, as Kafka does.
    let request = DescribeLogDirsRequest::default().with_topics(Some(vec![
        DescribableLogDirTopic::default()
            .with_topic(name("dirs"))
            .with_partitions(vec![0, 7]),
        DescribableLogDirTopic::default()
            .with_topic(name("missing"))
            .with_partitions(vec![0]),
    ]));
    let v4 = client.request(4, &request).await;
    assert_eq!(v4.error_code, 0);
    let dir = &v4.results[0];
    assert_eq!(dir.topics.len(), 1);
    assert_eq!(
        partitions_of(dir, "dirs"),
        [(0, (first + second) as i64, 0, false)]
    );
    // The filesystem holding the data dir.
    assert!(dir.total_bytes > 0);
    assert!(dir.usable_bytes > 0 && dir.usable_bytes <= dir.total_bytes);

    // An empty list asks for nothing.
    let none = client
        .request(
            4,
            &DescribeLogDirsRequest::default().with_topics(Some(vec![])),
        )
        .await;
    assert!(none.results[0].topics.is_empty());
}

fn quorum_request(topic: &str, partitions: &[i32]) -> DescribeQuorumRequest {
    DescribeQuorumRequest::default().with_topics(vec![quorum::TopicData::default()
        .with_topic_name(name(topic))
        .with_partitions(
            partitions
                .iter()
                .map(|p| quorum::PartitionData::default().with_partition_index(*p))
                .collect(),
        )])
}

#[tokio::test]
async fn describe_quorum_lowest_and_highest() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "grow", 1).await;

    let v0 = client
        .request(0, &quorum_request("__cluster_metadata", &[0]))
        .await;
    assert_eq!(v0.error_code, 0);
    assert_eq!(v0.topics.len(), 1);
    assert_eq!(v0.topics[0].topic_name.as_str(), "__cluster_metadata");
    let partition = &v0.topics[0].partitions[0];
    assert_eq!((partition.partition_index, partition.error_code), (0, 0));
    assert_eq!(partition.leader_id.0, 1);
    assert!(partition.leader_epoch >= 1);
    // The cluster's creation, the offsets topic and "grow" are committed metadata entries.
    assert!(
        partition.high_watermark >= 3,
        "{}",
        partition.high_watermark
    );
    assert_eq!(partition.current_voters.len(), 1);
    let voter = &partition.current_voters[0];
    assert_eq!(voter.replica_id.0, 1);
    assert!(voter.log_end_offset >= partition.high_watermark);
    assert!(partition.observers.is_empty());

    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let v2 = client
        .request(2, &quorum_request("__cluster_metadata", &[0]))
        .await;
    let partition = &v2.topics[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    // Kafka leaves the message at its default, the empty string.
    assert!(partition
        .error_message
        .as_ref()
        .is_none_or(|m| m.is_empty()));
    let voter = &partition.current_voters[0];
    assert_eq!(voter.replica_directory_id, uuid::Uuid::nil());
    // Kafka reports the leader as fetching and caught up at the time of the answer.
    assert!(voter.last_fetch_timestamp >= before);
    assert_eq!(voter.last_caught_up_timestamp, voter.last_fetch_timestamp);
    assert_eq!(v2.nodes.len(), 1);
    assert_eq!(v2.nodes[0].node_id.0, 1);
    let listener = &v2.nodes[0].listeners[0];
    assert_eq!(listener.name.as_str(), "PLAINTEXT");
    assert_eq!(listener.host.as_str(), "127.0.0.1");
    assert_eq!(listener.port, broker.addr.port());

    // Anything but exactly __cluster_metadata-0: UNKNOWN_TOPIC_OR_PARTITION for each partition
    // named, as Kafka's RaftUtil.hasValidTopicPartition.
    for request in [
        quorum_request("grow", &[0]),
        quorum_request("__cluster_metadata", &[1]),
        quorum_request("__cluster_metadata", &[0, 0]),
    ] {
        let response = client.request(2, &request).await;
        assert_eq!(response.error_code, 0);
        let named: Vec<(i32, i16)> = response.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.error_code))
            .collect();
        let asked: Vec<(i32, i16)> = request.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, 3))
            .collect();
        assert_eq!(named, asked);
        assert!(response.topics[0].partitions[0].error_message.is_some());
    }
}

fn elect_request(election_type: i8, topics: Option<&[(&str, &[i32])]>) -> ElectLeadersRequest {
    ElectLeadersRequest::default()
        .with_election_type(election_type)
        .with_timeout_ms(10_000)
        .with_topic_partitions(topics.map(|topics| {
            topics
                .iter()
                .map(|(topic, partitions)| {
                    TopicPartitions::default()
                        .with_topic(name(topic))
                        .with_partitions(partitions.to_vec())
                })
                .collect()
        }))
}

/// (topic, partition, error code) of every result, in order.
fn elect_codes(response: &ElectLeadersResponse) -> Vec<(String, i32, i16)> {
    response
        .replica_election_results
        .iter()
        .flat_map(|topic| {
            topic
                .partition_result
                .iter()
                .map(|p| (topic.topic.to_string(), p.partition_id, p.error_code))
        })
        .collect()
}

#[tokio::test]
async fn elect_leaders_lowest_and_highest() {
    const NOT_NEEDED: i16 = 84;
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "elect", 2).await;
    let owned = |codes: &[(&str, i32, i16)]| -> Vec<(String, i32, i16)> {
        codes
            .iter()
            .map(|(t, p, c)| (t.to_string(), *p, *c))
            .collect()
    };

    // v0 is always PREFERRED. On a single node every partition already has its preferred
    // leader; unknown topics and partitions are UNKNOWN_TOPIC_OR_PARTITION.
    let request = elect_request(0, Some(&[("elect", &[0, 1, 9]), ("missing", &[0])]));
    let v0 = client.request(0, &request).await;
    assert_eq!(
        elect_codes(&v0),
        owned(&[
            ("elect", 0, NOT_NEEDED),
            ("elect", 1, NOT_NEEDED),
            ("elect", 9, 3),
            ("missing", 0, 3),
        ])
    );
    let message = |response: &ElectLeadersResponse, i: usize| {
        response.replica_election_results[0].partition_result[i]
            .error_message
            .as_ref()
            .map(|m| m.to_string())
    };
    assert_eq!(
        message(&v0, 0).as_deref(),
        Some("Leader election not needed for topic partition.")
    );
    assert_eq!(
        message(&v0, 2).as_deref(),
        Some("No such partition as elect-9")
    );

    // All partitions (null): those that needed no election are left out, each topic listed.
    let v2 = client.request(2, &elect_request(0, None)).await;
    assert_eq!(v2.error_code, 0);
    let topics: Vec<&str> = v2
        .replica_election_results
        .iter()
        .map(|t| t.topic.as_str())
        .collect();
    assert_eq!(topics, ["__consumer_offsets", "elect"]);
    assert!(elect_codes(&v2).is_empty());

    // UNCLEAN: a partition with a leader needs no election.
    let v2 = client
        .request(2, &elect_request(1, Some(&[("elect", &[1])])))
        .await;
    assert_eq!(elect_codes(&v2), owned(&[("elect", 1, NOT_NEEDED)]));

    // An unknown election type fails the request and every partition named (INVALID_REQUEST).
    let v2 = client
        .request(2, &elect_request(5, Some(&[("elect", &[0])])))
        .await;
    assert_eq!(v2.error_code, 42);
    assert_eq!(elect_codes(&v2), owned(&[("elect", 0, 42)]));
    assert_eq!(message(&v2, 0).as_deref(), Some("Unknown election type 5"));
}
