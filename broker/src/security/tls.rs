//! TLS for SSL and SASL_SSL listeners with rustls (ring), and the principal of a client
//! certificate as Kafka's default principal builder makes it: the subject's distinguished name
//! in RFC 2253 form (`User:CN=client,OU=eng,O=example`).

use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::security::{ClientAuth, TlsConfig};

use super::Principal;

/// The rustls server configuration of a listener; an error names what is wrong with the PEM.
pub fn server_config(tls: &TlsConfig) -> anyhow::Result<Arc<ServerConfig>> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("TLS versions: {e}"))?;
    let builder = match tls.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Requested | ClientAuth::Required => {
            let verifier = WebPkiClientVerifier::builder_with_provider(roots(tls)?, provider);
            let verifier = match tls.client_auth {
                ClientAuth::Requested => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            let verifier = verifier
                .build()
                .map_err(|e| anyhow::anyhow!("the client certificate verifier: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certificate_chain(tls)?, private_key(tls)?)
        .map_err(|e| anyhow::anyhow!("the certificate and key: {e}"))?;
    Ok(Arc::new(config))
}

/// The one crypto provider of every TLS configuration: ring.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The keystore's certificate chain, leaf first.
pub fn certificate_chain(tls: &TlsConfig) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&tls.certificate_chain_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("the certificate chain: {e}"))?;
    if chain.is_empty() {
        anyhow::bail!("the keystore has no certificate (-----BEGIN CERTIFICATE-----)");
    }
    Ok(chain)
}

pub fn private_key(tls: &TlsConfig) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(&tls.private_key_pem)
        .map_err(|e| anyhow::anyhow!("the private key: {e}"))
}

/// The truststore's CA certificates.
pub fn roots(tls: &TlsConfig) -> anyhow::Result<Arc<RootCertStore>> {
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(&tls.truststore_pem) {
        let certificate = certificate.map_err(|e| anyhow::anyhow!("the truststore: {e}"))?;
        roots
            .add(certificate)
            .map_err(|e| anyhow::anyhow!("the truststore: {e}"))?;
    }
    Ok(Arc::new(roots))
}

/// The principal of a verified client certificate: its subject in RFC 2253 form, as Java's
/// `X500Principal.getName()` (the last RDN first, `CN=...` usually leading).
pub fn certificate_principal(certificate: &CertificateDer<'_>) -> Option<Principal> {
    let subject = subject_of(certificate.as_ref())?;
    let mut rdns = Vec::new();
    let mut set_list = subject;
    while !set_list.is_empty() {
        let (tag, set, rest) = der::element(set_list)?;
        set_list = rest;
        if tag != der::SET {
            return None;
        }
        let mut parts = Vec::new();
        let mut attributes = set;
        while !attributes.is_empty() {
            let (tag, attribute, rest) = der::element(attributes)?;
            attributes = rest;
            if tag != der::SEQUENCE {
                return None;
            }
            parts.push(attribute_text(attribute)?);
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Some(Principal::user(&rdns.join(",")))
}

/// The contents of the subject Name of an X.509 certificate (RFC 5280 4.1): inside
/// Certificate and TBSCertificate, after the optional version, the serial number, the
/// signature algorithm, the issuer and the validity.
fn subject_of(certificate: &[u8]) -> Option<&[u8]> {
    let (tag, certificate, _) = der::element(certificate)?;
    let (tbs_tag, tbs, _) = der::element(certificate)?;
    if tag != der::SEQUENCE || tbs_tag != der::SEQUENCE {
        return None;
    }
    let mut fields = tbs;
    let (tag, _, rest) = der::element(fields)?;
    if tag == der::VERSION {
        fields = rest;
    }
    // serialNumber, signature, issuer, validity
    for expected in [der::INTEGER, der::SEQUENCE, der::SEQUENCE, der::SEQUENCE] {
        let (tag, _, rest) = der::element(fields)?;
        if tag != expected {
            return None;
        }
        fields = rest;
    }
    let (tag, subject, _) = der::element(fields)?;
    (tag == der::SEQUENCE).then_some(subject)
}

/// `KEY=value` of one AttributeTypeAndValue: RFC 2253's keywords by name, other types as a
/// dotted OID with the value as `#` and its DER in hex.
fn attribute_text(attribute: &[u8]) -> Option<String> {
    let (tag, oid, rest) = der::element(attribute)?;
    if tag != der::OID {
        return None;
    }
    let oid = der::oid_text(oid)?;
    let keyword = RFC2253_KEYWORDS
        .iter()
        .find(|(dotted, _)| *dotted == oid)
        .map(|(_, name)| *name);
    let (value_tag, value, _) = der::element(rest)?;
    match (keyword, der::string(value_tag, value)) {
        (Some(keyword), Some(text)) => Some(format!("{keyword}={}", escape(&text))),
        _ => {
            let encoded = &rest[..rest.len() - der::element(rest)?.2.len()];
            let hex: String = encoded.iter().map(|b| format!("{b:02x}")).collect();
            Some(format!("{oid}=#{hex}"))
        }
    }
}

/// The attribute types RFC 2253 (and so Java) writes by name.
const RFC2253_KEYWORDS: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.9", "STREET"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
];

/// Just enough DER to read a certificate's subject (its signature was checked by rustls);
/// every read is bounds-checked, anything unexpected is None.
mod der {
    pub const INTEGER: u8 = 0x02;
    pub const OID: u8 = 0x06;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
    /// `[0] EXPLICIT Version`
    pub const VERSION: u8 = 0xa0;

    /// One element: its tag, its contents and what follows it. Single-byte tags and definite
    /// lengths of up to four bytes, as DER certificates use.
    pub fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, mut rest) = rest.split_first()?;
        let length = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 {
                return None;
            }
            let (bytes, after) = (rest.get(..count)?, rest.get(count..)?);
            rest = after;
            bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b))
        };
        Some((tag, rest.get(..length)?, rest.get(length..)?))
    }

    pub fn oid_text(bytes: &[u8]) -> Option<String> {
        let (&first, rest) = bytes.split_first()?;
        let mut parts = vec![u64::from(first / 40).min(2), 0];
        parts[1] = u64::from(first) - parts[0] * 40;
        let mut value: u64 = 0;
        for &byte in rest {
            value = value.checked_mul(128)? | u64::from(byte & 0x7f);
            if byte & 0x80 == 0 {
                parts.push(value);
                value = 0;
            }
        }
        let text: Vec<String> = parts.iter().map(u64::to_string).collect();
        Some(text.join("."))
    }

    /// The directory string types of X.520 names.
    pub fn string(tag: u8, bytes: &[u8]) -> Option<String> {
        match tag {
            // UTF8String, PrintableString, IA5String, NumericString
            0x0c | 0x13 | 0x16 | 0x12 => String::from_utf8(bytes.to_vec()).ok(),
            // TeletexString: Latin-1 in practice
            0x14 => Some(bytes.iter().map(|b| char::from(*b)).collect()),
            // BMPString: UTF-16BE
            0x1e => {
                let units: Vec<u16> = bytes
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                String::from_utf16(&units).ok()
            }
            // UniversalString: UTF-32BE
            0x1c => bytes
                .chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            _ => None,
        }
    }
}

