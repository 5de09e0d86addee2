//! The internal listener: other nodes' Raft RPCs come in here. Each request runs in its own
//! task, so a slow group never holds up another; responses queued meanwhile leave in one write.
//! A connection has at most PEER_REQUESTS_INFLIGHT_MAX requests between read and written
//! response, so a flooding peer meets TCP backpressure instead of growing tasks and queues.
//! With cluster TLS a connection is served only after its handshake proved a certificate of
//! the cluster CA.

use std::sync::Arc;

use bytes::BytesMut;
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;

use super::router::Router;
use super::tls::ClusterTls;
use super::wire::{self, Frame, Request, Response};
use super::{write_coalesced, FRAME_BYTES_MAX, PEER_REQUESTS_INFLIGHT_MAX};

/// A response frame and the in-flight slot its request held, freed once it is written out.
struct Answer {
    frame: bytes::Bytes,
    _slot: OwnedSemaphorePermit,
}

impl AsRef<[u8]> for Answer {
    fn as_ref(&self) -> &[u8] {
        &self.frame
    }
}

pub async fn serve(
    listener: TcpListener,
    router: Arc<Router>,
    tls: Option<Arc<ClusterTls>>,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                tracing::debug!(%peer, "peer connected");
                tokio::spawn(authenticate(
                    stream,
                    peer,
                    tls.clone(),
                    router.clone(),
                    shutdown.clone(),
                ));
            }
            Err(error) => {
                tracing::warn!(%error, "internal accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Serves the connection, after the TLS handshake when the transport is secured.
async fn authenticate(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    tls: Option<Arc<ClusterTls>>,
    router: Arc<Router>,
    shutdown: CancellationToken,
) {
    let Some(tls) = tls else {
        let (read_half, write_half) = stream.into_split();
        return serve_connection(read_half, write_half, router, shutdown).await;
    };
    let handshake = tokio::select! {
        _ = shutdown.cancelled() => return,
        handshake = tls.accept(stream) => handshake,
    };
    match handshake {
        Ok(stream) => {
            let (read_half, write_half) = tokio::io::split(stream);
            serve_connection(read_half, write_half, router, shutdown).await;
        }
        Err(error) => {
            tracing::warn!(%peer, listener = %tls.listener, %error,
                "refusing a connection to the Raft port: no certificate of the cluster CA");
            crate::metrics::tls_handshake_failed(&tls.listener);
        }
    }
}

async fn serve_connection(
    read_half: impl AsyncRead + Unpin,
    write_half: impl AsyncWrite + Send + Unpin + 'static,
    router: Arc<Router>,
    shutdown: CancellationToken,
) {
    let (responses, outgoing) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_responses(write_half, outgoing));
    let codec = LengthDelimitedCodec::builder()
        .max_frame_length(FRAME_BYTES_MAX)
        .new_codec();
    let mut frames = FramedRead::new(read_half, codec);
    let slots = Arc::new(Semaphore::new(PEER_REQUESTS_INFLIGHT_MAX));
    loop {
        let slot = tokio::select! {
            _ = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => slot.expect("the slots' semaphore is never closed"),
        };
        let next = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = frames.next() => next,
        };
        let bytes = match next {
            Some(Ok(bytes)) => bytes,
            // A TLS peer that ended without close_notify (killed, or stopping): a close.
            Some(Err(error)) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
                tracing::debug!(%error, "peer connection ended");
                break;
            }
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
                    let _ = responses.send(Answer { frame, _slot: slot });
                }
                Err(error) => tracing::error!(%error, "encoding a response to a peer"),
            }
        });
    }
    drop(responses);
    let _ = writer.await;
}

async fn write_responses(
    mut write_half: impl AsyncWrite + Unpin,
    mut outgoing: mpsc::UnboundedReceiver<Answer>,
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
