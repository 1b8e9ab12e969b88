//! The box's network: applied from `system.json` at the start of a run,
//! and again on request from the control socket, without a restart.
//!
//! A request is applied on a blocking thread (netconf runs `ip` and waits
//! for it); meanwhile the reaper collects only our own pids, so netconf
//! still finds its children's exit status.

use std::sync::Arc;

use model::config::SystemConfig;
use model::control::ControlResponse;
use model::network::NetworkConfig;
use netconf::{NetError, NetOptions};

use super::{datadir, units, Context, Driver, Msg};
use crate::control::Answer;
use crate::core::{Action, Mode};
use tokio::sync::oneshot;

/// The answer to a network change, once applied (or not).
pub(super) struct Done {
    result: Result<netconf::Applied, NetError>,
    hostname: String,
    network: NetworkConfig,
    reply: oneshot::Sender<Answer>,
}

/// How netconf changes the network here: busybox and the real files as
/// init; in host mode `ip` from `PATH`, and the resolver file, the host
/// name and the clock left alone (the files go to the data directory's
/// `run/`; the time client only measures).
pub(super) fn options(ctx: &Context) -> NetOptions {
    let mut opts = NetOptions::busybox(ctx.exe.clone());
    if ctx.mode == Mode::Host {
        let run = ctx.data_dir.join("run");
        opts.ip_program = vec!["ip".into()];
        opts.udhcpc = vec!["busybox".into(), "udhcpc".into()];
        opts.timesync.push("--dry-run".into());
        opts.resolv_conf = run.join("resolv.conf");
        opts.runtime_dir = run.join("net");
        opts.set_hostname = false;
    } else if let Ok(target) = std::fs::read_link(&opts.resolv_conf) {
        // The box's /etc is read-only and links resolv.conf into /run:
        // write the file the link points to (replacing the link would fail).
        if target.is_absolute() {
            opts.resolv_conf = target;
        }
    }
    opts
}

/// Applies the network of `config`, if it has one; a failure is logged and
/// the box starts anyway (the console can correct the settings).
pub(super) fn apply_at_boot(ctx: &mut Context, config: &SystemConfig) {
    let Some(net) = &config.network else {
        return;
    };
    match netconf::apply(&options(ctx), &config.hostname, ctx.network.as_ref(), net) {
        Ok(applied) => {
            for change in &applied.changes {
                log::info!("network: {change}");
            }
            ctx.network = Some(net.clone());
        }
        Err(e) => log::error!("cannot apply the network settings of system.json: {e}"),
    }
}

fn refuse(reply: oneshot::Sender<Answer>, message: String) {
    let _ = reply.send(Answer {
        response: ControlResponse::Error { message },
        written: None,
    });
}

impl Driver<'_> {
    /// Starts applying `network` and `hostname`; the answer follows when done.
    pub(super) fn apply_network(
        &mut self,
        hostname: String,
        network: NetworkConfig,
        reply: oneshot::Sender<Answer>,
    ) {
        let Some(old) = self.config.network.clone() else {
            return refuse(
                reply,
                "this machine's network is not managed (no `network` in system.json)".into(),
            );
        };
        if self.finale.is_some() {
            return refuse(reply, "the box is stopping".into());
        }
        if self.foreign_children > 0 {
            return refuse(reply, "another network change is being applied".into());
        }
        let mut problems = network.problems();
        if model::address::normalize_domain(&hostname).is_err() {
            problems.push(format!("hostname {hostname:?} is not a valid host name"));
        }
        if !problems.is_empty() {
            return refuse(
                reply,
                format!("invalid network settings: {}", problems.join("; ")),
            );
        }
        let opts = options(self.ctx);
        let tx = self.tx.clone();
        self.foreign_children += 1;
        tokio::spawn(async move {
            let (h, n) = (hostname.clone(), network.clone());
            let result =
                tokio::task::spawn_blocking(move || netconf::apply(&opts, &h, Some(&old), &n))
                    .await
                    .unwrap_or_else(|e| {
                        Err(NetError::Invalid(vec![format!("apply panicked: {e}")]))
                    });
            let done = Done {
                result,
                hostname,
                network,
                reply,
            };
            let _ = tx.send(Msg::Network(done)).await;
        });
    }

    /// A network change ended: on success the settings are saved and the
    /// DHCP/NTP services changed to match.
    pub(super) fn network_done(&mut self, done: Done) -> Vec<Action> {
        self.foreign_children -= 1;
        self.reap(); // orphans that ended meanwhile
        let applied = match done.result {
            Ok(applied) => applied,
            Err(e) => {
                log::warn!("network change refused: {e}");
                refuse(done.reply, e.to_string());
                return Vec::new();
            }
        };
        let group = self.privileges.as_ref().map(|p| p.group);
        if let Err(e) =
            datadir::save_network(&self.ctx.data_dir, &done.hostname, &done.network, group)
        {
            log::error!("network applied but not saved: {e}");
            refuse(
                done.reply,
                format!(
                    "the settings are in force but could not be saved, so a reboot loses them: {e}"
                ),
            );
            return Vec::new();
        }
        for change in &applied.changes {
            log::info!("network: {change}");
        }
        self.ctx.network = Some(done.network.clone());
        let mut config = (*self.config).clone();
        config.hostname = done.hostname.clone();
        config.network = Some(done.network);
        let actions = self.replace_services(&config);
        if let Some(logbook) = crate::process::logbook() {
            let _ = logbook.reconfigure(&config.logging, &config.hostname);
        }
        self.config = Arc::new(config);
        let message = if applied.changes.is_empty() {
            "the settings were already in force".to_string()
        } else {
            format!("applied: {}", applied.changes.join("; "))
        };
        let _ = done.reply.send(Answer {
            response: ControlResponse::Ok { message },
            written: None,
        });
        actions
    }

    /// Makes the services those of `config`: new ones start, gone ones
    /// stop, changed ones restart.
    fn replace_services(&mut self, config: &SystemConfig) -> Vec<Action> {
        let wanted = units::services(self.ctx, config);
        let mut changed = Vec::new();
        for s in &wanted {
            let now = units::UnitCommand::Service(s.clone());
            match self.commands.insert(s.name.clone(), now.clone()) {
                Some(before) if before != now => changed.push(s.name.clone()),
                _ => {}
            }
        }
        let names: Vec<String> = wanted.into_iter().map(|s| s.name).collect();
        self.sup.set_services(&names, &changed)
    }
}
