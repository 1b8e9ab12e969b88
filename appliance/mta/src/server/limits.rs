//! Limits that protect the box from one client: concurrent sessions and
//! new connections per minute per client IP, the RFC 5321 timeouts, and the
//! error tarpit.
//!
//! The overall session limit is the permit count in [`super::Permits`];
//! what is per client lives here. [`ClientTable`] is plain state fed the
//! time, so it is unit-tested without sockets or clocks; [`Limits`] wraps it
//! for the listeners, and [`ErrorPacer`] applies the tarpit in a session.
//!
//! - Per IP: at most `max_connections_per_ip` sessions at once, and new
//!   sessions at `connections_per_ip_per_minute` (a token bucket: a burst of
//!   that many, then that many per minute). Either refusal is `421 4.7.0`
//!   and a close, as Postfix's anvil does. 0 switches a limit off. An IPv6
//!   client counts by its /64, the block one subscriber usually holds, so
//!   hopping between its addresses does not evade the limits.
//! - Tarpit: past `error_delay_after` error replies in a session, each
//!   further error reply waits `error_delay_ms` times the number of errors
//!   past the threshold (capped at [`MAX_ERROR_DELAY`]); at
//!   `error_disconnect_after` errors the session gets `421 4.7.0` and is
//!   closed. Valid commands keep working in between (RFC 5321 wants the
//!   session usable after a 5xx), they are only slowed down.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use model::config::MtaConfig;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::session::{Reply, Session};

/// Client IPs remembered at once; past this, idle entries are dropped, and
/// if all are busy a new IP is refused (only reachable with a flood from
/// that many addresses).
const MAX_TRACKED_CLIENTS: usize = 100_000;
/// The longest single tarpit delay, whatever the error count.
pub(crate) const MAX_ERROR_DELAY: Duration = Duration::from_secs(30);
/// Time to write a refusal to a client that is not served.
const REFUSE_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a connection is not served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Every session permit is taken.
    Overloaded,
    /// This IP already has its maximum of concurrent sessions.
    ConcurrentFromIp,
    /// This IP opened its maximum of sessions in the last minute.
    RateFromIp,
    /// [`MAX_TRACKED_CLIENTS`] addresses are busy.
    TooManyClients,
}

impl Refusal {
    /// The `421 4.7.0` the client is told before the close.
    pub fn reply(self) -> Reply {
        Reply::new(421, "4.7.0", self)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::Overloaded => "too many connections, try again later",
            Refusal::ConcurrentFromIp => "too many connections from your address, try again later",
            Refusal::RateFromIp => {
                "too many connections from your address per minute, try again later"
            }
            Refusal::TooManyClients => "too many clients, try again later",
        })
    }
}

/// One client IP's sessions and rate budget.
#[derive(Debug)]
struct ClientState {
    active: usize,
    /// Connections it may still open now (token bucket).
    tokens: f64,
    /// When `tokens` was last brought up to date.
    refreshed: Instant,
}

/// Per-IP concurrency and connection rate, fed the time by the caller.
#[derive(Debug)]
pub(crate) struct ClientTable {
    max_active: usize,
    per_minute: u32,
    clients: HashMap<IpAddr, ClientState>,
}

impl ClientTable {
    /// A table enforcing `max_active` sessions and `per_minute` new ones per IP (0 = no limit).
    pub fn new(max_active: usize, per_minute: u32) -> ClientTable {
        ClientTable {
            max_active,
            per_minute,
            clients: HashMap::new(),
        }
    }

    /// Counts a new session from `ip` at `now`, or says why it is refused
    /// (a refused attempt uses no budget).
    pub fn admit(&mut self, ip: IpAddr, now: Instant) -> Result<(), Refusal> {
        let ip = client_key(ip);
        if !self.clients.contains_key(&ip) && self.clients.len() >= MAX_TRACKED_CLIENTS {
            self.prune(now);
            if self.clients.len() >= MAX_TRACKED_CLIENTS {
                return Err(Refusal::TooManyClients);
            }
        }
        let capacity = f64::from(self.per_minute);
        let (max_active, per_minute) = (self.max_active, self.per_minute);
        let state = self.clients.entry(ip).or_insert(ClientState {
            active: 0,
            tokens: capacity,
            refreshed: now,
        });
        if max_active > 0 && state.active >= max_active {
            return Err(Refusal::ConcurrentFromIp);
        }
        if per_minute > 0 {
            refill(state, capacity, now);
            if state.tokens < 1.0 {
                return Err(Refusal::RateFromIp);
            }
            state.tokens -= 1.0;
        }
        state.active += 1;
        Ok(())
    }

    /// A session from `ip` has ended.
    pub fn release(&mut self, ip: IpAddr, now: Instant) {
        let ip = client_key(ip);
        let capacity = f64::from(self.per_minute);
        if let Some(state) = self.clients.get_mut(&ip) {
            state.active = state.active.saturating_sub(1);
            refill(state, capacity, now);
            if state.active == 0 && (self.per_minute == 0 || state.tokens >= capacity) {
                self.clients.remove(&ip);
            }
        }
    }

