//! The supervisor: starts the roles and services, watches them, restarts
//! them, stops them.
//!
//! On a workstation it is `filterbox up` (host mode); on the box it is
//! `filterbox init`, PID 1. Either way the decisions (what to start next,
//! how long to back off, when a unit is in a crash loop, in which order to
//! stop, when the watchdog may be fed) are made by the pure
//! [`core::Supervisor`]; the driver only carries them out with processes,
//! timers, health probes, signals and the control socket.

pub mod args;
mod control;
pub mod core;
mod driver;
mod error;
mod health;
pub mod init;
mod listeners;
mod privileges;
mod process;
mod reaper;
mod up;
mod watchdog;

pub use args::{CommonArgs, Overrides};
pub use error::SupervisorError;
pub use init::init;
pub use listeners::LISTEN_FDS_ENV;
pub use up::up;

pub use process::{print_line, SUPERVISED_ENV};
