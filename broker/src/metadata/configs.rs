//! Topic and broker config keys the broker knows, with Kafka's defaults and types.
//! Overrides are stored in metadata; everything else reads as the default.

/// DescribeConfigs config_type values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
    Double = 6,
    List = 7,
}

pub struct ConfigDef {
    pub name: &'static str,
    pub default: &'static str,
    pub kind: ConfigType,
    /// Broker configs only: whether IncrementalAlterConfigs may change it at runtime.
    pub dynamic: bool,
}

const fn def(name: &'static str, default: &'static str, kind: ConfigType) -> ConfigDef {
    ConfigDef {
        name,
        default,
        kind,
        dynamic: true,
    }
}

pub const TOPIC_CONFIGS: &[ConfigDef] = &[
    def("cleanup.policy", "delete", ConfigType::List),
    def("compression.type", "producer", ConfigType::String),
    def("delete.retention.ms", "86400000", ConfigType::Long),
    def("file.delete.delay.ms", "60000", ConfigType::Long),
    def("flush.messages", "9223372036854775807", ConfigType::Long),
    def("flush.ms", "9223372036854775807", ConfigType::Long),
    // Replication throttles: stored and described (kafka-reassign-partitions sets and clears
    // them), not enforced: replication is not throttled here.
    def(
        "follower.replication.throttled.replicas",
        "",
        ConfigType::List,
    ),
    def("index.interval.bytes", "4096", ConfigType::Int),
    def(
        "leader.replication.throttled.replicas",
        "",
        ConfigType::List,
    ),
    def(
        "max.compaction.lag.ms",
        "9223372036854775807",
        ConfigType::Long,
    ),
    def("max.message.bytes", "1048588", ConfigType::Int),
    def(
        "message.timestamp.after.max.ms",
        "3600000",
        ConfigType::Long,
    ),
    def(
        "message.timestamp.before.max.ms",
        "9223372036854775807",
        ConfigType::Long,
    ),
    def("message.timestamp.type", "CreateTime", ConfigType::String),
    def("min.cleanable.dirty.ratio", "0.5", ConfigType::Double),
    def("min.compaction.lag.ms", "0", ConfigType::Long),
    def("min.insync.replicas", "1", ConfigType::Int),
    def("preallocate", "false", ConfigType::Boolean),
    def("retention.bytes", "-1", ConfigType::Long),
    def("retention.ms", "604800000", ConfigType::Long),
    def("segment.bytes", "1073741824", ConfigType::Int),
    def("segment.index.bytes", "10485760", ConfigType::Int),
    def("segment.jitter.ms", "0", ConfigType::Long),
    def("segment.ms", "604800000", ConfigType::Long),
    def(
        "unclean.leader.election.enable",
        "false",
        ConfigType::Boolean,
    ),
];

const fn fixed(name: &'static str, default: &'static str, kind: ConfigType) -> ConfigDef {
    ConfigDef {
        name,
        default,
        kind,
        dynamic: false,
    }
}

pub const BROKER_CONFIGS: &[ConfigDef] = &[
    fixed("auto.create.topics.enable", "true", ConfigType::Boolean),
    def("compression.type", "producer", ConfigType::String),
    fixed("default.replication.factor", "1", ConfigType::Int),
    // Replication throttles, as the topic ones above: stored and described, not enforced.
    def(
        "follower.replication.throttled.rate",
        "9223372036854775807",
        ConfigType::Long,
    ),
    def(
        "leader.replication.throttled.rate",
        "9223372036854775807",
        ConfigType::Long,
    ),
    def(
        "log.cleaner.delete.retention.ms",
        "86400000",
        ConfigType::Long,
    ),
    def(
        "log.cleaner.max.compaction.lag.ms",
        "9223372036854775807",
        ConfigType::Long,
    ),
    def("log.cleaner.min.cleanable.ratio", "0.5", ConfigType::Double),
    def("log.cleaner.min.compaction.lag.ms", "0", ConfigType::Long),
    def("log.cleanup.policy", "delete", ConfigType::List),
    def("log.retention.bytes", "-1", ConfigType::Long),
    def("log.retention.ms", "604800000", ConfigType::Long),
    def("log.roll.ms", "604800000", ConfigType::Long),
    def("log.segment.bytes", "1073741824", ConfigType::Int),
    def("message.max.bytes", "1048588", ConfigType::Int),
    def("min.insync.replicas", "1", ConfigType::Int),
    fixed("num.partitions", "1", ConfigType::Int),
    def("producer.id.expiration.ms", "86400000", ConfigType::Int),
    fixed("offsets.retention.minutes", "10080", ConfigType::Int),
    def(
        "replica.alter.log.dirs.io.max.bytes.per.second",
        "9223372036854775807",
        ConfigType::Long,
    ),
    fixed("socket.request.max.bytes", "104857600", ConfigType::Int),
    fixed(
        "transaction.remove.expired.transaction.cleanup.interval.ms",
        "3600000",
        ConfigType::Int,
    ),
    fixed(
        "transactional.id.expiration.ms",
        "604800000",
        ConfigType::Int,
    ),
];

