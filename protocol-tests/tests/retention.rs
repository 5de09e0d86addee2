//! Retention (time and size) and DeleteRecords: the log start offset moves, earlier records
//! are gone for fetch and ListOffsets, and that survives a restart.

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use protocol_tests::{record_batch_at, RawClient, TestBroker};

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn create(client: &mut RawClient, topic: &str, configs: &[(&str, &str)]) {
    let configs = configs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_value(Some(StrBytes::from_string(v.to_string())))
        })
        .collect();
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(configs)]);
    assert_eq!(client.request(7, &request).await.topics[0].error_code, 0);
}

async fn produce(client: &mut RawClient, topic: &str, timestamp_ms: i64, value: &[u8]) -> i64 {
    let batch = record_batch_at(
        &[(None, Some(value)), (None, Some(value))],
        None,
        timestamp_ms,
    );
    let partition = client.produce(topic, 0, batch).await;
    assert_eq!(partition.error_code, 0);
    partition.base_offset
}

async fn earliest(client: &mut RawClient, topic: &str) -> i64 {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_current_leader_epoch(-1)
                .with_timestamp(-2)])]);
    client.request(7, &request).await.topics[0].partitions[0].offset
}

#[tokio::test]
async fn time_and_size_retention_trim_the_oldest_batches() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create(&mut client, "aged", &[("retention.ms", "3600000")]).await;
    produce(&mut client, "aged", now_ms() - 7_200_000, b"old").await;
    let fresh = produce(&mut client, "aged", now_ms(), b"new").await;
    assert_eq!(fresh, 2);
    create(&mut client, "sized", &[("retention.bytes", "200")]).await;
    for _ in 0..5 {
        produce(&mut client, "sized", now_ms(), &[7u8; 100]).await;
    }
    broker::partition::retention::run_once(
        &broker.ctx().config,
        &broker.ctx().metadata,
        &broker.ctx().replicas,
    )
    .await;
    assert_eq!(
        earliest(&mut client, "aged").await,
        2,
        "the batch older than retention.ms is gone"
    );
    assert_eq!(client.fetch_error("aged", 0, 0).await, 1);
    assert_eq!(client.fetch_error("aged", 0, 2).await, 0);
    let sized_start = earliest(&mut client, "sized").await;
    assert_eq!(sized_start, 8, "only the newest batch fits in 200 bytes");
    // A second pass purges the Raft log entries (after a snapshot) and changes nothing visible.
    broker::partition::retention::run_once(
        &broker.ctx().config,
        &broker.ctx().metadata,
        &broker.ctx().replicas,
    )
    .await;
    assert_eq!(earliest(&mut client, "sized").await, 8);
    let next = produce(&mut client, "sized", now_ms(), b"after").await;
    assert_eq!(next, 10);

    drop(client);
    let (dir, keep) = broker.stop().await;
    let broker = TestBroker::start_in(dir).await;
    let mut client = broker.client().await;
    assert_eq!(earliest(&mut client, "aged").await, 2);
    assert_eq!(earliest(&mut client, "sized").await, 8);
    assert_eq!(client.fetch_error("sized", 0, 8).await, 0);
    assert_eq!(produce(&mut client, "sized", now_ms(), b"more").await, 12);
    drop(keep);
}

#[tokio::test]
async fn delete_records_lowest_and_highest() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create(&mut client, "dr", &[]).await;
    for _ in 0..4 {
        produce(&mut client, "dr", now_ms(), b"x").await;
    }
    let request = |offset: i64| {
        DeleteRecordsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![DeleteRecordsTopic::default()
                .with_name(name("dr"))
                .with_partitions(vec![DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(offset)])])
    };
    let low = client.request(0, &request(3)).await;
    assert_eq!(
        (
            low.topics[0].partitions[0].error_code,
            low.topics[0].partitions[0].low_watermark
        ),
        (0, 3)
    );
    assert_eq!(earliest(&mut client, "dr").await, 3);
    // Offset 3 sits inside the second batch: fetching from there still works.
    assert_eq!(client.fetch_error("dr", 0, 3).await, 0);
    let beyond = client.request(2, &request(100)).await;
    assert_eq!(beyond.topics[0].partitions[0].error_code, 1);
    let all = client.request(2, &request(-1)).await;
    assert_eq!(all.topics[0].partitions[0].low_watermark, 8);
    let missing = DeleteRecordsRequest::default().with_topics(vec![DeleteRecordsTopic::default()
        .with_name(name("nope"))
        .with_partitions(vec![DeleteRecordsPartition::default()
            .with_partition_index(0)
            .with_offset(1)])]);
    assert_eq!(
        client.request(2, &missing).await.topics[0].partitions[0].error_code,
        3
    );
}

/// producer.id.expiration.ms (default one day): the retention pass forgets an idempotent
/// producer whose last batch is older than that (through Raft, so it stays forgotten after a
/// restart), and its next batch is accepted at any sequence, as a new producer's; a producer
/// that wrote recently keeps its sequence, so a gap is still refused.
#[tokio::test]
async fn idle_idempotent_producers_expire() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create(&mut client, "producers", &[]).await;
    let day_ms = 86_400_000;
    let append = |producer_id: i64, sequence: i32, timestamp_ms: i64| {
        record_batch_at(
            &[(None, Some(b"v"))],
            Some((producer_id, 0, sequence)),
            timestamp_ms,
        )
    };
    // Producer 11 last wrote two days ago, producer 12 now.
    for sequence in 0..3 {
        let old = client
            .produce("producers", 0, append(11, sequence, now_ms() - 2 * day_ms))
            .await;
        assert_eq!(old.error_code, 0);
        let recent = client
            .produce("producers", 0, append(12, sequence, now_ms()))
            .await;
        assert_eq!(recent.error_code, 0);
    }
    assert_eq!(
        client
            .produce("producers", 0, append(11, 9, now_ms()))
            .await
            .error_code,
        45,
        "OUT_OF_ORDER_SEQUENCE_NUMBER before expiration"
    );
    broker::partition::retention::run_once(
        &broker.ctx().config,
        &broker.ctx().metadata,
        &broker.ctx().replicas,
    )
    .await;
    drop(client);
    let (dir, keep) = broker.stop().await;
    let broker = TestBroker::start_in(dir).await;
    let mut client = broker.client().await;
    assert_eq!(
        client
            .produce("producers", 0, append(11, 9, now_ms()))
            .await
            .error_code,
        0,
        "the expired producer starts afresh at any sequence"
    );
    assert_eq!(
        client
            .produce("producers", 0, append(12, 9, now_ms()))
            .await
            .error_code,
        45,
        "the recent producer keeps its sequence"
    );
    assert_eq!(
        client
            .produce("producers", 0, append(12, 3, now_ms()))
            .await
            .error_code,
        0
    );
    drop(keep);
}
