//! `filterbox up`: the supervisor in host mode.
//!
//! Carries out the decisions of [`crate::core::Supervisor`]: spawns role
//! processes, probes their health, delivers timer and exit events, and turns
//! SIGINT/SIGTERM into an ordered shutdown.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use model::config::{Role, SystemConfig, API_TOKEN_FILE, SYSTEM_JSON};
use nix::sys::signal::Signal;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::core::{Action, Event, Instance, Policy, Supervisor};
use crate::{health, process, CommonArgs, SupervisorError};

/// Pause between two health probes of a starting role.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// Events in flight between the helper tasks and the loop; they are few.
const EVENT_QUEUE: usize = 64;

struct Running {
    instance: Instance,
    pid: u32,
    exited: Arc<AtomicBool>,
    _stdin: Option<tokio::process::ChildStdin>,
}

struct Driver {
    exe: PathBuf,
    data_dir: PathBuf,
    args: CommonArgs,
    config: Arc<SystemConfig>,
    policy: Policy,
    events: mpsc::Sender<Event>,
    running: HashMap<Role, Running>,
}

/// Runs the box on this machine until SIGINT or SIGTERM: creates the data
/// directory with the default configuration on first run, starts the roles
/// in order, restarts those that die, and stops them in reverse order.
pub async fn up(args: CommonArgs) -> Result<(), SupervisorError> {
    let data_dir = args.data_dir()?;
    prepare_data_dir(&data_dir)?;
    let config = Arc::new(args.load_config()?);
    let exe = std::env::current_exe().map_err(SupervisorError::SelfExe)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(SupervisorError::Signals)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(SupervisorError::Signals)?;

    let mut supervisor = Supervisor::new(&config.roles, Policy::default());
    let (tx, mut rx) = mpsc::channel(EVENT_QUEUE);
    let mut driver = Driver {
        exe,
        data_dir,
        args,
        config,
        policy: supervisor.policy().clone(),
        events: tx,
        running: HashMap::new(),
    };
    log::info!(
        "starting roles {:?} with data in {}",
        driver.config.roles,
        driver.data_dir.display()
    );
    let mut actions = supervisor.start();
    loop {
        for action in actions.drain(..) {
            if action == Action::Finished {
                log::info!("all roles stopped");
                return match supervisor.crash_looped().first() {
                    Some(role) => Err(SupervisorError::CrashLoop(role.to_string())),
                    None => Ok(()),
                };
            }
            driver.execute(action);
        }
        let event = tokio::select! {
            Some(event) = rx.recv() => event,
            _ = sigint.recv() => shutdown_requested("SIGINT"),
            _ = sigterm.recv() => shutdown_requested("SIGTERM"),
        };
        driver.note(&event);
        actions = supervisor.handle(event, Instant::now());
    }
}

fn shutdown_requested(signal: &str) -> Event {
    log::info!("{signal} received: stopping the roles in reverse order");
    Event::Shutdown
}

/// Creates the data directory (mode 0700) and a default `system.json`.
fn prepare_data_dir(dir: &Path) -> Result<(), SupervisorError> {
    use std::os::unix::fs::DirBuilderExt;
    let err = |source| SupervisorError::DataDir {
        path: dir.to_path_buf(),
        source,
    };
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(err)?;
    }
    if !dir.join(SYSTEM_JSON).exists() {
        SystemConfig::default().write(dir)?;
        log::info!(
            "created {} with the default configuration",
            dir.join(SYSTEM_JSON).display()
        );
    }
    Ok(())
}

