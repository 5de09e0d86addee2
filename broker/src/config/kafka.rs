//! Kafka's configuration names: a `server.properties` file (`--config FILE.properties`) and
//! environment variables in the style of the Kafka container images (`KAFKA_LISTENERS`, ...)
//! become the same settings as the TOML file's.
//!
//! A name the broker has no use for is either Kafka's (a notice says it is ignored: a Kafka
//! config file works unchanged) or nobody's (an error in a file: a typo must not pass
//! silently; only a notice in the environment, which also carries variables for other
//! programs, such as `KAFKA_HEAP_OPTS` for Kafka's scripts).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{anyhow, bail};

use super::security::{self, ListenerConfig, SecurityProtocol};
use super::{FileConfig, FlushPolicy, LogFormat};
use crate::metadata::configs;
use crate::security::acl;

/// Every broker config name of Apache Kafka 4.3.1, one a line
/// (`kafka.server.KafkaConfig.configDef().names()`).
const KAFKA_BROKER_CONFIGS: &str = include_str!("kafka_broker_configs.txt");

/// Variables of Kafka's start scripts and images that are not broker configs.
const SCRIPT_VARIABLES: &[&str] = &[
    "KAFKA_HOME",
    "KAFKA_VERSION",
    "KAFKA_HEAP_OPTS",
    "KAFKA_OPTS",
    "KAFKA_JVM_PERFORMANCE_OPTS",
    "KAFKA_GC_LOG_OPTS",
    "KAFKA_LOG4J_OPTS",
    "KAFKA_JMX_OPTS",
    "KAFKA_DEBUG",
    "KAFKA_CLASSPATH",
];

/// Security protocols of Kafka's default `listener.security.protocol.map`.
const PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];

/// Where a setting came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Line of the properties file.
    Line(usize),
    /// Environment variable.
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Line(line) => write!(f, "line {line}"),
            Origin::Env(name) => write!(f, "environment variable {name}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    pub value: String,
    pub origin: Origin,
}

/// A Java properties file: `key=value`, `key: value` or `key value`, `#` and `!` comments,
/// lines continued by a trailing backslash, `\t \n \r \f \uXXXX` escapes. Values lose trailing
/// blanks, which Java keeps but nobody means.
pub fn parse_properties(text: &str) -> anyhow::Result<Vec<Setting>> {
    let mut settings = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let mut logical = line.trim_start().to_string();
        if logical.is_empty() || logical.starts_with('#') || logical.starts_with('!') {
            continue;
        }
        while ends_in_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = split_key_value(&logical);
        let origin = Origin::Line(index + 1);
        let key = unescape(key).map_err(|e| anyhow!("{origin}: {e}"))?;
        let value = unescape(value).map_err(|e| anyhow!("{origin}: {e}"))?;
        settings.push(Setting {
            key,
            value: value.trim_end().to_string(),
            origin,
        });
    }
    Ok(settings)
}

fn ends_in_continuation(line: &str) -> bool {
    line.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

/// The key ends at the first unescaped `=`, `:` or blank; one `=` or `:` and the blanks
/// around it separate it from the value.
fn split_key_value(line: &str) -> (&str, &str) {
    const BLANKS: [char; 3] = [' ', '\t', '\x0c'];
    let mut escaped = false;
    for (index, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' | ':' | ' ' | '\t' | '\x0c' => {
                let rest = line[index..].trim_start_matches(BLANKS);
                let rest = rest.strip_prefix(['=', ':']).unwrap_or(rest);
                return (&line[..index], rest.trim_start_matches(BLANKS));
            }
            _ => {}
        }
    }
    (line, "")
}

fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("malformed \\u escape \\u{hex}"))?;
                out.push(code);
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

/// `KAFKA_*` variables as the Kafka images read them: the prefix dropped, lower case, `_` for
/// `.`, `__` for `_` and `___` for `-` (`KAFKA_LOG_RETENTION_MS` is `log.retention.ms`).
/// Sorted by name, so a duplicate resolves the same way every time.
pub fn env_settings(vars: impl IntoIterator<Item = (String, String)>) -> Vec<Setting> {
    let mut settings: Vec<Setting> = vars
        .into_iter()
        .filter(|(name, _)| !SCRIPT_VARIABLES.contains(&name.as_str()))
        .filter_map(|(name, value)| {
            let rest = name.strip_prefix("KAFKA_")?;
            let key = rest
                .to_lowercase()
                .replace("___", "-")
                .replace("__", "\0")
                .replace('_', ".")
                .replace('\0', "_");
            Some(Setting {
                key,
                value: value.trim().to_string(),
                origin: Origin::Env(name),
            })
        })
        .collect();
    settings.sort_by_key(|s| s.origin.to_string());
    settings
}

