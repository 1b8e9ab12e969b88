//! The self-signed certificate made on first start.

use model::config::TlsFiles;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use time::{Duration, OffsetDateTime};

use crate::error::TlsError;
use crate::files::{write_atomic, KEY_MODE};

/// Validity of the generated certificate: long, since nobody renews it; an
/// administrator replaces it with a real one.
const SELF_SIGNED_DAYS: i64 = 10 * 365;
/// Backdating, so a client whose clock is a little behind accepts it.
const BACKDATE: Duration = Duration::days(1);

/// Makes a self-signed certificate for `hostname` (ECDSA P-256) when either
/// file is missing; returns true when it made one. An existing pair is left
/// alone, whoever made it.
pub fn ensure_certificate(files: &TlsFiles, hostname: &str) -> Result<bool, TlsError> {
    if files.cert.exists() && files.key.exists() {
        return Ok(false);
    }
    let (cert_pem, key_pem) = self_signed(hostname)?;
    write_atomic(&files.key, key_pem.as_bytes(), KEY_MODE)?;
    write_atomic(&files.cert, cert_pem.as_bytes(), 0o644)?;
    log::info!(
        "made a self-signed certificate for {hostname} in {}",
        files.cert.display()
    );
    Ok(true)
}

/// A self-signed certificate and its key, PEM.
pub(crate) fn self_signed(hostname: &str) -> Result<(String, String), TlsError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec![hostname.to_string()])?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, hostname);
    params.distinguished_name = name;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - BACKDATE;
    params.not_after = now + Duration::days(SELF_SIGNED_DAYS);
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}
