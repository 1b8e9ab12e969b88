//! `admin status|password|networks`.

use anyhow::{bail, Context};
use model::api::{AdminNetworks, SetPassword};
use model::client::ApiClient;
use model::Endpoint;

use super::Out;
use crate::args::AdminCommand;
use crate::secret::Passwords;

/// Runs one `admin` subcommand; passwords come from `passwords`.
pub fn run(
    api: &ApiClient,
    cmd: AdminCommand,
    passwords: &mut Passwords<'_>,
    out: &mut Out<'_>,
) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::Status => {
            let state = api.admin_state().context("asking for the admin account")?;
            out.emit(&state, || {
                if state.password_set {
                    "admin password: set\n".into()
                } else {
                    "admin password: not set (set it with `filterbox ctl admin password` \
                     or at the console)\n"
                        .into()
                }
            })
        }
        AdminCommand::Password { current } => {
            set_password(api, current, passwords)?;
            out.done("admin password set")
        }
        AdminCommand::Networks { networks, clear } => {
            let shown = if clear || !networks.is_empty() {
                let networks = networks.iter().map(ToString::to_string).collect();
                api.set_admin_networks(&AdminNetworks { networks })
                    .context("setting the admin networks")?
            } else {
                api.admin_networks()
                    .context("asking for the admin networks")?
            };
            out.emit(&shown, || {
                if shown.networks.is_empty() {
                    "admin networks: any (no restriction)\n".into()
                } else {
                    shown.networks.iter().map(|n| format!("{n}\n")).collect()
                }
            })
        }
    }
}

/// Asks for the passwords (the current one when `ask_current` or when TCP
/// needs it), then sets the new one.
fn set_password(
    api: &ApiClient,
    ask_current: bool,
    passwords: &mut Passwords<'_>,
) -> anyhow::Result<()> {
    let state = api.admin_state().context("asking for the admin account")?;
    let over_tcp = matches!(api.endpoint(), Endpoint::Tcp(_));
    let current = if state.password_set && (ask_current || over_tcp) {
        Some(passwords.read("current admin password")?)
    } else {
        None
    };
    let password = passwords.read("new admin password")?;
    if passwords.interactive() && passwords.read("new admin password again")? != password {
        bail!("the two new passwords differ; nothing was changed");
    }
    api.set_admin_password(&SetPassword { password, current })
        .context("setting the admin password")
}
