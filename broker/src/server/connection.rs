//! One client connection. Requests are read and dispatched in order; each dispatch returns a
//! future for its response, and those futures are awaited and written strictly in request
//! order. Produce does its ordering-sensitive work (queuing batches) inside dispatch, so a
//! producer may pipeline requests while its batches still land in order.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;

use super::dispatch::{self, PendingResponse};
use crate::handlers::Ctx;

pub async fn serve(
    socket: TcpStream,
    peer: SocketAddr,
    ctx: Arc<Ctx>,
    shutdown: CancellationToken,
) {
    let codec = || {
        LengthDelimitedCodec::builder()
            .length_field_type::<u32>()
            // Checked against the length prefix before any allocation: a negative i32 reads as a
            // huge u32 and fails here too.
            .max_frame_length(ctx.config.request_bytes_max as usize)
            .new_codec()
    };
    let (read_half, write_half) = socket.into_split();
    let mut frames = FramedRead::new(read_half, codec());
    let mut sink = FramedWrite::new(write_half, codec());
    let (pending_tx, mut pending_rx) =
        mpsc::channel::<PendingResponse>(ctx.config.connection_inflight_max);

    let writer = tokio::spawn(async move {
        while let Some(pending) = pending_rx.recv().await {
            let response = match pending.await {
                Ok(Some(response)) => response,
                Ok(None) => continue,
                Err(error) => {
                    // A bug on our side; the client would wait forever for a response we cannot
                    // send, so close the connection instead.
                    tracing::error!(%error, "closing connection");
                    break;
                }
            };
            if let Err(error) = sink.send(response.freeze()).await {
                tracing::debug!(%error, "writing response");
                break;
            }
        }
    });

    loop {
        let frame = tokio::select! {
            _ = shutdown.cancelled() => break,
            frame = frames.next() => frame,
        };
        let frame = match frame {
            None => break,
            Some(Ok(frame)) => frame,
            Some(Err(error)) => {
                tracing::info!(%peer, %error, "closing connection: bad frame");
                break;
            }
        };
        match dispatch::dispatch(&ctx, BytesMut::freeze(frame)) {
            Ok(pending) => {
                // Bounded: a client that pipelines faster than we answer waits here.
                if pending_tx.send(pending).await.is_err() {
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
    let _ = writer.await;
}
