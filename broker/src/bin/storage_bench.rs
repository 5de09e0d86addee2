//! Baseline for `scripts/bench`: the raw append rate of the storage layer alone, no network,
//! no Raft. Opens a [`Store`] exactly as the broker does (same RocksDB options, same
//! group-commit [`broker::storage::Writer`], same flush policy) and appends Raft-log entries
//! shaped like the broker's (`codec` header + a record batch of `--batch-bytes`) to
//! `--partitions` groups, keeping `--inflight-per-partition` appends outstanding per group
//! (the Java producer's `max.in.flight.requests.per.connection` is 5).
//!
//! Prints one `BENCH storage ...` line: batches/s, MB/s of batch bytes and of record payload,
//! and the submit -> durable latency of one append.

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use broker::config::FlushPolicy;
use broker::raft::codec::HEADER_LEN;
use broker::storage::keys::log_key;
use broker::storage::{Store, CF_LOG};
use clap::Parser;
use rocksdb::WriteBatch;

#[derive(Parser, Debug)]
struct Args {
    /// Directory for the RocksDB (created; removed afterwards unless --keep).
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value_t = 8)]
    partitions: u64,
    /// Bytes of one record batch (what the broker stores per produce request and partition).
    #[arg(long, default_value_t = 16384)]
    batch_bytes: u32,
    /// Record payload bytes in one batch (for the payload MB/s figure); default: batch bytes.
    #[arg(long)]
    payload_bytes: Option<u32>,
    #[arg(long, default_value_t = 5)]
    inflight_per_partition: u32,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, value_enum, default_value_t = FlushPolicy::Fsync)]
    flush_policy: FlushPolicy,
    /// Offered load in batches/s across all partitions (0: closed loop, as fast as it goes,
    /// keeping `--inflight-per-partition` outstanding).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    #[arg(long)]
    keep: bool,
}

/// One completed append: its group and when it was submitted.
type Done = (u64, Instant);

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.partitions >= 1 && args.partitions <= 100_000,
        "partitions"
    );
    anyhow::ensure!(
        args.batch_bytes >= 1 && args.batch_bytes <= 64 << 20,
        "batch bytes"
    );
    anyhow::ensure!(args.inflight_per_partition >= 1, "inflight per partition");
    std::fs::create_dir_all(&args.dir)?;
    let store = Arc::new(Store::open(&args.dir, args.flush_policy, 100)?);
    let entry = entry_bytes(args.batch_bytes);
    let (latencies_us, batches, elapsed) = if args.rate > 0.0 {
        run_paced(&store, &args, &entry)
    } else {
        run(&store, &args, &entry)
    };
    drop(store);
    if !args.keep {
        std::fs::remove_dir_all(&args.dir)?;
    }
    report(&args, latencies_us, batches, elapsed);
    Ok(())
}

/// An encoded append entry: term 1, leader 1, kind append, then the batch bytes.
fn entry_bytes(batch_bytes: u32) -> Vec<u8> {
    let mut entry = Vec::with_capacity(HEADER_LEN + batch_bytes as usize);
    entry.extend_from_slice(&1u64.to_be_bytes());
    entry.extend_from_slice(&1u64.to_be_bytes());
    entry.push(1);
    // Uppercase letters, like kafka-producer-perf-test's payload (RocksDB compression is off
    // for the log column family anyway).
    entry.extend((0..batch_bytes).map(|i| b'A' + (i.wrapping_mul(2_654_435_761) >> 7) as u8 % 26));
    assert_eq!(entry.len(), HEADER_LEN + batch_bytes as usize);
    entry
}

fn submit(store: &Store, group: u64, index: u64, entry: &[u8], done: &mpsc::Sender<Done>) {
    submit_at(store, group, index, entry, done, Instant::now());
}

fn submit_at(
    store: &Store,
    group: u64,
    index: u64,
    entry: &[u8],
    done: &mpsc::Sender<Done>,
    submitted: Instant,
) {
    let mut batch = WriteBatch::default();
    batch.put_cf(store.cf(CF_LOG), log_key(group, index), entry);
    let done = done.clone();
    store.writer.submit(
        batch,
        Box::new(move |result| {
            result.expect("benchmark append failed");
            let _ = done.send((group, submitted));
        }),
    );
}

