//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka's `ScramSaslServer`: the
//! message flow is here, the primitives (HMAC, SHA-2) come from RustCrypto's crates. Kafka's
//! clients salt the password themselves (AlterUserScramCredentials carries the salted
//! password), so the broker only ever derives and stores the stored and server keys.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::config::SaslMechanism;

/// Kafka's bounds on a credential's iterations (`ScramMechanism.minIterations`, and the
/// maximum its AlterUserScramCredentials accepts).
pub const ITERATIONS_MIN: i32 = 4096;
pub const ITERATIONS_MAX: i32 = 16384;

/// What a broker keeps of a SCRAM password: never the password nor the salted password.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

impl ScramCredential {
    /// From the salted password a client computed (Hi(password, salt, iterations)).
    pub fn from_salted_password(
        mechanism: SaslMechanism,
        salt: &[u8],
        salted_password: &[u8],
        iterations: i32,
    ) -> ScramCredential {
        let client_key = hmac(mechanism, salted_password, b"Client Key");
        ScramCredential {
            salt: salt.to_vec(),
            stored_key: hash(mechanism, &client_key),
            server_key: hmac(mechanism, salted_password, b"Server Key"),
            iterations,
        }
    }
}

/// Kafka's wire numbers for the mechanisms (AlterUserScramCredentials, Describe...).
pub fn mechanism_of_wire(value: i8) -> Option<SaslMechanism> {
    match value {
        1 => Some(SaslMechanism::ScramSha256),
        2 => Some(SaslMechanism::ScramSha512),
        _ => None,
    }
}

pub fn wire_of_mechanism(mechanism: SaslMechanism) -> i8 {
    match mechanism {
        SaslMechanism::ScramSha256 => 1,
        SaslMechanism::ScramSha512 => 2,
        SaslMechanism::Plain => 0,
    }
}

