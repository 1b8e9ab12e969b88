//! `smtp-account list|add|remove`: SMTP AUTH logins for a customer's roaming
//! senders (the password is read like the admin's: without echo on a
//! terminal, one line from a pipe; never on the command line).

use anyhow::Context;
use clap::Subcommand;
use model::api::NewSmtpAccount;
use model::client::ApiClient;

use super::{time, Out};
use crate::secret::Passwords;
use crate::table::{fields, table};

/// `smtp-account …`
#[derive(Debug, Subcommand)]
pub enum SmtpAccountCommand {
    /// Every account.
    List,
    /// Add a login; its password is read from standard input.
    Add {
        /// The login name, usually the sender's address.
        username: String,
        /// The customer's domain it belongs to (an existing domain).
        #[arg(long)]
        domain: String,
    },
    /// Remove a login.
    Remove {
        /// The login name.
        username: String,
    },
}

/// Runs one `smtp-account` subcommand.
pub fn run(
    api: &ApiClient,
    cmd: SmtpAccountCommand,
    passwords: &mut Passwords<'_>,
    out: &mut Out<'_>,
) -> anyhow::Result<()> {
    match cmd {
        SmtpAccountCommand::List => {
            let accounts = api.smtp_accounts().context("listing SMTP accounts")?;
            out.emit(&accounts, || {
                let rows: Vec<Vec<String>> = accounts
                    .iter()
                    .map(|a| vec![a.username.clone(), a.domain.clone(), time(a.created)])
                    .collect();
                table(&["USERNAME", "DOMAIN", "CREATED"], &rows)
            })
        }
        SmtpAccountCommand::Add { username, domain } => {
            let password = passwords.read("password")?;
            let account = api
                .create_smtp_account(&NewSmtpAccount {
                    username: username.clone(),
                    domain,
                    password,
                })
                .with_context(|| format!("adding SMTP account {username}"))?;
            out.emit(&account, || {
                fields(&[
                    ("username", account.username.clone()),
                    ("domain", account.domain.clone()),
                    ("created", time(account.created)),
                ])
            })
        }
        SmtpAccountCommand::Remove { username } => {
            api.delete_smtp_account(&username)
                .with_context(|| format!("removing SMTP account {username}"))?;
            out.done(&format!("removed SMTP account {username}"))
        }
    }
}
