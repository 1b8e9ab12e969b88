//! The supervisor's decisions, with no processes, clocks or sockets.
//!
//! The box runs *units*: the roles, started in order, each only after the
//! previous one answers its health probe; and services (the console, DHCP,
//! NTP, `services` of `system.json`), started at once and counted healthy
//! once they have run for [`Policy::service_settle`]. Both are restarted with
//! the same backoff and crash-loop rules. At shutdown the roles stop in
//! reverse order, one at a time, then the services.
//!
//! The driver feeds [`Event`]s (a unit was spawned, became healthy, exited, a
//! timer fired, shutdown was asked) with the current time, and carries out
//! the [`Action`]s returned. Every event names the *instance* of the unit it
//! concerns, so a late health answer or exit of an earlier instance is ignored.

mod power;
mod services;
mod slot;

use std::time::{Duration, Instant};

use model::config::Role;

pub use power::{finale, Finale, Mode, Request};
pub use slot::{Kind, Status, UnitStatus};

use slot::Slot;

/// Timings and limits of supervision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Delay before the first restart; doubles with each quick death.
    pub backoff_initial: Duration,
    /// Longest delay between restarts.
    pub backoff_max: Duration,
    /// A unit that stayed up this long counts its next death as the first.
    pub stable_after: Duration,
    /// This many quick deaths in a row is a crash loop: the unit is given up.
    pub crash_loop_deaths: u32,
    /// A started role that is not healthy within this time is killed.
    pub health_timeout: Duration,
    /// After asking a unit to stop, kill it if it is still there after this.
    pub stop_timeout: Duration,
    /// A service that has run this long counts as healthy.
    pub service_settle: Duration,
    /// A healthy role failing this many liveness probes in a row is killed.
    pub liveness_failures: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            stable_after: Duration::from_secs(60),
            crash_loop_deaths: 5,
            health_timeout: Duration::from_secs(60),
            stop_timeout: Duration::from_secs(10),
            service_settle: Duration::from_secs(2),
            liveness_failures: 3,
        }
    }
}

/// Distinguishes successive processes of the units; never reused.
pub type Instance = u64;

/// Something that happened to the instance of the named unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The process was started (after an [`Action::Spawn`]) with this pid.
    Spawned(String, Instance, u32),
    /// The process could not even be started.
    SpawnFailed(String, Instance),
    /// A role answered its health probe, or a service ran long enough.
    Healthy(String, Instance),
    /// The role did not become healthy within [`Policy::health_timeout`].
    HealthTimeout(String, Instance),
    /// The process ended; the text says how (exit code or signal).
    Exited(String, Instance, String),
    /// The backoff delay of an [`Action::RestartAfter`] is over.
    RestartDue(String, Instance),
    /// The [`Policy::stop_timeout`] of an [`Action::Stop`] is over.
    StopTimeout(String, Instance),
    /// A liveness probe of a healthy role answered (`true`) or not.
    Alive(String, Instance, bool),
    /// Stop everything (a signal, or a reboot/shutdown request).
    Shutdown,
}

/// Something the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start a process for the unit, as this instance; report [`Event::Spawned`].
    Spawn(String, Instance),
    /// Probe the role's health until it answers ([`Event::Healthy`]) or
    /// [`Policy::health_timeout`] passes ([`Event::HealthTimeout`]).
    Probe(String, Instance),
    /// Report [`Event::Healthy`] for this service instance after the delay.
    SettleAfter(String, Instance, Duration),
    /// Ask the instance to stop (SIGTERM); report [`Event::StopTimeout`] after the timeout.
    Stop(String, Instance),
    /// Kill the instance (SIGKILL).
    Kill(String, Instance),
    /// Report [`Event::RestartDue`] for this instance after the delay.
    RestartAfter(String, Instance, Duration),
    /// The unit died too often too quickly and will not be restarted.
    CrashLoop(String, u32),
    /// A healthy role stopped answering its liveness probes; it is killed.
    Unresponsive(String, u32),
    /// Every role is healthy for the first time since start.
    AllHealthy,
    /// Every process has ended after a shutdown; the driver may exit.
    Finished,
}

/// The supervision state of every unit of the box.
#[derive(Debug)]
pub struct Supervisor {
    policy: Policy,
    slots: Vec<Slot>,
    next_instance: Instance,
    all_healthy_reported: bool,
    shutting_down: bool,
}