/// RFC 2253's escaping of an attribute value.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (index, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (index == 0 && (c == '#' || c == ' '))
            || (index == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `openssl req -x509 -subj '/C=DE/O=Example, Inc./OU=payments/CN=app1'`, whose subject
    /// `openssl x509 -nameopt RFC2253` prints as `CN=app1,OU=payments,O=Example\, Inc.,C=DE`.
    const CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----
MIIB4jCCAYmgAwIBAgIUVyEclJU8W96xPcOx2bRPRtHGujwwCgYIKoZIzj0EAwIw
RzELMAkGA1UEBhMCREUxFjAUBgNVBAoMDUV4YW1wbGUsIEluYy4xETAPBgNVBAsM
CHBheW1lbnRzMQ0wCwYDVQQDDARhcHAxMB4XDTI2MTIwMjA0NDgxMVoXDTM2MTEy
OTA0NDgxMVowRzELMAkGA1UEBhMCREUxFjAUBgNVBAoMDUV4YW1wbGUsIEluYy4x
ETAPBgNVBAsMCHBheW1lbnRzMQ0wCwYDVQQDDARhcHAxMFkwEwYHKoZIzj0CAQYI
KoZIzj0DAQcDQgAEQZbyojwSa0kMmnqIKvu6fJ/sPFxiUiqvufk8npG+VAo5ibC9
tlRKV7G+2uupuCgZ7yru+InlnPhvFtG2HusKKKNTMFEwHQYDVR0OBBYEFLeMXS6N
5gv1TlzrIf6hOoQAf0UlMB8GA1UdIwQYMBaAFLeMXS6N5gv1TlzrIf6hOoQAf0Ul
MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgMSSVKKSlfcALGe7U
+7mqSULyqiEftG50M5jA5cunwNICIF1a/3n12+3iUm9hY0zgzMlnK4HkufMQFoSK
6I0wAbjX
-----END CERTIFICATE-----
";

    #[test]
    fn the_principal_is_the_subject_in_rfc2253_form() {
        let certificate = CertificateDer::from_pem_slice(CERTIFICATE.as_bytes()).unwrap();
        let principal = certificate_principal(&certificate).unwrap();
        assert_eq!(
            principal.to_string(),
            "User:CN=app1,OU=payments,O=Example\\, Inc.,C=DE"
        );
        // Truncated or garbled input is no principal, never a panic.
        let bytes = certificate.as_ref();
        for length in 0..bytes.len() {
            let _ = certificate_principal(&CertificateDer::from(&bytes[..length]));
        }
        assert!(certificate_principal(&CertificateDer::from(&b"\x30\x85\xff"[..])).is_none());
    }

    #[test]
    fn object_identifiers() {
        assert_eq!(der::oid_text(&[0x55, 0x04, 0x03]).unwrap(), "2.5.4.3");
        assert_eq!(
            der::oid_text(&[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19]).unwrap(),
            "0.9.2342.19200300.100.1.25"
        );
    }

    #[test]
    fn rfc2253_escaping() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(escape("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape(" lead#"), "\\ lead#");
        assert_eq!(escape("#x "), "\\#x\\ ");
    }
}
