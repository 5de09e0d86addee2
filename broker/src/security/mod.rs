//! Who a connection is: its listener, its principal, and the SASL exchange that establishes
//! the principal on SASL listeners.

pub mod acl;
pub mod plain;
pub mod sasl;
pub mod scram;
pub mod session;
pub mod tls;

pub use session::Session;

use std::fmt;

/// Kafka's `KafkaPrincipal`: a type and a name, written `User:alice`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    pub name: String,
}

impl Principal {
    /// Kafka's principal of a connection that did not authenticate (PLAINTEXT, SSL without a
    /// client certificate).
    pub fn anonymous() -> Principal {
        Principal::user("ANONYMOUS")
    }

    pub fn user(name: &str) -> Principal {
        Principal {
            name: name.to_string(),
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "User:{}", self.name)
    }
}
