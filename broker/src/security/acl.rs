//! Kafka's ACL model and its `StandardAuthorizer` semantics.
//!
//! An ACL binding allows or denies one principal (or `User:*`), from one host (or `*`), one
//! operation on resources of one type whose names match a pattern: a literal name (`*` being
//! every resource of the type) or a prefix. A request is allowed when no matching DENY binding
//! exists and some matching ALLOW binding does; DENY always wins. An ALLOW of READ, WRITE,
//! DELETE or ALTER also allows DESCRIBE, and an ALLOW of ALTER_CONFIGS allows DESCRIBE_CONFIGS;
//! ALL matches every operation. Super users skip the check; a resource no binding matches at
//! all is allowed only with `allow.everyone.if.no.acl.found`.
//!
//! The bindings live in the cluster metadata ([`crate::metadata::MetadataState::acls`]) and
//! reach every broker through the metadata Raft group; this module is pure.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::Principal;

/// The only class name `authorizer.class.name` accepts: Kafka's KRaft authorizer, whose
/// semantics this module implements.
pub const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// The name of the cluster resource, as Kafka spells it.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// A wildcard resource name (literal) and a wildcard host.
pub const WILDCARD: &str = "*";

pub const WILDCARD_PRINCIPAL: &str = "User:*";

/// An enum of Kafka's wire codes (i8): its variants in `ALL`, `code` and `from_code`.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $code:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($variant = $code,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            pub fn code(self) -> i8 {
                self as i8
            }

            pub fn from_code(code: i8) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.code() == code)
            }
        }
    };
}

wire_enum! {
    /// Kafka's resource types; ANY (1) is only for filters.
    ResourceType {
        Topic = 2,
        Group = 3,
        Cluster = 4,
        TransactionalId = 5,
        DelegationToken = 6,
        User = 7,
    }
}

wire_enum! {
    /// LITERAL or PREFIXED; ANY (1) and MATCH (2) are only for filters.
    PatternType {
        Literal = 3,
        Prefixed = 4,
    }
}

wire_enum! {
    /// Kafka's ACL operations; ANY (1) is only for filters.
    Operation {
        All = 2,
        Read = 3,
        Write = 4,
        Create = 5,
        Delete = 6,
        Alter = 7,
        Describe = 8,
        ClusterAction = 9,
        DescribeConfigs = 10,
        AlterConfigs = 11,
        IdempotentWrite = 12,
        CreateTokens = 13,
        DescribeTokens = 14,
        TwoPhaseCommit = 15,
    }
}

wire_enum! {
    /// DENY or ALLOW; ANY (1) is only for filters.
    Permission {
        Deny = 2,
        Allow = 3,
    }
}

impl Operation {
    /// An ALLOW binding of `self` allows `wanted` (Kafka's implied operations).
    fn allows(self, wanted: Operation) -> bool {
        self == Operation::All
            || self == wanted
            || match wanted {
                Operation::Describe => matches!(
                    self,
                    Operation::Read | Operation::Write | Operation::Delete | Operation::Alter
                ),
                Operation::DescribeConfigs => self == Operation::AlterConfigs,
                _ => false,
            }
    }
}

/// One ACL. Ordered by resource first, so that the bindings of a resource type are adjacent
/// and DescribeAcls lists them grouped by resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    /// `User:alice` or `User:*`.
    pub principal: String,
    /// An IP address or `*`.
    pub host: String,
    pub operation: Operation,
    pub permission: Permission,
}

/// The bindings of the cluster.
pub type Acls = BTreeSet<AclBinding>;

/// A CreateAcls entry as sent, before validation.
pub struct AclWire<'a> {
    pub resource_type: i8,
    pub resource_name: &'a str,
    pub pattern_type: i8,
    pub principal: &'a str,
    pub host: &'a str,
    pub operation: i8,
    pub permission: i8,
}

