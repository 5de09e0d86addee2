//! Transactions on the wire: InitProducerId with a transactional id, AddPartitionsToTxn,
//! transactional Produce, EndTxn, the markers they leave, read_committed Fetch and ListOffsets,
//! TxnOffsetCommit, fencing, and the coordinator's state after a restart.

use std::time::{Duration, Instant};

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use protocol_tests::{fetch_request, transactional_batch, RawClient, TestBroker};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn txn_id(v: &str) -> TransactionalId {
    TransactionalId(s(v))
}

async fn create_topic(client: &mut RawClient, topic: &str, partitions: i32) {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(s(topic)))
            .with_num_partitions(partitions)
            .with_replication_factor(1)]);
    let response = client.request(7, &request).await;
    assert_eq!(response.topics[0].error_code, 0);
}

/// FindCoordinator for a transactional id, until the coordinator is there (the first request
/// creates `__transaction_state`).
async fn wait_for_coordinator(client: &mut RawClient, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let request = FindCoordinatorRequest::default()
            .with_key(s(id))
            .with_key_type(1);
        if client.request(3, &request).await.error_code == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "no transaction coordinator");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// InitProducerId, retrying what is retriable (loading, an abort in progress).
async fn init(client: &mut RawClient, id: &str) -> (i64, i16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let request = InitProducerIdRequest::default()
            .with_transactional_id(Some(txn_id(id)))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let response = client.request(4, &request).await;
        match response.error_code {
            0 => return (response.producer_id.0, response.producer_epoch),
            14 | 15 | 51 => {}
            code => panic!("InitProducerId: error {code}"),
        }
        assert!(Instant::now() < deadline, "InitProducerId kept failing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn add_partitions(
    client: &mut RawClient,
    id: &str,
    producer: (i64, i16),
    topic: &str,
    partitions: Vec<i32>,
) -> Vec<i16> {
    let request = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(txn_id(id))
        .with_v3_and_below_producer_id(ProducerId(producer.0))
        .with_v3_and_below_producer_epoch(producer.1)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(partitions)]);
    let response = client.request(3, &request).await;
    response
        .results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| &t.results_by_partition)
        .map(|p| p.partition_error_code)
        .collect()
}

async fn produce(
    client: &mut RawClient,
    id: Option<&str>,
    topic: &str,
    partition: i32,
    producer: (i64, i16, i32),
    values: &[&[u8]],
) -> (i16, i64) {
    let records: Vec<_> = values.iter().map(|v| (None, Some(*v))).collect();
    let request = ProduceRequest::default()
        .with_transactional_id(id.map(txn_id))
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(s(topic)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(transactional_batch(&records, producer)))])]);
    let response = client.request(9, &request).await;
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

async fn end(client: &mut RawClient, id: &str, producer: (i64, i16), commit: bool) -> i16 {
    let request = EndTxnRequest::default()
        .with_transactional_id(txn_id(id))
        .with_producer_id(ProducerId(producer.0))
        .with_producer_epoch(producer.1)
        .with_committed(commit);
    client.request(3, &request).await.error_code
}

async fn fetch(client: &mut RawClient, topic: &str, isolation: i8) -> PartitionData {
    let request = fetch_request(topic, 0, 0).with_isolation_level(isolation);
    let mut response = client.request(11, &request).await;
    response.responses.remove(0).partitions.remove(0)
}

async fn latest(client: &mut RawClient, topic: &str, isolation: i8) -> i64 {
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1)])]);
    client.request(7, &request).await.topics[0].partitions[0].offset
}

/// (offset, is control, values) of every batch in a fetched record set.
fn batches(data: &PartitionData) -> Vec<(i64, bool, Vec<Vec<u8>>)> {
    let mut bytes = data.records.clone().unwrap_or_default();
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut bytes).unwrap();
        for record in set.records {
            out.push((
                record.offset,
                record.control,
                record.value.map(|v| v.to_vec()).into_iter().collect(),
            ));
        }
    }
    out
}

