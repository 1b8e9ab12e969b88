//! Errors of the certificate handling.

use std::path::PathBuf;

/// Why a certificate could not be made, read or accepted.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Reading or writing a PEM file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The PEM text holds no certificate, or one that does not parse.
    #[error("unreadable certificate: {0}")]
    Certificate(String),
    /// The PEM text holds no usable private key.
    #[error("unreadable private key: {0}")]
    Key(String),
    /// The key is not the certificate's.
    #[error("the private key does not match the certificate")]
    Mismatch,
    /// The certificate is outside its validity period.
    #[error("the certificate is not valid now (valid {not_before} to {not_after}, unix seconds)")]
    NotValidNow {
        /// Start of validity, unix seconds.
        not_before: i64,
        /// End of validity, unix seconds.
        not_after: i64,
    },
    /// rcgen could not make the self-signed certificate.
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

impl TlsError {
    /// An I/O error on `path`, for `map_err`.
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
        move |source| TlsError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