impl Driver {
    fn send_later(&self, after: Duration, event: Event) {
        let tx = self.events.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = tx.send(event).await;
        });
    }

    /// Logs what an event means for people reading the output.
    fn note(&self, event: &Event) {
        match event {
            Event::Healthy(role, _) => log::info!("{role} is healthy"),
            Event::HealthTimeout(role, _) => log::error!(
                "{role} did not become healthy within {:?}; killing it",
                self.policy.health_timeout
            ),
            Event::Exited(role, _, how) if how == "exit status 0" => {
                log::info!("{role} exited: {how}")
            }
            Event::Exited(role, _, how) => log::warn!("{role} exited: {how}"),
            Event::StopTimeout(role, _) => log::warn!(
                "{role} did not stop within {:?}; killing it",
                self.policy.stop_timeout
            ),
            _ => {}
        }
    }

    fn execute(&mut self, action: Action) {
        match action {
            Action::Spawn(role, instance) => self.spawn(role, instance),
            Action::Stop(role, instance) => {
                log::info!("stopping {role}");
                self.signal(role, instance, Signal::SIGTERM);
                self.send_later(self.policy.stop_timeout, Event::StopTimeout(role, instance));
            }
            Action::Kill(role, instance) => self.signal(role, instance, Signal::SIGKILL),
            Action::RestartAfter(role, instance, delay) => {
                log::warn!("restarting {role} in {delay:?}");
                self.send_later(delay, Event::RestartDue(role, instance));
            }
            Action::CrashLoop(role, deaths) => log::error!(
                "CRASH LOOP: {role} died {deaths} times in a row soon after starting; \
                 it will not be restarted. Fix the cause shown in its log lines above, \
                 then restart filterbox."
            ),
            Action::AllHealthy => self.announce_ready(),
            Action::Finished => unreachable!("handled by the loop"),
        }
    }

    fn signal(&self, role: Role, instance: Instance, signal: Signal) {
        if let Some(r) = self.running.get(&role) {
            if r.instance == instance && !r.exited.load(Ordering::Relaxed) {
                process::signal(r.pid, signal);
            }
        }
    }

    fn spawn(&mut self, role: Role, instance: Instance) {
        let tx = self.events.clone();
        let proc = match process::spawn(&self.exe, role, &self.data_dir, &self.args.overrides) {
            Ok(p) => p,
            Err(e) => {
                log::error!("cannot start {role}: {e}");
                tokio::spawn(async move {
                    let _ = tx.send(Event::SpawnFailed(role, instance)).await;
                });
                return;
            }
        };
        log::info!("started {role} (pid {})", proc.pid);
        let exited = Arc::new(AtomicBool::new(false));
        let mut child = proc.child;
        {
            let (tx, exited) = (tx.clone(), exited.clone());
            tokio::spawn(async move {
                let _ = tx.send(Event::Spawned(role, instance)).await;
                let how = process::describe_exit(child.wait().await);
                exited.store(true, Ordering::Relaxed);
                let _ = tx.send(Event::Exited(role, instance, how)).await;
            });
        }
        let (config, timeout, flag) = (
            self.config.clone(),
            self.policy.health_timeout,
            exited.clone(),
        );
        tokio::spawn(async move {
            let deadline = Instant::now() + timeout;
            while !flag.load(Ordering::Relaxed) {
                let last_error = match health::probe(role, &config).await {
                    Ok(()) => {
                        let _ = tx.send(Event::Healthy(role, instance)).await;
                        return;
                    }
                    Err(e) => e,
                };
                if Instant::now() >= deadline {
                    log::warn!("{role} health probe: {last_error}");
                    let _ = tx.send(Event::HealthTimeout(role, instance)).await;
                    return;
                }
                tokio::time::sleep(PROBE_INTERVAL).await;
            }
        });
        self.running.insert(
            role,
            Running {
                instance,
                pid: proc.pid,
                exited,
                _stdin: proc.stdin,
            },
        );
    }

    fn announce_ready(&self) {
        let c = &self.config;
        let mut parts = Vec::new();
        if c.roles.contains(&Role::Mta) {
            parts.push(format!("SMTP on {}", c.mta.smtp_listen));
            if let Some(s) = &c.mta.submission_listen {
                parts.push(format!("submission on {s}"));
            }
        }
        if c.roles.contains(&Role::Manager) {
            if let Some(h) = &c.manager.http_listen {
                parts.push(format!(
                    "API on http://{h} (token in {})",
                    self.data_dir.join(API_TOKEN_FILE).display()
                ));
            }
            parts.push(format!("API socket {}", c.manager.api_socket.display()));
        }
        log::info!("ready: {}", parts.join(", "));
    }
}
