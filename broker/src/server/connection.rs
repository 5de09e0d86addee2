//! One client connection. Requests are read and dispatched in order; each dispatch returns a
//! future for its response, and those futures are awaited and written strictly in request
//! order. Produce does its ordering-sensitive work (queuing batches) inside dispatch, so a
//! producer may pipeline requests while its batches still land in order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::dispatch::{self, PendingResponse};
use super::frames::{FrameReader, RequestBudget, Reservation};
use crate::handlers::Ctx;
use crate::security::Session;

/// Serves one connection through its two halves: a plain TCP socket's own (zero-cost) halves,
/// or a TLS stream's. Generic, so the plaintext path is compiled for TcpStream's halves alone.
pub async fn serve<R, W>(
    read_half: R,
    mut write_half: W,
    session: Arc<Session>,
    ctx: Arc<Ctx>,
    budget: Arc<RequestBudget>,
    shutdown: CancellationToken,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let peer = session.peer;
    let mut frames = FrameReader::new(read_half, ctx.config.request_bytes_max as usize, budget);
    let (pending_tx, mut pending_rx) =
        mpsc::channel::<(PendingResponse, Reservation)>(ctx.config.connection_inflight_max);
    let activity = Arc::new(Activity::new());
    let writer_activity = activity.clone();

    let writer = tokio::spawn(async move {
        while let Some((pending, reservation)) = pending_rx.recv().await {
            let answered = pending.await;
            // The request's bytes (which produce batches borrow) are no longer held.
            drop(reservation);
            writer_activity.answered();
            let response = match answered {
                Ok(Some(response)) => response,
                Ok(None) => continue,
                Err(error) => {
                    // A bug on our side; the client would wait forever for a response we cannot
                    // send, so close the connection instead.
                    tracing::error!(%error, "closing connection");
                    break;
                }
            };
            // The frame is complete, length prefix included (dispatch::encode).
            if let Err(error) = write_half.write_all(&response).await {
                tracing::debug!(%error, "writing response");
                break;
            }
        }
        // Handed back, not dropped: dropping it ends our side of the connection.
        write_half
    });

    let idle_max = Duration::from_millis(ctx.config.connections_max_idle_ms);
    loop {
        let frame = tokio::select! {
            _ = shutdown.cancelled() => break,
            frame = frames.next() => frame.transpose(),
            _ = tokio::time::sleep_until(activity.next_check(idle_max)) => {
                if activity.is_idle(idle_max) {
                    tracing::debug!(%peer, "closing connection: connections.max.idle.ms");
                    crate::metrics::connection_idle_closed();
                    break;
                }
                continue;
            }
        };
        let frame = match frame {
            None => break,
            Some(Ok(frame)) => frame,
            Some(Err(error)) => {
                tracing::info!(%peer, %error, "closing connection: bad frame");
                break;
            }
        };
        activity.requested();
        match dispatch::dispatch(&ctx, &session, frame.bytes) {
            Ok(pending) => {
                // Bounded: a client that pipelines faster than we answer waits here.
                if pending_tx.send((pending, frame.reservation)).await.is_err() {
                    break;
                }
                if session.is_closing() {
                    // A failed authentication: its answer is the last.
                    break;
                }
            }
            Err(error) => {
                tracing::info!(%peer, %error, "closing connection: malformed request");
                break;
            }
        }
    }
    // Answer what was already accepted, then close.
    drop(pending_tx);
    let write_half = writer.await;
    if session.is_closing() {
        // A failed authentication's answer is written; keep the connection (both ways) a
        // bounded while for the client to close it first. Some clients (kafka-python) fail
        // every pending request as soon as they see the end of the stream, even one whose
        // answer arrived with it, and would not learn why they were refused.
        let drained = async { while let Ok(Some(_)) = frames.next().await {} };
        let _ = tokio::time::timeout(CLOSE_LINGER, drained).await;
    }
    drop(write_half);
}

/// How long a connection whose authentication failed stays open after its last answer.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// When the connection last did something, for connections.max.idle.ms: a connection is idle
/// when it owes no response and has neither read a request nor written a response for that long
/// (a long-polling Fetch keeps it busy).
struct Activity {
    started: tokio::time::Instant,
    /// Milliseconds since `started` of the last request read or response written.
    last_ms: AtomicU64,
    /// Requests read minus requests answered (or dropped: acks=0).
    owed: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            started: tokio::time::Instant::now(),
            last_ms: AtomicU64::new(0),
            owed: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn requested(&self) {
        self.owed.fetch_add(1, Ordering::AcqRel);
        self.last_ms.store(self.now_ms(), Ordering::Release);
    }

    fn answered(&self) {
        let before = self.owed.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(before > 0, "more responses than requests");
        self.last_ms.store(self.now_ms(), Ordering::Release);
    }

    fn idle_deadline(&self, idle_max: Duration) -> tokio::time::Instant {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Acquire));
        self.started + last + idle_max
    }

    /// When to look again: while a response is owed, not before a whole idle period.
    fn next_check(&self, idle_max: Duration) -> tokio::time::Instant {
        if self.owed.load(Ordering::Acquire) > 0 {
            return tokio::time::Instant::now() + idle_max;
        }
        self.idle_deadline(idle_max)
    }

    fn is_idle(&self, idle_max: Duration) -> bool {
        self.owed.load(Ordering::Acquire) == 0
            && tokio::time::Instant::now() >= self.idle_deadline(idle_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_only_without_owed_responses_and_after_the_last_activity() {
        let idle_max = Duration::from_millis(100);
        let pause = || tokio::time::sleep(Duration::from_millis(150));
        let activity = Activity::new();
        assert!(!activity.is_idle(idle_max));
        pause().await;
        assert!(activity.is_idle(idle_max));
        activity.requested();
        pause().await;
        assert!(!activity.is_idle(idle_max), "a response is still owed");
        assert!(activity.next_check(idle_max) > tokio::time::Instant::now());
        activity.answered();
        assert!(!activity.is_idle(idle_max), "just answered");
        pause().await;
        assert!(activity.is_idle(idle_max));
    }
}
