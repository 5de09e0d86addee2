//! SASL/PLAIN (RFC 4616) as Kafka's `PlainSaslServer`: one client message,
//! `authzid NUL authcid NUL password`, checked against the listener's configured users.

use std::collections::BTreeMap;

use subtle::ConstantTimeEq;

/// Kafka's messages, which its clients show to the user.
pub const INVALID_CREDENTIALS: &str = "Authentication failed: Invalid username or password";
const BAD_MESSAGE: &str = "Authentication failed: Invalid SASL/PLAIN response";
const OTHER_AUTHORIZATION_ID: &str =
    "Authentication failed: Client requested an authorization id that is different from username";

/// The authenticated user name, or the failure message.
pub fn authenticate(
    message: &[u8],
    users: &BTreeMap<String, String>,
) -> Result<String, &'static str> {
    let text = std::str::from_utf8(message).map_err(|_| BAD_MESSAGE)?;
    let mut parts = text.split('\0');
    let (Some(authorization_id), Some(username), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BAD_MESSAGE);
    };
    if username.is_empty() {
        return Err(BAD_MESSAGE);
    }
    if !authorization_id.is_empty() && authorization_id != username {
        return Err(OTHER_AUTHORIZATION_ID);
    }
    // An unknown user is compared against an empty password: the same work as a wrong one, so
    // timing does not tell which user names exist.
    let expected = users.get(username).map_or("", String::as_str);
    let matches: bool = expected.as_bytes().ct_eq(password.as_bytes()).into();
    if matches && users.contains_key(username) {
        Ok(username.to_string())
    } else {
        Err(INVALID_CREDENTIALS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_messages() {
        let users = BTreeMap::from([("alice".to_string(), "secret".to_string())]);
        assert_eq!(authenticate(b"\0alice\0secret", &users).unwrap(), "alice");
        assert_eq!(
            authenticate(b"alice\0alice\0secret", &users).unwrap(),
            "alice"
        );
        assert_eq!(
            authenticate(b"\0alice\0wrong", &users),
            Err(INVALID_CREDENTIALS)
        );
        assert_eq!(authenticate(b"\0bob\0", &users), Err(INVALID_CREDENTIALS));
        assert_eq!(
            authenticate(b"\0mallory\0secret", &users),
            Err(INVALID_CREDENTIALS)
        );
        assert_eq!(
            authenticate(b"bob\0alice\0secret", &users),
            Err(OTHER_AUTHORIZATION_ID)
        );
        for bad in [
            &b""[..],
            b"alice",
            b"\0alice",
            b"\0\0x",
            b"a\0b\0c\0d",
            b"\0\xff\0x",
        ] {
            assert_eq!(authenticate(bad, &users), Err(BAD_MESSAGE), "{bad:?}");
        }
    }
}
