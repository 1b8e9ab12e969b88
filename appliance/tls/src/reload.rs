//! Serving the box's certificate and picking up a replacement.
//!
//! The resolver looks at the files' modification times at most once per
//! [`CHECK_INTERVAL`], from the handshake that needs the certificate; a new
//! pair is used only when it loads and matches, otherwise the old one stays
//! (an upload writes the key first, so for a moment the pair mismatches).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use model::config::TlsFiles;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use crate::error::TlsError;
use crate::inspect::{certified_key, provider};

/// How often the files are checked for a change.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The certificate in use and when the files were last looked at.
#[derive(Debug)]
struct Current {
    key: Arc<CertifiedKey>,
    stamps: (Option<SystemTime>, Option<SystemTime>),
    checked: Instant,
}

/// A rustls certificate resolver serving the box's PEM files, reloaded when they change.
#[derive(Debug)]
pub struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    current: Mutex<Current>,
}

impl ReloadingCert {
    /// Loads the pair; fails when it is missing, unreadable or mismatched,
    /// since a listener must not start without a certificate.
    pub fn load(files: &TlsFiles) -> Result<ReloadingCert, TlsError> {
        let stamps = stamps(files);
        let key = Arc::new(read_pair(&files.cert, &files.key)?);
        Ok(ReloadingCert {
            cert: files.cert.clone(),
            key: files.key.clone(),
            current: Mutex::new(Current {
                key,
                stamps,
                checked: Instant::now(),
            }),
        })
    }

    /// The pair to serve now, reloaded first if the files changed.
    pub fn current(&self) -> Arc<CertifiedKey> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.checked.elapsed() >= CHECK_INTERVAL {
            current.checked = Instant::now();
            let files = TlsFiles {
                cert: self.cert.clone(),
                key: self.key.clone(),
            };
            let now = stamps(&files);
            if now != current.stamps {
                match read_pair(&self.cert, &self.key) {
                    Ok(key) => {
                        log::info!("TLS certificate reloaded from {}", self.cert.display());
                        current.key = Arc::new(key);
                        current.stamps = now;
                    }
                    Err(e) => log::warn!("TLS certificate not reloaded (keeping the old): {e}"),
                }
            }
        }
        current.key.clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// A rustls server configuration (TLS 1.2 and 1.3, ring) serving `cert`.
pub fn server_config(cert: Arc<ReloadingCert>) -> Result<Arc<ServerConfig>, TlsError> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    Ok(Arc::new(config))
}

fn read_pair(cert: &std::path::Path, key: &std::path::Path) -> Result<CertifiedKey, TlsError> {
    let cert_pem = std::fs::read(cert).map_err(TlsError::io(cert))?;
    let key_pem = std::fs::read(key).map_err(TlsError::io(key))?;
    certified_key(&cert_pem, &key_pem)
}

fn stamps(files: &TlsFiles) -> (Option<SystemTime>, Option<SystemTime>) {
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    (modified(&files.cert), modified(&files.key))
}
