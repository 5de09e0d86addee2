//! A replica that cannot start (here: its checkpoint is corrupt) is left offline and reported,
//! while the broker starts and serves every other partition.

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use protocol_tests::{record_batch, RawClient, TestBroker};

const KAFKA_STORAGE_ERROR: i16 = 56;
const LEADER_NOT_AVAILABLE: i16 = 5;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

async fn create(client: &mut RawClient, topic: &str) {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(1)
            .with_replication_factor(1)]);
    assert_eq!(client.request(7, &request).await.topics[0].error_code, 0);
}

async fn produce(client: &mut RawClient, topic: &str) -> i16 {
    let batch = record_batch(&[(None, Some(b"v".as_slice()))], None);
    client.produce(topic, 0, batch).await.error_code
}

#[tokio::test]
async fn a_corrupt_partition_is_left_offline_while_the_rest_start() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create(&mut client, "good").await;
    create(&mut client, "bad").await;
    assert_eq!(produce(&mut client, "good").await, 0);
    assert_eq!(produce(&mut client, "bad").await, 0);
    let bad = broker.ctx().metadata.current().topics["bad"].partitions[0];
    drop(client);
    let (dir, _keep) = broker.stop().await;

    {
        let store = broker::storage::Store::open(
            &dir.join("rocksdb"),
            broker::config::FlushPolicy::Fsync,
            100,
        )
        .expect("store opens");
        let key = broker::storage::keys::state_key(bad, broker::storage::keys::TAG_CHECKPOINT);
        store
            .db
            .put_cf(
                store.cf(broker::storage::CF_SM_STATE),
                key,
                b"{not a checkpoint",
            )
            .expect("write");
        store.db.flush_wal(true).expect("sync");
    }

    let broker = TestBroker::start_in(dir).await;
    let mut client = broker.client().await;
    assert_eq!(
        produce(&mut client, "good").await,
        0,
        "the other partitions serve"
    );
    assert_eq!(client.fetch_error("good", 0, 0).await, 0);
    assert_eq!(produce(&mut client, "bad").await, KAFKA_STORAGE_ERROR);
    assert_eq!(client.fetch_error("bad", 0, 0).await, KAFKA_STORAGE_ERROR);

    let request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(name("bad"))),
    ]));
    let response = client.request(12, &request).await;
    let partition = &response.topics[0].partitions[0];
    assert_eq!(partition.error_code, LEADER_NOT_AVAILABLE);
    assert_eq!(partition.leader_id, BrokerId(-1));
    assert_eq!(partition.offline_replicas, vec![BrokerId(1)]);
    broker.stop().await;
}