impl AclBinding {
    /// Kafka's validation of a CreateAcls creation; the error is INVALID_REQUEST's message.
    pub fn from_wire(wire: &AclWire<'_>) -> Result<AclBinding, String> {
        let resource_type = ResourceType::from_code(wire.resource_type)
            .ok_or_else(|| format!("Invalid resource type {}", wire.resource_type))?;
        let pattern_type = PatternType::from_code(wire.pattern_type)
            .ok_or_else(|| format!("Invalid pattern type {}", wire.pattern_type))?;
        let operation = Operation::from_code(wire.operation)
            .ok_or_else(|| format!("Invalid operation {}", wire.operation))?;
        let permission = Permission::from_code(wire.permission)
            .ok_or_else(|| format!("Invalid permission type {}", wire.permission))?;
        if wire.resource_name.is_empty() {
            return Err("Resource name should not be empty".into());
        }
        if resource_type == ResourceType::Cluster && wire.resource_name != CLUSTER_NAME {
            return Err("The only valid name for the CLUSTER resource is kafka-cluster".into());
        }
        match wire.principal.split_once(':') {
            Some((kind, name)) if !kind.is_empty() && !name.is_empty() => {}
            _ => return Err(format!("Could not parse principal {:?}", wire.principal)),
        }
        if wire.host.is_empty() {
            return Err("Host should not be empty".into());
        }
        Ok(AclBinding {
            resource_type,
            resource_name: wire.resource_name.to_string(),
            pattern_type,
            principal: wire.principal.to_string(),
            host: wire.host.to_string(),
            operation,
            permission,
        })
    }

    /// The binding's pattern covers the resource `name` of its type.
    fn covers(&self, name: &str) -> bool {
        match self.pattern_type {
            PatternType::Literal => self.resource_name == name || self.resource_name == WILDCARD,
            PatternType::Prefixed => name.starts_with(&self.resource_name),
        }
    }

    fn applies_to(&self, principal: &Principal, host: &str) -> bool {
        let principal_matches = self.principal == WILDCARD_PRINCIPAL
            || self
                .principal
                .strip_prefix("User:")
                .is_some_and(|name| name == principal.name);
        principal_matches && (self.host == WILDCARD || self.host == host)
    }
}

/// How a filter matches a binding's pattern type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PatternFilter {
    /// ANY: every pattern type, names compared exactly.
    Any,
    /// MATCH: every binding that would apply to the resource named by the filter (literal
    /// equal, literal `*`, prefixes of the name).
    Match,
    Exactly(PatternType),
}

/// A DescribeAcls or DeleteAcls filter: `None` fields match anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclFilter {
    pub resource_type: Option<ResourceType>,
    pub resource_name: Option<String>,
    pub pattern: PatternFilter,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Option<Operation>,
    pub permission: Option<Permission>,
}

/// A DescribeAcls or DeleteAcls filter as sent.
pub struct FilterWire<'a> {
    pub resource_type: i8,
    pub resource_name: Option<&'a str>,
    pub pattern_type: i8,
    pub principal: Option<&'a str>,
    pub host: Option<&'a str>,
    pub operation: i8,
    pub permission: i8,
}

const ANY: i8 = 1;

impl AclFilter {
    /// Kafka's validation of a filter: UNKNOWN (0) anywhere is INVALID_REQUEST.
    pub fn from_wire(wire: &FilterWire<'_>) -> Result<AclFilter, String> {
        let any = |code: i8| code == ANY;
        let resource_type = match wire.resource_type {
            code if any(code) => None,
            code => Some(
                ResourceType::from_code(code)
                    .ok_or_else(|| format!("Invalid resource type {code}"))?,
            ),
        };
        let pattern = match wire.pattern_type {
            code if any(code) => PatternFilter::Any,
            2 => PatternFilter::Match,
            code => PatternFilter::Exactly(
                PatternType::from_code(code)
                    .ok_or_else(|| format!("Invalid pattern type {code}"))?,
            ),
        };
        let operation = match wire.operation {
            code if any(code) => None,
            code => Some(
                Operation::from_code(code).ok_or_else(|| format!("Invalid operation {code}"))?,
            ),
        };
        let permission = match wire.permission {
            code if any(code) => None,
            code => Some(
                Permission::from_code(code)
                    .ok_or_else(|| format!("Invalid permission type {code}"))?,
            ),
        };
        Ok(AclFilter {
            resource_type,
            resource_name: wire.resource_name.map(str::to_string),
            pattern,
            principal: wire.principal.map(str::to_string),
            host: wire.host.map(str::to_string),
            operation,
            permission,
        })
    }

    pub fn matches(&self, acl: &AclBinding) -> bool {
        fn field<T: PartialEq>(filter: &Option<T>, value: &T) -> bool {
            filter.as_ref().is_none_or(|wanted| wanted == value)
        }
        field(&self.resource_type, &acl.resource_type)
            && self.matches_pattern(acl)
            && field(&self.principal, &acl.principal)
            && field(&self.host, &acl.host)
            && field(&self.operation, &acl.operation)
            && field(&self.permission, &acl.permission)
    }

