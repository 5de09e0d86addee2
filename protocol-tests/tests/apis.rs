//! Every advertised API at its lowest and highest version, through raw frames.

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::incremental_alter_configs_request as incremental;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use protocol_tests::{record_batch, RawClient, TestBroker};

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn create_topic(
    client: &mut RawClient,
    version: i16,
    topic: &str,
    partitions: i32,
) -> CreateTopicsResponse {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(partitions)
            .with_replication_factor(1)
            .with_configs(vec![CreatableTopicConfig::default()
                .with_name(s("retention.ms"))
                .with_value(Some(s("3600000")))])]);
    client.request(version, &request).await
}

/// The error code of each topic a CreateTopics v7 request names, in order.
async fn create_codes(client: &mut RawClient, topics: Vec<CreatableTopic>) -> Vec<i16> {
    let request = CreateTopicsRequest::default().with_topics(topics);
    let response = client.request(7, &request).await;
    response.topics.iter().map(|t| t.error_code).collect()
}

fn produce_request(
    version: i16,
    topic: &str,
    topic_id: uuid::Uuid,
    partition: i32,
    records: bytes::Bytes,
) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(if version < 13 { name(topic) } else { name("") })
            .with_topic_id(topic_id)
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

fn fetch_request(version: i16, topic: &str, topic_id: uuid::Uuid, offset: i64) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(100)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(if version < 13 { name(topic) } else { name("") })
            .with_topic_id(topic_id)
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_current_leader_epoch(-1)
                .with_partition_max_bytes(1 << 20)])])
}

async fn topic_id(client: &mut RawClient, topic: &str) -> uuid::Uuid {
    let request = MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name(topic)))
        ]));
    let response = client.request(12, &request).await;
    response.topics[0].topic_id
}

#[tokio::test]
async fn metadata_lowest_and_highest() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, 7, "meta", 3).await;
    // v0: empty list means all topics.
    let v0 = client
        .request(0, &MetadataRequest::default().with_topics(Some(vec![])))
        .await;
    assert_eq!(v0.brokers.len(), 1);
    // The internal __consumer_offsets topic is listed too, as Kafka does.
    assert_eq!(v0.topics.len(), 2);
    let meta = v0
        .topics
        .iter()
        .find(|t| t.name.as_ref().unwrap().as_str() == "meta")
        .unwrap();
    assert_eq!(meta.partitions.len(), 3);
    let v13 = client
        .request(13, &MetadataRequest::default().with_topics(None))
        .await;
    let topic = v13
        .topics
        .iter()
        .find(|t| t.name.as_ref().unwrap().as_str() == "meta")
        .unwrap();
    let internal = v13
        .topics
        .iter()
        .find(|t| t.name.as_ref().unwrap().as_str() == "__consumer_offsets")
        .unwrap();
    assert!(internal.is_internal && !topic.is_internal);
    assert_ne!(topic.topic_id, uuid::Uuid::nil());
    assert!(v13.cluster_id.as_ref().is_some_and(|c| c.len() == 22));
    for partition in &topic.partitions {
        assert_eq!(partition.error_code, 0);
        assert_eq!(partition.leader_id.0, 1);
        assert!(partition.leader_epoch >= 1);
    }
    // Unknown topic without auto-create, and auto-create with it.
    let request = MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name("nope")))
        ]));
    assert_eq!(client.request(13, &request).await.topics[0].error_code, 3);
    let request = MetadataRequest::default()
        .with_allow_auto_topic_creation(true)
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name("auto")))
        ]));
    let response = client.request(13, &request).await;
    assert_eq!(response.topics[0].error_code, 0);
    assert_eq!(response.topics[0].partitions[0].error_code, 0);
    let request = MetadataRequest::default()
        .with_allow_auto_topic_creation(true)
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name("bad name")))
        ]));
    assert_eq!(client.request(13, &request).await.topics[0].error_code, 17);
}