/// Keeps the window full for `seconds`, then drains it. Returns latencies, batches, elapsed.
fn run(store: &Store, args: &Args, entry: &[u8]) -> (Vec<u32>, u64, Duration) {
    let (done_sender, done_receiver) = mpsc::channel::<Done>();
    let mut next_index = vec![1u64; args.partitions as usize];
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut outstanding = 0u64;
    for group in 1..=args.partitions {
        for _ in 0..args.inflight_per_partition {
            let slot = &mut next_index[(group - 1) as usize];
            submit(store, group, *slot, entry, &done_sender);
            *slot += 1;
            outstanding += 1;
        }
    }
    let mut latencies_us = Vec::with_capacity(1 << 20);
    while outstanding > 0 {
        let (group, submitted) = done_receiver
            .recv_timeout(Duration::from_secs(60))
            .expect("an append completes within 60 s");
        outstanding -= 1;
        latencies_us.push(submitted.elapsed().as_micros().min(u32::MAX as u128) as u32);
        if Instant::now() < deadline {
            let slot = &mut next_index[(group - 1) as usize];
            submit(store, group, *slot, entry, &done_sender);
            *slot += 1;
            outstanding += 1;
        }
    }
    let batches = latencies_us.len() as u64;
    assert_eq!(batches, next_index.iter().map(|n| n - 1).sum::<u64>());
    (latencies_us, batches, started.elapsed())
}

/// Submits batch k at start + k / rate (round robin over the partitions) for `seconds`, so the
/// latency is that of an open-loop offered load, measured from the scheduled submit time.
fn run_paced(store: &Store, args: &Args, entry: &[u8]) -> (Vec<u32>, u64, Duration) {
    let (done_sender, done_receiver) = mpsc::channel::<Done>();
    let total = (args.rate * args.seconds as f64) as u64;
    let started = Instant::now();
    let mut latencies_us = Vec::with_capacity(total as usize);
    for k in 0..total {
        let scheduled = started + Duration::from_secs_f64(k as f64 / args.rate);
        while let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
            match done_receiver.recv_timeout(wait) {
                Ok((_, submitted)) => latencies_us.push(micros(submitted.elapsed())),
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => unreachable!("we hold a sender"),
            }
        }
        let group = 1 + k % args.partitions;
        submit_at(
            store,
            group,
            1 + k / args.partitions,
            entry,
            &done_sender,
            scheduled,
        );
    }
    while (latencies_us.len() as u64) < total {
        let (_, submitted) = done_receiver
            .recv_timeout(Duration::from_secs(60))
            .expect("an append completes within 60 s");
        latencies_us.push(micros(submitted.elapsed()));
    }
    (latencies_us, total, started.elapsed())
}

fn micros(elapsed: Duration) -> u32 {
    elapsed.as_micros().min(u32::MAX as u128) as u32
}

fn percentile_ms(sorted_us: &[u32], fraction: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((sorted_us.len() as f64 * fraction).ceil() as usize).clamp(1, sorted_us.len());
    sorted_us[rank - 1] as f64 / 1000.0
}

fn report(args: &Args, mut latencies_us: Vec<u32>, batches: u64, elapsed: Duration) {
    latencies_us.sort_unstable();
    let seconds = elapsed.as_secs_f64();
    let payload_bytes = args.payload_bytes.unwrap_or(args.batch_bytes) as f64;
    println!(
        "BENCH storage partitions={} batch_bytes={} payload_bytes={} inflight={} rate={} flush={:?} \
         seconds={:.2} batches={} batches_per_s={:.0} batch_mb_s={:.1} payload_mb_s={:.1} \
         append_p50_ms={:.2} append_p99_ms={:.2} append_p999_ms={:.2} append_max_ms={:.2}",
        args.partitions,
        args.batch_bytes,
        payload_bytes,
        args.inflight_per_partition,
        args.rate,
        args.flush_policy,
        seconds,
        batches,
        batches as f64 / seconds,
        batches as f64 * args.batch_bytes as f64 / seconds / 1e6,
        batches as f64 * payload_bytes / seconds / 1e6,
        percentile_ms(&latencies_us, 0.50),
        percentile_ms(&latencies_us, 0.99),
        percentile_ms(&latencies_us, 0.999),
        percentile_ms(&latencies_us, 1.0),
    );
}