    fn matches_pattern(&self, acl: &AclBinding) -> bool {
        let Some(name) = &self.resource_name else {
            return match self.pattern {
                PatternFilter::Exactly(pattern_type) => acl.pattern_type == pattern_type,
                PatternFilter::Any | PatternFilter::Match => true,
            };
        };
        match self.pattern {
            PatternFilter::Any => &acl.resource_name == name,
            PatternFilter::Exactly(pattern_type) => {
                acl.pattern_type == pattern_type && &acl.resource_name == name
            }
            PatternFilter::Match => acl.covers(name),
        }
    }
}

/// `authorizer.class.name` set: who may do what is decided by ACLs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorizer {
    /// `super.users`: principals (`User:admin`) allowed everything.
    pub super_users: Vec<String>,
    /// `allow.everyone.if.no.acl.found`.
    pub allow_everyone_if_no_acl_found: bool,
}

impl Authorizer {
    /// Kafka's StandardAuthorizer decision for one action on one resource.
    pub fn authorize(
        &self,
        acls: &Acls,
        principal: &Principal,
        host: &str,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if self.is_super_user(principal) {
            return true;
        }
        let mut any_binding = false;
        let mut allowed = false;
        for acl in acls.iter().filter(|acl| acl.resource_type == resource_type) {
            if !acl.covers(name) {
                continue;
            }
            any_binding = true;
            if !acl.applies_to(principal, host) {
                continue;
            }
            match acl.permission {
                // A DENY of READ does not deny DESCRIBE: implication is for ALLOW only.
                Permission::Deny
                    if acl.operation == operation || acl.operation == Operation::All =>
                {
                    return false
                }
                Permission::Deny => {}
                Permission::Allow => allowed |= acl.operation.allows(operation),
            }
        }
        allowed || (!any_binding && self.allow_everyone_if_no_acl_found)
    }

    pub fn is_super_user(&self, principal: &Principal) -> bool {
        self.super_users.iter().any(|user| {
            user == WILDCARD_PRINCIPAL
                || user
                    .strip_prefix("User:")
                    .is_some_and(|name| name == principal.name)
        })
    }

    /// May `principal` do `operation` on some resource of the type, Kafka's
    /// `authorizeByResourceType` (InitProducerId's "WRITE on any topic"): an ALLOW binding
    /// applies and no DENY binding of the same operation covers every name of the type (a
    /// literal `*` or an empty prefix).
    pub fn authorize_any(
        &self,
        acls: &Acls,
        principal: &Principal,
        host: &str,
        operation: Operation,
        resource_type: ResourceType,
    ) -> bool {
        if self.is_super_user(principal) {
            return true;
        }
        let mut allowed = false;
        for acl in acls.iter().filter(|acl| acl.resource_type == resource_type) {
            if !acl.applies_to(principal, host) {
                continue;
            }
            let operation_matches = acl.operation == operation || acl.operation == Operation::All;
            match acl.permission {
                Permission::Deny if operation_matches && acl.covers_every_name() => return false,
                Permission::Deny => {}
                Permission::Allow => allowed |= operation_matches,
            }
        }
        allowed
    }
}

impl AclBinding {
    fn covers_every_name(&self) -> bool {
        match self.pattern_type {
            PatternType::Literal => self.resource_name == WILDCARD,
            PatternType::Prefixed => self.resource_name.is_empty(),
        }
    }
}

