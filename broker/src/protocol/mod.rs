//! Kafka protocol constants the broker needs beyond what `kafka-protocol` defines.

pub mod error_codes;
