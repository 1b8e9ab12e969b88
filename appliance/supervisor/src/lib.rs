//! The supervisor: starts the roles, watches them, restarts them, stops them.
//!
//! On a workstation it is `filterbox up` (host mode); on the box it will be
//! PID 1. Either way the decisions (what to start next, how long to back off,
//! when a role is in a crash loop, in which order to stop) are made by the
//! pure [`core::Supervisor`], and [`up`] only carries them out with processes,
//! timers and health probes.

pub mod args;
pub mod core;
mod error;
mod health;
mod process;
mod up;

pub use args::{CommonArgs, Overrides};
pub use error::SupervisorError;
pub use up::up;

pub use process::{print_line, SUPERVISED_ENV};
