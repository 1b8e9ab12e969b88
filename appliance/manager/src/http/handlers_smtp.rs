//! SMTP AUTH accounts (`/smtp-accounts`) and the box's TLS certificate (`/tls`).
//!
//! `POST /smtp-accounts/verify` is the mta asking whether a login is right:
//! only on the unix socket (a TCP client could otherwise test passwords),
//! argon2id-checked, and throttled per client IP like the admin password.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use model::api::{NewSmtpAccount, NewTlsCertificate, SmtpAuthCheck};
use model::time::now_ms;

use super::input::{invalid, json, Handled, Params};
use super::response::Response;
use super::router::Router;
use crate::admin::password;
use crate::admin::throttle::{LockoutPolicy, Throttle};
use crate::caller::Caller;
use crate::store::StoreError;

/// Clients (or logins, when the mta gives no IP) tracked by the throttle at
/// most; the oldest state is dropped beyond it.
const MAX_THROTTLED: usize = 10_000;

/// Failed AUTH checks per client, so a password cannot be guessed quickly.
#[derive(Debug, Default)]
pub struct AuthThrottle {
    clients: Mutex<HashMap<String, Throttle>>,
}

impl AuthThrottle {
    fn check(&self, key: &str) -> Result<(), Response> {
        let clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        match clients.get(key).map(|t| t.check(Instant::now())) {
            Some(Err(wait)) => Err(Response::error(
                429,
                "too_many_failures",
                format!(
                    "too many failed logins; try again in {} s",
                    wait.as_secs() + 1
                ),
            )),
            _ => Ok(()),
        }
    }

    fn record(&self, key: &str, right: bool) {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if right {
            clients.remove(key);
            return;
        }
        if clients.len() >= MAX_THROTTLED && !clients.contains_key(key) {
            clients.clear();
        }
        let throttle = clients
            .entry(key.to_string())
            .or_insert_with(|| Throttle::new(LockoutPolicy::default()));
        if let Some(lockout) = throttle.failed(Instant::now()) {
            log::warn!("SMTP AUTH: {key} locked out for {} s", lockout.as_secs());
        }
    }
}

pub(super) fn accounts(r: &Router, p: &Params) -> Handled {
    p.only(&[])?;
    Ok(Response::json(200, &r.store.smtp_accounts()?))
}

pub(super) fn create_account(r: &Router, p: &Params, body: &[u8]) -> Handled {
    p.only(&[])?;
    let new: NewSmtpAccount = json(body)?;
    password::check_rules(&new.password).map_err(invalid)?;
    let hash = password::hash(&new.password)
        .map_err(|e| Response::error(500, "internal", e.to_string()))?;
    let account = r.store.create_smtp_account(&new, hash, now_ms())?;
    log::info!(
        "SMTP account {} added ({})",
        account.username,
        account.domain
    );
    Ok(Response::json(201, &account))
}

pub(super) fn delete_account(r: &Router, p: &Params, username: &str) -> Handled {
    p.only(&[])?;
    r.store.delete_smtp_account(username)?;
    log::info!("SMTP account {username} removed");
    Ok(Response::no_content())
}

pub(super) fn verify(r: &Router, p: &Params, body: &[u8], caller: &Caller) -> Handled {
    p.only(&[])?;
    if !caller.is_local() {
        return Err(Response::error(
            403,
            "forbidden",
            "only the mta checks SMTP logins (unix socket)",
        ));
    }
    let check: SmtpAuthCheck = json(body)?;
    let key = check
        .client_ip
        .clone()
        .unwrap_or_else(|| check.username.clone());
    r.smtp_auth.check(&key)?;
    let right = match r.store.smtp_account_hash(&check.username) {
        Ok((_, hash)) => password::matches(&hash, &check.password)
            .map_err(|e| Response::error(500, "internal", e.to_string()))?,
        Err(StoreError::NotFound(_)) => false,
        Err(e) => return Err(e.into()),
    };
    r.smtp_auth.record(&key, right);
    if right {
        Ok(Response::no_content())
    } else {
        Err(Response::error(
            401,
            "unauthorized",
            "wrong username or password",
        ))
    }
}

pub(super) fn certificate(r: &Router, p: &Params) -> Handled {
    p.only(&[])?;
    let files = r.tls_files()?;
    let pem = std::fs::read_to_string(&files.cert)
        .map_err(|e| Response::error(404, "not_found", format!("no certificate yet ({e})")))?;
    let info = tls::describe(&pem).map_err(|e| Response::error(500, "internal", e.to_string()))?;
    Ok(Response::json(200, &info))
}

pub(super) fn set_certificate(r: &Router, p: &Params, body: &[u8]) -> Handled {
    p.only(&[])?;
    let files = r.tls_files()?;
    let new: NewTlsCertificate = json(body)?;
    let now = i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX);
    let info = tls::install(files, &new.cert, &new.key, now).map_err(|e| match e {
        tls::TlsError::Io { .. } => Response::error(500, "internal", e.to_string()),
        _ => invalid(e.to_string()),
    })?;
    log::info!(
        "TLS certificate replaced: {} until {} ms",
        info.subject,
        info.not_after
    );
    Ok(Response::json(200, &info))
}

#[cfg(test)]
#[path = "router_smtp_tests.rs"]
mod tests;
