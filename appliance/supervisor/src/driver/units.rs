//! The units of a run (roles, services from `system.json`, the console, the
//! network's DHCP and NTP clients), and carrying out the core's actions on them.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use model::config::{Role, ServiceConfig, SystemConfig, API_TOKEN_FILE};
use nix::sys::signal::Signal;

use super::{Context, Driver, Msg};
use crate::core::{Action, Event, Instance, Supervisor};
use crate::listeners::{MtaListeners, LISTEN_FDS_ENV};
use crate::privileges::{can_switch_users, Credentials};
use crate::{health, process};

/// Pause between two health probes of a starting role.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// How long a liveness probe of a healthy role may take.
const LIVENESS_TIMEOUT: Duration = Duration::from_secs(3);

/// What a unit runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum UnitCommand {
    /// `filterbox <role> --data-dir DIR <overrides>`.
    Role(Role),
    /// A command line.
    Service(ServiceConfig),
}

/// A unit's process while it runs.
pub(super) struct Running {
    pub instance: Instance,
    pub pid: u32,
    /// Set when it was reaped; stops its health probe.
    pub exited: Arc<AtomicBool>,
    _stdin: Option<std::process::ChildStdin>,
}

/// The services of `config`: its own, the console, DHCP and NTP clients.
pub(super) fn services(ctx: &Context, config: &SystemConfig) -> Vec<ServiceConfig> {
    let mut all = config.services.clone();
    if let Some(console) = &config.console {
        let mut command = vec![
            ctx.exe.to_string_lossy().into_owned(),
            "console".into(),
            "--data-dir".into(),
            ctx.data_dir.to_string_lossy().into_owned(),
            "--tty".into(),
            console.tty.to_string_lossy().into_owned(),
        ];
        if ctx.cmdline.recovery() {
            command.push("--recovery".into());
        }
        all.push(ServiceConfig {
            name: "console".into(),
            command,
            user: None,
        });
    }
    if let Some(net) = &config.network {
        all.extend(netconf::services(&super::network::options(ctx), net));
    }
    let mut seen: Vec<String> = config.roles.iter().map(|r| r.to_string()).collect();
    all.retain(|s| {
        let fresh = !seen.contains(&s.name) && !s.command.is_empty();
        if !fresh {
            log::error!(
                "service {:?} is not started: its name is taken or its command empty",
                s.name
            );
        }
        seen.push(s.name.clone());
        fresh
    });
    all
}

/// The supervisor and the command of every unit of `config`.
pub(super) fn plan(
    ctx: &Context,
    config: &SystemConfig,
) -> (Supervisor, HashMap<String, UnitCommand>) {
    let services = services(ctx, config);
    let names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
    let mut commands: HashMap<String, UnitCommand> = config
        .roles
        .iter()
        .map(|r| (r.to_string(), UnitCommand::Role(*r)))
        .collect();
    commands.extend(
        services
            .into_iter()
            .map(|s| (s.name.clone(), UnitCommand::Service(s))),
    );
    let sup = Supervisor::new(&config.roles, &names, Default::default());
    (sup, commands)
}