/// The broker's settings from Kafka-named ones (later settings win), and notices about the
/// names it ignores.
pub fn file_config(settings: Vec<Setting>) -> anyhow::Result<(FileConfig, Vec<String>)> {
    let mut merged: BTreeMap<String, Setting> = BTreeMap::new();
    for setting in settings {
        merged.insert(setting.key.clone(), setting);
    }
    let mut file = FileConfig::default();
    let mut notices = Vec::new();
    for setting in merged.values() {
        apply(setting, &mut file, &mut notices)
            .map_err(|e| anyhow!("{}: {}: {e}", setting.origin, setting.key))?;
    }
    apply_listeners(&merged, &mut file)?;
    apply_cluster_transport(&merged, &mut file)?;
    apply_retention(&merged, &mut file)?;
    apply_authorizer(&merged, &mut file)?;
    check_voters(&merged, &file, &mut notices)?;
    Ok((file, notices))
}

/// Names read together with others by [`apply_listeners`], [`apply_retention`] and
/// [`check_voters`].
const JOINT: &[&str] = &[
    "listeners",
    "advertised.listeners",
    "controller.listener.names",
    "listener.security.protocol.map",
    "log.retention.ms",
    "log.retention.minutes",
    "log.retention.hours",
    "controller.quorum.voters",
    "authorizer.class.name",
    "super.users",
    "allow.everyone.if.no.acl.found",
];

fn apply(
    setting: &Setting,
    file: &mut FileConfig,
    notices: &mut Vec<String>,
) -> anyhow::Result<()> {
    let value = setting.value.as_str();
    match setting.key.as_str() {
        key if JOINT.contains(&key) => {}
        key if security::BROKER_CONFIGS.contains(&key) || security::is_listener_config(key) => {}
        "connection.failed.authentication.delay.ms" => {
            file.failed_authentication_delay_ms = Some(number(value)?)
        }
        "node.id" => file.node_id = Some(number(value)?),
        // The ZooKeeper-era name; Kafka requires the two to agree, so either will do.
        "broker.id" => file.node_id = file.node_id.or(Some(number(value)?)),
        "log.dirs" => file.data_dir = Some(one_log_dir(value)?),
        "log.dir" => file.data_dir = file.data_dir.take().or(Some(one_log_dir(value)?)),
        "num.partitions" => file.num_partitions = Some(positive(number(value)?)?),
        "default.replication.factor" => {
            file.default_replication_factor = Some(positive(number(value)?)?)
        }
        "auto.create.topics.enable" => file.auto_create_topics_enable = Some(boolean(value)?),
        "socket.request.max.bytes" => file.request_bytes_max = Some(positive(number(value)?)?),
        "max.connections" => file.connections_max = Some(positive(number(value)?)?),
        "max.connections.per.ip" => file.connections_per_ip_max = Some(positive(number(value)?)?),
        "connections.max.idle.ms" => file.connections_max_idle_ms = Some(positive(number(value)?)?),
        "queued.max.request.bytes" => file.queued_request_bytes_max = Some(number(value)?),
        "fetch.max.bytes" => file.fetch_bytes_max = Some(positive(number(value)?)?),
        // KIP-578's name: Kafka 4.3 has no such limit, this broker does (README: Limits).
        "max.broker.partitions" => file.broker_partitions_max = Some(positive(number(value)?)?),
        "offsets.topic.num.partitions" => {
            file.offsets_topic_partitions = Some(positive(number(value)?)?)
        }
        "offsets.retention.minutes" => file.offsets_retention_minutes = Some(number(value)?),
        "transaction.state.log.num.partitions" => {
            file.transaction_state_partitions = Some(positive(number(value)?)?)
        }
        "transaction.max.timeout.ms" => {
            file.transaction_max_timeout_ms = Some(positive(number(value)?)?)
        }
        "transactional.id.expiration.ms" => {
            file.transactional_id_expiration_ms = Some(positive(number(value)?)?)
        }
        "transaction.remove.expired.transaction.cleanup.interval.ms" => {
            file.transaction_cleanup_interval_ms = Some(positive(number(value)?)?)
        }
        "group.initial.rebalance.delay.ms" => {
            file.group_initial_rebalance_delay_ms = Some(number(value)?)
        }
        "log.retention.check.interval.ms" => {
            file.retention_check_interval_ms = Some(positive(number(value)?)?)
        }
        "log.cleaner.backoff.ms" => file.cleaner_backoff_ms = Some(positive(number(value)?)?),
        "offsets.topic.segment.bytes" => {
            file.offsets_topic_segment_bytes = Some(positive(number(value)?)?)
        }
        "replica.lag.time.max.ms" => file.replica_lag_time_max_ms = Some(number(value)?),
        "log.flush.interval.ms" => {
            file.flush_interval_ms = Some(positive(number(value)?)?);
            file.flush_policy = file.flush_policy.or(Some(FlushPolicy::Interval));
        }
        key if key.starts_with("kbroker.") => apply_kbroker(key, value, file)?,
        key => match configs::broker_config(key).filter(|def| def.dynamic) {
            Some(def) => {
                configs::validate(def, value).map_err(|e| anyhow!(e))?;
                file.broker_configs
                    .insert(key.to_string(), value.to_string());
            }
            None => ignore(setting, notices)?,
        },
    }
    Ok(())
}

