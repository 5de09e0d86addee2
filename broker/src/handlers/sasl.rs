//! SaslHandshake and SaslAuthenticate, as Kafka's `SaslServerAuthenticator` answers them, and
//! the raw tokens that follow a v0 SaslHandshake.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ResponseKind, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};

use super::{str_bytes, Ctx};
use crate::config::SaslMechanism;
use crate::protocol::error_codes as ec;
use crate::security::sasl::Step;
use crate::security::scram::ScramCredential;
use crate::security::session::SaslError;
use crate::security::Session;

pub fn handshake(
    session: &Session,
    version: i16,
    request: SaslHandshakeRequest,
) -> SaslHandshakeResponse {
    let mechanisms = session
        .listener
        .sasl
        .as_ref()
        .map(|sasl| {
            sasl.mechanisms
                .iter()
                .map(|m| str_bytes(m.name()))
                .collect()
        })
        .unwrap_or_default();
    let error_code = match session.handshake(version, request.mechanism.as_str()) {
        Ok(()) => ec::NONE,
        Err(SaslError::IllegalState(_)) => ec::ILLEGAL_SASL_STATE,
        Err(SaslError::UnsupportedMechanism) => {
            tracing::info!(peer = %session.peer, mechanism = %request.mechanism.as_str(),
                "closing connection: SASL mechanism not enabled on this listener");
            ec::UNSUPPORTED_SASL_MECHANISM
        }
    };
    SaslHandshakeResponse::default()
        .with_error_code(error_code)
        .with_mechanisms(mechanisms)
}

/// One SaslAuthenticate: runs the exchange's step now, in request order, and answers a failure
/// only after `connection.failed.authentication.delay.ms` (the connection then closes). The
/// wait is this connection's timer alone, so a password guesser is slowed without costing the
/// broker a thread or other clients anything.
pub fn authenticate(
    ctx: &Arc<Ctx>,
    session: &Session,
    request: SaslAuthenticateRequest,
) -> impl Future<Output = Option<ResponseKind>> + Send + 'static {
    let (response, delay) = match session.authenticate(&request.auth_bytes, &scram_lookup(ctx)) {
        Err(SaslError::IllegalState(message)) => (
            failure(ec::ILLEGAL_SASL_STATE, message.to_string()),
            Duration::ZERO,
        ),
        Err(SaslError::UnsupportedMechanism) => (
            failure(ec::UNSUPPORTED_SASL_MECHANISM, String::new()),
            Duration::ZERO,
        ),
        Ok((mechanism, step)) => {
            crate::metrics::sasl_step(mechanism.name(), &step);
            match step {
                Step::Continue(bytes) => (success(bytes), Duration::ZERO),
                Step::Done {
                    principal,
                    response,
                } => {
                    tracing::debug!(peer = %session.peer, %principal, mechanism = mechanism.name(), "authenticated");
                    (success(response), Duration::ZERO)
                }
                Step::Failed(message) => {
                    tracing::info!(peer = %session.peer, mechanism = mechanism.name(), %message,
                        "closing connection: SASL authentication failed");
                    (
                        failure(ec::SASL_AUTHENTICATION_FAILED, message),
                        failed_delay(ctx),
                    )
                }
            }
        }
    };
    async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Some(ResponseKind::SaslAuthenticate(response))
    }
}

/// A raw token after a v0 SaslHandshake: answered with a raw length-prefixed token; a failure
/// has no way to say so and closes the connection after the delay, as Kafka does.
pub fn raw_token(
    ctx: &Arc<Ctx>,
    session: &Session,
    token: Bytes,
) -> impl Future<Output = Option<BytesMut>> + Send + 'static {
    let (reply, delay) = match session.authenticate(&token, &scram_lookup(ctx)) {
        Ok((mechanism, step)) => {
            crate::metrics::sasl_step(mechanism.name(), &step);
            match step {
                Step::Continue(bytes)
                | Step::Done {
                    response: bytes, ..
                } => (Some(bytes), Duration::ZERO),
                Step::Failed(message) => {
                    tracing::info!(peer = %session.peer, mechanism = mechanism.name(), %message,
                        "closing connection: SASL authentication failed");
                    (None, failed_delay(ctx))
                }
            }
        }
        Err(_) => (None, Duration::ZERO),
    };
    async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let reply = reply?;
        let mut frame = BytesMut::with_capacity(4 + reply.len());
        frame.put_u32(reply.len() as u32);
        frame.put_slice(&reply);
        Some(frame)
    }
}

/// SCRAM credentials from this node's metadata image.
fn scram_lookup(ctx: &Ctx) -> impl Fn(&str, SaslMechanism) -> Option<ScramCredential> {
    let image = ctx.metadata.current();
    move |user, mechanism| {
        image
            .scram_credentials
            .get(user)?
            .get(mechanism.name())
            .cloned()
    }
}

fn failed_delay(ctx: &Ctx) -> Duration {
    Duration::from_millis(ctx.config.failed_authentication_delay_ms)
}

fn success(bytes: Vec<u8>) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(ec::NONE)
        .with_error_message(None)
        .with_auth_bytes(Bytes::from(bytes))
}

fn failure(error_code: i16, message: String) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(error_code)
        .with_error_message(Some(str_bytes(&message)))
}
