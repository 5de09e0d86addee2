//! The Kafka network server: accept loop, per-connection pipeline, request dispatch.

pub mod connection;
pub mod dispatch;
pub mod frames;
pub mod listener;