#[tokio::test]
async fn commit_abort_and_read_committed() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "tx-data", 1).await;
    wait_for_coordinator(&mut client, "app").await;
    let (producer_id, epoch) = init(&mut client, "app").await;
    assert_eq!(epoch, 0);
    // A transactional batch outside a transaction is refused (the partition was not added).
    let early = produce(
        &mut client,
        Some("app"),
        "tx-data",
        0,
        (producer_id, epoch, 0),
        &[b"x"],
    )
    .await;
    assert_eq!(early.0, 48);
    // Without the transactional id on the request, as Kafka: not authorized.
    assert_eq!(
        produce(
            &mut client,
            None,
            "tx-data",
            0,
            (producer_id, epoch, 0),
            &[b"x"]
        )
        .await
        .0,
        53
    );
    assert_eq!(
        add_partitions(
            &mut client,
            "app",
            (producer_id, epoch),
            "tx-data",
            vec![0, 9]
        )
        .await,
        vec![55, 3]
    );

    // Transaction 1: committed (offsets 0-1, marker 2).
    assert_eq!(
        add_partitions(&mut client, "app", (producer_id, epoch), "tx-data", vec![0]).await,
        vec![0]
    );
    let first = produce(
        &mut client,
        Some("app"),
        "tx-data",
        0,
        (producer_id, epoch, 0),
        &[b"c1", b"c2"],
    )
    .await;
    assert_eq!(first, (0, 0));
    // Open: read_committed stops at the last stable offset, 0.
    let open = fetch(&mut client, "tx-data", 1).await;
    assert_eq!((open.high_watermark, open.last_stable_offset), (2, 0));
    assert!(batches(&open).is_empty());
    assert_eq!(latest(&mut client, "tx-data", 1).await, 0);
    assert_eq!(latest(&mut client, "tx-data", 0).await, 2);
    assert_eq!(end(&mut client, "app", (producer_id, epoch), true).await, 0);
    // A retried commit is answered NONE; an abort of it INVALID_TXN_STATE.
    assert_eq!(end(&mut client, "app", (producer_id, epoch), true).await, 0);
    assert_eq!(
        end(&mut client, "app", (producer_id, epoch), false).await,
        48
    );

    // Transaction 2: aborted (offsets 3-4, marker 5).
    assert_eq!(
        add_partitions(&mut client, "app", (producer_id, epoch), "tx-data", vec![0]).await,
        vec![0]
    );
    let second = produce(
        &mut client,
        Some("app"),
        "tx-data",
        0,
        (producer_id, epoch, 2),
        &[b"a1", b"a2"],
    )
    .await;
    assert_eq!(second, (0, 3));
    assert_eq!(
        end(&mut client, "app", (producer_id, epoch), false).await,
        0
    );

    let committed = fetch(&mut client, "tx-data", 1).await;
    assert_eq!(
        (committed.high_watermark, committed.last_stable_offset),
        (6, 6)
    );
    let aborted: Vec<(i64, i64)> = committed
        .aborted_transactions
        .iter()
        .flatten()
        .map(|a| (a.producer_id.0, a.first_offset))
        .collect();
    assert_eq!(aborted, vec![(producer_id, 3)]);
    let seen = batches(&committed);
    let markers: Vec<i64> = seen.iter().filter(|b| b.1).map(|b| b.0).collect();
    assert_eq!(markers, vec![2, 5]);
    // read_uncommitted: no aborted list.
    let uncommitted = fetch(&mut client, "tx-data", 0).await;
    assert!(uncommitted.aborted_transactions.is_none());
    assert_eq!(latest(&mut client, "tx-data", 1).await, 6);

    // The coordinator's state survives a restart: the same id continues with the next epoch.
    drop(client);
    let (dir, temp) = broker.stop().await;
    let broker = TestBroker::start_in(dir).await;
    let mut client = broker.client().await;
    wait_for_coordinator(&mut client, "app").await;
    let (again, next_epoch) = init(&mut client, "app").await;
    assert_eq!((again, next_epoch), (producer_id, 1));
    let after = fetch(&mut client, "tx-data", 1).await;
    assert_eq!(after.last_stable_offset, 6);
    drop(temp);
}

