//! Listeners and SASL on the wire: a PLAINTEXT and a SASL_PLAINTEXT listener on one broker,
//! Metadata advertising the listener a client came in on, SaslHandshake/SaslAuthenticate as
//! Kafka answers them, and what an unauthenticated connection may not do.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiVersionsRequest, MetadataRequest, SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_protocol::protocol::StrBytes;
use protocol_tests::broker::config::{ListenerConfig, SaslConfig, SaslMechanism, SecurityProtocol};
use protocol_tests::{RawClient, TestBroker};

const DELAY_MS: u64 = 400;

async fn broker() -> TestBroker {
    TestBroker::start_with(|config| {
        let mut sasl = ListenerConfig::plaintext("127.0.0.1:0".parse().unwrap());
        sasl.name = "SASL_PLAINTEXT".into();
        sasl.protocol = SecurityProtocol::SaslPlaintext;
        sasl.advertised_host = "localhost".into();
        sasl.sasl = Some(SaslConfig {
            mechanisms: vec![SaslMechanism::Plain],
            plain_users: BTreeMap::from([("alice".into(), "alice-secret".into())]),
        });
        config.listeners.push(sasl);
        config.failed_authentication_delay_ms = DELAY_MS;
    })
    .await
}

async fn sasl_client(broker: &TestBroker) -> RawClient {
    RawClient::connect(broker.addrs[1]).await
}

fn handshake(mechanism: &'static str) -> SaslHandshakeRequest {
    SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism))
}

fn plain(user: &str, password: &str) -> SaslAuthenticateRequest {
    SaslAuthenticateRequest::default()
        .with_auth_bytes(Bytes::from(format!("\0{user}\0{password}").into_bytes()))
}

async fn advertised_ports(client: &mut RawClient) -> Vec<(String, i32)> {
    let metadata = client.request(12, &MetadataRequest::default()).await;
    metadata
        .brokers
        .iter()
        .map(|b| (b.host.to_string(), b.port))
        .collect()
}

#[tokio::test]
async fn plain_login_then_metadata_advertises_the_sasl_listener() {
    let broker = broker().await;
    let mut client = sasl_client(&broker).await;
    let versions = client.request(3, &ApiVersionsRequest::default()).await;
    assert_eq!(
        versions.error_code, 0,
        "ApiVersions comes before authentication"
    );
    let response = client.request(1, &handshake("PLAIN")).await;
    assert_eq!(response.error_code, 0);
    assert_eq!(response.mechanisms, [StrBytes::from_static_str("PLAIN")]);
    let response = client.request(2, &plain("alice", "alice-secret")).await;
    assert_eq!(response.error_code, 0, "{:?}", response.error_message);
    let sasl_port = i32::from(broker.addrs[1].port());
    assert_eq!(
        advertised_ports(&mut client).await,
        [("localhost".to_string(), sasl_port)]
    );
    // A second exchange on the same connection: ILLEGAL_SASL_STATE, and it stays open.
    let again = client.request(1, &handshake("PLAIN")).await;
    assert_eq!(again.error_code, 34);
    let mut plaintext = broker.client().await;
    assert_eq!(
        advertised_ports(&mut plaintext).await,
        [("127.0.0.1".to_string(), i32::from(broker.addr.port()))]
    );
    let refused = plaintext.request(1, &handshake("PLAIN")).await;
    assert_eq!(refused.error_code, 34, "no SASL on a PLAINTEXT listener");
}

#[tokio::test]
async fn a_wrong_password_fails_after_the_delay_without_holding_up_others() {
    let broker = broker().await;
    for (user, password) in [("alice", "wrong"), ("mallory", "alice-secret")] {
        let mut client = sasl_client(&broker).await;
        assert_eq!(client.request(1, &handshake("PLAIN")).await.error_code, 0);
        let started = Instant::now();
        let body = client.encode_request(2, &plain(user, password));
        client.send_frame(&body).await;
        // Others are served meanwhile.
        let mut other = broker.client().await;
        let other_started = Instant::now();
        assert_eq!(
            other
                .request(3, &ApiVersionsRequest::default())
                .await
                .error_code,
            0
        );
        assert!(other_started.elapsed() < Duration::from_millis(DELAY_MS / 2));
        let response = client
            .read_response::<SaslAuthenticateRequest>(2)
            .await
            .expect("an answer");
        assert!(started.elapsed() >= Duration::from_millis(DELAY_MS));
        assert_eq!(response.error_code, 58, "SASL_AUTHENTICATION_FAILED");
        assert_eq!(
            response.error_message.as_deref(),
            Some("Authentication failed: Invalid username or password")
        );
        assert!(client.is_closed().await);
    }
    let mut client = sasl_client(&broker).await;
    assert_eq!(client.request(1, &handshake("PLAIN")).await.error_code, 0);
    let ok = client.request(2, &plain("alice", "alice-secret")).await;
    assert_eq!(ok.error_code, 0, "the broker keeps serving");
}

