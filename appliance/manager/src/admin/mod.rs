//! The box's admin account: one password, shared by the serial console and
//! (later) the web UI, and the networks allowed to reach the web UI.
//!
//! No password ships with the firmware: until one is set, verification
//! answers "none set" and the console's first screen sets it.
//!
//! Who may set the first one: root or the manager's own user on the unix
//! socket (the console's first screen), or a TCP client with the API token;
//! not the other roles on the shared socket.
//!
//! Who may set it once one is set:
//! - without the current password: only a client on the unix socket whose
//!   uid (from the kernel, `SO_PEERCRED`) is root, i.e. someone at the box
//!   (the console, `filterbox ctl admin password` run by an administrator),
//!   or the manager's own user (a workstation where every role runs as one
//!   user). **This is the documented recovery path for a lost password**:
//!   at the serial console, choose "reset the web admin password" (or run
//!   `filterbox ctl admin password` on the box as root), no old password
//!   needed;
//! - everyone else, i.e. TCP clients (the API token already required) and
//!   the other roles on the shared unix socket (the mta and the filter run
//!   as their own users in the socket's group): only with the current
//!   password, right (401 otherwise).
//!
//! Every change is logged with its origin (`unix uid N` or `TCP ADDRESS`).
//! Guesses are throttled ([`throttle`]); the throttle is in memory, so a
//! restart of the manager resets it. Passwords are never logged.

pub mod networks;
pub(crate) mod password;
pub mod throttle;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use model::api::{AdminState, SetPassword};

use crate::caller::Caller;
use crate::store::{Store, StoreError};
pub use password::HashError;
use throttle::{LockoutPolicy, Throttle};

/// Why an admin request was refused; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The new password breaks the rules (422).
    #[error("{0}")]
    Invalid(String),
    /// The password (or the current one) is wrong or missing (401).
    #[error("{0}")]
    Refused(&'static str),
    /// No password is set yet: set one first (409).
    #[error("no admin password is set yet; set one at the console first")]
    NotSet,
    /// Too many wrong passwords: wait this many seconds (429).
    #[error("too many wrong passwords; try again in {0} s")]
    Throttled(u64),
    /// The database refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing failed, or the stored hash is unreadable (500).
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// The admin account's logic around the store: rules, hashing, throttling.
pub struct Admin {
    /// Held while a password is checked, so concurrent guesses are counted
    /// one by one and cannot slip past a lockout.
    throttle: Mutex<Throttle>,
    /// The uid the manager runs as: a peer running as the same user may
    /// reset the password as root may.
    own_uid: u32,
}

impl Admin {
    /// An admin account whose guesses are limited by `policy`, in a
    /// manager running as `own_uid` (its effective uid).
    pub fn new(policy: LockoutPolicy, own_uid: u32) -> Admin {
        Admin {
            throttle: Mutex::new(Throttle::new(policy)),
            own_uid,
        }
    }

    /// Whether a password is set.
    pub fn state(&self, store: &Store) -> Result<AdminState, AdminError> {
        Ok(AdminState {
            password_set: store.admin_password_hash()?.is_some(),
        })
    }

    /// Sets the password (see the module docs for who may). Stored as an
    /// argon2id hash, flushed.
    pub fn set_password(
        &self,
        store: &Store,
        req: &SetPassword,
        caller: &Caller,
    ) -> Result<(), AdminError> {
        password::check_rules(&req.password).map_err(AdminError::Invalid)?;
        let stored = store.admin_password_hash()?;
        match (&stored, &req.current) {
            (Some(hash), Some(current)) => self.check(hash, current)?,
            (Some(_), None) if !at_the_box(caller, self.own_uid) => {
                log::warn!("admin password change without the current one refused ({caller})");
                return Err(AdminError::Refused(
                    "current: the admin password in force is required \
                     (only root at the box may set a new one without it)",
                ));
            }
            (None, _)
                if matches!(caller, Caller::Unix { .. }) && !at_the_box(caller, self.own_uid) =>
            {
                log::warn!("first admin password refused from another role ({caller})");
                return Err(AdminError::Refused(
                    "the first admin password is set at the console (root) or over TCP with the API token",
                ));
            }
            // Root at the box needs no old password; nothing to check on a new box.
            _ => {}
        }
        let hash = password::hash(&req.password)?;
        store.replace_admin_password_hash(stored.as_deref(), &hash)?;
        self.lock().succeeded();
        let what = if stored.is_some() { "changed" } else { "set" };
        log::info!("admin password {what} ({caller})");
        Ok(())
    }

    /// Checks the password (console login).
    pub fn verify(&self, store: &Store, password: &str) -> Result<(), AdminError> {
        let hash = store.admin_password_hash()?.ok_or(AdminError::NotSet)?;
        self.check(&hash, password)
    }

    /// Checks `password` against `hash` under the throttle.
    fn check(&self, hash: &str, password: &str) -> Result<(), AdminError> {
        let mut throttle = self.lock();
        throttle
            .check(Instant::now())
            .map_err(|wait| AdminError::Throttled(secs_rounded_up(wait)))?;
        if password::matches(hash, password)? {
            throttle.succeeded();
            return Ok(());
        }
        match throttle.failed(Instant::now()) {
            Some(lockout) => log::warn!(
                "admin password: too many wrong passwords; checks locked for {} s",
                lockout.as_secs()
            ),
            None => log::warn!(
                "admin password: wrong password ({} in a row)",
                throttle.failures()
            ),
        }
        Err(AdminError::Refused("wrong admin password"))
    }

    /// True when `caller` may administer the box (install firmware): a TCP
    /// client (its API token was checked) or root or the manager's own user
    /// on the unix socket; not the other roles sharing that socket.
    pub fn administers(&self, caller: &Caller) -> bool {
        matches!(caller, Caller::Tcp(_)) || at_the_box(caller, self.own_uid)
    }

    fn lock(&self) -> MutexGuard<'_, Throttle> {
        // The throttle is always consistent between calls; a panic in one
        // check must not disable checking.
        self.throttle.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// True when `caller` may set a new password without the current one:
/// root or the manager's own user, on the unix socket.
fn at_the_box(caller: &Caller, own_uid: u32) -> bool {
    matches!(caller, Caller::Unix { uid } if *uid == 0 || *uid == own_uid)
}

/// Whole seconds, rounded up: a client waiting that long finds the lock gone.
fn secs_rounded_up(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_root_or_the_own_user_on_the_socket_is_at_the_box() {
        let own = 1000;
        assert!(at_the_box(&Caller::Unix { uid: 0 }, own));
        assert!(at_the_box(&Caller::Unix { uid: own }, own));
        assert!(!at_the_box(&Caller::Unix { uid: 1001 }, own));
        assert!(!at_the_box(&Caller::Unix { uid: 65534 }, own));
        assert!(!at_the_box(
            &Caller::Tcp("127.0.0.1:1".parse().unwrap()),
            own
        ));
        assert!(!at_the_box(&Caller::Tcp("127.0.0.1:1".parse().unwrap()), 0));
    }
}