pub fn hmac(mechanism: SaslMechanism, key: &[u8], data: &[u8]) -> Vec<u8> {
    match mechanism {
        SaslMechanism::ScramSha512 => {
            let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        _ => {
            let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
    }
}

fn hash(mechanism: SaslMechanism, data: &[u8]) -> Vec<u8> {
    match mechanism {
        SaslMechanism::ScramSha512 => Sha512::digest(data).to_vec(),
        _ => Sha256::digest(data).to_vec(),
    }
}

/// Kafka's message for every SCRAM failure: it does not tell a wrong password from an unknown
/// user.
pub fn failure_message(mechanism: SaslMechanism) -> String {
    format!(
        "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
        mechanism.name()
    )
}

/// The server's side of one exchange.
#[derive(Debug)]
pub enum ScramServer {
    /// Waiting for `n,,n=USER,r=CLIENT_NONCE`.
    ClientFirst,
    /// Sent `r=NONCE,s=SALT,i=N`; waiting for `c=biws,r=NONCE,p=PROOF`.
    ClientFinal {
        user: String,
        /// None for an unknown user, who gets a made-up salt and fails only here, so the
        /// exchange does not tell which users exist.
        credential: Option<ScramCredential>,
        nonce: String,
        /// client-first-message-bare + "," + server-first-message
        auth_prefix: String,
    },
}

/// What one step produced.
pub enum ScramStep {
    Continue(Vec<u8>),
    Done { user: String, response: Vec<u8> },
    Failed,
}

impl ScramServer {
    /// `lookup` finds the user's credential; `fake_salt` makes one up for an unknown user.
    pub fn step(
        &mut self,
        mechanism: SaslMechanism,
        token: &[u8],
        lookup: &dyn Fn(&str) -> Option<ScramCredential>,
        fake_salt: &dyn Fn(&str) -> Vec<u8>,
    ) -> ScramStep {
        let Ok(message) = std::str::from_utf8(token) else {
            return ScramStep::Failed;
        };
        match std::mem::replace(self, ScramServer::ClientFirst) {
            ScramServer::ClientFirst => {
                let Some((user, client_nonce, bare)) = parse_client_first(message) else {
                    return ScramStep::Failed;
                };
                let credential = lookup(&user);
                let (salt, iterations) = match &credential {
                    Some(c) => (c.salt.clone(), c.iterations),
                    None => (fake_salt(&user), ITERATIONS_MIN),
                };
                let nonce = format!("{client_nonce}{}", server_nonce());
                let server_first = format!("r={nonce},s={},i={iterations}", BASE64.encode(salt));
                *self = ScramServer::ClientFinal {
                    user,
                    credential,
                    nonce,
                    auth_prefix: format!("{bare},{server_first}"),
                };
                ScramStep::Continue(server_first.into_bytes())
            }
            ScramServer::ClientFinal {
                user,
                credential,
                nonce,
                auth_prefix,
            } => {
                let Some(credential) = credential else {
                    return ScramStep::Failed;
                };
                match verify_client_final(mechanism, message, &nonce, &auth_prefix, &credential) {
                    Some(response) => ScramStep::Done { user, response },
                    None => ScramStep::Failed,
                }
            }
        }
    }
}

/// `n,,n=USER,r=NONCE[,extensions]`: the user, the nonce and the message without its GS2
/// header. Channel binding (`p=`) and an authorization id other than the user are refused, as
/// Kafka does; so are Kafka's delegation tokens (`tokenauth` extension), which this broker
/// does not issue.
fn parse_client_first(message: &str) -> Option<(String, String, String)> {
    let rest = message
        .strip_prefix("n,")
        .or_else(|| message.strip_prefix("y,"))?;
    let (authorization_id, bare) = rest.split_once(',')?;
    let mut fields = bare.split(',');
    let user = unescape_name(fields.next()?.strip_prefix("n=")?)?;
    let nonce = fields.next()?.strip_prefix("r=")?.to_string();
    if nonce.is_empty() || user.is_empty() {
        return None;
    }
    if fields.any(|f| f.starts_with("tokenauth=")) {
        return None;
    }
    if let Some(id) = authorization_id.strip_prefix("a=") {
        if unescape_name(id)? != user {
            return None;
        }
    } else if !authorization_id.is_empty() {
        return None;
    }
    Some((user, nonce, bare.to_string()))
}

/// RFC 5802's saslname: `=2C` is a comma, `=3D` an equals sign; any other `=` is malformed.
fn unescape_name(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(index) = rest.find('=') {
        out.push_str(&rest[..index]);
        let escape = rest.get(index..index + 3)?;
        out.push(match escape {
            "=2C" => ',',
            "=3D" => '=',
            _ => return None,
        });
        rest = &rest[index + 3..];
    }
    out.push_str(rest);
    Some(out)
}

/// `c=biws,r=NONCE[,extensions],p=PROOF`: checks the nonce and the proof, and returns the
/// server-final-message `v=SIGNATURE`.
fn verify_client_final(
    mechanism: SaslMechanism,
    message: &str,
    nonce: &str,
    auth_prefix: &str,
    credential: &ScramCredential,
) -> Option<Vec<u8>> {
    let (without_proof, proof) = message.rsplit_once(",p=")?;
    let mut fields = without_proof.split(',');
    let binding = fields.next()?.strip_prefix("c=")?;
    // base64("n,,") or base64("y,,"): no channel binding, no authorization id.
    if binding != "biws" && binding != "eSws" {
        return None;
    }
    // Kafka's check is "ends with", not "equals": librdkafka 2.0 (Debian's) sends its own nonce
    // in front of the server's whole nonce, which already starts with it.
    if !fields.next()?.strip_prefix("r=")?.ends_with(nonce) {
        return None;
    }
    let proof = BASE64.decode(proof).ok()?;
    let auth_message = format!("{auth_prefix},{without_proof}");
    let client_signature = hmac(mechanism, &credential.stored_key, auth_message.as_bytes());
    if proof.len() != client_signature.len() {
        return None;
    }
    let client_key: Vec<u8> = proof
        .iter()
        .zip(&client_signature)
        .map(|(p, s)| p ^ s)
        .collect();
    let matches: bool = hash(mechanism, &client_key)
        .ct_eq(&credential.stored_key)
        .into();
    if !matches {
        return None;
    }
    let server_signature = hmac(mechanism, &credential.server_key, auth_message.as_bytes());
    Some(format!("v={}", BASE64.encode(server_signature)).into_bytes())
}

/// A salt for a user without a credential: the same for the same user while the broker runs
/// (a keyed hash of the name), shaped like the salts Kafka's tools make (26 characters), so
/// that probing names does not tell which exist.
pub fn fake_salt(user: &str) -> Vec<u8> {
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    let key = KEY.get_or_init(random_bytes::<32>);
    let digest = hmac(SaslMechanism::ScramSha256, key, user.as_bytes());
    digest[..13]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .into_bytes()
}

/// 24 random bytes, base64: printable and without commas, as a nonce must be.
fn server_nonce() -> String {
    BASE64.encode(random_bytes::<24>())
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS's random source failing is not something a broker can serve without.
    getrandom::getrandom(&mut bytes).expect("the operating system's random source");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client as Kafka's `ScramSaslClient` computes it, with PBKDF2 from the pbkdf2 crate.
    fn salted(mechanism: SaslMechanism, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
        match mechanism {
            SaslMechanism::ScramSha512 => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), salt, iterations, &mut out);
                out.to_vec()
            }
            _ => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }

    fn client_final(
        mechanism: SaslMechanism,
        password: &str,
        client_first_bare: &str,
        server_first: &str,
        nonce_prefix: &str,
    ) -> (String, Vec<u8>) {
        let fields: Vec<&str> = server_first.split(',').collect();
        let nonce = fields[0].strip_prefix("r=").unwrap();
        let salt = BASE64
            .decode(fields[1].strip_prefix("s=").unwrap())
            .unwrap();
        let iterations: u32 = fields[2].strip_prefix("i=").unwrap().parse().unwrap();
        let salted_password = salted(mechanism, password, &salt, iterations);
        let client_key = hmac(mechanism, &salted_password, b"Client Key");
        let stored_key = hash(mechanism, &client_key);
        let without_proof = format!("c=biws,r={nonce_prefix}{nonce}");
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = hmac(mechanism, &stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hmac(mechanism, &salted_password, b"Server Key");
        let expected = hmac(mechanism, &server_key, auth.as_bytes());
        (
            format!("{without_proof},p={}", BASE64.encode(proof)),
            format!("v={}", BASE64.encode(expected)).into_bytes(),
        )
    }

    fn run(mechanism: SaslMechanism, user: &str, password: &str) -> Result<String, ()> {
        run_with(mechanism, user, password, "")
    }

    fn run_with(
        mechanism: SaslMechanism,
        user: &str,
        password: &str,
        nonce_prefix: &str,
    ) -> Result<String, ()> {
        let salt = b"0123456789abcdef";
        let stored = ScramCredential::from_salted_password(
            mechanism,
            salt,
            &salted(mechanism, "pencil", salt, 4096),
            4096,
        );
        let lookup = |name: &str| (name == "user").then(|| stored.clone());
        let fake = |_: &str| b"fakefakefakefake".to_vec();
        let mut server = ScramServer::ClientFirst;
        let bare = format!("n={user},r=fyko+d2lbbFgONRv9qkxdawL");
        let ScramStep::Continue(first) =
            server.step(mechanism, format!("n,,{bare}").as_bytes(), &lookup, &fake)
        else {
            panic!("client-first refused");
        };
        let first = String::from_utf8(first).unwrap();
        assert!(first.starts_with("r=fyko+d2lbbFgONRv9qkxdawL"));
        let (last, expected) = client_final(mechanism, password, &bare, &first, nonce_prefix);
        match server.step(mechanism, last.as_bytes(), &lookup, &fake) {
            ScramStep::Done { user, response } => {
                assert_eq!(response, expected, "server signature");
                Ok(user)
            }
            ScramStep::Failed => Err(()),
            ScramStep::Continue(_) => panic!("a third step"),
        }
    }

    #[test]
    fn full_exchanges_with_both_mechanisms() {
        for mechanism in [SaslMechanism::ScramSha256, SaslMechanism::ScramSha512] {
            assert_eq!(run(mechanism, "user", "pencil"), Ok("user".to_string()));
            assert_eq!(run(mechanism, "user", "pen"), Err(()));
            assert_eq!(run(mechanism, "nobody", "pencil"), Err(()));
            // librdkafka 2.0's doubled client nonce, which Kafka accepts.
            let doubled = run_with(mechanism, "user", "pencil", "fyko+d2lbbFgONRv9qkxdawL");
            assert_eq!(doubled, Ok("user".to_string()));
        }
    }

    #[test]
    fn malformed_client_messages() {
        for first in [
            "n=user,r=abc",
            "p=tls-server-end-point,,n=user,r=abc",
            "n,,n=user",
            "n,,n=,r=abc",
            "n,,n=us=er,r=abc",
            "n,a=other,n=user,r=abc",
            "n,,n=user,r=abc,tokenauth=true",
        ] {
            assert!(parse_client_first(first).is_none(), "{first}");
        }
        assert_eq!(
            parse_client_first("n,,n=a=2Cb=3D,r=x").unwrap().0,
            "a,b=",
            "escaped names"
        );
        assert!(parse_client_first("n,a=u,n=u,r=x").is_some());
    }
}
