//! The admin APIs Kafka's tools use (kafka-log-dirs), at their lowest and highest version,
//! through raw frames.

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
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