#[tokio::test]
async fn a_new_producer_fences_the_old_one_and_aborts_its_transaction() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "tx-fence", 1).await;
    wait_for_coordinator(&mut client, "f").await;
    let zombie = init(&mut client, "f").await;
    assert_eq!(
        add_partitions(&mut client, "f", zombie, "tx-fence", vec![0]).await,
        vec![0]
    );
    let written = produce(
        &mut client,
        Some("f"),
        "tx-fence",
        0,
        (zombie.0, zombie.1, 0),
        &[b"z"],
    )
    .await;
    assert_eq!(written.0, 0);
    // The new session aborts the open transaction (epoch + 1) and gets the epoch after it.
    let fresh = init(&mut client, "f").await;
    assert_eq!(fresh, (zombie.0, zombie.1 + 2));
    assert_eq!(end(&mut client, "f", zombie, true).await, 90);
    assert_eq!(
        add_partitions(&mut client, "f", zombie, "tx-fence", vec![0]).await,
        vec![90]
    );
    let late = produce(
        &mut client,
        Some("f"),
        "tx-fence",
        0,
        (zombie.0, zombie.1, 1),
        &[b"late"],
    )
    .await;
    assert_eq!(late.0, 47);
    let data = fetch(&mut client, "tx-fence", 1).await;
    assert_eq!(data.last_stable_offset, 2);
    let aborted: Vec<(i64, i64)> = data
        .aborted_transactions
        .iter()
        .flatten()
        .map(|a| (a.producer_id.0, a.first_offset))
        .collect();
    assert_eq!(aborted, vec![(zombie.0, 0)]);
    // DescribeProducers: the producer at the abort marker's epoch, no open transaction.
    let describe = DescribeProducersRequest::default().with_topics(vec![
        kafka_protocol::messages::describe_producers_request::TopicRequest::default()
            .with_name(TopicName(s("tx-fence")))
            .with_partition_indexes(vec![0]),
    ]);
    let described = client.request(0, &describe).await;
    let partition = &described.topics[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    let producers: Vec<(i64, i32, i32, i64)> = partition
        .active_producers
        .iter()
        .map(|p| {
            (
                p.producer_id.0,
                p.producer_epoch,
                p.last_sequence,
                p.current_txn_start_offset,
            )
        })
        .collect();
    assert_eq!(producers, vec![(zombie.0, zombie.1 as i32 + 1, -1, -1)]);
}

#[tokio::test]
async fn transactional_offsets_count_only_once_committed() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "tx-in", 1).await;
    wait_for_coordinator(&mut client, "o").await;
    let producer = init(&mut client, "o").await;
    let add_offsets = AddOffsetsToTxnRequest::default()
        .with_transactional_id(txn_id("o"))
        .with_producer_id(ProducerId(producer.0))
        .with_producer_epoch(producer.1)
        .with_group_id(GroupId(s("og")));
    assert_eq!(client.request(3, &add_offsets).await.error_code, 0);
    let commit = TxnOffsetCommitRequest::default()
        .with_transactional_id(txn_id("o"))
        .with_group_id(GroupId(s("og")))
        .with_producer_id(ProducerId(producer.0))
        .with_producer_epoch(producer.1)
        .with_generation_id(-1)
        .with_member_id(s(""))
        .with_topics(vec![TxnOffsetCommitRequestTopic::default()
            .with_name(TopicName(s("tx-in")))
            .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(42)
                .with_committed_leader_epoch(-1)])]);
    let response = client.request(3, &commit).await;
    assert_eq!(response.topics[0].partitions[0].error_code, 0);
    let offset_fetch = |stable: bool| {
        OffsetFetchRequest::default()
            .with_group_id(GroupId(s("og")))
            .with_require_stable(stable)
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(TopicName(s("tx-in")))
                .with_partition_indexes(vec![0])]))
    };
    // Pending: not committed yet; require_stable says so.
    let pending = client.request(7, &offset_fetch(false)).await;
    assert_eq!(pending.topics[0].partitions[0].committed_offset, -1);
    let unstable = client.request(7, &offset_fetch(true)).await;
    assert_eq!(unstable.topics[0].partitions[0].error_code, 88);
    assert_eq!(end(&mut client, "o", producer, true).await, 0);
    let committed = client.request(7, &offset_fetch(true)).await;
    assert_eq!(committed.topics[0].partitions[0].error_code, 0);
    assert_eq!(committed.topics[0].partitions[0].committed_offset, 42);

    // An aborted transaction's offsets are dropped.
    assert_eq!(client.request(3, &add_offsets).await.error_code, 0);
    let abandoned = commit.with_topics(vec![TxnOffsetCommitRequestTopic::default()
        .with_name(TopicName(s("tx-in")))
        .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
            .with_partition_index(0)
            .with_committed_offset(99)
            .with_committed_leader_epoch(-1)])]);
    assert_eq!(
        client.request(3, &abandoned).await.topics[0].partitions[0].error_code,
        0
    );
    assert_eq!(end(&mut client, "o", producer, false).await, 0);
    let still = client.request(7, &offset_fetch(true)).await;
    assert_eq!(still.topics[0].partitions[0].committed_offset, 42);

    // And the replay after a restart agrees.
    drop(client);
    let (dir, temp) = broker.stop().await;
    let broker = TestBroker::start_in(dir).await;
    let mut client = broker.client().await;
    let replayed = client.request(7, &offset_fetch(true)).await;
    assert_eq!(replayed.topics[0].partitions[0].committed_offset, 42);
    drop(temp);
}