/// The broker's own settings, which Kafka has no name for.
fn apply_kbroker(key: &str, value: &str, file: &mut FileConfig) -> anyhow::Result<()> {
    match key {
        "kbroker.peers" => file.peers = Some(value.to_string()),
        "kbroker.join" => file.join = Some(boolean(value)?),
        "kbroker.metrics.listen" => file.metrics_listen = Some(number(value)?),
        "kbroker.metrics.per.partition" => file.metrics_per_partition = Some(boolean(value)?),
        "kbroker.flush.policy" => {
            file.flush_policy = Some(match value {
                "fsync" => FlushPolicy::Fsync,
                "interval" => FlushPolicy::Interval,
                _ => bail!("{value:?} is not fsync or interval"),
            })
        }
        "kbroker.log.format" => {
            file.log_format = Some(match value {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => bail!("{value:?} is not text or json"),
            })
        }
        "kbroker.log.level" => file.log_level = Some(value.to_string()),
        "kbroker.fetch.cache.bytes" => file.fetch_cache_bytes = Some(number(value)?),
        "kbroker.raft.heartbeat.interval.ms" => {
            file.raft_heartbeat_interval_ms = Some(number(value)?)
        }
        _ => bail!("not a kbroker setting (kbroker.peers, kbroker.join, kbroker.metrics.listen, kbroker.metrics.per.partition, kbroker.flush.policy, kbroker.log.format, kbroker.log.level, kbroker.fetch.cache.bytes, kbroker.raft.heartbeat.interval.ms)"),
    }
    Ok(())
}

/// A Kafka name the broker does not implement is a notice; any other name is an error unless
/// it came from the environment.
fn ignore(setting: &Setting, notices: &mut Vec<String>) -> anyhow::Result<()> {
    let key = setting.key.as_str();
    let kafka_has_it =
        KAFKA_BROKER_CONFIGS.lines().any(|name| name == key) || key.starts_with("listener.name.");
    match (&setting.origin, kafka_has_it) {
        (origin, true) => notices.push(format!(
            "{origin}: {key} is a Kafka broker config this broker does not implement; ignored"
        )),
        (Origin::Env(name), false) => notices.push(format!(
            "{name}: {key} is not a Kafka broker config (Kafka 4.3.1) nor a kbroker.* setting; ignored"
        )),
        (Origin::Line(_), false) => bail!("not a Kafka broker config (Kafka 4.3.1) nor a kbroker.* setting"),
    }
    Ok(())
}

struct Listener {
    name: String,
    host: String,
    port: u16,
}

/// `listeners` without the controller listener are the client listeners, each with its
/// security protocol (`listener.security.protocol.map`) and SASL settings; their
/// `advertised.listeners` entries are what clients coming in on each are told. The first is
/// this broker's address in `kbroker.peers` (`--listen` and `--advertised-listener` set it).
fn apply_listeners(
    merged: &BTreeMap<String, Setting>,
    file: &mut FileConfig,
) -> anyhow::Result<()> {
    let get = |key: &str| merged.get(key).map(|s| s.value.as_str());
    let context = |key: &str| origin(merged, key);
    let controllers = controller_names(merged);
    let protocols = parse_protocol_map(get("listener.security.protocol.map"))
        .map_err(|e| anyhow!("{}: {e}", context("listener.security.protocol.map")))?;
    let advertised = get("advertised.listeners")
        .map(parse_listeners)
        .transpose()
        .map_err(|e| anyhow!("{}: {e}", context("advertised.listeners")))?;
    let Some(value) = get("listeners") else {
        // Kafka's default listener, PLAINTEXT; only where it is advertised may change.
        if let Some(advertised) = &advertised {
            let address = advertised_entry(advertised, "PLAINTEXT")
                .map_err(|e| anyhow!("{}: {e}", context("advertised.listeners")))?;
            file.advertised_listener = Some(address);
        }
        return Ok(());
    };
    let all = parse_listeners(value).map_err(|e| anyhow!("{}: {e}", context("listeners")))?;
    file.raft_listen =
        raft_listener(&all, &controllers).map_err(|e| anyhow!("{}: {e}", context("listeners")))?;
    let security = |key: &str| merged.get(key).map(|s| s.value.clone());
    let mut listeners = Vec::new();
    for listener in all.iter().filter(|l| !controllers.contains(&l.name)) {
        let resolved = client_listener(listener, &protocols, advertised.as_deref(), &security)
            .map_err(|e| anyhow!("{}: {e}", context("listeners")))?;
        listeners.push(resolved);
    }
    let Some(primary) = listeners.first() else {
        bail!(
            "{}: no client listener besides controller.listener.names",
            context("listeners")
        );
    };
    file.listen = Some(primary.bind);
    file.advertised_listener = Some(primary.advertised());
    file.listeners = Some(listeners);
    Ok(())
}