#[tokio::test]
async fn create_delete_topics_and_partitions() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let created = create_topic(&mut client, 2, "low", 2).await;
    assert_eq!(created.topics[0].error_code, 0);
    let created = create_topic(&mut client, 7, "high", 1).await;
    assert_eq!(created.topics[0].error_code, 0);
    assert_ne!(created.topics[0].topic_id, uuid::Uuid::nil());
    assert!(created.topics[0]
        .configs
        .as_ref()
        .unwrap()
        .iter()
        .any(|c| c.name.as_str() == "retention.ms" && c.value.as_deref() == Some("3600000")));
    assert_eq!(
        create_topic(&mut client, 7, "high", 1).await.topics[0].error_code,
        36
    );
    let invalid = vec![
        CreatableTopic::default()
            .with_name(name("zero"))
            .with_num_partitions(0)
            .with_replication_factor(1),
        CreatableTopic::default()
            .with_name(name("rf3"))
            .with_num_partitions(1)
            .with_replication_factor(3),
        CreatableTopic::default()
            .with_name(name("cfg"))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(vec![CreatableTopicConfig::default()
                .with_name(s("no.such"))
                .with_value(Some(s("1")))]),
    ];
    let codes = create_codes(&mut client, invalid).await;
    assert_eq!(codes, vec![37, 38, 40]);
    // Manual assignments (this node is broker 1): a repeated or unknown broker is
    // INVALID_REPLICA_ASSIGNMENT (39); a valid one places the partition there.
    let assigned = |topic: &str, brokers: &[i32]| {
        CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(vec![CreatableReplicaAssignment::default()
                .with_partition_index(0)
                .with_broker_ids(brokers.iter().map(|b| BrokerId(*b)).collect())])
    };
    let manual = vec![
        assigned("twice", &[1, 1]),
        assigned("unknown", &[9]),
        assigned("none", &[]),
        assigned("placed", &[1]),
    ];
    let codes = create_codes(&mut client, manual).await;
    assert_eq!(codes, vec![39, 39, 39, 0]);
    let validate_only = CreateTopicsRequest::default()
        .with_validate_only(true)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name("dry"))
            .with_num_partitions(1)
            .with_replication_factor(1)]);
    assert_eq!(
        client.request(7, &validate_only).await.topics[0].error_code,
        0
    );
    assert_eq!(topic_id(&mut client, "dry").await, uuid::Uuid::nil());

    for version in [0, 3] {
        let count = if version == 0 { 3 } else { 4 };
        let grow = CreatePartitionsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(name("low"))
                .with_count(count)]);
        assert_eq!(
            client.request(version, &grow).await.results[0].error_code,
            0
        );
    }
    let shrink =
        CreatePartitionsRequest::default().with_topics(vec![CreatePartitionsTopic::default()
            .with_name(name("low"))
            .with_count(2)]);
    assert_eq!(client.request(3, &shrink).await.results[0].error_code, 37);
    let meta = client
        .request(12, &MetadataRequest::default().with_topics(None))
        .await;
    let low = meta
        .topics
        .iter()
        .find(|t| t.name.as_ref().unwrap().as_str() == "low")
        .unwrap();
    assert_eq!(low.partitions.len(), 4);

    let v1 = DeleteTopicsRequest::default().with_topic_names(vec![
        name("low"),
        name("missing"),
        name("placed"),
    ]);
    let codes: Vec<i16> = client
        .request(1, &v1)
        .await
        .responses
        .iter()
        .map(|r| r.error_code)
        .collect();
    assert_eq!(codes, vec![0, 3, 0]);
    let id = topic_id(&mut client, "high").await;
    let v6 = DeleteTopicsRequest::default()
        .with_topics(vec![DeleteTopicState::default().with_topic_id(id)]);
    let response = client.request(6, &v6).await;
    assert_eq!(response.responses[0].error_code, 0);
    assert_eq!(
        response.responses[0].name.as_ref().unwrap().as_str(),
        "high"
    );
    let meta = client
        .request(12, &MetadataRequest::default().with_topics(None))
        .await;
    assert!(meta.topics.iter().all(|t| t.is_internal));
}

