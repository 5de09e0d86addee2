//! What the principal of one request may do, as each handler asks it (Kafka's `AuthHelper`):
//! one check per resource the request names, against the ACLs of the metadata image taken
//! when the request started. Without `authorizer.class.name` every check is a `None` test and
//! allows; no lock is held (the image is an `Arc` snapshot).

use std::sync::Arc;

use kafka_protocol::messages::ApiKey;

use super::Ctx;
use crate::metadata::MetadataState;
use crate::protocol::error_codes as ec;
use crate::security::acl::{Authorizer, Operation, ResourceType, CLUSTER_NAME};
use crate::security::{Principal, Session};

pub struct Access {
    api: ApiKey,
    checker: Option<Checker>,
}

struct Checker {
    config: Arc<crate::config::Config>,
    image: Arc<MetadataState>,
    session: Arc<Session>,
    /// The client's address as ACL hosts are written (an IP address).
    host: String,
}

impl Checker {
    fn principal(&self) -> &Principal {
        // Dispatch lets only authenticated connections this far; anonymous is the fallback.
        static ANONYMOUS: std::sync::OnceLock<Principal> = std::sync::OnceLock::new();
        self.session
            .principal()
            .unwrap_or_else(|| ANONYMOUS.get_or_init(Principal::anonymous))
    }

    fn authorizer(&self) -> &Authorizer {
        // Checker exists only when the config has an authorizer.
        self.config
            .authorizer
            .as_ref()
            .expect("a checker is built only with an authorizer")
    }
}

impl Ctx {
    /// The checks of one request of `api` from `session`.
    pub fn access(&self, session: &Arc<Session>, api: ApiKey) -> Access {
        let checker = self.config.authorizer.as_ref().map(|_| Checker {
            config: self.config.clone(),
            image: self.metadata.current(),
            session: session.clone(),
            host: session.peer.ip().to_string(),
        });
        Access { api, checker }
    }
}

impl Access {
    pub fn allows(&self, operation: Operation, resource_type: ResourceType, name: &str) -> bool {
        let allowed = self.quietly(operation, resource_type, name);
        if !allowed {
            crate::metrics::authorization_denied(self.api);
            tracing::debug!(?operation, ?resource_type, name, "authorization denied");
        }
        allowed
    }

    pub fn topic(&self, operation: Operation, name: &str) -> bool {
        self.allows(operation, ResourceType::Topic, name)
    }

    pub fn group(&self, operation: Operation, name: &str) -> bool {
        self.allows(operation, ResourceType::Group, name)
    }

    pub fn transactional_id(&self, operation: Operation, name: &str) -> bool {
        self.allows(operation, ResourceType::TransactionalId, name)
    }

    pub fn cluster(&self, operation: Operation) -> bool {
        self.allows(operation, ResourceType::Cluster, CLUSTER_NAME)
    }

    /// The check without counting a denial: for an alternative tried first (CREATE on the
    /// cluster before CREATE on the topic) and for filtering lists (Metadata of all topics,
    /// ListGroups), where Kafka does not log denials either.
    pub fn quietly(&self, operation: Operation, resource_type: ResourceType, name: &str) -> bool {
        let Some(checker) = &self.checker else {
            return true;
        };
        checker.authorizer().authorize(
            &checker.image.acls,
            checker.principal(),
            &checker.host,
            operation,
            resource_type,
            name,
        )
    }

    pub fn cluster_quietly(&self, operation: Operation) -> bool {
        self.quietly(operation, ResourceType::Cluster, CLUSTER_NAME)
    }

    /// `operation` on some resource of the type (InitProducerId's WRITE on any topic).
    pub fn any(&self, operation: Operation, resource_type: ResourceType) -> bool {
        let Some(checker) = &self.checker else {
            return true;
        };
        let allowed = checker.authorizer().authorize_any(
            &checker.image.acls,
            checker.principal(),
            &checker.host,
            operation,
            resource_type,
        );
        if !allowed {
            crate::metrics::authorization_denied(self.api);
        }
        allowed
    }

    /// TOPIC_AUTHORIZATION_FAILED unless `operation` on the topic is allowed.
    pub fn topic_code(&self, operation: Operation, name: &str) -> Result<(), i16> {
        refused_with(self.topic(operation, name), ec::TOPIC_AUTHORIZATION_FAILED)
    }

    /// GROUP_AUTHORIZATION_FAILED unless `operation` on the group is allowed.
    pub fn group_code(&self, operation: Operation, name: &str) -> Result<(), i16> {
        refused_with(self.group(operation, name), ec::GROUP_AUTHORIZATION_FAILED)
    }

    /// CLUSTER_AUTHORIZATION_FAILED unless `operation` on the cluster is allowed.
    pub fn cluster_code(&self, operation: Operation) -> Result<(), i16> {
        refused_with(self.cluster(operation), ec::CLUSTER_AUTHORIZATION_FAILED)
    }

    /// TRANSACTIONAL_ID_AUTHORIZATION_FAILED unless `operation` on the id is allowed.
    pub fn transactional_id_code(&self, operation: Operation, name: &str) -> Result<(), i16> {
        let allowed = self.transactional_id(operation, name);
        refused_with(allowed, ec::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    }
}

fn refused_with(allowed: bool, code: i16) -> Result<(), i16> {
    match allowed {
        true => Ok(()),
        false => Err(code),
    }
}