/// The Raft transport's security is the controller listener's, as in Kafka where the
/// controllers speak Raft on it: `listener.security.protocol.map` maps it to PLAINTEXT (the
/// default when the map does not name it) or SSL, read from `listener.name.NAME.ssl.*`.
fn apply_cluster_transport(
    merged: &BTreeMap<String, Setting>,
    file: &mut FileConfig,
) -> anyhow::Result<()> {
    let get = |key: &str| merged.get(key).map(|s| s.value.clone());
    let context = |key: &str| origin(merged, key);
    let names = controller_names(merged);
    if names.is_empty() {
        return Ok(());
    }
    let protocols = parse_protocol_map(get("listener.security.protocol.map").as_deref())
        .map_err(|e| anyhow!("{}: {e}", context("listener.security.protocol.map")))?;
    let mut secured = Vec::new();
    for name in &names {
        let Some(protocol) = protocols.get(name) else {
            continue;
        };
        let protocol = SecurityProtocol::parse(protocol)
            .map_err(|e| anyhow!("{}: {e}", context("listener.security.protocol.map")))?;
        if protocol != SecurityProtocol::Plaintext {
            secured.push((name, protocol));
        }
    }
    match secured.as_slice() {
        [] => Ok(()),
        [(name, protocol)] if names.len() == 1 => {
            file.cluster_tls = security::cluster_tls_config(name, *protocol, &get)
                .map_err(|e| anyhow!("{}: {e}", context("controller.listener.names")))?;
            Ok(())
        }
        _ => bail!(
            "{}: one controller listener when it is secured: the cluster transport has one security protocol",
            context("controller.listener.names")
        ),
    }
}