#[tokio::test]
async fn unauthenticated_requests_and_unknown_mechanisms_close_the_connection() {
    let broker = broker().await;
    let mut client = sasl_client(&broker).await;
    let body = client.encode_request(12, &MetadataRequest::default());
    client.send_frame(&body).await;
    assert!(client.is_closed().await, "Metadata before authentication");
    let mut client = sasl_client(&broker).await;
    let response = client.request(1, &handshake("SCRAM-SHA-1")).await;
    assert_eq!(response.error_code, 33, "UNSUPPORTED_SASL_MECHANISM");
    assert_eq!(response.mechanisms, [StrBytes::from_static_str("PLAIN")]);
    assert!(client.is_closed().await);
    let mut client = sasl_client(&broker).await;
    let response = client.request(2, &plain("alice", "alice-secret")).await;
    assert_eq!(
        response.error_code, 34,
        "SaslAuthenticate before SaslHandshake"
    );
    assert!(client.is_closed().await);
}

#[tokio::test]
async fn a_v0_handshake_takes_raw_tokens() {
    let broker = broker().await;
    let mut client = sasl_client(&broker).await;
    assert_eq!(client.request(0, &handshake("PLAIN")).await.error_code, 0);
    client.send_frame(b"\0alice\0alice-secret").await;
    let reply = client.recv_frame().await.expect("a raw token back");
    assert!(reply.is_empty(), "PLAIN's server token is empty");
    assert_eq!(advertised_ports(&mut client).await.len(), 1);
    let mut wrong = sasl_client(&broker).await;
    assert_eq!(wrong.request(0, &handshake("PLAIN")).await.error_code, 0);
    wrong.send_frame(b"\0alice\0nope").await;
    assert!(wrong.is_closed().await);
}

mod scram {
    use super::*;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine;
    use kafka_protocol::messages::alter_user_scram_credentials_request::{
        ScramCredentialDeletion, ScramCredentialUpsertion,
    };
    use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
    use kafka_protocol::messages::{
        AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest,
    };
    use protocol_tests::broker::security::scram::hmac;
    use sha2::{Digest, Sha512};

    const SHA_512: i8 = 2;
    const SALT: &[u8] = b"kbroker-test-salt";

