//! A Kafka-compatible broker: Kafka's wire protocol in front, a Raft group per partition, and
//! the Raft log stored in RocksDB as the partition log.

pub mod cluster;
pub mod config;
pub mod fuzzing;
pub mod group;
pub mod handlers;
pub mod metadata;
pub mod metrics;
pub mod metrics_http;
pub mod metrics_scrape;
pub mod node;
pub mod partition;
pub mod protocol;
pub mod raft;
pub mod replicas;
pub mod security;
pub mod server;
pub mod storage;
pub mod txn;