/// `super.users`: semicolon-separated principals.
pub fn parse_super_users(value: &str) -> Vec<String> {
    value
        .split(';')
        .map(str::trim)
        .filter(|user| !user.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(
        resource_type: ResourceType,
        name: &str,
        pattern_type: PatternType,
        principal: &str,
        operation: Operation,
        permission: Permission,
    ) -> AclBinding {
        AclBinding {
            resource_type,
            resource_name: name.into(),
            pattern_type,
            principal: principal.into(),
            host: WILDCARD.into(),
            operation,
            permission,
        }
    }

    fn topic_acl(name: &str, pattern: PatternType, principal: &str, op: Operation) -> AclBinding {
        acl(
            ResourceType::Topic,
            name,
            pattern,
            principal,
            op,
            Permission::Allow,
        )
    }

    const HOST: &str = "127.0.0.1";

    fn can(acls: &Acls, user: &str, operation: Operation, topic: &str) -> bool {
        Authorizer::default().authorize(
            acls,
            &Principal::user(user),
            HOST,
            operation,
            ResourceType::Topic,
            topic,
        )
    }

    #[test]
    fn nothing_is_allowed_without_a_binding() {
        let acls = Acls::new();
        assert!(!can(&acls, "alice", Operation::Read, "orders"));
        let everyone = Authorizer {
            allow_everyone_if_no_acl_found: true,
            ..Authorizer::default()
        };
        let alice = Principal::user("alice");
        let read = |acls: &Acls| {
            everyone.authorize(
                acls,
                &alice,
                HOST,
                Operation::Read,
                ResourceType::Topic,
                "orders",
            )
        };
        assert!(read(&acls));
        // Any binding on the resource, even for someone else, ends the free-for-all.
        let bob = Acls::from([topic_acl(
            "orders",
            PatternType::Literal,
            "User:bob",
            Operation::Read,
        )]);
        assert!(!read(&bob));
    }

    #[test]
    fn literal_prefixed_and_wildcard_resources() {
        let acls = Acls::from([
            topic_acl(
                "orders",
                PatternType::Literal,
                "User:alice",
                Operation::Read,
            ),
            topic_acl(
                "pay-",
                PatternType::Prefixed,
                "User:alice",
                Operation::Write,
            ),
            topic_acl(
                WILDCARD,
                PatternType::Literal,
                "User:bob",
                Operation::Describe,
            ),
        ]);
        assert!(can(&acls, "alice", Operation::Read, "orders"));
        assert!(!can(&acls, "alice", Operation::Read, "orders2"));
        assert!(can(&acls, "alice", Operation::Write, "pay-eu"));
        assert!(!can(&acls, "alice", Operation::Write, "pa"));
        assert!(!can(&acls, "alice", Operation::Read, "pay-eu"));
        assert!(can(&acls, "bob", Operation::Describe, "anything"));
        assert!(!can(&acls, "bob", Operation::Read, "anything"));
    }

    #[test]
    fn deny_overrides_allow_and_implications_are_for_allow_only() {
        let mut acls = Acls::from([
            topic_acl(
                "t",
                PatternType::Prefixed,
                WILDCARD_PRINCIPAL,
                Operation::All,
            ),
            acl(
                ResourceType::Topic,
                "t1",
                PatternType::Literal,
                "User:mallory",
                Operation::Read,
                Permission::Deny,
            ),
        ]);
        assert!(can(&acls, "alice", Operation::Read, "t1"));
        assert!(!can(&acls, "mallory", Operation::Read, "t1"));
        assert!(
            can(&acls, "mallory", Operation::Describe, "t1"),
            "a DENY of READ leaves DESCRIBE"
        );
        assert!(can(&acls, "mallory", Operation::Read, "t2"));
        acls.insert(acl(
            ResourceType::Topic,
            WILDCARD,
            PatternType::Literal,
            "User:mallory",
            Operation::All,
            Permission::Deny,
        ));
        assert!(!can(&acls, "mallory", Operation::Describe, "t2"));
    }

    #[test]
    fn implied_operations() {
        for (granted, implied) in [
            (Operation::Read, Operation::Describe),
            (Operation::Write, Operation::Describe),
            (Operation::Delete, Operation::Describe),
            (Operation::Alter, Operation::Describe),
            (Operation::AlterConfigs, Operation::DescribeConfigs),
            (Operation::All, Operation::Create),
        ] {
            let acls = Acls::from([topic_acl("t", PatternType::Literal, "User:a", granted)]);
            assert!(
                can(&acls, "a", implied, "t"),
                "{granted:?} implies {implied:?}"
            );
        }
        // Nothing implies more than it grants.
        for (granted, wanted) in [
            (Operation::Describe, Operation::Read),
            (Operation::Create, Operation::Describe),
        ] {
            let acls = Acls::from([topic_acl("t", PatternType::Literal, "User:a", granted)]);
            assert!(
                !can(&acls, "a", wanted, "t"),
                "{granted:?} allows {wanted:?}"
            );
        }
    }

    #[test]
    fn hosts_and_super_users() {
        let mut binding = topic_acl("t", PatternType::Literal, "User:a", Operation::Read);
        binding.host = "10.0.0.1".into();
        let acls = Acls::from([binding]);
        assert!(!can(&acls, "a", Operation::Read, "t"), "from 127.0.0.1");
        let authorizer = Authorizer {
            super_users: parse_super_users("User:admin; User:root"),
            allow_everyone_if_no_acl_found: false,
        };
        assert_eq!(authorizer.super_users, vec!["User:admin", "User:root"]);
        let admin = Principal::user("root");
        assert!(authorizer.authorize(
            &acls,
            &admin,
            HOST,
            Operation::Alter,
            ResourceType::Cluster,
            CLUSTER_NAME
        ));
        assert!(!authorizer.is_super_user(&Principal::user("a")));
    }

    #[test]
    fn any_resource_of_a_type() {
        let authorizer = Authorizer::default();
        let alice = Principal::user("alice");
        let write_any = |acls: &Acls| {
            authorizer.authorize_any(acls, &alice, HOST, Operation::Write, ResourceType::Topic)
        };
        let mut acls = Acls::from([topic_acl(
            "x-",
            PatternType::Prefixed,
            "User:alice",
            Operation::Write,
        )]);
        assert!(write_any(&acls));
        acls.insert(acl(
            ResourceType::Topic,
            WILDCARD,
            PatternType::Literal,
            "User:alice",
            Operation::Write,
            Permission::Deny,
        ));
        assert!(!write_any(&acls));
        assert!(!write_any(&Acls::new()));
    }

    #[test]
    fn filters() {
        let literal = topic_acl("orders", PatternType::Literal, "User:a", Operation::Read);
        let wildcard = topic_acl(WILDCARD, PatternType::Literal, "User:a", Operation::Read);
        let prefix = topic_acl("ord", PatternType::Prefixed, "User:b", Operation::Write);
        let filter = |pattern_type: i8, name: Option<&str>| {
            AclFilter::from_wire(&FilterWire {
                resource_type: ResourceType::Topic.code(),
                resource_name: name,
                pattern_type,
                principal: None,
                host: None,
                operation: ANY,
                permission: ANY,
            })
            .unwrap()
        };
        let matching = |f: &AclFilter| {
            [&literal, &wildcard, &prefix]
                .into_iter()
                .filter(|acl| f.matches(acl))
                .count()
        };
        assert_eq!(matching(&filter(ANY, None)), 3);
        assert_eq!(matching(&filter(ANY, Some("orders"))), 1);
        assert_eq!(matching(&filter(2, Some("orders"))), 3, "MATCH");
        assert_eq!(
            matching(&filter(2, Some("other"))),
            1,
            "MATCH: the wildcard only"
        );
        assert_eq!(matching(&filter(4, None)), 1, "PREFIXED");
        assert_eq!(matching(&filter(3, Some("ord"))), 0, "LITERAL ord");
        let mut by_principal = filter(ANY, None);
        by_principal.principal = Some("User:b".into());
        assert_eq!(matching(&by_principal), 1);
        assert!(AclFilter::from_wire(&FilterWire {
            resource_type: 0,
            resource_name: None,
            pattern_type: ANY,
            principal: None,
            host: None,
            operation: ANY,
            permission: ANY,
        })
        .is_err());
    }

    #[test]
    fn creation_is_validated() {
        let wire = |resource_type: i8,
                    name: &'static str,
                    principal: &'static str,
                    operation: i8| AclWire {
            resource_type,
            resource_name: name,
            pattern_type: 3,
            principal,
            host: "*",
            operation,
            permission: 3,
        };
        assert!(AclBinding::from_wire(&wire(2, "t", "User:a", 3)).is_ok());
        assert!(
            AclBinding::from_wire(&wire(1, "t", "User:a", 3)).is_err(),
            "ANY type"
        );
        assert!(
            AclBinding::from_wire(&wire(2, "t", "alice", 3)).is_err(),
            "no principal type"
        );
        assert!(
            AclBinding::from_wire(&wire(2, "t", "User:a", 1)).is_err(),
            "ANY operation"
        );
        assert!(
            AclBinding::from_wire(&wire(4, "c", "User:a", 7)).is_err(),
            "cluster name"
        );
        assert!(AclBinding::from_wire(&wire(4, CLUSTER_NAME, "User:a", 7)).is_ok());
    }
}
