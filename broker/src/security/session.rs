//! One client connection's security state: the listener it came in on, the peer, and once
//! known its principal. The SASL stage changes only inside `dispatch`, which runs the
//! connection's requests one at a time in order, so the lock is never contended nor held across
//! an await.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::config::{ListenerConfig, SaslMechanism};

use super::sasl::{Credentials, Exchange, Step};
use super::scram::ScramCredential;
use super::Principal;

pub struct Session {
    pub listener: Arc<ListenerConfig>,
    pub peer: SocketAddr,
    /// Set once: at accept on a listener without SASL, after a successful exchange on one with.
    principal: OnceLock<Principal>,
    stage: Mutex<Stage>,
    /// Close the connection once the responses already accepted are written.
    closing: AtomicBool,
}

#[derive(Debug)]
enum Stage {
    /// Before SaslHandshake (ApiVersions may come first).
    Handshake,
    /// After SaslHandshake: the exchange of the chosen mechanism; `raw` after a v0 handshake,
    /// whose tokens come as bare length-prefixed frames instead of SaslAuthenticate requests.
    Exchange {
        mechanism: SaslMechanism,
        raw: bool,
        exchange: Exchange,
    },
    /// Authenticated, failed, or a listener without SASL: no more SASL requests.
    Over,
}

/// Why a SaslHandshake or SaslAuthenticate is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum SaslError {
    /// Kafka's ILLEGAL_SASL_STATE: not expected now (the connection stays open after a
    /// successful authentication, as in Kafka, and is closed otherwise).
    IllegalState(&'static str),
    /// UNSUPPORTED_SASL_MECHANISM; the connection is closed.
    UnsupportedMechanism,
}

impl Session {
    /// `certificate` is the principal of a verified TLS client certificate: the connection's
    /// principal on an SSL listener (SASL decides it on SASL_SSL, as in Kafka).
    pub fn new(
        listener: Arc<ListenerConfig>,
        peer: SocketAddr,
        certificate: Option<Principal>,
    ) -> Session {
        let principal = OnceLock::new();
        if listener.sasl.is_none() {
            let _ = principal.set(certificate.unwrap_or_else(Principal::anonymous));
        }
        let stage = match listener.sasl {
            Some(_) => Stage::Handshake,
            None => Stage::Over,
        };
        Session {
            listener,
            peer,
            principal,
            stage: Mutex::new(stage),
            closing: AtomicBool::new(false),
        }
    }

    /// May send any request: authenticated, or on a listener that does not authenticate.
    pub fn is_authenticated(&self) -> bool {
        self.principal.get().is_some()
    }

