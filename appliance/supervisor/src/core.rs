//! The supervisor's decisions, with no processes, clocks or sockets.
//!
//! The driver feeds [`Event`]s (a role was spawned, became healthy, exited, a
//! timer fired, shutdown was asked) with the current time, and carries out
//! the [`Action`]s returned. Every event names the *instance* of the role it
//! concerns, so a late health answer or exit of an earlier instance is ignored.

use std::time::{Duration, Instant};

use model::config::Role;

/// Timings and limits of supervision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Delay before the first restart; doubles with each quick death.
    pub backoff_initial: Duration,
    /// Longest delay between restarts.
    pub backoff_max: Duration,
    /// A role that stayed up this long counts its next death as the first.
    pub stable_after: Duration,
    /// This many quick deaths in a row is a crash loop: the role is given up.
    pub crash_loop_deaths: u32,
    /// A started role that is not healthy within this time is killed.
    pub health_timeout: Duration,
    /// After asking a role to stop, kill it if it is still there after this.
    pub stop_timeout: Duration,
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
        }
    }
}

/// Distinguishes successive processes of one role.
pub type Instance = u64;

/// Something that happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The role's process was started (after an [`Action::Spawn`]).
    Spawned(Role, Instance),
    /// The process could not even be started.
    SpawnFailed(Role, Instance),
    /// The role answered its health probe.
    Healthy(Role, Instance),
    /// The role did not become healthy within [`Policy::health_timeout`].
    HealthTimeout(Role, Instance),
    /// The process ended; the text says how (exit code or signal).
    Exited(Role, Instance, String),
    /// The backoff delay of an [`Action::RestartAfter`] is over.
    RestartDue(Role, Instance),
    /// The [`Policy::stop_timeout`] of an [`Action::Stop`] is over.
    StopTimeout(Role, Instance),
    /// Stop everything (SIGINT/SIGTERM, or a reboot request).
    Shutdown,
}

/// Something the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start a process for the role, as this instance; then probe its health.
    Spawn(Role, Instance),
    /// Ask the instance to stop (SIGTERM); report [`Event::StopTimeout`] after the timeout.
    Stop(Role, Instance),
    /// Kill the instance (SIGKILL).
    Kill(Role, Instance),
    /// Report [`Event::RestartDue`] for this instance after the delay.
    RestartAfter(Role, Instance, Duration),
    /// The role died too often too quickly and will not be restarted.
    CrashLoop(Role, u32),
    /// Every role is healthy for the first time since start.
    AllHealthy,
    /// Every process has ended after a shutdown; the driver may exit.
    Finished,
}

/// Where a role stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not started yet: an earlier role is not healthy yet.
    Waiting,
    /// Started, not yet healthy.
    Starting,
    /// Answered its health probe.
    Healthy,
    /// Died; waiting to be restarted.
    Backoff,
    /// Given up after a crash loop.
    CrashLoop,
    /// Asked to stop; waiting for it to exit.
    Stopping,
    /// Not running and not going to run.
    Stopped,
}

#[derive(Debug)]
struct Slot {
    role: Role,
    status: Status,
    instance: Instance,
    started: Option<Instant>,
    quick_deaths: u32,
}

/// The supervision state of all roles of the box.
#[derive(Debug)]
pub struct Supervisor {
    policy: Policy,
    slots: Vec<Slot>,
    next_instance: Instance,
    all_healthy_reported: bool,
    shutting_down: bool,
}

impl Supervisor {
    /// Supervises `roles`, started in this order.
    pub fn new(roles: &[Role], policy: Policy) -> Supervisor {
        Supervisor {
            policy,
            slots: roles
                .iter()
                .map(|&role| Slot {
                    role,
                    status: Status::Waiting,
                    instance: 0,
                    started: None,
                    quick_deaths: 0,
                })
                .collect(),
            next_instance: 1,
            all_healthy_reported: false,
            shutting_down: false,
        }
    }

    /// The policy in force (the driver needs its timeouts).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Each role with its status, in start order.
    pub fn statuses(&self) -> Vec<(Role, Status)> {
        self.slots
            .iter()
            .map(|s| (s.role, s.status.clone()))
            .collect()
    }

    /// The first actions: start the first role.
    pub fn start(&mut self) -> Vec<Action> {
        match self.slots.first().map(|s| s.role) {
            Some(role) => vec![self.spawn(role)],
            None => vec![Action::AllHealthy],
        }
    }