#[tokio::test]
async fn produce_fetch_list_offsets_lowest_and_highest() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, 7, "data", 1).await;
    let id = topic_id(&mut client, "data").await;
    let first = record_batch(&[(Some(b"k1"), Some(b"v1")), (None, Some(b"v2"))], None);
    let response = client
        .request(3, &produce_request(3, "data", id, 0, first.clone()))
        .await;
    let partition = &response.responses[0].partition_responses[0];
    assert_eq!((partition.error_code, partition.base_offset), (0, 0));
    let second = record_batch(&[(Some(b"k3"), None)], None);
    let response = client
        .request(13, &produce_request(13, "data", id, 0, second))
        .await;
    let partition = &response.responses[0].partition_responses[0];
    assert_eq!((partition.error_code, partition.base_offset), (0, 2));

    for version in [4, 12, 13, 18] {
        let response = client
            .request(version, &fetch_request(version, "data", id, 0))
            .await;
        assert_eq!(response.error_code, 0);
        let data = &response.responses[0].partitions[0];
        assert_eq!(data.error_code, 0, "fetch v{version}");
        assert_eq!(data.high_watermark, 3);
        let mut records = data.records.clone().unwrap();
        let batches =
            kafka_protocol::records::RecordBatchDecoder::decode_all(&mut records).unwrap();
        let all: Vec<_> = batches.into_iter().flat_map(|b| b.records).collect();
        assert_eq!(all.len(), 3);
        assert_eq!(
            all.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert_eq!(all[0].key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(all[1].key, None);
        assert_eq!(all[2].value, None);
    }
    // From the middle of the first batch: the whole batch comes back, as in Kafka.
    let response = client.request(12, &fetch_request(12, "data", id, 1)).await;
    assert!(!response.responses[0].partitions[0]
        .records
        .as_ref()
        .unwrap()
        .is_empty());
    // Past the end.
    let response = client.request(12, &fetch_request(12, "data", id, 10)).await;
    assert_eq!(response.responses[0].partitions[0].error_code, 1);

    for (version, timestamp, offset) in [
        (1, -2, 0),
        (1, -1, 3),
        (10, -2, 0),
        (10, -1, 3),
        (10, 1_700_000_000_001, 1),
        (10, -3, 1),
    ] {
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(name("data"))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_current_leader_epoch(-1)
                    .with_timestamp(timestamp)])]);
        let response = client.request(version, &request).await;
        let p = &response.topics[0].partitions[0];
        assert_eq!(
            (p.error_code, p.offset),
            (0, offset),
            "list offsets v{version} ts {timestamp}"
        );
    }
}

#[tokio::test]
async fn produce_errors() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, 7, "errs", 1).await;
    let id = uuid::Uuid::nil();
    let good = record_batch(&[(None, Some(b"x"))], None);
    let mut corrupt = good.to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55;
    let cases: Vec<(&str, i32, bytes::Bytes, i16)> = vec![
        ("errs", 0, bytes::Bytes::from(corrupt), 2),
        ("errs", 9, good.clone(), 3),
        ("missing", 0, good.clone(), 3),
        ("errs", 0, good.slice(..20), 2),
    ];
    for (topic, partition, records, code) in cases {
        let response = client
            .request(9, &produce_request(9, topic, id, partition, records))
            .await;
        assert_eq!(
            response.responses[0].partition_responses[0].error_code, code,
            "{topic}/{partition}"
        );
    }
    // Over max.message.bytes.
    let alter = IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("errs"))
            .with_configs(vec![incremental::AlterableConfig::default()
                .with_name(s("max.message.bytes"))
                .with_config_operation(0)
                .with_value(Some(s("100")))]),
    ]);
    assert_eq!(client.request(1, &alter).await.responses[0].error_code, 0);
    let big = record_batch(&[(None, Some(&[7u8; 500][..]))], None);
    let response = client
        .request(9, &produce_request(9, "errs", id, 0, big))
        .await;
    assert_eq!(response.responses[0].partition_responses[0].error_code, 10);
    // Bad acks.
    let request = produce_request(9, "errs", id, 0, good).with_acks(2);
    assert_eq!(
        client.request(9, &request).await.responses[0].partition_responses[0].error_code,
        21
    );
}