    pub fn principal(&self) -> Option<&Principal> {
        self.principal.get()
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    pub fn close(&self) {
        self.closing.store(true, Ordering::Release);
    }

    fn stage(&self) -> std::sync::MutexGuard<'_, Stage> {
        self.stage.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next frame is a raw SASL token (after a v0 SaslHandshake), not a Kafka request.
    pub fn expects_raw_token(&self) -> bool {
        !self.is_authenticated() && matches!(*self.stage(), Stage::Exchange { raw: true, .. })
    }

    /// SaslHandshake: chooses the mechanism.
    pub fn handshake(&self, version: i16, mechanism: &str) -> Result<(), SaslError> {
        let mut stage = self.stage();
        if !matches!(*stage, Stage::Handshake) {
            if !self.is_authenticated() {
                self.close();
            }
            return Err(SaslError::IllegalState(
                "Unexpected handshake request with client mechanism",
            ));
        }
        let enabled = self.listener.sasl.as_ref().map(|s| s.mechanisms.as_slice());
        let Some(mechanism) = SaslMechanism::from_name(mechanism)
            .filter(|m| enabled.is_some_and(|enabled| enabled.contains(m)))
        else {
            *stage = Stage::Over;
            self.close();
            return Err(SaslError::UnsupportedMechanism);
        };
        *stage = Stage::Exchange {
            mechanism,
            raw: version == 0,
            exchange: Exchange::start(mechanism),
        };
        Ok(())
    }

    /// One client token of the exchange; on success the principal is set. The mechanism is
    /// returned for metrics. `scram` looks up SCRAM credentials (the cluster metadata).
    pub fn authenticate(
        &self,
        token: &[u8],
        scram: &dyn Fn(&str, SaslMechanism) -> Option<ScramCredential>,
    ) -> Result<(SaslMechanism, Step), SaslError> {
        let mut stage = self.stage();
        let Stage::Exchange {
            mechanism,
            exchange,
            ..
        } = &mut *stage
        else {
            if self.is_authenticated() {
                return Err(SaslError::IllegalState(
                    "SaslAuthenticate request received after successful authentication",
                ));
            }
            self.close();
            return Err(SaslError::IllegalState(
                "Unexpected SaslAuthenticate request before SaslHandshake",
            ));
        };
        let mechanism = *mechanism;
        let Some(listener) = self.listener.sasl.as_ref() else {
            unreachable!("an exchange starts only on a SASL listener");
        };
        let credentials = Credentials {
            listener,
            scram,
            fake_salt: &super::scram::fake_salt,
        };
        let step = exchange.step(token, &credentials);
        match &step {
            Step::Continue(_) => {}
            Step::Done { principal, .. } => {
                let _ = self.principal.set(principal.clone());
                *stage = Stage::Over;
            }
            Step::Failed(_) => {
                *stage = Stage::Over;
                self.close();
            }
        }
        Ok((mechanism, step))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::{SaslConfig, SecurityProtocol};

    fn listener(sasl: bool) -> Arc<ListenerConfig> {
        let mut listener = ListenerConfig::plaintext("127.0.0.1:9092".parse().unwrap());
        if sasl {
            listener.protocol = SecurityProtocol::SaslPlaintext;
            listener.sasl = Some(SaslConfig {
                mechanisms: vec![SaslMechanism::Plain],
                plain_users: BTreeMap::from([("alice".into(), "pw".into())]),
            });
        }
        Arc::new(listener)
    }

    fn session(sasl: bool) -> Session {
        Session::new(listener(sasl), "127.0.0.1:5000".parse().unwrap(), None)
    }

    #[test]
    fn a_plaintext_connection_is_anonymous_and_refuses_sasl() {
        let session = session(false);
        assert_eq!(session.principal(), Some(&Principal::anonymous()));
        assert!(matches!(
            session.handshake(1, "PLAIN"),
            Err(SaslError::IllegalState(_))
        ));
        assert!(!session.is_closing());
    }

    #[test]
    fn plain_login_then_no_second_exchange() {
        let session = session(true);
        assert!(!session.is_authenticated());
        session.handshake(1, "PLAIN").unwrap();
        assert!(!session.expects_raw_token());
        let (_, step) = session.authenticate(b"\0alice\0pw", &|_, _| None).unwrap();
        assert!(matches!(step, Step::Done { .. }));
        assert_eq!(session.principal(), Some(&Principal::user("alice")));
        assert!(session.authenticate(b"\0alice\0pw", &|_, _| None).is_err());
        assert!(session.handshake(1, "PLAIN").is_err());
        assert!(!session.is_closing(), "an authenticated connection stays");
    }

    #[test]
    fn failures_close_the_connection() {
        let wrong = session(true);
        wrong.handshake(0, "PLAIN").unwrap();
        assert!(wrong.expects_raw_token());
        let (_, step) = wrong.authenticate(b"\0alice\0nope", &|_, _| None).unwrap();
        assert!(matches!(step, Step::Failed(_)));
        assert!(wrong.is_closing() && !wrong.is_authenticated());
        let unsupported = session(true);
        assert_eq!(
            unsupported.handshake(1, "SCRAM-SHA-1"),
            Err(SaslError::UnsupportedMechanism)
        );
        assert!(unsupported.is_closing());
        let early = session(true);
        assert!(early.authenticate(b"\0alice\0pw", &|_, _| None).is_err());
        assert!(early.is_closing());
    }
}
