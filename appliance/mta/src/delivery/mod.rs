//! Delivery: queued messages go to their domains' own mail servers.
//!
//! The [`scheduler`] knows when each message is due and runs at most
//! `delivery_workers` attempts at once; a [`worker`] attempt delivers a
//! message's pending recipients domain by domain ([`transfer`]), records each recipient's
//! fate, schedules a retry with exponential backoff on temporary failures,
//! and bounces ([`bounce`]) what failed for good or for too long. Other
//! domains' mail (outbound relay) goes to their MX hosts ([`dns`]); every
//! destination gets at most `per_destination_concurrency` deliveries at
//! once ([`limit`]).

pub mod bounce;
pub mod dns;
pub mod limit;
pub mod notice;
pub mod route;
pub mod scheduler;
pub mod transfer;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::directory::Directory;
use crate::queue::{Committer, Store};
use crate::tracking::Tracker;

/// Limit for opening a connection to a delivery server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// What delivery attempts need.
#[derive(Debug)]
pub struct DeliveryContext {
    /// The queue.
    pub store: Store,
    /// For queueing bounces durably.
    pub committer: Committer,
    /// Where each domain's mail goes.
    pub directory: Arc<Directory>,
    /// Tracking events.
    pub tracker: Tracker,
    /// Our name: EHLO, bounces.
    pub hostname: String,
    /// The SMTP client's settings.
    pub client: smtp_client::ClientConfig,
    /// First retry delay; doubles per attempt.
    pub retry_initial: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Age after which temporary failures bounce.
    pub give_up_after: Duration,
    /// Schedules new messages (bounces) for delivery.
    pub queued: mpsc::UnboundedSender<String>,
    /// MX and address lookups.
    pub dns: dns::Dns,
    /// Concurrent deliveries per destination domain.
    pub limits: limit::DestinationLimits,
    /// Domains whose mail stays in the queue for now.
    pub holds: crate::queue::Holds,
    /// Age after which the sender is told its message is still waiting (0: never).
    pub delay_notice_after: Duration,
}