impl Driver<'_> {
    pub(super) fn send_later(&self, after: Duration, event: Event) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = tx.send(Msg::Event(event)).await;
        });
    }

    /// Logs what an event means for people reading the output.
    pub(super) fn note(&self, event: &Event) {
        let policy = self.sup.policy();
        match event {
            Event::Healthy(name, _) => log::info!("{name} is healthy"),
            Event::HealthTimeout(name, _) => log::error!(
                "{name} did not become healthy within {:?}; killing it",
                policy.health_timeout
            ),
            Event::Exited(name, _, how) if how == "exit status 0" => {
                log::info!("{name} exited: {how}")
            }
            Event::Exited(name, _, how) => log::warn!("{name} exited: {how}"),
            Event::StopTimeout(name, _) => log::warn!(
                "{name} did not stop within {:?}; killing it",
                policy.stop_timeout
            ),
            _ => {}
        }
    }

    pub(super) fn execute(&mut self, action: Action) {
        match action {
            Action::Spawn(name, instance) => self.spawn(name, instance),
            Action::Probe(name, instance) => self.probe_health(name, instance),
            Action::SettleAfter(name, instance, after) => {
                self.send_later(after, Event::Healthy(name, instance))
            }
            Action::Stop(name, instance) => {
                log::info!("stopping {name}");
                self.signal(&name, instance, Signal::SIGTERM);
                let timeout = self.sup.policy().stop_timeout;
                self.send_later(timeout, Event::StopTimeout(name, instance));
            }
            Action::Kill(name, instance) => self.signal(&name, instance, Signal::SIGKILL),
            Action::RestartAfter(name, instance, delay) => {
                log::warn!("restarting {name} in {delay:?}");
                self.send_later(delay, Event::RestartDue(name, instance));
            }
            Action::CrashLoop(name, deaths) => log::error!(
                "CRASH LOOP: {name} died {deaths} times in a row soon after starting; \
                 it will not be restarted. Fix the cause shown in its log lines above, \
                 then restart filterbox."
            ),
            Action::Unresponsive(name, failures) => {
                log::error!("{name} failed {failures} liveness probes in a row; killing it")
            }
            Action::AllHealthy => {
                self.announce_ready();
                self.boot_is_healthy();
            }
            Action::Finished => unreachable!("handled by the loop"),
        }
    }

    fn signal(&self, name: &str, instance: Instance, signal: Signal) {
        if let Some(r) = self.running.get(name) {
            if r.instance == instance && !r.exited.load(Ordering::Relaxed) {
                process::signal(r.pid, signal);
            }
        }
    }

    fn spawn(&mut self, name: String, instance: Instance) {
        let started = self
            .command(&name)
            .and_then(|(command, role)| process::start(command, &name, role));
        match started {
            Ok(p) => {
                log::info!("started {name} (pid {})", p.pid);
                self.pids.insert(p.pid, name.clone());
                self.running.insert(
                    name.clone(),
                    Running {
                        instance,
                        pid: p.pid,
                        exited: Arc::new(AtomicBool::new(false)),
                        _stdin: p.stdin,
                    },
                );
                self.pending
                    .push_back(Event::Spawned(name, instance, p.pid));
            }
            Err(e) => {
                log::error!("cannot start {name}: {e}");
                self.pending.push_back(Event::SpawnFailed(name, instance));
            }
        }
    }

    /// The command starting unit `name`; `true` for a role (stdin held open).
    fn command(&mut self, name: &str) -> std::io::Result<(Command, bool)> {
        let unit = self
            .commands
            .get(name)
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such unit"))?;
        match unit {
            UnitCommand::Role(role) => self.role_command(role).map(|c| (c, true)),
            UnitCommand::Service(s) => {
                let mut command = Command::new(&s.command[0]);
                command.args(&s.command[1..]);
                if let Some(user) = s.user.as_deref().filter(|_| can_switch_users()) {
                    let creds = service_user(user)?;
                    command.uid(creds.uid).gid(creds.gid);
                }
                Ok((command, false))
            }
        }
    }

    fn role_command(&mut self, role: Role) -> std::io::Result<Command> {
        let mut command = Command::new(&self.ctx.exe);
        command
            .arg(role.as_str())
            .arg("--data-dir")
            .arg(&self.ctx.data_dir)
            .args(self.ctx.args.overrides.to_args())
            .env(process::SUPERVISED_ENV, "1")
            .env_remove(LISTEN_FDS_ENV);
        let Some(privileges) = &self.privileges else {
            return Ok(command);
        };
        let Credentials { uid, gid } = privileges.of(role);
        // std drops every supplementary group (setgroups(0)) when a root
        // parent sets the uid without naming groups.
        command.uid(uid).gid(gid);
        if role == Role::Mta {
            if self.mta_listeners.is_none() {
                self.mta_listeners = Some(MtaListeners::bind(&self.config.mta)?);
            }
            if let Some(l) = &self.mta_listeners {
                l.pass_to(&mut command)?;
            }
        }
        Ok(command)
    }

    /// Probes a started role until it answers or the health timeout passes.
    fn probe_health(&self, name: String, instance: Instance) {
        let (Some(UnitCommand::Role(role)), Some(r)) =
            (self.commands.get(&name), self.running.get(&name))
        else {
            return;
        };
        let (role, exited, config, tx) = (
            *role,
            r.exited.clone(),
            self.config.clone(),
            self.tx.clone(),
        );
        let deadline = Instant::now() + self.sup.policy().health_timeout;
        tokio::spawn(async move {
            while !exited.load(Ordering::Relaxed) {
                let error = match health::probe(role, &config, health::PROBE_TIMEOUT).await {
                    Ok(()) => {
                        let _ = tx.send(Msg::Event(Event::Healthy(name, instance))).await;
                        return;
                    }
                    Err(e) => e,
                };
                if Instant::now() >= deadline {
                    log::warn!("{role} health probe: {error}");
                    let _ = tx
                        .send(Msg::Event(Event::HealthTimeout(name, instance)))
                        .await;
                    return;
                }
                tokio::time::sleep(PROBE_INTERVAL).await;
            }
        });
    }

    /// Asks every healthy role once whether it still answers.
    pub(super) fn probe_liveness(&mut self) {
        for (name, instance) in self.sup.liveness_targets() {
            let Some(UnitCommand::Role(role)) = self.commands.get(&name) else {
                continue;
            };
            if !self.probing.insert(name.clone()) {
                continue; // the previous probe has not answered yet
            }
            let (role, config, tx) = (*role, self.config.clone(), self.tx.clone());
            tokio::spawn(async move {
                let result = health::probe(role, &config, LIVENESS_TIMEOUT).await;
                if let Err(e) = &result {
                    log::warn!("{role} liveness probe failed: {e}");
                }
                let _ = tx
                    .send(Msg::Event(Event::Alive(name, instance, result.is_ok())))
                    .await;
            });
        }
    }

    fn announce_ready(&self) {
        let c = &self.config;
        let mut parts = Vec::new();
        // The box's addresses first (link-local ones aside): what its
        // administrator types next.
        if c.network.is_some() {
            let addresses: Vec<String> = netconf::interfaces(c.network.as_ref())
                .into_iter()
                .flat_map(|i| {
                    let name = i.name;
                    i.addresses
                        .into_iter()
                        .filter(|a| !a.starts_with("fe80:"))
                        .map(move |a| format!("address {a} on {name}"))
                })
                .collect();
            if addresses.is_empty() {
                parts.push("no address yet".to_string());
            }
            parts.extend(addresses);
        }
        if c.roles.contains(&Role::Mta) {
            parts.push(format!("SMTP on {}", c.mta.smtp_listen));
            if let Some(s) = &c.mta.submission_listen {
                parts.push(format!("submission on {s}"));
            }
            if let Some(s) = &c.mta.smtps_listen {
                parts.push(format!("implicit TLS on {s}"));
            }
        }
        if c.roles.contains(&Role::Manager) {
            if let Some(h) = &c.manager.http_listen {
                parts.push(format!(
                    "API on http://{h} (token in {})",
                    self.ctx.data_dir.join(API_TOKEN_FILE).display()
                ));
            }
            parts.push(format!("API socket {}", c.manager.api_socket.display()));
        }
        parts.push(format!("control socket {}", c.control_socket.display()));
        log::info!("ready: {}", parts.join(", "));
    }
}

/// The user a service runs as, with its primary group.
fn service_user(name: &str) -> std::io::Result<Credentials> {
    match nix::unistd::User::from_name(name) {
        Ok(Some(u)) => Ok(Credentials {
            uid: u.uid.as_raw(),
            gid: u.gid.as_raw(),
        }),
        Ok(None) => Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("user {name} does not exist"),
        )),
        Err(e) => Err(std::io::Error::other(format!("cannot look up {name}: {e}"))),
    }
}