/// `controller.listener.names`, upper case as Kafka normalises listener names.
fn controller_names(merged: &BTreeMap<String, Setting>) -> Vec<String> {
    merged
        .get("controller.listener.names")
        .map(|setting| {
            setting
                .value
                .split(',')
                .map(|n| n.trim().to_ascii_uppercase())
                .filter(|n| !n.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Where `key` was set (`file:line: key`), for errors about it.
fn origin(merged: &BTreeMap<String, Setting>, key: &str) -> String {
    merged
        .get(key)
        .map(|s| format!("{}: {key}", s.origin))
        .unwrap_or_else(|| key.to_string())
}

/// One client listener with its protocol, advertised address and SASL settings.
fn client_listener(
    listener: &Listener,
    protocols: &BTreeMap<String, String>,
    advertised: Option<&[Listener]>,
    security: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<ListenerConfig> {
    let name = &listener.name;
    let protocol = protocols.get(name).ok_or_else(|| {
        anyhow!("listener {name} has no security protocol in listener.security.protocol.map")
    })?;
    let protocol = SecurityProtocol::parse(protocol)?;
    let address = match advertised {
        Some(advertised) => {
            advertised_entry(advertised, name).map_err(|e| anyhow!("advertised.listeners: {e}"))?
        }
        None => advertise(&listener.host, listener.port)?,
    };
    let (advertised_host, advertised_port) = super::split_host_port(&address)?;
    Ok(ListenerConfig {
        name: name.clone(),
        protocol,
        bind: bind_address(&listener.host, listener.port)?,
        advertised_host,
        advertised_port,
        sasl: security::sasl_config(name, protocol, security)?,
        tls: security::tls_config(name, protocol, security)?,
    })
}

/// `authorizer.class.name` turns authorization on (Kafka's StandardAuthorizer is the one
/// accepted), with `super.users` and `allow.everyone.if.no.acl.found`; those two alone do
/// nothing, as in Kafka.
fn apply_authorizer(
    merged: &BTreeMap<String, Setting>,
    file: &mut FileConfig,
) -> anyhow::Result<()> {
    let get = |key: &str| merged.get(key).map(|s| (s.value.trim(), &s.origin));
    let Some((class, origin)) = get("authorizer.class.name").filter(|(v, _)| !v.is_empty()) else {
        return Ok(());
    };
    if class != acl::STANDARD_AUTHORIZER {
        bail!(
            "{origin}: authorizer.class.name: {class} is not supported; use {}",
            acl::STANDARD_AUTHORIZER
        );
    }
    let allow_everyone = match get("allow.everyone.if.no.acl.found") {
        Some((value, origin)) => {
            boolean(value).map_err(|e| anyhow!("{origin}: allow.everyone.if.no.acl.found: {e}"))?
        }
        None => false,
    };
    file.authorizer = Some(acl::Authorizer {
        super_users: get("super.users")
            .map(|(value, _)| acl::parse_super_users(value))
            .unwrap_or_default(),
        allow_everyone_if_no_acl_found: allow_everyone,
    });
    Ok(())
}

fn advertised_entry(advertised: &[Listener], name: &str) -> anyhow::Result<String> {
    let listener = advertised
        .iter()
        .find(|l| l.name == name)
        .ok_or_else(|| anyhow!("no entry for the listener {name}"))?;
    advertise(&listener.host, listener.port)
}

/// The controller listener is where the Raft listener binds (Kafka's controllers speak Raft
/// there too); the others reach it at this node's kbroker.peers entry.
fn raft_listener(all: &[Listener], controllers: &[String]) -> anyhow::Result<Option<SocketAddr>> {
    let raft: Vec<&Listener> = all
        .iter()
        .filter(|l| controllers.contains(&l.name))
        .collect();
    match raft.as_slice() {
        [] => Ok(None),
        [listener] => Ok(Some(bind_address(&listener.host, listener.port)?)),
        _ => bail!("at most one controller listener: it is where the Raft listener binds"),
    }
}

fn parse_listeners(value: &str) -> anyhow::Result<Vec<Listener>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|item| {
            let (name, address) = item
                .split_once("://")
                .ok_or_else(|| anyhow!("{item:?} is not NAME://HOST:PORT"))?;
            let (host, port) = address
                .rsplit_once(':')
                .ok_or_else(|| anyhow!("{item:?} is not NAME://HOST:PORT"))?;
            let port = port
                .parse()
                .map_err(|e| anyhow!("{item:?}: port {port:?}: {e}"))?;
            Ok(Listener {
                // Kafka's listener names are case-insensitive (ListenerName.normalised).
                name: name.trim().to_ascii_uppercase(),
                host: host.trim_matches(['[', ']']).to_string(),
                port,
            })
        })
        .collect()
}

fn parse_protocol_map(value: Option<&str>) -> anyhow::Result<BTreeMap<String, String>> {
    let Some(value) = value else {
        return Ok(PROTOCOLS
            .iter()
            .map(|p| (p.to_string(), p.to_string()))
            .collect());
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (name, protocol) = entry
                .split_once(':')
                .ok_or_else(|| anyhow!("{entry:?} is not NAME:PROTOCOL"))?;
            Ok((name.trim().to_ascii_uppercase(), protocol.to_string()))
        })
        .collect()
}

/// An empty host binds every interface, as in Kafka.
fn bind_address(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    (host, port)
        .to_socket_addrs()
        .map_err(|e| anyhow!("listeners: resolving {host}: {e}"))?
        .next()
        .ok_or_else(|| anyhow!("listeners: {host} resolves to no address"))
}

/// What clients are told: an empty host is this machine's name (Kafka: its canonical host
/// name); a wildcard address is refused, as Kafka does.
fn advertise(host: &str, port: u16) -> anyhow::Result<String> {
    if host == "0.0.0.0" || host == "::" {
        bail!("advertised.listeners cannot use the nonroutable meta-address {host}: set advertised.listeners");
    }
    let host = match host {
        "" => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map_err(|e| anyhow!("advertised.listeners: reading this host's name: {e}"))?
            .trim()
            .to_string(),
        host => host.to_string(),
    };
    Ok(if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

/// Kafka's precedence: log.retention.ms, else .minutes, else .hours; a static broker config.
fn apply_retention(
    merged: &BTreeMap<String, Setting>,
    file: &mut FileConfig,
) -> anyhow::Result<()> {
    let scaled = |key: &str, unit_ms: i64| -> anyhow::Result<Option<i64>> {
        let Some(setting) = merged.get(key) else {
            return Ok(None);
        };
        let value: i64 =
            number(&setting.value).map_err(|e| anyhow!("{}: {key}: {e}", setting.origin))?;
        // -1 (or any negative value) keeps everything, whatever the unit.
        Ok(Some(if value < 0 {
            -1
        } else {
            value.saturating_mul(unit_ms)
        }))
    };
    let retention_ms = match scaled("log.retention.ms", 1)? {
        Some(ms) => Some(ms),
        None => match scaled("log.retention.minutes", 60_000)? {
            Some(ms) => Some(ms),
            None => scaled("log.retention.hours", 3_600_000)?,
        },
    };
    if let Some(ms) = retention_ms {
        file.broker_configs
            .insert("log.retention.ms".to_string(), ms.to_string());
    }
    Ok(())
}

/// Kafka's voters name only controller endpoints, and this broker's cluster needs every
/// broker's Kafka address as well: a multi-node quorum without kbroker.peers would silently
/// become separate single-node clusters.
fn check_voters(
    merged: &BTreeMap<String, Setting>,
    file: &FileConfig,
    notices: &mut Vec<String>,
) -> anyhow::Result<()> {
    let Some(setting) = merged.get("controller.quorum.voters") else {
        return Ok(());
    };
    let voters = setting
        .value
        .split(',')
        .filter(|v| !v.trim().is_empty())
        .count();
    if voters > 1 && file.peers.is_none() {
        bail!(
            "{}: controller.quorum.voters names {voters} voters but kbroker.peers is not set: list the cluster as kbroker.peers=ID@KAFKA_HOST:PORT/RAFT_HOST:PORT,...",
            setting.origin
        );
    }
    notices.push(format!(
        "{}: controller.quorum.voters is not used: the cluster is kbroker.peers",
        setting.origin
    ));
    Ok(())
}

fn one_log_dir(value: &str) -> anyhow::Result<PathBuf> {
    let dirs: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    match dirs.as_slice() {
        [dir] => Ok(PathBuf::from(dir)),
        _ => bail!("this broker keeps its data in exactly one directory, not {dirs:?}"),
    }
}

fn number<T: FromStr>(value: &str) -> anyhow::Result<T>
where
    T::Err: fmt::Display,
{
    value.trim().parse().map_err(|e| anyhow!("{value:?}: {e}"))
}

fn positive<T: PartialOrd + Default + fmt::Display>(value: T) -> anyhow::Result<T> {
    if value > T::default() {
        Ok(value)
    } else {
        bail!("{value} is not positive")
    }
}

/// Kafka's booleans ignore case.
fn boolean(value: &str) -> anyhow::Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => bail!("{value:?} is not true or false"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Vec<Setting> {
        parse_properties(text).unwrap()
    }

    fn pairs(text: &str) -> Vec<(String, String)> {
        settings(text)
            .into_iter()
            .map(|s| (s.key, s.value))
            .collect()
    }

    #[test]
    fn properties_syntax() {
        let text = "# comment\n! also\n\n  a=1\nb : 2\nc 3\nd\\=x=4\ne=multi \\\n    line\nf=\\u00e9\\t.\ng=trailing   \nh\n";
        let expected = [
            ("a", "1"),
            ("b", "2"),
            ("c", "3"),
            ("d=x", "4"),
            ("e", "multi line"),
            ("f", "é\t."),
            ("g", "trailing"),
            ("h", ""),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(pairs(text), expected);
        assert_eq!(settings("\n\nx=1\n")[0].origin, Origin::Line(3));
        assert!(parse_properties("x=\\u12").is_err());
        // An even number of trailing backslashes is an escaped backslash, not a continuation.
        assert_eq!(
            pairs("p=a\\\\\nq=b"),
            [("p", "a\\"), ("q", "b")].map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }

    #[test]
    fn env_names_as_the_kafka_images_map_them() {
        let vars = [
            ("KAFKA_LOG_RETENTION_MS", "1000"),
            ("KAFKA_NODE_ID", " 3 "),
            ("KAFKA_A__B", "x"),
            ("KAFKA_A___B", "y"),
            ("KAFKA_HEAP_OPTS", "-Xmx1G"),
            ("BROKER_NODE_ID", "9"),
            ("PATH", "/bin"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let got: Vec<(String, String)> = env_settings(vars)
            .into_iter()
            .map(|s| (s.key, s.value))
            .collect();
        let want = [
            ("a_b", "x"),
            ("a-b", "y"),
            ("log.retention.ms", "1000"),
            ("node.id", "3"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        assert_eq!(got, want);
    }

    #[test]
    fn kafka_names_map_onto_the_broker_settings() {
        let (file, notices) = file_config(settings(
            "node.id=2\nlisteners=PLAINTEXT://127.0.0.1:9093,CONTROLLER://127.0.0.1:9094\n\
             advertised.listeners=PLAINTEXT://kafka-2:19093,CONTROLLER://kafka-2:9094\n\
             controller.listener.names=CONTROLLER\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
             log.dirs=/var/lib/kbroker\nnum.partitions=3\ndefault.replication.factor=2\n\
             auto.create.topics.enable=FALSE\nsocket.request.max.bytes=1048576\n\
             max.connections=50\nmax.connections.per.ip=5\nconnections.max.idle.ms=1000\n\
             queued.max.request.bytes=-1\n\
             fetch.max.bytes=65536\nmax.broker.partitions=100\n\
             offsets.topic.num.partitions=8\noffsets.retention.minutes=60\n\
             group.initial.rebalance.delay.ms=0\nlog.retention.check.interval.ms=1000\n\
             replica.lag.time.max.ms=5000\nlog.flush.interval.ms=50\nlog.retention.bytes=1024\n\
             min.insync.replicas=2\nprocess.roles=broker,controller\nnum.io.threads=8\n\
             kbroker.metrics.listen=127.0.0.1:19644\nkbroker.log.format=json\n\
             kbroker.fetch.cache.bytes=1048576\n\
             kbroker.raft.heartbeat.interval.ms=500\n",
        ))
        .unwrap();
        assert_eq!(file.node_id, Some(2));
        assert_eq!(file.listen, Some("127.0.0.1:9093".parse().unwrap()));
        assert_eq!(file.advertised_listener.as_deref(), Some("kafka-2:19093"));
        assert_eq!(file.data_dir, Some(PathBuf::from("/var/lib/kbroker")));
        assert_eq!(file.num_partitions, Some(3));
        assert_eq!(file.default_replication_factor, Some(2));
        assert_eq!(file.auto_create_topics_enable, Some(false));
        assert_eq!(file.request_bytes_max, Some(1_048_576));
        assert_eq!(file.connections_max, Some(50));
        assert_eq!(file.connections_per_ip_max, Some(5));
        assert_eq!(file.connections_max_idle_ms, Some(1000));
        assert_eq!(file.queued_request_bytes_max, Some(-1));
        assert_eq!(file.fetch_bytes_max, Some(65536));
        assert_eq!(file.broker_partitions_max, Some(100));
        assert_eq!(file.offsets_topic_partitions, Some(8));
        assert_eq!(file.offsets_retention_minutes, Some(60));
        assert_eq!(file.group_initial_rebalance_delay_ms, Some(0));
        assert_eq!(file.retention_check_interval_ms, Some(1000));
        assert_eq!(file.replica_lag_time_max_ms, Some(5000));
        assert_eq!(file.flush_policy, Some(FlushPolicy::Interval));
        assert_eq!(file.flush_interval_ms, Some(50));
        assert_eq!(
            file.metrics_listen,
            Some("127.0.0.1:19644".parse().unwrap())
        );
        assert_eq!(file.log_format, Some(LogFormat::Json));
        assert_eq!(file.fetch_cache_bytes, Some(1_048_576));
        assert_eq!(file.raft_heartbeat_interval_ms, Some(500));
        let statics: Vec<(&str, &str)> = file
            .broker_configs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            statics,
            [
                ("log.retention.bytes", "1024"),
                ("min.insync.replicas", "2")
            ]
        );
        assert_eq!(file.raft_listen, Some("127.0.0.1:9094".parse().unwrap()));
        // process.roles and num.io.threads are Kafka's and ignored.
        assert_eq!(notices.len(), 2, "{notices:?}");
        assert!(notices.iter().any(|n| n.contains("num.io.threads")));
    }

    #[test]
    fn unknown_names_are_errors_in_a_file_and_notices_in_the_environment() {
        let error = file_config(settings("node.id=1\nlisteners.typo=x\n")).unwrap_err();
        assert!(
            error.to_string().contains("line 2: listeners.typo"),
            "{error}"
        );
        assert!(file_config(settings("kbroker.peer=1@a:1/b:2")).is_err());
        let (_, notices) = file_config(env_settings([(
            "KAFKA_TOOLS_SECTIONS".to_string(),
            "groups".to_string(),
        )]))
        .unwrap();
        assert!(notices[0].contains("KAFKA_TOOLS_SECTIONS"), "{notices:?}");
    }

    #[test]
    fn bad_values_name_their_line() {
        for text in [
            "num.partitions=0",
            "node.id=x",
            "auto.create.topics.enable=yes",
            "log.dirs=/a,/b",
            "min.insync.replicas=0",
            "log.cleanup.policy=shred",
            "kbroker.flush.policy=sometimes",
        ] {
            let error = file_config(settings(text)).unwrap_err().to_string();
            assert!(error.starts_with("line 1: "), "{text}: {error}");
        }
    }

    #[test]
    fn retention_precedence_ms_minutes_hours() {
        let retention = |text: &str| {
            file_config(settings(text))
                .unwrap()
                .0
                .broker_configs
                .get("log.retention.ms")
                .cloned()
        };
        assert_eq!(
            retention("log.retention.hours=2").as_deref(),
            Some("7200000")
        );
        assert_eq!(
            retention("log.retention.hours=2\nlog.retention.minutes=3").as_deref(),
            Some("180000")
        );
        assert_eq!(
            retention("log.retention.hours=2\nlog.retention.minutes=3\nlog.retention.ms=5")
                .as_deref(),
            Some("5")
        );
        assert_eq!(retention("log.retention.hours=-1").as_deref(), Some("-1"));
        assert_eq!(retention("num.partitions=1"), None);
    }

    #[test]
    fn listeners_that_cannot_be_served_are_errors() {
        for text in [
            "listeners=SSL://:9093",
            "listeners=PLAINTEXT://:9092,OTHER://:9093",
            "listeners=CLIENT://:9092\nlistener.security.protocol.map=CLIENT:SASL_SSL",
            "listeners=CLIENT://:9092\nlistener.security.protocol.map=OTHER:PLAINTEXT",
            "listeners=PLAINTEXT://0.0.0.0:9092",
            "listeners=PLAINTEXT://:9092\nadvertised.listeners=OTHER://h:1",
            "listeners=PLAINTEXT//:9092",
            "listeners=PLAINTEXT://:9092,A://:9093,B://:9094\ncontroller.listener.names=A,B",
            "listeners=SASL_PLAINTEXT://:9093",
            "listeners=SASL_PLAINTEXT://:9093\nsasl.enabled.mechanisms=GSSAPI",
            "listeners=CLIENT://:9092\nlistener.security.protocol.map=CLIENT:TLS",
        ] {
            assert!(file_config(settings(text)).is_err(), "{text}");
        }
        let (file, _) = file_config(settings(
            "listeners=CLIENT://0.0.0.0:9092\nlistener.security.protocol.map=CLIENT:PLAINTEXT\n\
             advertised.listeners=CLIENT://[::1]:9092",
        ))
        .unwrap();
        assert_eq!(file.listen, Some("0.0.0.0:9092".parse().unwrap()));
        assert_eq!(file.advertised_listener.as_deref(), Some("[::1]:9092"));
        // An empty host binds every interface; clients are told this machine's name.
        let (file, _) = file_config(settings("listeners=PLAINTEXT://:9092")).unwrap();
        assert_eq!(file.listen, Some("0.0.0.0:9092".parse().unwrap()));
        assert!(!file.advertised_listener.unwrap().starts_with(':'));
    }

    #[test]
    fn several_listeners_each_with_its_protocol_address_and_users() {
        let (file, notices) = file_config(settings(
            "listeners=PLAINTEXT://127.0.0.1:9092,sasl_plaintext://0.0.0.0:9093,CONTROLLER://:9094\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://kafka.example.com:19093\n\
             controller.listener.names=CONTROLLER\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT\n\
             listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"a\";\n\
             connection.failed.authentication.delay.ms=1000\n",
        ))
        .unwrap();
        assert!(notices.is_empty(), "{notices:?}");
        let listeners = file.listeners.unwrap();
        let summary: Vec<(&str, SecurityProtocol, String, String)> = listeners
            .iter()
            .map(|l| {
                (
                    l.name.as_str(),
                    l.protocol,
                    l.bind.to_string(),
                    l.advertised(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "PLAINTEXT",
                    SecurityProtocol::Plaintext,
                    "127.0.0.1:9092".to_string(),
                    "127.0.0.1:9092".to_string()
                ),
                (
                    "SASL_PLAINTEXT",
                    SecurityProtocol::SaslPlaintext,
                    "0.0.0.0:9093".to_string(),
                    "kafka.example.com:19093".to_string()
                ),
            ]
        );
        let sasl = listeners[1].sasl.as_ref().unwrap();
        assert_eq!(sasl.plain_users["alice"], "a");
        assert!(listeners[0].sasl.is_none() && listeners[0].is_unauthenticated());
        assert!(!listeners[1].is_unauthenticated());
        assert_eq!(file.failed_authentication_delay_ms, Some(1000));
        assert_eq!(file.listen, Some("127.0.0.1:9092".parse().unwrap()));
        assert_eq!(file.raft_listen, Some("0.0.0.0:9094".parse().unwrap()));
    }

    #[test]
    fn a_quorum_of_voters_needs_the_peers() {
        let voters = "controller.quorum.voters=1@a:9093,2@b:9093\n";
        assert!(file_config(settings(voters)).is_err());
        let with_peers = format!("{voters}kbroker.peers=1@a:9092/a:9093,2@b:9092/b:9093");
        let (file, _) = file_config(settings(&with_peers)).unwrap();
        assert_eq!(
            file.peers.as_deref(),
            Some("1@a:9092/a:9093,2@b:9092/b:9093")
        );
        assert!(file_config(settings("controller.quorum.voters=1@a:9093")).is_ok());
    }

    #[test]
    fn the_standard_authorizer_with_super_users() {
        let authorizer = |text: &str| file_config(settings(text)).map(|(file, _)| file.authorizer);
        assert_eq!(authorizer("super.users=User:admin").unwrap(), None);
        let on = authorizer(
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n\
             super.users=User:admin; User:ANONYMOUS\n\
             allow.everyone.if.no.acl.found=true",
        )
        .unwrap()
        .unwrap();
        assert_eq!(on.super_users, ["User:admin", "User:ANONYMOUS"]);
        assert!(on.allow_everyone_if_no_acl_found);
        let default = authorizer(
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        )
        .unwrap()
        .unwrap();
        assert!(default.super_users.is_empty() && !default.allow_everyone_if_no_acl_found);
        assert!(
            authorizer("authorizer.class.name=kafka.security.authorizer.AclAuthorizer").is_err()
        );
    }

    #[test]
    fn an_ssl_controller_listener_makes_the_cluster_transport_mutual_tls() {
        let testdata = concat!(env!("CARGO_MANIFEST_DIR"), "/src/cluster/testdata");
        let base = format!(
            "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093\n\
             controller.listener.names=CONTROLLER\n\
             listener.name.controller.ssl.keystore.type=PEM\n\
             listener.name.controller.ssl.keystore.location={testdata}/node.pem\n\
             listener.name.controller.ssl.truststore.type=PEM\n\
             listener.name.controller.ssl.truststore.location={testdata}/cluster-ca.pem\n"
        );
        let config = |extra: &str| file_config(settings(&format!("{base}{extra}")));

        // PLAINTEXT, named or not: no TLS.
        let (file, _) = config("").unwrap();
        assert!(file.cluster_tls.is_none());
        let (file, _) =
            config("listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n")
                .unwrap();
        assert!(file.cluster_tls.is_none());

        let ssl = "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SSL\n";
        let (file, _) = config(ssl).unwrap();
        let tls = file.cluster_tls.unwrap();
        assert_eq!(tls.listener, "CONTROLLER");
        assert_eq!(tls.tls.client_auth, security::ClientAuth::Required);
        assert!(tls.verify_hostname);
        assert!(!tls.tls.truststore_pem.is_empty());
        // A broker-wide ssl.client.auth is the client listeners' business.
        let (file, _) = config(&format!("{ssl}ssl.client.auth=none\n")).unwrap();
        assert!(file.cluster_tls.is_some());
        let (file, _) = config(&format!(
            "{ssl}listener.name.controller.ssl.endpoint.identification.algorithm=\n"
        ))
        .unwrap();
        assert!(!file.cluster_tls.unwrap().verify_hostname);

        for (extra, why) in [
            (
                "listener.name.controller.ssl.client.auth=requested\n",
                "must be required",
            ),
            (
                "listener.name.controller.ssl.truststore.location=/nonexistent.pem\n",
                "/nonexistent.pem",
            ),
            (
                "listener.name.controller.ssl.endpoint.identification.algorithm=ldap\n",
                "not https or empty",
            ),
        ] {
            let error = config(&format!("{ssl}{extra}")).unwrap_err().to_string();
            assert!(error.contains(why), "{extra}: {error}");
        }
        let error =
            config("listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_SSL\n")
                .unwrap_err()
                .to_string();
        assert!(error.contains("PLAINTEXT or SSL"), "{error}");
    }
}
