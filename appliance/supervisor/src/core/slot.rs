//! One supervised unit's bookkeeping, and its state as shown to people.

use std::time::Instant;

use super::Instance;

/// Whether a unit is a role (ordered, health-probed) or a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// manager, filter, mta: started in order, each after the previous is healthy.
    Role,
    /// Started at once; healthy once it has run a little while.
    Service,
}

/// Where a unit stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not started yet: an earlier role is not healthy yet.
    Waiting,
    /// Started, not yet healthy.
    Starting,
    /// Answered its health probe (a service: ran long enough).
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

impl Status {
    /// The word used by the control socket ([`model::control::ProcessStatus::state`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Waiting => "waiting",
            Status::Starting => "starting",
            Status::Healthy => "healthy",
            Status::Backoff => "backoff",
            Status::CrashLoop => "crash-loop",
            Status::Stopping => "stopping",
            Status::Stopped => "stopped",
        }
    }
}

/// A unit as the status screen shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitStatus {
    /// Role or service name.
    pub name: String,
    /// Role or service.
    pub kind: Kind,
    /// Where it stands.
    pub status: Status,
    /// Its pid while it runs.
    pub pid: Option<u32>,
    /// Starts after the first one.
    pub restarts: u32,
}

#[derive(Debug)]
pub(super) struct Slot {
    pub name: String,
    pub kind: Kind,
    pub status: Status,
    /// The current (or last) instance; 0 before the first start.
    pub instance: Instance,
    pub started: Option<Instant>,
    pub pid: Option<u32>,
    pub quick_deaths: u32,
    pub restarts: u32,
    /// Liveness probes failed in a row while healthy.
    pub failed_probes: u32,
    /// Being stopped to be forgotten (else to be started again at once).
    pub retire: bool,
}

impl Slot {
    pub fn new(name: &str, kind: Kind) -> Slot {
        Slot {
            name: name.to_string(),
            kind,
            status: Status::Waiting,
            instance: 0,
            started: None,
            pid: None,
            quick_deaths: 0,
            restarts: 0,
            failed_probes: 0,
            retire: false,
        }
    }

    pub fn status(&self) -> UnitStatus {
        UnitStatus {
            name: self.name.clone(),
            kind: self.kind,
            status: self.status,
            pid: self.pid,
            restarts: self.restarts,
        }
    }
}
