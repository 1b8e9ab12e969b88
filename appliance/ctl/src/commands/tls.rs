//! `tls show|set`: the certificate the box presents (SMTP STARTTLS and
//! port 465), and replacing it with one from files (checked by the manager:
//! readable, matching key, valid now).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use model::api::{NewTlsCertificate, TlsCertificate};
use model::client::ApiClient;

use super::{time, Out};
use crate::table::fields;

/// `tls …`
#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// The certificate in use.
    Show,
    /// Replace the certificate and key (PEM files; the chain leaf first).
    Set {
        /// The certificate chain.
        #[arg(long)]
        cert: PathBuf,
        /// Its private key.
        #[arg(long)]
        key: PathBuf,
    },
}

/// Runs one `tls` subcommand.
pub fn run(api: &ApiClient, cmd: TlsCommand, out: &mut Out<'_>) -> anyhow::Result<()> {
    let info = match cmd {
        TlsCommand::Show => api.tls_certificate().context("reading the certificate")?,
        TlsCommand::Set { cert, key } => {
            let read = |p: &PathBuf| {
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
            };
            let new = NewTlsCertificate {
                cert: read(&cert)?,
                key: read(&key)?,
            };
            api.set_tls_certificate(&new)
                .context("replacing the certificate")?
        }
    };
    out.emit(&info, || describe(&info))
}

fn describe(info: &TlsCertificate) -> String {
    fields(&[
        ("subject", info.subject.clone()),
        ("names", info.names.join(", ")),
        ("issuer", info.issuer.clone()),
        ("self-signed", info.self_signed.to_string()),
        ("valid from", time(info.not_before)),
        ("valid until", time(info.not_after)),
    ])
}