#[tokio::test]
async fn describe_and_list_transactions() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, "tx-desc", 2).await;
    wait_for_coordinator(&mut client, "d").await;
    let producer = init(&mut client, "d").await;
    assert_eq!(
        add_partitions(&mut client, "d", producer, "tx-desc", vec![1, 0]).await,
        vec![0, 0]
    );
    let describe = DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![txn_id("d"), txn_id("nope")]);
    // "nope" may live in a partition still loading (COORDINATOR_LOAD_IN_PROGRESS, retriable).
    let deadline = Instant::now() + Duration::from_secs(20);
    let described = loop {
        let described = client.request(0, &describe).await;
        if described
            .transaction_states
            .iter()
            .all(|t| t.error_code != 14)
        {
            break described;
        }
        assert!(Instant::now() < deadline, "transactions not loaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let d = &described.transaction_states[0];
    assert_eq!(
        (d.error_code, d.transaction_state.as_str(), d.producer_id.0),
        (0, "Ongoing", producer.0)
    );
    assert_eq!(d.topics[0].partitions, vec![0, 1]);
    assert!(d.transaction_start_time_ms > 0);
    assert_eq!(described.transaction_states[1].error_code, 105);
    let list = ListTransactionsRequest::default()
        .with_state_filters(vec![s("Ongoing"), s("Bogus")])
        .with_duration_filter(-1);
    let listed = client.request(1, &list).await;
    assert_eq!(listed.unknown_state_filters, vec![s("Bogus")]);
    assert_eq!(listed.transaction_states.len(), 1);
    assert_eq!(listed.transaction_states[0].transactional_id.as_str(), "d");
    assert_eq!(end(&mut client, "d", producer, false).await, 0);
    let listed = client.request(1, &list).await;
    assert!(listed.transaction_states.is_empty());
}

/// DescribeTransactions of one id once its coordinator has loaded: (error code, state).
async fn describe_state(client: &mut RawClient, id: &str) -> (i16, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let request =
            DescribeTransactionsRequest::default().with_transactional_ids(vec![txn_id(id)]);
        let response = client.request(0, &request).await;
        let state = &response.transaction_states[0];
        // COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR: retriable.
        if !(14..=16).contains(&state.error_code) {
            return (state.error_code, state.transaction_state.to_string());
        }
        assert!(Instant::now() < deadline, "coordinator of {id} not loaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn idle_transactional_ids_expire_and_stay_forgotten_after_a_restart() {
    let expiring = |config: &mut protocol_tests::broker::config::Config| {
        config.transactional_id_expiration_ms = 1_000;
        config.transaction_cleanup_interval_ms = 100;
    };
    let broker = TestBroker::start_with(expiring).await;
    let mut client = broker.client().await;
    create_topic(&mut client, "tx-expire", 1).await;
    wait_for_coordinator(&mut client, "idle").await;
    wait_for_coordinator(&mut client, "open").await;
    let idle = init(&mut client, "idle").await;
    assert_eq!(
        add_partitions(&mut client, "idle", idle, "tx-expire", vec![0]).await,
        vec![0]
    );
    assert_eq!(
        produce(
            &mut client,
            Some("idle"),
            "tx-expire",
            0,
            (idle.0, idle.1, 0),
            &[b"a"]
        )
        .await
        .0,
        0
    );
    assert_eq!(end(&mut client, "idle", idle, true).await, 0);
    // A transaction under way is never expired, however long it has been open.
    let open = init(&mut client, "open").await;
    assert_eq!(
        add_partitions(&mut client, "open", open, "tx-expire", vec![0]).await,
        vec![0]
    );

    let deadline = Instant::now() + Duration::from_secs(15);
    while describe_state(&mut client, "idle").await.0 != 105 {
        assert!(
            Instant::now() < deadline,
            "the idle transactional id never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        describe_state(&mut client, "open").await,
        (0, "Ongoing".to_string())
    );

    // The tombstone is in __transaction_state: a restarted coordinator does not bring it back.
    drop(client);
    let (dir, temp) = broker.stop().await;
    let broker = TestBroker::start_in_with(dir, expiring).await;
    let mut client = broker.client().await;
    assert_eq!(describe_state(&mut client, "idle").await.0, 105);
    assert_eq!(
        describe_state(&mut client, "open").await,
        (0, "Ongoing".to_string())
    );
    // The id starts over: a new producer id, epoch 0.
    let again = init(&mut client, "idle").await;
    assert_ne!(again.0, idle.0);
    assert_eq!(again.1, 0);
    drop(temp);
}