    fn slot(&mut self, role: Role) -> &mut Slot {
        self.slots
            .iter_mut()
            .find(|s| s.role == role)
            .expect("events only name supervised roles")
    }

    fn spawn(&mut self, role: Role) -> Action {
        let instance = self.next_instance;
        self.next_instance += 1;
        let slot = self.slot(role);
        slot.instance = instance;
        slot.status = Status::Starting;
        slot.started = None;
        Action::Spawn(role, instance)
    }

    /// Feeds one event that happened at `now`; returns what to do.
    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        if let Event::Shutdown = event {
            return self.begin_shutdown();
        }
        let (role, instance) = match &event {
            Event::Spawned(r, i)
            | Event::SpawnFailed(r, i)
            | Event::Healthy(r, i)
            | Event::HealthTimeout(r, i)
            | Event::Exited(r, i, _)
            | Event::RestartDue(r, i)
            | Event::StopTimeout(r, i) => (*r, *i),
            Event::Shutdown => unreachable!("handled above"),
        };
        if self.slot(role).instance != instance {
            return Vec::new(); // about an earlier process of this role
        }
        match event {
            Event::Spawned(..) => {
                self.slot(role).started = Some(now);
                Vec::new()
            }
            Event::Healthy(..) => self.on_healthy(role),
            Event::HealthTimeout(..) if self.slot(role).status == Status::Starting => {
                vec![Action::Kill(role, instance)]
            }
            Event::SpawnFailed(..) | Event::Exited(..) => self.on_exit(role, instance, now),
            Event::RestartDue(..) if self.slot(role).status == Status::Backoff => {
                vec![self.spawn(role)]
            }
            Event::StopTimeout(..) if self.slot(role).status == Status::Stopping => {
                vec![Action::Kill(role, instance)]
            }
            _ => Vec::new(),
        }
    }

    fn on_healthy(&mut self, role: Role) -> Vec<Action> {
        let slot = self.slot(role);
        if slot.status != Status::Starting {
            return Vec::new();
        }
        slot.status = Status::Healthy;
        let mut actions = Vec::new();
        // Start the next role that has never been started.
        if let Some(next) = self
            .slots
            .iter()
            .find(|s| s.status == Status::Waiting)
            .map(|s| s.role)
        {
            actions.push(self.spawn(next));
        } else if !self.all_healthy_reported
            && self.slots.iter().all(|s| s.status == Status::Healthy)
        {
            self.all_healthy_reported = true;
            actions.push(Action::AllHealthy);
        }
        actions
    }

    fn on_exit(&mut self, role: Role, instance: Instance, now: Instant) -> Vec<Action> {
        if self.shutting_down {
            self.slot(role).status = Status::Stopped;
            return self.stop_next();
        }
        let policy = self.policy.clone();
        let slot = self.slot(role);
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
            return vec![Action::CrashLoop(role, slot.quick_deaths)];
        }
        slot.status = Status::Backoff;
        let factor = 1u32 << (slot.quick_deaths - 1).min(16);
        let delay = policy
            .backoff_initial
            .saturating_mul(factor)
            .min(policy.backoff_max);
        vec![Action::RestartAfter(role, instance, delay)]
    }

    fn begin_shutdown(&mut self) -> Vec<Action> {
        if self.shutting_down {
            // A second request: do not wait for the polite stop any longer.
            return self
                .slots
                .iter()
                .filter(|s| s.status == Status::Stopping)
                .map(|s| Action::Kill(s.role, s.instance))
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

    /// Stops the last role still running (reverse start order), one at a time.
    fn stop_next(&mut self) -> Vec<Action> {
        if self.slots.iter().any(|s| s.status == Status::Stopping) {
            return Vec::new();
        }
        match self
            .slots
            .iter_mut()
            .rev()
            .find(|s| matches!(s.status, Status::Starting | Status::Healthy))
        {
            Some(slot) => {
                slot.status = Status::Stopping;
                vec![Action::Stop(slot.role, slot.instance)]
            }
            None => vec![Action::Finished],
        }
    }

    /// Roles given up after a crash loop.
    pub fn crash_looped(&self) -> Vec<Role> {
        self.slots
            .iter()
            .filter(|s| s.status == Status::CrashLoop)
            .map(|s| s.role)
            .collect()
    }
}

#[cfg(test)]
mod tests;
