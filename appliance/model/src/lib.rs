//! Types every filterbox role shares.
//!
//! Roles talk to each other over SMTP, milter and the manager's JSON API. This
//! crate fixes the JSON side of that contract (the [`api`] entities and the
//! blocking [`client::ApiClient`]), the on-disk configuration every role reads
//! ([`config::SystemConfig`]), and the small value types (endpoints, ids,
//! addresses, timestamps) that would otherwise be re-invented per role.

#![forbid(unsafe_code)]

pub mod address;
pub mod api;
pub mod client;
pub mod config;
pub mod control;
pub mod endpoint;
pub mod id;
pub mod network;
pub mod policy;
pub mod queue;
pub mod tenancy;
pub mod time;

pub use endpoint::Endpoint;

/// The firmware version, shown by `/health`, the console and `filterbox --version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
