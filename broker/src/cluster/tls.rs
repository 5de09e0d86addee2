//! Mutual TLS on the cluster transport. Whoever reaches a Raft port could otherwise propose
//! metadata changes, install a snapshot over a partition or forge votes, so when the
//! controller listener is SSL every node presents its certificate in both directions and
//! accepts only peers whose certificate chains to the cluster CA (the controller listener's
//! truststore). The handshake completes before the first frame is read: an unauthenticated
//! peer never reaches the decoder.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::{client, server, TlsAcceptor, TlsConnector};

use crate::config::ClusterTlsConfig;
use crate::security::tls;

/// A peer that has not finished its handshake by then is dropped (accepting) or counted as
/// unreachable (connecting), so a silent connection holds nothing for long.
const HANDSHAKE_MAX: Duration = Duration::from_secs(5);

pub struct ClusterTls {
    /// The controller listener's name, for logs and metrics.
    pub listener: String,
    acceptor: TlsAcceptor,
    connector: TlsConnector,
}

impl ClusterTls {
    /// Both ends' configurations; an error names what is wrong with the certificates.
    pub fn new(config: &ClusterTlsConfig) -> anyhow::Result<ClusterTls> {
        let fail =
            |e: anyhow::Error| anyhow::anyhow!("controller listener {}: {e}", config.listener);
        // The listener's ssl.client.auth is `required` (config::security::cluster_tls_config).
        let server = tls::server_config(&config.tls).map_err(fail)?;
        let provider = tls::provider();
        let roots = tls::roots(&config.tls).map_err(fail)?;
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| fail(anyhow::anyhow!("the peer certificate verifier: {e}")))?;
        let verifier: Arc<dyn ServerCertVerifier> = if config.verify_hostname {
            webpki
        } else {
            Arc::new(AnyHostName(webpki))
        };
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| fail(anyhow::anyhow!("TLS versions: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(
                tls::certificate_chain(&config.tls).map_err(fail)?,
                tls::private_key(&config.tls).map_err(fail)?,
            )
            .map_err(|e| fail(anyhow::anyhow!("the certificate and key: {e}")))?;
        Ok(ClusterTls {
            listener: config.listener.clone(),
            acceptor: TlsAcceptor::from(server),
            connector: TlsConnector::from(Arc::new(client)),
        })
    }

    /// The server side of a peer's connection: succeeds only for a certificate of the cluster CA.
    pub async fn accept(&self, stream: TcpStream) -> std::io::Result<server::TlsStream<TcpStream>> {
        tokio::time::timeout(HANDSHAKE_MAX, self.acceptor.accept(stream))
            .await
            .map_err(|_| timed_out())?
    }

    /// The client side to the peer at `addr` (host:port), presenting this node's certificate.
    pub async fn connect(
        &self,
        addr: &str,
        stream: TcpStream,
    ) -> std::io::Result<client::TlsStream<TcpStream>> {
        let name = server_name(addr)?;
        tokio::time::timeout(HANDSHAKE_MAX, self.connector.connect(name, stream))
            .await
            .map_err(|_| timed_out())?
    }
}

fn timed_out() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("no TLS handshake within {HANDSHAKE_MAX:?}"),
    )
}

/// The host of `host:port` or `[v6]:port` as the name the peer's certificate must carry.
fn server_name(addr: &str) -> std::io::Result<ServerName<'static>> {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{addr}: not a TLS server name: {e}"),
        )
    })
}