#[tokio::test]
async fn idempotent_producer_dedups_and_detects_gaps() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, 7, "idem", 1).await;
    let low = client
        .request(
            0,
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60000),
        )
        .await;
    assert_eq!(low.error_code, 0);
    let init = client
        .request(
            5,
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )
        .await;
    assert_eq!(init.error_code, 0);
    assert!(init.producer_id.0 > low.producer_id.0);
    let pid = init.producer_id.0;
    let id = uuid::Uuid::nil();
    let batch0 = record_batch(&[(None, Some(b"a")), (None, Some(b"b"))], Some((pid, 0, 0)));
    let batch1 = record_batch(&[(None, Some(b"c"))], Some((pid, 0, 2)));
    let gap = record_batch(&[(None, Some(b"d"))], Some((pid, 0, 7)));
    let offset = |r: ProduceResponse| {
        (
            r.responses[0].partition_responses[0].error_code,
            r.responses[0].partition_responses[0].base_offset,
        )
    };
    assert_eq!(
        offset(
            client
                .request(9, &produce_request(9, "idem", id, 0, batch0.clone()))
                .await
        ),
        (0, 0)
    );
    assert_eq!(
        offset(
            client
                .request(9, &produce_request(9, "idem", id, 0, batch1.clone()))
                .await
        ),
        (0, 2)
    );
    // Retries of both return their original offsets and append nothing.
    assert_eq!(
        offset(
            client
                .request(9, &produce_request(9, "idem", id, 0, batch0))
                .await
        ),
        (0, 0)
    );
    assert_eq!(
        offset(
            client
                .request(9, &produce_request(9, "idem", id, 0, batch1))
                .await
        ),
        (0, 2)
    );
    assert_eq!(
        offset(
            client
                .request(9, &produce_request(9, "idem", id, 0, gap))
                .await
        )
        .0,
        45
    );
    let response = client.request(12, &fetch_request(12, "idem", id, 0)).await;
    assert_eq!(response.responses[0].partitions[0].high_watermark, 3);
    // A transactional id with no timeout: INVALID_TRANSACTION_TIMEOUT, as Kafka (the
    // transactions test covers the rest).
    let transactional =
        InitProducerIdRequest::default().with_transactional_id(Some(TransactionalId(s("tx"))));
    assert_eq!(client.request(3, &transactional).await.error_code, 50);
}

