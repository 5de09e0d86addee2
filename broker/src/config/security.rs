//! Listeners and their security, in Kafka's names: `listeners`, `advertised.listeners`,
//! `listener.security.protocol.map`, `sasl.enabled.mechanisms` (also per listener as
//! `listener.name.NAME.sasl.enabled.mechanisms`) and PLAIN's users from the listener's JAAS
//! entry, `listener.name.NAME.plain.sasl.jaas.config`, exactly as a Kafka broker reads them.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use anyhow::{anyhow, bail};

/// Kafka's security protocols (`listener.security.protocol.map` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn parse(name: &str) -> anyhow::Result<SecurityProtocol> {
        Ok(match name.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => SecurityProtocol::Plaintext,
            "SSL" => SecurityProtocol::Ssl,
            "SASL_PLAINTEXT" => SecurityProtocol::SaslPlaintext,
            "SASL_SSL" => SecurityProtocol::SaslSsl,
            other => bail!(
                "{other:?} is not a security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)"
            ),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
}

/// The SASL mechanisms this broker implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl SaslMechanism {
    pub const ALL: &'static [SaslMechanism] = &[
        SaslMechanism::Plain,
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha512,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }

    pub fn is_scram(self) -> bool {
        matches!(
            self,
            SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512
        )
    }

    /// A mechanism by its (case-sensitive, as Kafka's) name.
    pub fn from_name(name: &str) -> Option<SaslMechanism> {
        SaslMechanism::ALL
            .iter()
            .copied()
            .find(|m| m.name() == name)
    }

    fn parse_list(value: &str) -> anyhow::Result<Vec<SaslMechanism>> {
        let mut mechanisms = Vec::new();
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let mechanism = SaslMechanism::from_name(name).ok_or_else(|| {
                let known: Vec<&str> = SaslMechanism::ALL.iter().map(|m| m.name()).collect();
                anyhow!("SASL mechanism {name:?} is not supported (supported: {known:?})")
            })?;
            if !mechanisms.contains(&mechanism) {
                mechanisms.push(mechanism);
            }
        }
        Ok(mechanisms)
    }
}

/// A SASL listener's mechanisms and PLAIN's users (SCRAM's are in the cluster metadata).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SaslConfig {
    pub mechanisms: Vec<SaslMechanism>,
    /// PLAIN's users and passwords: the `user_NAME="PASSWORD"` options of the listener's
    /// `PlainLoginModule` entry, as Kafka's own PLAIN server reads them.
    pub plain_users: BTreeMap<String, String>,
}

/// Without the passwords: configs end up in logs (`--check-config`, debug output).
impl fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslConfig")
            .field("mechanisms", &self.mechanisms)
            .field("plain_users", &self.plain_users.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// One client listener: where it binds, what clients are told, how they authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// The listener's name as in `listeners` (PLAINTEXT, CLIENT, ...), upper case as Kafka
    /// normalises it.
    pub name: String,
    pub protocol: SecurityProtocol,
    pub bind: SocketAddr,
    /// What Metadata tells clients who came in on this listener (a port of 0 becomes the bound
    /// port at startup).
    pub advertised_host: String,
    pub advertised_port: i32,
    /// Set for SASL_PLAINTEXT and SASL_SSL listeners.
    pub sasl: Option<SaslConfig>,
    /// Set for SSL and SASL_SSL listeners.
    pub tls: Option<TlsConfig>,
}

/// ssl.client.auth
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Requested,
    Required,
}

/// A TLS listener's certificate and key, and the CAs its client certificates are checked
/// against, as PEM (checked when the configuration is read).
#[derive(Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The server's certificate chain, leaf first.
    pub certificate_chain_pem: Vec<u8>,
    pub private_key_pem: Vec<u8>,
    /// CA certificates for client certificates (ssl.truststore.*); empty: none accepted.
    pub truststore_pem: Vec<u8>,
    pub client_auth: ClientAuth,
}

/// Without the key.
impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field(
                "certificate_chain_pem_bytes",
                &self.certificate_chain_pem.len(),
            )
            .field("truststore_pem_bytes", &self.truststore_pem.len())
            .field("client_auth", &self.client_auth)
            .finish()
    }
}

impl ListenerConfig {
    /// The zero-config listener: PLAINTEXT, no authentication.
    pub fn plaintext(bind: SocketAddr) -> ListenerConfig {
        ListenerConfig {
            name: "PLAINTEXT".to_string(),
            protocol: SecurityProtocol::Plaintext,
            bind,
            advertised_host: bind.ip().to_string(),
            advertised_port: i32::from(bind.port()),
            sasl: None,
            tls: None,
        }
    }