impl Supervisor {
    /// Supervises `roles` (started in this order) and `services` (started at once).
    pub fn new(roles: &[Role], services: &[String], policy: Policy) -> Supervisor {
        let slots = roles
            .iter()
            .map(|r| Slot::new(r.as_str(), Kind::Role))
            .chain(services.iter().map(|s| Slot::new(s, Kind::Service)))
            .collect();
        Supervisor {
            policy,
            slots,
            next_instance: 1,
            all_healthy_reported: false,
            shutting_down: false,
        }
    }

    /// The policy in force (the driver needs its timeouts).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Every unit with its state, roles in start order then services.
    pub fn statuses(&self) -> Vec<UnitStatus> {
        self.slots.iter().map(Slot::status).collect()
    }

    /// The first actions: start the first role and every service.
    pub fn start(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        if let Some(first) = self.first_waiting_role() {
            actions.push(self.spawn(&first));
        }
        let services: Vec<String> = self.names(Kind::Service);
        for s in services {
            actions.push(self.spawn(&s));
        }
        if self.all_roles_healthy() {
            self.all_healthy_reported = true;
            actions.push(Action::AllHealthy);
        }
        actions
    }

    /// True when every role answers (feeding the watchdog is allowed): all
    /// roles are healthy, none is failing its liveness probes, and the box
    /// is not shutting down.
    pub fn feed_ok(&self) -> bool {
        self.all_healthy_reported
            && !self.shutting_down
            && self.all_roles_healthy()
            && self.roles().all(|s| s.failed_probes == 0)
    }

    /// The role instances to probe for liveness now: the healthy ones, once
    /// every role has been healthy.
    pub fn liveness_targets(&self) -> Vec<(String, Instance)> {
        if !self.all_healthy_reported || self.shutting_down {
            return Vec::new();
        }
        self.roles()
            .filter(|s| s.status == Status::Healthy)
            .map(|s| (s.name.clone(), s.instance))
            .collect()
    }

    /// Units given up after a crash loop.
    pub fn crash_looped(&self) -> Vec<String> {
        self.slots
            .iter()
            .filter(|s| s.status == Status::CrashLoop)
            .map(|s| s.name.clone())
            .collect()
    }