/// `ssl.endpoint.identification.algorithm=` (empty): the chain to the cluster CA, validity and
/// signatures are checked as usual; only the name in the certificate may differ from the
/// address the peer was reached at.
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            verified => verified,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    //! The transport end to end (listener, peer client, handshake) on loopback. The
    //! certificates in testdata/ are test-only P-256 keys valid until 2126: a cluster CA, a
    //! node certificate for 127.0.0.1 and localhost, one of the same CA for another host name,
    //! and one for 127.0.0.1 from a CA the cluster does not trust.
    use super::*;
    use crate::cluster::peers::Peers;
    use crate::cluster::router::Router;
    use crate::cluster::wire::{Request, Response};
    use crate::config::security::{ClientAuth, TlsConfig};
    use openraft::raft::VoteRequest;
    use openraft::Vote;
    use tokio_util::sync::CancellationToken;

    const CA: &str = include_str!("testdata/cluster-ca.pem");
    const NODE: &str = include_str!("testdata/node.pem");
    const ELSEWHERE: &str = include_str!("testdata/elsewhere.pem");
    const ROGUE: &str = include_str!("testdata/rogue.pem");

    fn transport(keystore: &str, verify_hostname: bool) -> Arc<ClusterTls> {
        let config = ClusterTlsConfig {
            listener: "CONTROLLER".to_string(),
            tls: TlsConfig {
                certificate_chain_pem: keystore.as_bytes().to_vec(),
                private_key_pem: keystore.as_bytes().to_vec(),
                truststore_pem: CA.as_bytes().to_vec(),
                client_auth: ClientAuth::Required,
            },
            verify_hostname,
        };
        Arc::new(ClusterTls::new(&config).unwrap())
    }

    /// A node's Raft listener hosting no group, so any vote it gets is UnknownGroup.
    async fn listener(tls: Option<Arc<ClusterTls>>) -> (String, CancellationToken) {
        let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap().to_string();
        let router = Arc::new(Router::new(Arc::default(), Arc::default()));
        let shutdown = CancellationToken::new();
        tokio::spawn(crate::cluster::server::serve(
            socket,
            router,
            tls,
            shutdown.clone(),
        ));
        (addr, shutdown)
    }

    async fn vote(peers: &Peers, addr: &str) -> Result<Response, String> {
        let rpc = VoteRequest::new(Vote::new(1, 1), None);
        peers
            .get(addr)
            .call(Request::Vote { group: 99, rpc }, Duration::from_secs(3))
            .await
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn peers_of_the_cluster_ca_talk_and_everyone_else_is_refused() {
        let (addr, shutdown) = listener(Some(transport(NODE, true))).await;
        let member = Peers::new(Some(transport(NODE, true)));
        assert!(matches!(
            vote(&member, &addr).await,
            Ok(Response::UnknownGroup)
        ));

        // No TLS at all: the frame never reaches the router.
        let plaintext = Peers::default();
        assert!(vote(&plaintext, &addr).await.is_err());
        // A certificate from another CA, though for the right address.
        let rogue = Peers::new(Some(transport(ROGUE, true)));
        assert!(vote(&rogue, &addr).await.is_err());

        // The listener serves its members as before.
        let again = Peers::new(Some(transport(NODE, true)));
        assert!(matches!(
            vote(&again, &addr).await,
            Ok(Response::UnknownGroup)
        ));
        shutdown.cancel();
    }

    #[tokio::test]
    async fn the_peer_certificate_must_name_its_address_unless_identification_is_off() {
        // The listener's certificate is for elsewhere.example, reached at 127.0.0.1.
        let (addr, shutdown) = listener(Some(transport(ELSEWHERE, true))).await;
        let strict = Peers::new(Some(transport(NODE, true)));
        let error = vote(&strict, &addr).await.unwrap_err();
        assert!(error.contains("unreachable"), "{error}");
        let lenient = Peers::new(Some(transport(NODE, false)));
        assert!(matches!(
            vote(&lenient, &addr).await,
            Ok(Response::UnknownGroup)
        ));
        shutdown.cancel();
    }

    #[tokio::test]
    async fn a_plaintext_listener_refuses_nothing_and_a_tls_client_cannot_use_it() {
        let (addr, shutdown) = listener(None).await;
        assert!(matches!(
            vote(&Peers::default(), &addr).await,
            Ok(Response::UnknownGroup)
        ));
        let tls = Peers::new(Some(transport(NODE, true)));
        assert!(vote(&tls, &addr).await.is_err());
        shutdown.cancel();
    }

    #[test]
    fn server_names_of_peer_addresses() {
        assert_eq!(
            server_name("127.0.0.1:9192").unwrap(),
            ServerName::try_from("127.0.0.1").unwrap()
        );
        assert_eq!(
            server_name("[::1]:9192").unwrap(),
            ServerName::try_from("::1").unwrap()
        );
        assert_eq!(
            server_name("broker-2.example:9093").unwrap(),
            ServerName::try_from("broker-2.example").unwrap()
        );
        assert!(server_name("not a name:1").is_err());
    }
}