    pub fn advertised(&self) -> String {
        if self.advertised_host.contains(':') {
            format!("[{}]:{}", self.advertised_host, self.advertised_port)
        } else {
            format!("{}:{}", self.advertised_host, self.advertised_port)
        }
    }

    /// Anyone who reaches it is served without proving who they are.
    pub fn is_unauthenticated(&self) -> bool {
        let client_certificates = self
            .tls
            .as_ref()
            .is_some_and(|tls| tls.client_auth == ClientAuth::Required);
        !self.protocol.uses_sasl() && !client_certificates
    }
}

/// Broker-wide names this module reads (each also per listener, which wins).
pub const BROKER_CONFIGS: &[&str] = &[
    "sasl.enabled.mechanisms",
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.certificates",
    "ssl.truststore.password",
    "ssl.client.auth",
    "ssl.endpoint.identification.algorithm",
];

/// Names this module reads only per listener (`listener.name.NAME.CONFIG`, NAME in lower case,
/// as Kafka), besides [`BROKER_CONFIGS`]. The SCRAM entries carry no users (those are in the
/// cluster metadata) and are accepted so that a Kafka configuration works unchanged.
pub const LISTENER_ONLY_CONFIGS: &[&str] = &[
    "plain.sasl.jaas.config",
    "scram-sha-256.sasl.jaas.config",
    "scram-sha-512.sasl.jaas.config",
];

/// Whether `key` is a `listener.name.NAME.CONFIG` name this module reads.
pub fn is_listener_config(key: &str) -> bool {
    key.strip_prefix("listener.name.")
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(_, config)| {
            BROKER_CONFIGS.contains(&config) || LISTENER_ONLY_CONFIGS.contains(&config)
        })
}

