//! The box's TLS certificate, shared by SMTP (STARTTLS, implicit TLS) and the API.
//!
//! - [`ensure_certificate`]: on first start, a self-signed certificate for the
//!   box's host name (rcgen), so TLS works before an administrator uploads one.
//! - [`ReloadingCert`]: a rustls certificate resolver that re-reads the PEM
//!   files when they change, so an upload takes effect without a restart;
//!   [`server_config`] wraps it in a rustls `ServerConfig` (ring provider).
//! - [`validate`] and [`install`]: an upload is checked (parsable, key
//!   matches certificate, not expired) before it replaces the files atomically.
//! - [`describe`]: what `GET /tls` shows.

mod error;
mod files;
mod generate;
mod inspect;
mod reload;

pub use error::TlsError;
pub use files::install;
pub use generate::ensure_certificate;
pub use inspect::{describe, validate};
pub use reload::{server_config, ReloadingCert};

#[cfg(test)]
mod tests;