    /// Addresses currently remembered.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        self.clients.len()
    }

    /// Forgets clients with no session whose budget is full again.
    fn prune(&mut self, now: Instant) {
        let capacity = f64::from(self.per_minute);
        self.clients.retain(|_, state| {
            refill(state, capacity, now);
            state.active > 0 || state.tokens < capacity
        });
    }
}

/// The address a client is counted by: itself for IPv4, its /64 for IPv6.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
    }
}

/// Adds the tokens earned since the last refresh: `capacity` per minute.
fn refill(state: &mut ClientState, capacity: f64, now: Instant) {
    let elapsed = now.saturating_duration_since(state.refreshed).as_secs_f64();
    state.tokens = (state.tokens + elapsed * capacity / 60.0).min(capacity);
    state.refreshed = now;
}

/// What the tarpit does after a session's error count changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorAction {
    /// Reply at once.
    Reply,
    /// Reply after this delay.
    Delay(Duration),
    /// Reply, then `421 4.7.0` and close.
    Disconnect,
}

/// The tarpit's settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tarpit {
    after: u32,
    step: Duration,
    disconnect_after: u32,
}

impl Tarpit {
    /// The action once a session has sent `errors` error replies.
    pub fn action(&self, errors: u32) -> ErrorAction {
        if self.disconnect_after > 0 && errors >= self.disconnect_after {
            ErrorAction::Disconnect
        } else if errors > self.after && !self.step.is_zero() {
            let delay = self.step.saturating_mul(errors - self.after);
            ErrorAction::Delay(delay.min(MAX_ERROR_DELAY))
        } else {
            ErrorAction::Reply
        }
    }
}

/// The configured limits, shared by the listeners and every session.
#[derive(Debug)]
pub(crate) struct Limits {
    /// Idle time allowed while waiting for a command.
    pub command_timeout: Duration,
    /// Idle time allowed while waiting for message text.
    pub data_timeout: Duration,
    /// The error tarpit.
    pub tarpit: Tarpit,
    clients: Mutex<ClientTable>,
}

impl Limits {
    /// The limits of `config`.
    pub fn new(config: &MtaConfig) -> Limits {
        Limits {
            command_timeout: Duration::from_secs(config.command_timeout_secs),
            data_timeout: Duration::from_secs(config.data_timeout_secs),
            tarpit: Tarpit {
                after: config.error_delay_after,
                step: Duration::from_millis(config.error_delay_ms),
                disconnect_after: config.error_disconnect_after,
            },
            clients: Mutex::new(ClientTable::new(
                config.max_connections_per_ip,
                config.connections_per_ip_per_minute,
            )),
        }
    }

    /// Admits a session from `ip`; the guard gives its place back when dropped.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ClientGuard, Refusal> {
        self.table().admit(ip, Instant::now())?;
        Ok(ClientGuard {
            limits: self.clone(),
            ip,
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, ClientTable> {
        // The table stays consistent even if a holder panicked: every update is one step.
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One admitted session from one IP.
#[derive(Debug)]
pub(crate) struct ClientGuard {
    limits: Arc<Limits>,
    ip: IpAddr,
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.limits.table().release(self.ip, Instant::now());
    }
}

/// Tells a client that is not served why, then closes.
pub(crate) async fn refuse<S: AsyncWrite + Unpin>(mut stream: S, refusal: Refusal) {
    let _ = tokio::time::timeout(REFUSE_WRITE_TIMEOUT, async {
        stream.write_all(&refusal.reply().to_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

/// Applies the tarpit to one session: called before its replies are flushed.
#[derive(Debug, Default)]
pub(crate) struct ErrorPacer {
    /// Error replies already paced.
    seen: u32,
}

impl ErrorPacer {
    /// Delays the pending replies if new errors among them call for it, or
    /// closes the session after too many (then true); a shutdown cuts a
    /// delay short.
    pub async fn pace(
        &mut self,
        tarpit: &Tarpit,
        session: &mut Session,
        shutdown: &mut watch::Receiver<bool>,
        sid: &str,
    ) -> bool {
        let errors = session.activity().error_replies;
        if errors <= self.seen {
            return false;
        }
        self.seen = errors;
        match tarpit.action(errors) {
            ErrorAction::Reply => false,
            ErrorAction::Delay(delay) => {
                log::debug!("{sid}: {errors} errors: replying in {delay:?}");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.wait_for(|s| *s) => {}
                }
                false
            }
            ErrorAction::Disconnect => {
                log::info!("{sid}: {errors} errors: disconnecting");
                session.close_with(Reply::new(
                    421,
                    "4.7.0",
                    "too many errors, closing connection",
                ));
                true
            }
        }
    }
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;