/// The SASL settings of the listener `name` from Kafka-named settings (`get`), or None for a
/// listener without SASL.
pub fn sasl_config(
    name: &str,
    protocol: SecurityProtocol,
    get: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<SaslConfig>> {
    if !protocol.uses_sasl() {
        return Ok(None);
    }
    let prefix = format!("listener.name.{}.", name.to_ascii_lowercase());
    let setting = |config: &str| get(&format!("{prefix}{config}")).or_else(|| get(config));
    // Kafka's default is GSSAPI (Kerberos), which this broker does not have: PLAIN instead.
    let mechanisms = match setting("sasl.enabled.mechanisms") {
        Some(value) => SaslMechanism::parse_list(&value)?,
        None => vec![SaslMechanism::Plain],
    };
    if mechanisms.is_empty() {
        bail!("listener {name}: sasl.enabled.mechanisms is empty");
    }
    let mut plain_users = BTreeMap::new();
    if mechanisms.contains(&SaslMechanism::Plain) {
        let key = format!("{prefix}plain.sasl.jaas.config");
        let jaas = get(&key).ok_or_else(|| {
            anyhow!("listener {name} enables PLAIN but has no users: set {key}=org.apache.kafka.common.security.plain.PlainLoginModule required user_NAME=\"PASSWORD\" ...;")
        })?;
        plain_users = plain_users_of(&jaas).map_err(|e| anyhow!("{key}: {e}"))?;
    }
    Ok(Some(SaslConfig {
        mechanisms,
        plain_users,
    }))
}

/// The TLS settings of the listener `name`, or None for a listener without TLS. Kafka's PEM
/// forms only: `ssl.keystore.type=PEM` with `ssl.keystore.location` (one file holding the
/// private key and the certificate chain) or `ssl.keystore.key` and
/// `ssl.keystore.certificate.chain` (the PEM text itself); `ssl.truststore.type=PEM` with
/// `ssl.truststore.location` or `ssl.truststore.certificates`.
pub fn tls_config(
    name: &str,
    protocol: SecurityProtocol,
    get: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<TlsConfig>> {
    if !protocol.uses_tls() {
        return Ok(None);
    }
    let prefix = format!("listener.name.{}.", name.to_ascii_lowercase());
    let setting = |config: &str| get(&format!("{prefix}{config}")).or_else(|| get(config));
    for store in ["keystore", "truststore"] {
        let kind = setting(&format!("ssl.{store}.type")).unwrap_or_else(|| "JKS".into());
        let given = setting(&format!("ssl.{store}.location")).is_some()
            || (store == "keystore" && setting("ssl.keystore.key").is_some())
            || (store == "truststore" && setting("ssl.truststore.certificates").is_some());
        if given && !kind.eq_ignore_ascii_case("PEM") {
            bail!("listener {name}: ssl.{store}.type is {kind}: only PEM is supported (set ssl.{store}.type=PEM)");
        }
    }
    if setting("ssl.key.password").is_some() {
        bail!("listener {name}: encrypted private keys (ssl.key.password) are not supported; give the key unencrypted (PKCS#8 or PKCS#1 PEM)");
    }
    let read = |path: &str| {
        std::fs::read(path).map_err(|e| anyhow!("listener {name}: reading {path}: {e}"))
    };
    let (certificate_chain_pem, private_key_pem) = match (
        setting("ssl.keystore.location"),
        setting("ssl.keystore.certificate.chain"),
        setting("ssl.keystore.key"),
    ) {
        (Some(path), None, None) => {
            let pem = read(&path)?;
            (pem.clone(), pem)
        }
        (None, Some(chain), Some(key)) => (chain.into_bytes(), key.into_bytes()),
        _ => bail!("listener {name} is {}: set ssl.keystore.type=PEM and either ssl.keystore.location (a PEM file with the private key and the certificate chain) or ssl.keystore.key and ssl.keystore.certificate.chain", protocol.name()),
    };
    let truststore_pem = match (
        setting("ssl.truststore.location"),
        setting("ssl.truststore.certificates"),
    ) {
        (Some(path), _) => read(&path)?,
        (None, Some(certificates)) => certificates.into_bytes(),
        (None, None) => Vec::new(),
    };
    let client_auth = match setting("ssl.client.auth").as_deref().map(str::trim) {
        None | Some("none") => ClientAuth::None,
        Some("requested") => ClientAuth::Requested,
        Some("required") => ClientAuth::Required,
        Some(other) => {
            bail!("listener {name}: ssl.client.auth is {other:?}, not none, requested or required")
        }
    };
    if client_auth != ClientAuth::None && truststore_pem.is_empty() {
        bail!("listener {name}: ssl.client.auth={client_auth:?} needs the CAs of the client certificates: ssl.truststore.type=PEM and ssl.truststore.location");
    }
    let tls = TlsConfig {
        certificate_chain_pem,
        private_key_pem,
        truststore_pem,
        client_auth,
    };
    crate::security::tls::server_config(&tls).map_err(|e| anyhow!("listener {name}: {e}"))?;
    Ok(Some(tls))
}

/// The cluster transport's TLS: the controller listener's keystore (this node's certificate,
/// presented both when it accepts and when it connects) and truststore (the cluster CA every
/// peer's certificate must chain to, in both directions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterTlsConfig {
    /// The controller listener's name (CONTROLLER), for logs and metrics.
    pub listener: String,
    pub tls: TlsConfig,
    /// `ssl.endpoint.identification.algorithm=https` (Kafka's default): a peer's certificate
    /// must also name the host it is reached at; empty: any certificate of the cluster CA.
    pub verify_hostname: bool,
}

/// The security of the Raft transport from the controller listener's
/// (`controller.listener.names`) protocol: PLAINTEXT (or no controller listener) is None; SSL
/// is mutual TLS, so `ssl.client.auth` may only be `required` and is that by default, and a
/// truststore is needed. SASL on the cluster transport is not implemented.
pub fn cluster_tls_config(
    name: &str,
    protocol: SecurityProtocol,
    get: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<ClusterTlsConfig>> {
    match protocol {
        SecurityProtocol::Plaintext => return Ok(None),
        SecurityProtocol::Ssl => {}
        other => bail!(
            "controller listener {name} is {}: the cluster transport is PLAINTEXT or SSL (mutual TLS)",
            other.name()
        ),
    }
    let prefix = format!("listener.name.{}.", name.to_ascii_lowercase());
    let setting = |config: &str| get(&format!("{prefix}{config}")).or_else(|| get(config));
    // Only the listener's own setting counts: a broker-wide ssl.client.auth is for the client
    // listeners, and the cluster transport is always mutual.
    let client_auth_key = format!("{prefix}ssl.client.auth");
    if get(&client_auth_key).is_some_and(|auth| auth.trim() != "required") {
        bail!("{client_auth_key} must be required: peers authenticate each other with their certificates");
    }
    let required = |config: &str| {
        if config == "ssl.client.auth" || config == client_auth_key {
            Some("required".to_string())
        } else {
            get(config)
        }
    };
    let tls = tls_config(name, protocol, &required)?
        .ok_or_else(|| anyhow!("controller listener {name}: no TLS settings"))?;
    let verify_hostname = match setting("ssl.endpoint.identification.algorithm")
        .as_deref()
        .map(str::trim)
    {
        None => true,
        Some(algorithm) if algorithm.eq_ignore_ascii_case("https") => true,
        Some("") => false,
        Some(other) => bail!(
            "controller listener {name}: ssl.endpoint.identification.algorithm is {other:?}, not https or empty"
        ),
    };
    Ok(Some(ClusterTlsConfig {
        listener: name.to_string(),
        tls,
        verify_hostname,
    }))
}

/// The users of a `PlainLoginModule` JAAS entry: its `user_NAME="PASSWORD"` options.
fn plain_users_of(jaas: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let entry = parse_jaas(jaas)?;
    if entry.module != "org.apache.kafka.common.security.plain.PlainLoginModule" {
        bail!(
            "the login module is {}, not org.apache.kafka.common.security.plain.PlainLoginModule",
            entry.module
        );
    }
    Ok(entry
        .options
        .into_iter()
        .filter_map(|(key, value)| Some((key.strip_prefix("user_")?.to_string(), value)))
        .collect())
}

/// One JAAS login module entry: `MODULE FLAG key="value" ...;` (Kafka's `sasl.jaas.config`
/// holds exactly one).
struct JaasEntry {
    module: String,
    options: Vec<(String, String)>,
}

fn parse_jaas(text: &str) -> anyhow::Result<JaasEntry> {
    let text = text.trim();
    let body = text
        .strip_suffix(';')
        .ok_or_else(|| anyhow!("a JAAS entry ends with ';'"))?;
    let mut rest = body.trim_start();
    let mut word = || -> Option<String> {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (word, tail) = rest.split_at(end);
        rest = tail.trim_start();
        (!word.is_empty()).then(|| word.to_string())
    };
    let module = word().ok_or_else(|| anyhow!("no login module"))?;
    let flag = word().ok_or_else(|| anyhow!("no control flag after {module}"))?;
    if !["required", "requisite", "sufficient", "optional"].contains(&flag.as_str()) {
        bail!("{flag:?} is not a JAAS control flag (required, requisite, sufficient, optional)");
    }
    let mut options = Vec::new();
    while !rest.is_empty() {
        let (key, tail) = rest
            .split_once('=')
            .ok_or_else(|| anyhow!("option {rest:?} is not key=\"value\""))?;
        let key = key.trim().to_string();
        let (value, tail) = quoted(tail.trim_start())
            .ok_or_else(|| anyhow!("the value of {key} is not a quoted string"))?;
        options.push((key, value));
        rest = tail.trim_start();
    }
    Ok(JaasEntry { module, options })
}

/// A `"..."` string with `\"` and `\\` escapes, and what follows it.
fn quoted(text: &str) -> Option<(String, &str)> {
    let inner = text.strip_prefix('"')?;
    let mut value = String::new();
    let mut chars = inner.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Some((value, &inner[index + 1..])),
            '\\' => value.push(chars.next()?.1),
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key: &str| map.get(key).cloned()
    }

    const JAAS: &str = r#"org.apache.kafka.common.security.plain.PlainLoginModule required
        username="admin" password="admin-secret"
        user_admin="admin-secret" user_alice="a \"quoted\" pass";"#;

    #[test]
    fn plain_users_come_from_the_listener_jaas_entry() {
        let get = settings(&[("listener.name.sasl_plaintext.plain.sasl.jaas.config", JAAS)]);
        let sasl = sasl_config("SASL_PLAINTEXT", SecurityProtocol::SaslPlaintext, &get)
            .unwrap()
            .unwrap();
        assert_eq!(sasl.mechanisms, [SaslMechanism::Plain]);
        assert_eq!(sasl.plain_users.len(), 2);
        assert_eq!(sasl.plain_users["alice"], "a \"quoted\" pass");
        assert!(!format!("{sasl:?}").contains("admin-secret"));
        assert!(sasl_config("PLAINTEXT", SecurityProtocol::Plaintext, &get)
            .unwrap()
            .is_none());
    }

    #[test]
    fn missing_or_malformed_security_settings_are_errors() {
        let none = settings(&[]);
        assert!(sasl_config("X", SecurityProtocol::SaslPlaintext, &none).is_err());
        let gssapi = settings(&[("sasl.enabled.mechanisms", "GSSAPI")]);
        assert!(sasl_config("X", SecurityProtocol::SaslPlaintext, &gssapi).is_err());
        for jaas in [
            "org.apache.kafka.common.security.plain.PlainLoginModule required user_a=\"b\"",
            "org.apache.kafka.common.security.plain.PlainLoginModule maybe user_a=\"b\";",
            "org.apache.kafka.common.security.plain.PlainLoginModule required user_a=b;",
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        ] {
            let get = settings(&[("listener.name.x.plain.sasl.jaas.config", jaas)]);
            assert!(
                sasl_config("X", SecurityProtocol::SaslPlaintext, &get).is_err(),
                "{jaas}"
            );
        }
        assert!(SecurityProtocol::parse("TLS").is_err());
        assert!(is_listener_config(
            "listener.name.client.plain.sasl.jaas.config"
        ));
        assert!(!is_listener_config(
            "listener.name.client.ssl.cipher.suites"
        ));
    }
}
