//! Group commit: one thread owns durable writes. Appends from every partition that arrive while
//! the previous sync runs are written together and share one WAL fsync.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rocksdb::{WriteBatch, WriteOptions, DB};
use tokio_util::sync::CancellationToken;

use crate::config::FlushPolicy;

/// Called once the batch is durable (or failed). Runs on the writer thread: keep it short.
pub type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;

struct WriteRequest {
    batch: WriteBatch,
    done: Completion,
}

/// Upper bound on batches merged into one sync, so one slow group cannot starve the next.
const GROUP_BATCHES_MAX: usize = 4096;

pub struct Writer {
    sender: Option<mpsc::Sender<WriteRequest>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Writer {
    /// `failed` is cancelled by the first durable write that fails (see `Store::failed`).
    pub fn start(
        db: Arc<DB>,
        policy: FlushPolicy,
        flush_interval_ms: u64,
        failed: CancellationToken,
    ) -> Writer {
        let (sender, receiver) = mpsc::channel::<WriteRequest>();
        let loop_db = db.clone();
        let loop_failed = failed.clone();
        let thread = thread::Builder::new()
            .name("storage-writer".into())
            .spawn(move || write_loop(loop_db, receiver, policy, loop_failed))
            .expect("spawning the storage writer thread");
        if policy == FlushPolicy::Interval {
            let weak = Arc::downgrade(&db);
            thread::Builder::new()
                .name("wal-syncer".into())
                .spawn(move || loop {
                    thread::sleep(Duration::from_millis(flush_interval_ms.max(1)));
                    let Some(db) = weak.upgrade() else { return };
                    if let Err(error) = sync_wal(&db) {
                        tracing::error!(%error, "periodic WAL sync failed");
                        failed.cancel();
                    }
                })
                .expect("spawning the WAL sync thread");
        }
        Writer {
            sender: Some(sender),
            thread: Some(thread),
        }
    }

    /// Queue a batch; `done` runs once it is durable under the flush policy.
    pub fn submit(&self, batch: WriteBatch, done: Completion) {
        let request = WriteRequest { batch, done };
        let Some(sender) = &self.sender else {
            return (request.done)(Err("storage writer stopped".into()));
        };
        if let Err(mpsc::SendError(request)) = sender.send(request) {
            (request.done)(Err("storage writer stopped".into()));
        }
    }

    /// Write and wait (for small, rare records such as votes).
    pub async fn write(&self, batch: WriteBatch) -> Result<(), String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(
            batch,
            Box::new(move |result| {
                let _ = tx.send(result);
            }),
        );
        rx.await
            .unwrap_or_else(|_| Err("storage writer dropped a request".into()))
    }
}

impl Drop for Writer {
    /// Finishes queued writes and joins the thread, so RocksDB is closed before the process
    /// exits (RocksDB aborts if its threads are still running during exit).
    fn drop(&mut self) {
        drop(self.sender.take());
        if let Some(thread) = self.thread.take() {
            if thread.thread().id() != thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

fn write_loop(
    db: Arc<DB>,
    receiver: mpsc::Receiver<WriteRequest>,
    policy: FlushPolicy,
    failed: CancellationToken,
) {
    let mut group: Vec<WriteRequest> = Vec::with_capacity(64);
    let mut unsynced = WriteOptions::default();
    unsynced.set_sync(false);
    // Blocks until the first request; then takes whatever else is already queued.
    while let Ok(first) = receiver.recv() {
        group.push(first);
        while group.len() < GROUP_BATCHES_MAX {
            match receiver.try_recv() {
                Ok(request) => group.push(request),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let mut result = Ok(());
        let mut completions = Vec::with_capacity(group.len());
        for request in group.drain(..) {
            if result.is_ok() {
                result = db
                    .write_opt(request.batch, &unsynced)
                    .map_err(|e| format!("rocksdb write: {e}"));
            }
            completions.push(request.done);
        }
        if result.is_ok() && policy == FlushPolicy::Fsync {
            result = sync_wal(&db).map_err(|e| format!("rocksdb WAL sync: {e}"));
        }
        metrics::histogram!("broker_storage_group_commit_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::histogram!("broker_storage_group_commit_writes").record(completions.len() as f64);
        if let Err(error) = &result {
            tracing::error!(%error, "durable write failed");
            failed.cancel();
        }
        for done in completions {
            done(result.clone());
        }
    }
}

fn sync_wal(db: &DB) -> Result<(), rocksdb::Error> {
    let started = Instant::now();
    let result = db.flush_wal(true);
    metrics::histogram!("broker_storage_wal_sync_seconds").record(started.elapsed().as_secs_f64());
    result
}