    fn salted(password: &str, iterations: u32) -> Vec<u8> {
        let mut out = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), SALT, iterations, &mut out);
        out.to_vec()
    }

    fn upsert(user: &str, password: &str, iterations: i32) -> ScramCredentialUpsertion {
        ScramCredentialUpsertion::default()
            .with_name(StrBytes::from_string(user.into()))
            .with_mechanism(SHA_512)
            .with_iterations(iterations)
            .with_salt(Bytes::from_static(SALT))
            .with_salted_password(Bytes::from(salted(password, iterations.max(1) as u32)))
    }

    /// A SCRAM-SHA-512 login as Kafka's client does it; the broker's answer to the last step.
    async fn login(client: &mut RawClient, user: &str, password: &str) -> (i16, Option<String>) {
        let handshake = client.request(1, &handshake("SCRAM-SHA-512")).await;
        assert_eq!(handshake.error_code, 0);
        let bare = format!("n={user},r=clientnonce123");
        let first = SaslAuthenticateRequest::default()
            .with_auth_bytes(Bytes::from(format!("n,,{bare}").into_bytes()));
        let server_first = client.request(2, &first).await;
        assert_eq!(
            server_first.error_code, 0,
            "{:?}",
            server_first.error_message
        );
        let server_first = String::from_utf8(server_first.auth_bytes.to_vec()).unwrap();
        let fields: Vec<&str> = server_first.split(',').collect();
        let nonce = fields[0].strip_prefix("r=").unwrap();
        assert!(nonce.starts_with("clientnonce123") && nonce.len() > 20);
        let salt = BASE64
            .decode(fields[1].strip_prefix("s=").unwrap())
            .unwrap();
        let iterations: u32 = fields[2].strip_prefix("i=").unwrap().parse().unwrap();
        let mut salted_password = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), &salt, iterations, &mut salted_password);
        let mechanism = SaslMechanism::ScramSha512;
        let client_key = hmac(mechanism, &salted_password, b"Client Key");
        let stored_key = Sha512::digest(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{bare},{server_first},{without_proof}");
        let signature = hmac(mechanism, &stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let last = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(
            format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes(),
        ));
        let done = client.request(2, &last).await;
        if done.error_code == 0 {
            let server_key = hmac(mechanism, &salted_password, b"Server Key");
            let expected = hmac(mechanism, &server_key, auth.as_bytes());
            assert_eq!(
                done.auth_bytes,
                format!("v={}", BASE64.encode(expected)).into_bytes(),
                "the server proves it knows the password too"
            );
        }
        (done.error_code, done.error_message.map(|m| m.to_string()))
    }

    async fn scram_broker() -> TestBroker {
        TestBroker::start_with(|config| {
            let mut sasl = ListenerConfig::plaintext("127.0.0.1:0".parse().unwrap());
            sasl.name = "SASL_PLAINTEXT".into();
            sasl.protocol = SecurityProtocol::SaslPlaintext;
            sasl.sasl = Some(SaslConfig {
                mechanisms: vec![SaslMechanism::ScramSha512],
                plain_users: BTreeMap::new(),
            });
            config.listeners.push(sasl);
            config.failed_authentication_delay_ms = 10;
        })
        .await
    }

    #[tokio::test]
    async fn credentials_set_described_used_and_deleted() {
        let broker = scram_broker().await;
        let mut admin = broker.client().await;
        let alter = AlterUserScramCredentialsRequest::default().with_upsertions(vec![
            upsert("alice", "alice-secret", 4096),
            upsert("weak", "x", 100),
        ]);
        let response = admin.request(0, &alter).await;
        let codes: Vec<(String, i16)> = response
            .results
            .iter()
            .map(|r| (r.user.to_string(), r.error_code))
            .collect();
        assert_eq!(codes, [("alice".into(), 0), ("weak".into(), 93)]);
        let twice = AlterUserScramCredentialsRequest::default()
            .with_upsertions(vec![upsert("carol", "c", 4096)])
            .with_deletions(vec![ScramCredentialDeletion::default()
                .with_name(StrBytes::from_static_str("carol"))
                .with_mechanism(SHA_512)]);
        assert_eq!(admin.request(0, &twice).await.results[0].error_code, 92);
        let described = admin
            .request(0, &DescribeUserScramCredentialsRequest::default())
            .await;
        assert_eq!(described.results.len(), 1);
        assert_eq!(described.results[0].user.as_str(), "alice");
        let info = &described.results[0].credential_infos;
        assert_eq!((info[0].mechanism, info[0].iterations), (SHA_512, 4096));
        let unknown = DescribeUserScramCredentialsRequest::default().with_users(Some(vec![
            UserName::default().with_name(StrBytes::from_static_str("nobody")),
        ]));
        assert_eq!(admin.request(0, &unknown).await.results[0].error_code, 91);

        let mut client = RawClient::connect(broker.addrs[1]).await;
        assert_eq!(login(&mut client, "alice", "alice-secret").await, (0, None));
        let metadata = client.request(12, &MetadataRequest::default()).await;
        assert_eq!(metadata.brokers[0].port, i32::from(broker.addrs[1].port()));
        for (user, password) in [("alice", "wrong"), ("nobody", "alice-secret")] {
            let mut client = RawClient::connect(broker.addrs[1]).await;
            let (code, message) = login(&mut client, user, password).await;
            assert_eq!(code, 58, "{user}");
            assert_eq!(
                message.as_deref(),
                Some("Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512")
            );
            assert!(client.is_closed().await);
        }

        let delete = AlterUserScramCredentialsRequest::default().with_deletions(vec![
            ScramCredentialDeletion::default()
                .with_name(StrBytes::from_static_str("alice"))
                .with_mechanism(SHA_512),
        ]);
        assert_eq!(admin.request(0, &delete).await.results[0].error_code, 0);
        assert_eq!(admin.request(0, &delete).await.results[0].error_code, 91);
        let mut client = RawClient::connect(broker.addrs[1]).await;
        assert_eq!(login(&mut client, "alice", "alice-secret").await.0, 58);
    }
}