#[tokio::test]
async fn configs_describe_alter_incremental() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, 7, "conf", 1).await;
    let describe = |keys: Option<Vec<StrBytes>>| {
        DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("conf"))
                .with_configuration_keys(keys),
            DescribeConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(s("1")),
        ])
    };
    for version in [1, 4] {
        let response = client.request(version, &describe(None)).await;
        let topic = &response.results[0];
        assert_eq!(topic.error_code, 0);
        let retention = topic
            .configs
            .iter()
            .find(|c| c.name.as_str() == "retention.ms")
            .unwrap();
        assert_eq!(
            (retention.value.as_deref(), retention.config_source),
            (Some("3600000"), 1)
        );
        let cleanup = topic
            .configs
            .iter()
            .find(|c| c.name.as_str() == "cleanup.policy")
            .unwrap();
        assert_eq!(
            (cleanup.value.as_deref(), cleanup.config_source),
            (Some("delete"), 5)
        );
        assert_eq!(response.results[1].error_code, 0);
        assert!(response.results[1]
            .configs
            .iter()
            .any(|c| c.name.as_str() == "num.partitions"));
    }
    let only = client
        .request(4, &describe(Some(vec![s("segment.bytes")])))
        .await;
    assert_eq!(only.results[0].configs.len(), 1);

    for version in [0, 2] {
        let alter = AlterConfigsRequest::default().with_resources(vec![
            kafka_protocol::messages::alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("conf"))
                .with_configs(vec![
                    kafka_protocol::messages::alter_configs_request::AlterableConfig::default()
                        .with_name(s("cleanup.policy"))
                        .with_value(Some(s("compact"))),
                ]),
        ]);
        assert_eq!(
            client.request(version, &alter).await.responses[0].error_code,
            0
        );
    }
    // AlterConfigs replaces: retention.ms is back to its default.
    let response = client
        .request(
            4,
            &describe(Some(vec![s("retention.ms"), s("cleanup.policy")])),
        )
        .await;
    let values: Vec<_> = response.results[0]
        .configs
        .iter()
        .map(|c| (c.name.to_string(), c.value.as_deref().map(String::from)))
        .collect();
    assert!(values.contains(&("retention.ms".into(), Some("604800000".into()))));
    assert!(values.contains(&("cleanup.policy".into(), Some("compact".into()))));

    for version in [0, 1] {
        let ops = vec![
            incremental::AlterableConfig::default()
                .with_name(s("cleanup.policy"))
                .with_config_operation(2)
                .with_value(Some(s("delete"))),
            incremental::AlterableConfig::default()
                .with_name(s("retention.ms"))
                .with_config_operation(0)
                .with_value(Some(s("5000"))),
        ];
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("conf"))
                .with_configs(ops),
        ]);
        assert_eq!(
            client.request(version, &request).await.responses[0].error_code,
            0
        );
    }
    let response = client
        .request(4, &describe(Some(vec![s("cleanup.policy")])))
        .await;
    assert_eq!(
        response.results[0].configs[0].value.as_deref(),
        Some("compact,delete")
    );
    let bad = IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("conf"))
            .with_configs(vec![incremental::AlterableConfig::default()
                .with_name(s("retention.ms"))
                .with_config_operation(0)
                .with_value(Some(s("soon")))]),
        incremental::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("ghost"))
            .with_configs(vec![]),
        incremental::AlterConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(s("1"))
            .with_configs(vec![incremental::AlterableConfig::default()
                .with_name(s("log.retention.ms"))
                .with_config_operation(0)
                .with_value(Some(s("1000")))]),
    ]);
    let codes: Vec<i16> = client
        .request(1, &bad)
        .await
        .responses
        .iter()
        .map(|r| r.error_code)
        .collect();
    assert_eq!(codes, vec![40, 3, 0]);
}

/// `kafka-configs --entity-type brokers --entity-name 1` sets a config of broker 1 alone
/// (DYNAMIC_BROKER_CONFIG), ahead of the cluster-wide default (`--entity-default`,
/// DYNAMIC_DEFAULT_BROKER_CONFIG); both survive a restart and a topic without an override
/// follows broker 1's value on broker 1.
#[tokio::test]
async fn broker_configs_per_broker_and_cluster_default() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, 7, "pb", 1).await;
    // Without its override (create_topic sets retention.ms), the topic follows the broker.
    let unset = IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("pb"))
            .with_configs(vec![incremental::AlterableConfig::default()
                .with_name(s("retention.ms"))
                .with_config_operation(1)]),
    ]);
    assert_eq!(client.request(1, &unset).await.responses[0].error_code, 0);
    let set = |broker: &str, value: Option<&str>| {
        let op = match value {
            Some(v) => incremental::AlterableConfig::default()
                .with_name(s("log.retention.ms"))
                .with_config_operation(0)
                .with_value(Some(s(v))),
            None => incremental::AlterableConfig::default()
                .with_name(s("log.retention.ms"))
                .with_config_operation(1),
        };
        IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental::AlterConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(s(broker))
                .with_configs(vec![op]),
        ])
    };
    for (broker, value) in [("", "7000"), ("1", "3600000")] {
        let response = client.request(1, &set(broker, Some(value))).await;
        assert_eq!(response.responses[0].error_code, 0, "broker '{broker}'");
    }
    let other = client.request(1, &set("2", Some("1"))).await;
    assert_eq!(
        other.responses[0].error_code, 42,
        "another broker's resource"
    );

    // (value, source, synonym sources) of log.retention.ms for broker "1" and "", and the
    // topic's retention.ms.
    async fn read(client: &mut RawClient) -> Vec<(String, i8, Vec<i8>)> {
        let resource = |kind: i8, name: &str, key: &str| {
            DescribeConfigsResource::default()
                .with_resource_type(kind)
                .with_resource_name(s(name))
                .with_configuration_keys(Some(vec![s(key)]))
        };
        let request = DescribeConfigsRequest::default()
            .with_include_synonyms(true)
            .with_resources(vec![
                resource(4, "1", "log.retention.ms"),
                resource(4, "", "log.retention.ms"),
                resource(2, "pb", "retention.ms"),
            ]);
        client
            .request(4, &request)
            .await
            .results
            .iter()
            .map(|r| {
                assert_eq!(r.error_code, 0);
                let c = &r.configs[0];
                (
                    c.value.as_deref().unwrap_or("").to_string(),
                    c.config_source,
                    c.synonyms.iter().map(|s| s.source).collect(),
                )
            })
            .collect()
    }
    let expected = vec![
        ("3600000".to_string(), 2, vec![2, 3, 5]),
        ("7000".to_string(), 3, vec![3, 5]),
        ("3600000".to_string(), 5, vec![5]),
    ];
    assert_eq!(read(&mut client).await, expected);

    drop(client);
    let (dir, keep) = broker.stop().await;
    let broker = TestBroker::start_in(dir).await;
    let mut client = broker.client().await;
    assert_eq!(read(&mut client).await, expected, "after a restart");

    let response = client.request(0, &set("1", None)).await;
    assert_eq!(response.responses[0].error_code, 0);
    assert_eq!(
        read(&mut client).await,
        vec![
            ("7000".to_string(), 3, vec![3, 5]),
            ("7000".to_string(), 3, vec![3, 5]),
            ("7000".to_string(), 5, vec![5]),
        ],
        "broker 1's own value deleted: the cluster default shows through"
    );
    drop(keep);
}

