//! Reading PEM into rustls types, describing a certificate, checking an upload.

use std::sync::Arc;

use model::api::TlsCertificate;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

use crate::error::TlsError;

/// The ring provider, the one crypto provider of the box.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The chain in `cert_pem`, leaf first; at least one certificate.
pub(crate) fn chain(cert_pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certificate(e.to_string()))?;
    if chain.is_empty() {
        return Err(TlsError::Certificate("no CERTIFICATE block".into()));
    }
    Ok(chain)
}

/// The chain and key as rustls serves them, refused when they do not match.
pub(crate) fn certified_key(cert_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey, TlsError> {
    let chain = chain(cert_pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Key(e.to_string()))?;
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::Key(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::Mismatch),
        Err(e) => Err(TlsError::Key(e.to_string())),
    }
}

/// What `GET /tls` shows about the chain in `cert_pem` (its leaf).
pub fn describe(cert_pem: &str) -> Result<TlsCertificate, TlsError> {
    let chain = chain(cert_pem.as_bytes())?;
    let (_, leaf) =
        X509Certificate::from_der(&chain[0]).map_err(|e| TlsError::Certificate(e.to_string()))?;
    let validity = leaf.validity();
    let millis = |t: i64| u64::try_from(t).unwrap_or(0).saturating_mul(1000);
    let subject = leaf.subject().to_string();
    let issuer = leaf.issuer().to_string();
    Ok(TlsCertificate {
        names: dns_names(&leaf),
        self_signed: subject == issuer,
        not_before: millis(validity.not_before.timestamp()),
        not_after: millis(validity.not_after.timestamp()),
        subject,
        issuer,
        pem: cert_pem.to_string(),
    })
}

fn dns_names(cert: &X509Certificate<'_>) -> Vec<String> {
    cert.extensions()
        .iter()
        .filter_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(san) => Some(san),
            _ => None,
        })
        .flat_map(|san| san.general_names.iter())
        .filter_map(|name| match name {
            GeneralName::DNSName(n) => Some(n.to_string()),
            _ => None,
        })
        .collect()
}

/// Checks an upload: the certificate parses, the key is its key, and it is
/// valid at `now_secs` (unix seconds). Returns its description.
pub fn validate(cert_pem: &str, key_pem: &str, now_secs: i64) -> Result<TlsCertificate, TlsError> {
    let info = describe(cert_pem)?;
    certified_key(cert_pem.as_bytes(), key_pem.as_bytes())?;
    let secs = |ms: u64| i64::try_from(ms / 1000).unwrap_or(i64::MAX);
    let (not_before, not_after) = (secs(info.not_before), secs(info.not_after));
    if now_secs < not_before || now_secs > not_after {
        return Err(TlsError::NotValidNow {
            not_before,
            not_after,
        });
    }
    Ok(info)
}
