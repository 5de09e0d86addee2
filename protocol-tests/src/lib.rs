//! Wire-level test harness: a broker started in-process on an ephemeral loopback port, and a raw
//! client that writes frames byte for byte and reads whatever comes back.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiKey, FetchRequest, ProduceRequest, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

pub use broker;

pub struct TestBroker {
    pub addr: SocketAddr,
    /// Every client listener's address, in the order of the config's listeners.
    pub addrs: Vec<SocketAddr>,
    /// The broker's internals, for tests that drive background work (retention) directly;
    /// dropped at stop so the store can close.
    ctx: Option<std::sync::Arc<broker::handlers::Ctx>>,
    pub data_dir: PathBuf,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestBroker {
    pub async fn start() -> TestBroker {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().to_path_buf();
        let mut broker = TestBroker::start_in(path).await;
        broker._dir = Some(dir);
        broker
    }

    /// A broker whose test config `configure` changes first (limits, timeouts).
    pub async fn start_with(configure: impl FnOnce(&mut broker::config::Config)) -> TestBroker {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = broker::config::Config::for_test(dir.path().to_path_buf());
        configure(&mut config);
        let mut broker = TestBroker::start_config(config).await;
        broker._dir = Some(dir);
        broker
    }

    pub async fn start_in(data_dir: PathBuf) -> TestBroker {
        TestBroker::start_config(broker::config::Config::for_test(data_dir)).await
    }

    /// A restart in `data_dir` with a test config that `configure` changes first.
    pub async fn start_in_with(
        data_dir: PathBuf,
        configure: impl FnOnce(&mut broker::config::Config),
    ) -> TestBroker {
        let mut config = broker::config::Config::for_test(data_dir);
        configure(&mut config);
        TestBroker::start_config(config).await
    }

    async fn start_config(config: broker::config::Config) -> TestBroker {
        let data_dir = config.data_dir.clone();
        let node = broker::node::Node::start(config)
            .await
            .expect("broker starts");
        let addr = node.local_addr;
        let addrs = node.local_addrs.clone();
        let ctx = node.ctx.clone();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(node.run(shutdown.clone()));
        TestBroker {
            addr,
            addrs,
            ctx: Some(ctx),
            data_dir,
            shutdown,
            task: Some(task),
            _dir: None,
        }
    }

    pub fn ctx(&self) -> &broker::handlers::Ctx {
        self.ctx.as_ref().expect("broker running")
    }

    /// Stops the broker and returns its data dir (kept alive for a restart).
    pub async fn stop(mut self) -> (PathBuf, Option<tempfile::TempDir>) {
        self.ctx.take();
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), task).await;
        }
        (self.data_dir.clone(), self._dir.take())
    }

    pub async fn client(&self) -> RawClient {
        RawClient::connect(self.addr).await
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub struct RawClient {
    pub stream: TcpStream,
    correlation_id: i32,
}

const READ_TIMEOUT: Duration = Duration::from_secs(15);

impl RawClient {
    pub async fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        RawClient {
            stream,
            correlation_id: 0,
        }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Writes one length-prefixed frame.
    pub async fn send_frame(&mut self, body: &[u8]) {
        let mut frame = BytesMut::with_capacity(body.len() + 4);
        frame.put_u32(body.len() as u32);
        frame.put_slice(body);
        self.send_raw(&frame).await;
    }

    /// Reads one frame; None if the broker closed the connection.
    pub async fn recv_frame(&mut self) -> Option<Bytes> {
        let read = async {
            let length = self.stream.read_u32().await.ok()?;
            let mut body = vec![0u8; length as usize];
            self.stream.read_exact(&mut body).await.ok()?;
            Some(Bytes::from(body))
        };
        tokio::time::timeout(READ_TIMEOUT, read)
            .await
            .expect("broker answered or closed in time")
    }

    /// True once the broker has closed this connection (EOF or reset).
    pub async fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(READ_TIMEOUT, self.stream.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => true,
            Ok(Ok(_)) => false,
            Err(_) => false,
        }
    }

    pub fn encode_request<R: Request>(&mut self, version: i16, request: &R) -> BytesMut {
        self.correlation_id += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("protocol-tests")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .expect("encode header");
        request.encode(&mut body, version).expect("encode request");
        body
    }

    /// Sends a typed request and decodes the typed response, checking the correlation id.
    pub async fn request<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
        let body = self.encode_request(version, request);
        self.send_frame(&body).await;
        self.read_response::<R>(version)
            .await
            .expect("response frame")
    }

    /// Produces one record batch to `topic`-`partition` (Produce v9, acks=all) and returns the
    /// partition's response.
    pub async fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        batch: Bytes,
    ) -> PartitionProduceResponse {
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch))])]);
        let mut response = self.request(9, &request).await;
        response.responses.remove(0).partition_responses.remove(0)
    }

    /// Fetches `topic`-`partition` from `offset` (Fetch v12, no wait) and returns the partition's
    /// error code.
    pub async fn fetch_error(&mut self, topic: &str, partition: i32, offset: i64) -> i16 {
        let request = fetch_request(topic, partition, offset);
        self.request(12, &request).await.responses[0].partitions[0].error_code
    }

    pub async fn read_response<R: Request>(&mut self, version: i16) -> Option<R::Response> {
        let mut frame = self.recv_frame().await?;
        let api_key = ApiKey::try_from(R::KEY).expect("known key");
        let header = ResponseHeader::decode(&mut frame, api_key.response_header_version(version))
            .expect("response header");
        assert!(header.correlation_id > 0, "correlation id echoed");
        let response = R::Response::decode(&mut frame, version).expect("decode response");
        assert_eq!(frame.remaining(), 0, "response has no trailing bytes");
        Some(response)
    }
}

/// A record's key and value, either of which may be null.
pub type KeyValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// A Fetch of one partition from `offset`: no wait, up to 1 MiB, no session.
pub fn fetch_request(topic: &str, partition: i32, offset: i64) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_current_leader_epoch(-1)
                .with_partition_max_bytes(1 << 20)])])
}

/// One valid magic-v2 record batch built with kafka-protocol's encoder.
pub fn record_batch(records: &[KeyValue<'_>], producer: Option<(i64, i16, i32)>) -> Bytes {
    record_batch_at(records, producer, 1_700_000_000_000)
}

/// Like [`record_batch`], with record timestamps from `timestamp_ms` on.
pub fn record_batch_at(
    records: &[KeyValue<'_>],
    producer: Option<(i64, i16, i32)>,
    timestamp_ms: i64,
) -> Bytes {
    encode_batch(records, producer, timestamp_ms, false)
}

/// A transactional producer's batch: (producer id, epoch, base sequence).
pub fn transactional_batch(records: &[KeyValue<'_>], producer: (i64, i16, i32)) -> Bytes {
    encode_batch(records, Some(producer), 1_700_000_000_000, true)
}

fn encode_batch(
    records: &[KeyValue<'_>],
    producer: Option<(i64, i16, i32)>,
    timestamp_ms: i64,
    transactional: bool,
) -> Bytes {
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    let (producer_id, producer_epoch, base_sequence) = producer.unwrap_or((-1, -1, -1));
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // kafka-protocol starts a new batch wherever `offset - sequence` changes: without a
            // producer the base sequence is -1 and record i carries -1 + i.
            sequence: base_sequence + i as i32,
            timestamp: timestamp_ms + i as i64,
            key: key.map(Bytes::copy_from_slice),
            value: value.map(Bytes::copy_from_slice),
            headers: Default::default(),
        })
        .collect();
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut out, &records, &options).expect("encode batch");
    out.freeze()
}
