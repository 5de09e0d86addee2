//! Malformed input: each case closes (or answers) that one connection, and the broker keeps
//! serving other connections.

use kafka_protocol::messages::ApiVersionsRequest;
use protocol_tests::{RawClient, TestBroker};

async fn still_serving(broker: &TestBroker) {
    let mut client = broker.client().await;
    let response = client.request(3, &ApiVersionsRequest::default()).await;
    assert_eq!(response.error_code, 0);
}

#[tokio::test]
async fn negative_length_closes_the_connection() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    client.send_raw(&(-5i32).to_be_bytes()).await;
    assert!(client.is_closed().await);
    still_serving(&broker).await;
}

#[tokio::test]
async fn huge_length_closes_before_allocating() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    // 2 GiB declared, nothing sent: the broker must not wait for (or allocate) the body.
    client.send_raw(&(i32::MAX).to_be_bytes()).await;
    assert!(client.is_closed().await);
    // Just over the 100 MiB default limit.
    let mut client = broker.client().await;
    client
        .send_raw(&((100 * 1024 * 1024 + 1) as u32).to_be_bytes())
        .await;
    assert!(client.is_closed().await);
    still_serving(&broker).await;
}

#[tokio::test]
async fn truncated_frame_then_eof_is_dropped() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let body = client.encode_request(3, &ApiVersionsRequest::default());
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body[..body.len() / 2]);
    client.send_raw(&frame).await;
    client.stream.shutdown().await.ok();
    still_serving(&broker).await;
}

#[tokio::test]
async fn short_header_closes() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    client.send_frame(&[0, 18, 0]).await;
    assert!(client.is_closed().await);
    still_serving(&broker).await;
}

#[tokio::test]
async fn unknown_api_key_closes() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let mut body = vec![0x7f, 0x00, 0, 0, 0, 0, 0, 1];
    body.extend_from_slice(&[0xff, 0xff]);
    client.send_frame(&body).await;
    assert!(client.is_closed().await);
    // A real key we do not serve (JoinGroup, not advertised yet) closes too.
    let mut client = broker.client().await;
    client
        .send_frame(&[0, 11, 0, 5, 0, 0, 0, 1, 0xff, 0xff])
        .await;
    assert!(client.is_closed().await);
    still_serving(&broker).await;
}

#[tokio::test]
async fn version_outside_range_closes() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    // Metadata v99 (header: key 3, version 99, correlation id 1, null client id).
    client
        .send_frame(&[0, 3, 0, 99, 0, 0, 0, 1, 0xff, 0xff, 0])
        .await;
    assert!(client.is_closed().await);
    // Produce v2 is below what we advertise.
    let mut client = broker.client().await;
    client
        .send_frame(&[0, 0, 0, 2, 0, 0, 0, 1, 0xff, 0xff])
        .await;
    assert!(client.is_closed().await);
    still_serving(&broker).await;
}

#[tokio::test]
async fn garbage_body_closes() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    // Metadata v12 header followed by bytes that are not a Metadata request.
    let mut body = vec![0, 3, 0, 12, 0, 0, 0, 1, 0, 4, b't', b'e', b's', b't', 0];
    body.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef, 0x01]);
    client.send_frame(&body).await;
    assert!(client.is_closed().await);
    still_serving(&broker).await;
}

#[tokio::test]
async fn earlier_pipelined_requests_are_answered_before_a_bad_one_closes() {
    let broker = TestBroker::start().await;
    let mut client = RawClient::connect(broker.addr).await;
    let good = client.encode_request(3, &ApiVersionsRequest::default());
    client.send_frame(&good).await;
    client.send_frame(&[0x7f, 0x7f, 0, 0, 0, 0, 0, 9]).await;
    assert!(
        client.recv_frame().await.is_some(),
        "first response arrives"
    );
    assert!(client.is_closed().await);
}

use tokio::io::AsyncWriteExt;
