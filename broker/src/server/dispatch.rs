//! Decodes one request frame, routes it to its handler, and encodes the response.
//!
//! `dispatch` itself is synchronous and runs in request order; the response is a future the
//! connection awaits in order. Anything the client sent that cannot be decoded is an error that
//! closes the connection (Kafka does the same), except an ApiVersions request of a version we
//! do not know, which gets UNSUPPORTED_VERSION with a v0 body so the client can retry lower.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};
use tracing::Instrument;

use crate::handlers::{self, Ctx};
use crate::security::Session;

/// The encoded response frame (its length prefix included); Ok(None) when the request gets no response (acks=0), Err
/// when our own response could not be encoded and the connection must close.
pub type PendingResponse =
    Pin<Box<dyn Future<Output = Result<Option<BytesMut>, EncodeError>> + Send>>;

#[derive(Debug, thiserror::Error)]
#[error("encoding {api_key:?} v{version} response: {message}")]
pub struct EncodeError {
    api_key: ApiKey,
    version: i16,
    message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("frame of {0} bytes is shorter than a request header")]
    Short(usize),
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
    #[error("{0:?} version {1} is not supported")]
    UnsupportedVersion(ApiKey, i16),
    #[error("cannot decode {0:?} v{1}: {2}")]
    Decode(ApiKey, i16, String),
    #[error("{0:?} before SASL authentication")]
    Unauthenticated(ApiKey),
}

/// What an unauthenticated connection of a SASL listener may send, as Kafka's
/// `SaslServerAuthenticator`: anything else closes it.
fn allowed_before_authentication(api_key: ApiKey) -> bool {
    matches!(
        api_key,
        ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate
    )
}

pub fn dispatch(
    ctx: &Arc<Ctx>,
    session: &Arc<Session>,
    mut frame: Bytes,
) -> Result<PendingResponse, DispatchError> {
    // One load of a set-once cell: the whole cost of authentication on an established
    // connection's hot path.
    if !session.is_authenticated() && session.expects_raw_token() {
        let reply = handlers::sasl::raw_token(ctx, session, frame);
        return Ok(Box::pin(async move { Ok(reply.await) }));
    }
    if frame.len() < 8 {
        return Err(DispatchError::Short(frame.len()));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api_key = ApiKey::try_from(raw_key).map_err(|_| DispatchError::UnknownApiKey(raw_key))?;
    let Some(spec) = handlers::supported(api_key) else {
        return Err(DispatchError::UnknownApiKey(raw_key));
    };
    if !session.is_authenticated() && !allowed_before_authentication(api_key) {
        return Err(DispatchError::Unauthenticated(api_key));
    }
    if !(spec.min..=spec.max).contains(&version) {
        if api_key == ApiKey::ApiVersions {
            let body =
                ResponseKind::ApiVersions(handlers::api_versions::unsupported_version_response());
            // Counted, so clients stuck on versions we lack show up as UnsupportedVersion errors.
            crate::metrics::record_request(
                api_key,
                std::time::Duration::ZERO,
                &body,
                handlers::error_codes,
            );
            let encoded = encode(correlation_id, api_key, 0, body).map(Some);
            return Ok(Box::pin(std::future::ready(encoded)));
        }
        return Err(DispatchError::UnsupportedVersion(api_key, version));
    }
    let decode_error = |e: anyhow::Error| DispatchError::Decode(api_key, version, e.to_string());
    let header = RequestHeader::decode(&mut frame, api_key.request_header_version(version))
        .map_err(decode_error)?;
    let request = RequestKind::decode(api_key, &mut frame, version).map_err(decode_error)?;
    if frame.has_remaining() {
        // Kafka ignores bytes after the body too; librdkafka 2.16 sends three with Metadata v13.
        tracing::debug!(
            ?api_key,
            version,
            trailing = frame.remaining(),
            "trailing request bytes ignored"
        );
    }
    let span = tracing::info_span!(
        "request",
        api = ?api_key,
        version,
        correlation_id,
        client_id = header.client_id.as_deref().unwrap_or(""),
    );
    let started = Instant::now();
    // In the span too: Produce does its validation and queuing synchronously, right here.
    let response = span.in_scope(|| handlers::handle(ctx, session, header, request));
    Ok(Box::pin(
        async move {
            let Some(response) = response.await else {
                return Ok(None);
            };
            let elapsed = started.elapsed();
            crate::metrics::record_request(api_key, elapsed, &response, handlers::error_codes);
            // A per-request access log at debug; the span adds api, version, client and
            // correlation id.
            tracing::debug!(elapsed_us = elapsed.as_micros() as u64, "answered");
            encode(correlation_id, api_key, version, response).map(Some)
        }
        .instrument(span),
    ))
}

fn encode(
    correlation_id: i32,
    api_key: ApiKey,
    version: i16,
    body: ResponseKind,
) -> Result<BytesMut, EncodeError> {
    let error = |message: String| EncodeError {
        api_key,
        version,
        message,
    };
    // The whole frame, length prefix included, in one allocation of about its size: Fetch
    // responses are mostly record batches, and growing a small buffer (then copying it into the
    // codec's write buffer) copied every fetched byte three more times.
    let mut out = BytesMut::with_capacity(4 + size_hint(&body));
    out.put_u32(0);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header
        .encode(&mut out, api_key.response_header_version(version))
        .and_then(|_| body.encode(&mut out, version))
        .map_err(|e| error(e.to_string()))?;
    let len = u32::try_from(out.len() - 4)
        .ok()
        .filter(|len| *len <= i32::MAX as u32)
        .ok_or_else(|| error(format!("response of {} bytes", out.len() - 4)))?;
    out[..4].copy_from_slice(&len.to_be_bytes());
    Ok(out)
}

/// Bytes a response is likely to encode to: the record batches of a Fetch response plus a
/// generous allowance for the fields around them; small for everything else.
fn size_hint(body: &ResponseKind) -> usize {
    const SMALL: usize = 256;
    let ResponseKind::Fetch(fetch) = body else {
        return SMALL;
    };
    let partition = |p: &kafka_protocol::messages::fetch_response::PartitionData| {
        128 + p.records.as_ref().map_or(0, |records| records.len())
    };
    fetch
        .responses
        .iter()
        .map(|topic| 64 + topic.topic.len() + topic.partitions.iter().map(partition).sum::<usize>())
        .sum::<usize>()
        + SMALL
}