#[tokio::test]
async fn describe_cluster_lowest_and_highest() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    for version in [0, 2] {
        let response = client
            .request(
                version,
                &DescribeClusterRequest::default().with_endpoint_type(1),
            )
            .await;
        assert_eq!(response.error_code, 0);
        assert_eq!(response.brokers.len(), 1);
        assert_eq!(response.brokers[0].port, broker.addr.port() as i32);
        assert_eq!(response.cluster_id.len(), 22);
    }
}

#[tokio::test]
async fn restart_keeps_topics_configs_and_records() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, 7, "durable", 2).await;
    let id = uuid::Uuid::nil();
    for i in 0..20u8 {
        let batch = record_batch(&[(Some(&[i][..]), Some(b"payload"))], None);
        let response = client
            .request(9, &produce_request(9, "durable", id, (i % 2) as i32, batch))
            .await;
        assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
    }
    let before = client
        .request(12, &MetadataRequest::default().with_topics(None))
        .await;
    drop(client);
    let (dir, keep) = broker.stop().await;
    let broker = TestBroker::start_in(dir).await;
    let mut client = broker.client().await;
    let after = client
        .request(12, &MetadataRequest::default().with_topics(None))
        .await;
    assert_eq!(before.cluster_id, after.cluster_id);
    assert_eq!(before.topics[0].topic_id, after.topics[0].topic_id);
    let response = client
        .request(12, &fetch_request(12, "durable", id, 0))
        .await;
    assert_eq!(response.responses[0].partitions[0].high_watermark, 10);
    let response = client
        .request(
            4,
            &DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("durable"))
                    .with_configuration_keys(Some(vec![s("retention.ms")])),
            ]),
        )
        .await;
    assert_eq!(
        response.results[0].configs[0].value.as_deref(),
        Some("3600000")
    );
    // New appends continue after the recovered offsets.
    let batch = record_batch(&[(None, Some(b"after"))], None);
    let response = client
        .request(9, &produce_request(9, "durable", id, 0, batch))
        .await;
    assert_eq!(response.responses[0].partition_responses[0].base_offset, 10);
    drop(keep);
}