pub fn topic_config(name: &str) -> Option<&'static ConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

pub fn broker_config(name: &str) -> Option<&'static ConfigDef> {
    BROKER_CONFIGS.iter().find(|d| d.name == name)
}

/// Checks a value against its type; the error is the message for INVALID_CONFIG.
pub fn validate(def: &ConfigDef, value: &str) -> Result<(), String> {
    let ok = match def.kind {
        ConfigType::Boolean => value == "true" || value == "false",
        ConfigType::Int => value.parse::<i32>().is_ok(),
        ConfigType::Long => value.parse::<i64>().is_ok(),
        ConfigType::Double => value.parse::<f64>().is_ok(),
        ConfigType::String | ConfigType::List => true,
    };
    if !ok {
        return Err(format!(
            "Invalid value {value} for configuration {}",
            def.name
        ));
    }
    match def.name {
        "cleanup.policy" | "log.cleanup.policy" => value
            .split(',')
            .map(str::trim)
            .all(|p| p == "delete" || p == "compact")
            .then_some(())
            .ok_or_else(|| format!("Invalid value {value} for configuration {}", def.name)),
        "message.timestamp.type" => matches!(value, "CreateTime" | "LogAppendTime")
            .then_some(())
            .ok_or_else(|| {
                format!("Invalid value {value} for configuration message.timestamp.type")
            }),
        "compression.type" => matches!(
            value,
            "producer" | "uncompressed" | "gzip" | "snappy" | "lz4" | "zstd"
        )
        .then_some(())
        .ok_or_else(|| format!("Invalid value {value} for configuration compression.type")),
        "min.cleanable.dirty.ratio" | "log.cleaner.min.cleanable.ratio" => value
            .parse::<f64>()
            .is_ok_and(|ratio| (0.0..=1.0).contains(&ratio))
            .then_some(())
            .ok_or_else(|| format!("Invalid value {value} for configuration {}: Value must be no less than 0 and no more than 1", def.name)),
        "min.compaction.lag.ms"
        | "delete.retention.ms"
        | "log.cleaner.min.compaction.lag.ms"
        | "log.cleaner.delete.retention.ms" => at_least(def, value, 0),
        "max.compaction.lag.ms" | "segment.ms" | "log.cleaner.max.compaction.lag.ms" | "log.roll.ms" => {
            at_least(def, value, 1)
        }
        // Kafka 4's minimum (segment files are 1 MiB at least); segments are virtual here.
        "segment.bytes" | "log.segment.bytes" => at_least(def, value, 1024 * 1024),
        "min.insync.replicas" | "max.message.bytes" | "message.max.bytes" => {
            (value.parse::<i64>().unwrap_or(0) >= 1)
                .then_some(())
                .ok_or_else(|| format!("Invalid value {value} for configuration {}", def.name))
        }
        _ => Ok(()),
    }
}

/// Kafka's `atLeast` validator, with its message.
fn at_least(def: &ConfigDef, value: &str, min: i64) -> Result<(), String> {
    match value.parse::<i64>() {
        Ok(number) if number >= min => Ok(()),
        _ => Err(format!(
            "Invalid value {value} for configuration {}: Value must be at least {min}",
            def.name
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_types_and_enums() {
        let retention = topic_config("retention.ms").unwrap();
        assert!(validate(retention, "1000").is_ok());
        assert!(validate(retention, "soon").is_err());
        let policy = topic_config("cleanup.policy").unwrap();
        assert!(validate(policy, "compact,delete").is_ok());
        assert!(validate(policy, "shred").is_err());
        assert!(topic_config("no.such.config").is_none());
        assert!(validate(topic_config("max.message.bytes").unwrap(), "0").is_err());
        let ratio = topic_config("min.cleanable.dirty.ratio").unwrap();
        assert!(validate(ratio, "0.01").is_ok());
        assert!(validate(ratio, "1.5").is_err());
        assert!(validate(topic_config("segment.ms").unwrap(), "0").is_err());
        assert!(validate(topic_config("segment.ms").unwrap(), "1000").is_ok());
        assert!(validate(topic_config("delete.retention.ms").unwrap(), "-1").is_err());
        assert!(validate(topic_config("segment.bytes").unwrap(), "1024").is_err());
    }
}
