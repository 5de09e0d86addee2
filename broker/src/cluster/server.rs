//! The internal listener: other nodes' Raft RPCs come in here. Each request runs in its own
//! task, so a slow group never holds up another; responses queued meanwhile leave in one write.

use std::sync::Arc;

use bytes::BytesMut;
use futures::StreamExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;

use super::router::Router;
use super::wire::{self, Frame, Request, Response};
use super::{write_coalesced, FRAME_BYTES_MAX};

pub async fn serve(listener: TcpListener, router: Arc<Router>, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                tracing::debug!(%peer, "peer connected");
                tokio::spawn(serve_connection(stream, router.clone(), shutdown.clone()));
            }
            Err(error) => {
                tracing::warn!(%error, "internal accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_connection(stream: TcpStream, router: Arc<Router>, shutdown: CancellationToken) {
    let (read_half, write_half) = stream.into_split();
    let (responses, outgoing) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_responses(write_half, outgoing));
    let codec = LengthDelimitedCodec::builder()
        .max_frame_length(FRAME_BYTES_MAX)
        .new_codec();
    let mut frames = FramedRead::new(read_half, codec);
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = frames.next() => next,
        };
        let bytes = match next {
            Some(Ok(bytes)) => bytes,
            Some(Err(error)) => {
                tracing::warn!(%error, "bad frame from peer; closing");
                break;
            }
            None => break,
        };
        let responses = responses.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let (id, body) = match wire::decode::<Request>(&bytes) {
                Ok(Frame { id, body }) => (id, router.handle(body).await),
                Err(error) => (0, Response::Malformed(error.to_string())),
            };
            match wire::encode(&Frame { id, body }) {
                Ok(frame) => {
                    let _ = responses.send(frame);
                }
                Err(error) => tracing::error!(%error, "encoding a response to a peer"),
            }
        });
    }
    drop(responses);
    let _ = writer.await;
}

async fn write_responses(
    mut write_half: tokio::net::tcp::OwnedWriteHalf,
    mut outgoing: mpsc::UnboundedReceiver<bytes::Bytes>,
) {
    let mut buffer = BytesMut::new();
    while let Some(first) = outgoing.recv().await {
        if write_coalesced(&mut write_half, &mut buffer, first, &mut outgoing)
            .await
            .is_err()
        {
            return;
        }
    }
}
