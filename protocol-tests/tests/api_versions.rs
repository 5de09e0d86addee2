//! ApiVersions at every version, and the UNSUPPORTED_VERSION fallback with a v0 body.

use bytes::{Buf, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, RequestKind, ResponseHeader,
    ResponseKind,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use protocol_tests::TestBroker;

#[tokio::test]
async fn every_version_lists_the_table() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    for version in 0..=4 {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("protocol-tests"))
            .with_client_software_version(StrBytes::from_static_str("1"));
        let response = client.request(version, &request).await;
        assert_eq!(response.error_code, 0, "v{version}");
        for spec in broker_spec() {
            let advertised = response
                .api_keys
                .iter()
                .find(|k| k.api_key == spec.key as i16)
                .expect("advertised");
            assert_eq!(
                (advertised.min_version, advertised.max_version),
                (spec.min, spec.max)
            );
        }
        assert_eq!(response.api_keys.len(), broker_spec().len());
        // Features from v3 on; v3 leaves out those supported from level 0, as Kafka.
        let supported: Vec<(&str, i16, i16)> = response
            .supported_features
            .iter()
            .map(|f| (f.name.as_str(), f.min_version, f.max_version))
            .collect();
        let finalized: Vec<(&str, i16)> = response
            .finalized_features
            .iter()
            .map(|f| (f.name.as_str(), f.max_version_level))
            .collect();
        match version {
            0..=2 => {
                assert!(supported.is_empty() && finalized.is_empty());
                assert_eq!(response.finalized_features_epoch, -1);
            }
            _ => {
                let expected = if version == 3 { 1 } else { 7 };
                assert_eq!(supported.len(), expected, "v{version}: {supported:?}");
                assert!(supported.contains(&("metadata.version", 27, 27)));
                assert!(version == 3 || supported.contains(&("group.version", 0, 1)));
                assert!(version == 3 || supported.contains(&("transaction.version", 0, 0)));
                assert_eq!(finalized, [("metadata.version", 27), ("group.version", 1)]);
                assert!(response.finalized_features_epoch >= 0);
            }
        }
    }
}

fn broker_spec() -> &'static [protocol_tests::broker::handlers::ApiSpec] {
    protocol_tests::broker::handlers::SUPPORTED
}

#[tokio::test]
async fn unknown_version_gets_v0_error_body() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    // ApiVersions v127 with a header we cannot know the layout of: only key, version and
    // correlation id are read.
    client
        .send_frame(&[0, 18, 0, 127, 0, 0, 0, 42, 0xff, 0xff, 0x00])
        .await;
    let mut frame = client.recv_frame().await.expect("answered");
    let header = ResponseHeader::decode(&mut frame, 0).unwrap();
    assert_eq!(header.correlation_id, 42);
    let body = ApiVersionsResponse::decode(&mut frame, 0).unwrap();
    assert_eq!(frame.remaining(), 0);
    assert_eq!(body.error_code, 35);
    assert!(body
        .api_keys
        .iter()
        .any(|k| k.api_key == ApiKey::ApiVersions as i16 && k.max_version == 4));
}

/// Every API key and version ApiVersions advertises gets a response: a default request of
/// each (Produce with acks=1, since acks=0 is answered by silence) is decoded, handled and
/// answered with a body that decodes at that version. An API in the version table without a
/// handler used to leave the client waiting forever.
#[tokio::test]
async fn every_advertised_api_and_version_is_answered() {
    let broker = TestBroker::start().await;
    let mut client = broker.client().await;
    let advertised = client.request(3, &ApiVersionsRequest::default()).await;
    let mut answered = 0;
    for api in &advertised.api_keys {
        let key = ApiKey::try_from(api.api_key).expect("a known api key");
        for version in api.min_version..=api.max_version {
            let mut request = protocol_tests::broker::handlers::default_request(key)
                .unwrap_or_else(|| panic!("{key:?} is advertised without a declaration"));
            if let RequestKind::Produce(produce) = &mut request {
                produce.acks = 1;
            }
            let correlation_id = 1000 + answered;
            let header = RequestHeader::default()
                .with_request_api_key(api.api_key)
                .with_request_api_version(version)
                .with_correlation_id(correlation_id)
                .with_client_id(Some(StrBytes::from_static_str("protocol-tests")));
            let mut frame = BytesMut::new();
            header
                .encode(&mut frame, key.request_header_version(version))
                .unwrap();
            request.encode(&mut frame, version).unwrap();
            client.send_frame(&frame).await;
            let mut response = client
                .recv_frame()
                .await
                .unwrap_or_else(|| panic!("{key:?} v{version}: connection closed"));
            let response_header =
                ResponseHeader::decode(&mut response, key.response_header_version(version))
                    .unwrap();
            assert_eq!(
                response_header.correlation_id, correlation_id,
                "{key:?} v{version}"
            );
            let body = ResponseKind::decode(key, &mut response, version)
                .unwrap_or_else(|e| panic!("{key:?} v{version}: {e}"));
            assert_eq!(response.remaining(), 0, "{key:?} v{version}");
            let mut codes = Vec::new();
            protocol_tests::broker::handlers::error_codes(&body, &mut |code| codes.push(code));
            answered += 1;
        }
    }
    let versions: i32 = broker_spec()
        .iter()
        .map(|spec| i32::from(spec.max - spec.min + 1))
        .sum();
    assert_eq!(answered, versions);
}
