//! ApiVersions at every version, and the UNSUPPORTED_VERSION fallback with a v0 body.

use bytes::Buf;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, ResponseHeader};
use kafka_protocol::protocol::{Decodable, StrBytes};
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