/// A partition's state (next offset, idempotent producers, retained bytes) is checkpointed
/// only now and then; what was applied after the last checkpoint is rebuilt at startup by
/// re-applying the committed log. A restart right after the last acknowledged append must keep
/// all of it: a retry of that append is still recognised as a duplicate, and a gap is not.
#[tokio::test]
async fn restart_rebuilds_state_applied_after_the_checkpoint() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, 7, "replayed", 1).await;
    let id = uuid::Uuid::nil();
    let batch = |sequence: i32| {
        let value = format!("v{sequence}");
        record_batch(&[(None, Some(value.as_bytes()))], Some((4242, 0, sequence)))
    };
    let mut offsets = Vec::new();
    for sequence in 0..5 {
        let response = client
            .request(9, &produce_request(9, "replayed", id, 0, batch(sequence)))
            .await;
        let partition = &response.responses[0].partition_responses[0];
        assert_eq!(partition.error_code, 0);
        offsets.push(partition.base_offset);
    }
    assert_eq!(offsets, vec![0, 1, 2, 3, 4]);
    drop(client);
    let (dir, keep) = broker.stop().await;
    let broker = TestBroker::start_in(dir).await;
    let mut client = broker.client().await;
    let retry = client
        .request(9, &produce_request(9, "replayed", id, 0, batch(4)))
        .await;
    let partition = &retry.responses[0].partition_responses[0];
    assert_eq!(
        (partition.error_code, partition.base_offset),
        (0, 4),
        "the last append's retry is a duplicate, answered with its offset"
    );
    let gap = client
        .request(9, &produce_request(9, "replayed", id, 0, batch(7)))
        .await;
    assert_eq!(
        gap.responses[0].partition_responses[0].error_code, 45,
        "OUT_OF_ORDER_SEQUENCE_NUMBER: the producer's sequence survived"
    );
    let next = client
        .request(9, &produce_request(9, "replayed", id, 0, batch(5)))
        .await;
    assert_eq!(next.responses[0].partition_responses[0].base_offset, 5);
    let fetched = client
        .request(12, &fetch_request(12, "replayed", id, 0))
        .await;
    assert_eq!(fetched.responses[0].partitions[0].high_watermark, 6);
    drop(keep);
}

#[tokio::test]
async fn long_poll_waits_for_data() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, 7, "poll", 1).await;
    let id = uuid::Uuid::nil();
    let started = std::time::Instant::now();
    let request = fetch_request(12, "poll", id, 0).with_max_wait_ms(300);
    let response = client.request(12, &request).await;
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(250),
        "waited for max_wait_ms"
    );
    assert!(response.responses[0].partitions[0]
        .records
        .as_ref()
        .unwrap()
        .is_empty());
    // A producer on another connection wakes the waiting fetch early.
    let mut producer = broker.client().await;
    let waiting = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let response = client
            .request(
                12,
                &fetch_request(12, "poll", id, 0).with_max_wait_ms(10_000),
            )
            .await;
        (started.elapsed(), response)
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let batch = record_batch(&[(None, Some(b"wake"))], None);
    producer
        .request(9, &produce_request(9, "poll", id, 0, batch))
        .await;
    let (elapsed, response) = waiting.await.unwrap();
    assert!(elapsed < std::time::Duration::from_secs(5));
    assert!(!response.responses[0].partitions[0]
        .records
        .as_ref()
        .unwrap()
        .is_empty());
}

async fn end_offset_for(
    client: &mut RawClient,
    version: i16,
    current: i32,
    epoch: i32,
) -> (i16, i32, i64) {
    use kafka_protocol::messages::offset_for_leader_epoch_request::{
        OffsetForLeaderPartition, OffsetForLeaderTopic,
    };
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(name("epochs"))
            .with_partitions(vec![OffsetForLeaderPartition::default()
                .with_partition(0)
                .with_current_leader_epoch(current)
                .with_leader_epoch(epoch)])]);
    let response = client.request(version, &request).await;
    let p = &response.topics[0].partitions[0];
    (p.error_code, p.leader_epoch, p.end_offset)
}

async fn leader_epoch_of(client: &mut RawClient, topic: &str) -> i32 {
    let request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(name(topic))),
    ]));
    let response = client.request(12, &request).await;
    response.topics[0].partitions[0].leader_epoch
}

