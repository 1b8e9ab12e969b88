//! `user list|add|delete`.

use anyhow::Context;
use model::address::{normalize_address, normalize_domain};
use model::api::NewUser;
use model::client::ApiClient;

use super::{time, Out};
use crate::args::UserCommand;
use crate::table::{fields, table};

/// Runs one `user` subcommand.
pub fn run(api: &ApiClient, cmd: UserCommand, out: &mut Out<'_>) -> anyhow::Result<()> {
    match cmd {
        UserCommand::List { domain, search } => {
            let domain = domain.as_deref().map(normalize_domain).transpose()?;
            let users = api
                .users(domain.as_deref(), search.as_deref())
                .context("listing users")?;
            out.emit(&users, || {
                let rows: Vec<Vec<String>> = users
                    .iter()
                    .map(|u| vec![u.address.clone(), u.domain.clone(), time(u.created)])
                    .collect();
                table(&["ADDRESS", "DOMAIN", "CREATED"], &rows)
            })
        }
        UserCommand::Add { address } => {
            let address = normalize_address(&address)?;
            let user = api
                .create_user(&NewUser {
                    source: Default::default(),
                    address: address.clone(),
                })
                .with_context(|| format!("adding user {address}"))?;
            out.emit(&user, || {
                fields(&[
                    ("address", user.address.clone()),
                    ("domain", user.domain.clone()),
                    ("created", time(user.created)),
                ])
            })
        }
        UserCommand::Delete { address } => {
            api.delete_user(&address)
                .with_context(|| format!("deleting user {address}"))?;
            out.done(&format!("deleted user {address}"))
        }
    }
}
