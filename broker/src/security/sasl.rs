//! The server side of one SASL exchange, whatever carries its tokens (SaslAuthenticate
//! requests, or the raw frames that follow a v0 SaslHandshake).

use crate::config::{SaslConfig, SaslMechanism};

use super::scram::{ScramCredential, ScramServer, ScramStep};
use super::{plain, scram, Principal};

/// What the server answers to one client token.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes; the client answers with its next token.
    Continue(Vec<u8>),
    /// Authenticated; these bytes are the server's last message (empty for PLAIN).
    Done {
        principal: Principal,
        response: Vec<u8>,
    },
    /// Kafka's SASL_AUTHENTICATION_FAILED with this message; the connection is closed.
    Failed(String),
}

/// Where credentials come from: PLAIN's from the listener's configuration, SCRAM's from the
/// cluster metadata.
pub struct Credentials<'a> {
    pub listener: &'a SaslConfig,
    pub scram: &'a dyn Fn(&str, SaslMechanism) -> Option<ScramCredential>,
    /// A salt for a user without a credential, the same every time for a user.
    pub fake_salt: &'a dyn Fn(&str) -> Vec<u8>,
}

/// The state of one exchange of a mechanism.
#[derive(Debug)]
pub enum Exchange {
    Plain,
    Scram(SaslMechanism, ScramServer),
}

impl Exchange {
    pub fn start(mechanism: SaslMechanism) -> Exchange {
        match mechanism {
            SaslMechanism::Plain => Exchange::Plain,
            SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
                Exchange::Scram(mechanism, ScramServer::ClientFirst)
            }
        }
    }

    pub fn step(&mut self, token: &[u8], credentials: &Credentials) -> Step {
        match self {
            Exchange::Plain => {
                match plain::authenticate(token, &credentials.listener.plain_users) {
                    Ok(user) => Step::Done {
                        principal: Principal::user(&user),
                        response: Vec::new(),
                    },
                    Err(message) => Step::Failed(message.to_string()),
                }
            }
            Exchange::Scram(mechanism, server) => {
                let mechanism = *mechanism;
                let lookup = |user: &str| (credentials.scram)(user, mechanism);
                match server.step(mechanism, token, &lookup, credentials.fake_salt) {
                    ScramStep::Continue(bytes) => Step::Continue(bytes),
                    ScramStep::Done { user, response } => Step::Done {
                        principal: Principal::user(&user),
                        response,
                    },
                    ScramStep::Failed => Step::Failed(scram::failure_message(mechanism)),
                }
            }
        }
    }
}