/// The current epoch ends at the high watermark, also after a restart; older epochs are
/// covered by the partition's unit tests (a single node keeps its term across restarts).
#[tokio::test]
async fn offset_for_leader_epoch_across_a_restart() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, 7, "epochs", 1).await;
    let id = uuid::Uuid::nil();
    for _ in 0..3 {
        let batch = record_batch(&[(None, Some(b"v"))], None);
        let response = client
            .request(9, &produce_request(9, "epochs", id, 0, batch))
            .await;
        assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
    }
    let first = leader_epoch_of(&mut client, "epochs").await;
    assert!(first >= 1);
    // The current epoch ends at the high watermark.
    assert_eq!(
        end_offset_for(&mut client, 4, first, first).await,
        (0, first, 3)
    );
    assert_eq!(
        end_offset_for(&mut client, 2, -1, first).await,
        (0, first, 3)
    );
    // Unknown (future) epoch, and fencing by the client's view of the current epoch.
    assert_eq!(
        end_offset_for(&mut client, 4, -1, first + 5).await,
        (0, -1, -1)
    );
    assert_eq!(end_offset_for(&mut client, 4, first - 1, first).await.0, 74);
    assert_eq!(end_offset_for(&mut client, 4, first + 1, first).await.0, 75);
    drop(client);
    let (dir, _keep) = broker.stop().await;
    let broker = TestBroker::start_in(dir).await;
    let mut client = broker.client().await;
    let second = leader_epoch_of(&mut client, "epochs").await;
    assert!(second >= first);
    let batch = record_batch(&[(None, Some(b"after"))], None);
    let response = client
        .request(9, &produce_request(9, "epochs", id, 0, batch))
        .await;
    assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
    if second > first {
        let old = end_offset_for(&mut client, 4, second, first).await;
        assert_eq!(old, (0, first, 3));
    }
    assert_eq!(
        end_offset_for(&mut client, 4, second, second).await,
        (0, second, 4)
    );
    broker.stop().await;
}

/// acks=all needs min.insync.replicas in-sync replicas; acks=1 does not.
#[tokio::test]
async fn min_insync_replicas_rejects_acks_all() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name("strict"))
            .with_num_partitions(1)
            .with_replication_factor(-1)
            .with_configs(vec![CreatableTopicConfig::default()
                .with_name(s("min.insync.replicas"))
                .with_value(Some(s("2")))])]);
    let created: CreateTopicsResponse = client.request(7, &request).await;
    assert_eq!(created.topics[0].error_code, 0);
    let id = uuid::Uuid::nil();
    let batch = record_batch(&[(None, Some(b"v"))], None);
    let response = client
        .request(9, &produce_request(9, "strict", id, 0, batch.clone()))
        .await;
    assert_eq!(response.responses[0].partition_responses[0].error_code, 19);
    let one = produce_request(9, "strict", id, 0, batch).with_acks(1);
    let response = client.request(9, &one).await;
    assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
    broker.stop().await;
}

/// Requests of one connection are answered in order and each sees what the ones before it did
/// (Kafka handles one request of a connection at a time): DescribeConfigs pipelined right
/// behind an IncrementalAlterConfigs shows the new value.
#[tokio::test]
async fn describe_configs_pipelined_after_an_alter_sees_it() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    create_topic(&mut client, 7, "piped", 1).await;
    for round in 1..=5 {
        let value = format!("{}", 60_000 * round);
        let alter = IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental::AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("piped"))
                .with_configs(vec![incremental::AlterableConfig::default()
                    .with_name(s("retention.ms"))
                    .with_config_operation(0)
                    .with_value(Some(s(&value)))]),
        ]);
        let describe = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("piped"))
                .with_configuration_keys(Some(vec![s("retention.ms")])),
        ]);
        let alter_frame = client.encode_request(1, &alter);
        let describe_frame = client.encode_request(4, &describe);
        // Both sent before reading either answer.
        client.send_frame(&alter_frame).await;
        client.send_frame(&describe_frame).await;
        let altered = client
            .read_response::<IncrementalAlterConfigsRequest>(1)
            .await
            .expect("alter answered");
        assert_eq!(altered.responses[0].error_code, 0);
        let described = client
            .read_response::<DescribeConfigsRequest>(4)
            .await
            .expect("describe answered");
        assert_eq!(
            described.results[0].configs[0].value.as_deref(),
            Some(value.as_str()),
            "round {round}"
        );
    }
}