    /// Feeds one event that happened at `now`; returns what to do.
    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let (name, instance) = match &event {
            Event::Shutdown => return self.begin_shutdown(),
            Event::Spawned(n, i, _)
            | Event::SpawnFailed(n, i)
            | Event::Healthy(n, i)
            | Event::HealthTimeout(n, i)
            | Event::Exited(n, i, _)
            | Event::RestartDue(n, i)
            | Event::StopTimeout(n, i)
            | Event::Alive(n, i, _) => (n.clone(), *i),
        };
        // An event about an earlier process, or a unit no longer supervised.
        let Some(slot) = self.slot_mut(&name).filter(|s| s.instance == instance) else {
            return Vec::new();
        };
        match event {
            Event::Spawned(_, _, pid) => {
                slot.started = Some(now);
                slot.pid = Some(pid);
                match slot.kind {
                    Kind::Role => vec![Action::Probe(name, instance)],
                    Kind::Service => {
                        let settle = self.policy.service_settle;
                        vec![Action::SettleAfter(name, instance, settle)]
                    }
                }
            }
            Event::Healthy(..) => self.on_healthy(&name),
            Event::HealthTimeout(..) if slot.status == Status::Starting => {
                vec![Action::Kill(name, instance)]
            }
            Event::SpawnFailed(..) | Event::Exited(..) => self.on_exit(&name, now),
            Event::RestartDue(..) if slot.status == Status::Backoff => vec![self.spawn(&name)],
            Event::StopTimeout(..) if slot.status == Status::Stopping => {
                vec![Action::Kill(name, instance)]
            }
            Event::Alive(_, _, ok) => self.on_liveness(&name, ok),
            _ => Vec::new(),
        }
    }

    fn on_healthy(&mut self, name: &str) -> Vec<Action> {
        let slot = self.slot_mut(name).expect("checked by handle");
        if slot.status != Status::Starting {
            return Vec::new();
        }
        slot.status = Status::Healthy;
        slot.failed_probes = 0;
        let mut actions = Vec::new();
        if slot.kind == Kind::Service {
            return actions;
        }
        // Start the next role that has never been started.
        if let Some(next) = self.first_waiting_role() {
            actions.push(self.spawn(&next));
        } else if !self.all_healthy_reported && self.all_roles_healthy() {
            self.all_healthy_reported = true;
            actions.push(Action::AllHealthy);
        }
        actions
    }

    fn on_liveness(&mut self, name: &str, ok: bool) -> Vec<Action> {
        let threshold = self.policy.liveness_failures;
        let slot = self.slot_mut(name).expect("checked by handle");
        if slot.status != Status::Healthy || slot.kind != Kind::Role {
            return Vec::new();
        }
        if ok {
            slot.failed_probes = 0;
            return Vec::new();
        }
        slot.failed_probes += 1;
        if slot.failed_probes == threshold {
            let instance = slot.instance;
            return vec![
                Action::Unresponsive(name.to_string(), threshold),
                Action::Kill(name.to_string(), instance),
            ];
        }
        Vec::new()
    }

    fn on_exit(&mut self, name: &str, now: Instant) -> Vec<Action> {
        let policy = self.policy.clone();
        let shutting_down = self.shutting_down;
        let slot = self.slot_mut(name).expect("checked by handle");
        slot.pid = None;
        if shutting_down {
            slot.status = Status::Stopped;
            return self.stop_next();
        }
        if slot.status == Status::Stopping {
            // Stopped on purpose by set_services.
            slot.status = Status::Stopped;
            if slot.retire {
                self.slots.retain(|s| s.name != name);
                return Vec::new();
            }
            slot.quick_deaths = 0;
            return vec![self.spawn(name)];
        }
        let lived = slot
            .started
            .map_or(Duration::ZERO, |s| now.duration_since(s));
        slot.quick_deaths = if lived >= policy.stable_after {
            1
        } else {
            slot.quick_deaths + 1
        };
        if slot.quick_deaths >= policy.crash_loop_deaths {
            slot.status = Status::CrashLoop;
            return vec![Action::CrashLoop(name.to_string(), slot.quick_deaths)];
        }
        slot.status = Status::Backoff;
        let factor = 1u32 << (slot.quick_deaths - 1).min(16);
        let delay = policy
            .backoff_initial
            .saturating_mul(factor)
            .min(policy.backoff_max);
        vec![Action::RestartAfter(name.to_string(), slot.instance, delay)]
    }

    fn begin_shutdown(&mut self) -> Vec<Action> {
        if self.shutting_down {
            // A second request: do not wait for the polite stop any longer.
            return self
                .slots
                .iter()
                .filter(|s| s.status == Status::Stopping)
                .map(|s| Action::Kill(s.name.clone(), s.instance))
                .collect();
        }
        self.shutting_down = true;
        for slot in &mut self.slots {
            if matches!(slot.status, Status::Waiting | Status::Backoff) {
                slot.status = Status::Stopped;
            }
        }
        self.stop_next()
    }

    /// Stops the last role still running (reverse start order), one at a
    /// time; once no role runs, every service at once.
    fn stop_next(&mut self) -> Vec<Action> {
        if self.slots.iter().any(|s| s.status == Status::Stopping) {
            return Vec::new();
        }
        let running = |s: &Slot| matches!(s.status, Status::Starting | Status::Healthy);
        if let Some(slot) = self
            .slots
            .iter_mut()
            .rev()
            .find(|s| s.kind == Kind::Role && running(s))
        {
            slot.status = Status::Stopping;
            return vec![Action::Stop(slot.name.clone(), slot.instance)];
        }
        let stops: Vec<Action> = self
            .slots
            .iter_mut()
            .filter(|s| running(s))
            .map(|slot| {
                slot.status = Status::Stopping;
                Action::Stop(slot.name.clone(), slot.instance)
            })
            .collect();
        if stops.is_empty() {
            vec![Action::Finished]
        } else {
            stops
        }
    }

    fn spawn(&mut self, name: &str) -> Action {
        let instance = self.next_instance;
        self.next_instance += 1;
        let slot = self.slot_mut(name).expect("spawned units exist");
        if slot.instance != 0 {
            slot.restarts += 1;
        }
        slot.instance = instance;
        slot.status = Status::Starting;
        slot.started = None;
        slot.failed_probes = 0;
        slot.retire = false;
        Action::Spawn(name.to_string(), instance)
    }

    fn slot_mut(&mut self, name: &str) -> Option<&mut Slot> {
        self.slots.iter_mut().find(|s| s.name == name)
    }

    fn roles(&self) -> impl Iterator<Item = &Slot> {
        self.slots.iter().filter(|s| s.kind == Kind::Role)
    }

    fn names(&self, kind: Kind) -> Vec<String> {
        self.slots
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.name.clone())
            .collect()
    }

    fn first_waiting_role(&self) -> Option<String> {
        self.roles()
            .find(|s| s.status == Status::Waiting)
            .map(|s| s.name.clone())
    }

    fn all_roles_healthy(&self) -> bool {
        self.roles().all(|s| s.status == Status::Healthy)
    }
}

#[cfg(test)]
mod tests;
