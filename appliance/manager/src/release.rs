//! Releasing a quarantined message: handing it back to the mta over SMTP.
//!
//! The item is deleted only after the mta's final 2xx (the mta then owns the
//! message, durably); on any failure it stays and the caller gets the reason.
//! API handlers are synchronous threads, so the async SMTP client runs on a
//! small tokio runtime owned here.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use model::api::{NewQuarantine, Released};
use model::Endpoint;
use smtp_client::{ClientConfig, DeliveryReport, Envelope};
use tokio::runtime::Runtime;

use crate::store::{QuarantineDelete, Store, StoreError};

/// Connecting to the mta's inject listener.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Each SMTP command and reply.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// The message and the final reply; the whole release stays well inside the
/// API client's 30 s.
const DATA_TIMEOUT: Duration = Duration::from_secs(20);
/// The whole SMTP conversation.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(25);

/// Why a release did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// Another request is releasing the same item right now (HTTP 409).
    #[error("quarantine item {0} is being released by another request")]
    InProgress(String),
    /// The mta could not be reached or did not accept the message (HTTP 502).
    #[error("the mta did not accept the message, it stays in the quarantine: {0}")]
    Upstream(String),
    /// Reading or removing the item failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Hands released messages to the mta's inject listener.
pub struct Releaser {
    runtime: Option<Runtime>,
    target: Endpoint,
    client: ClientConfig,
    /// Ids being released: a second concurrent release of one id must not
    /// deliver the message twice.
    in_flight: Mutex<HashSet<String>>,
    /// The box's name: notices come from its postmaster.
    hostname: String,
    /// Told of held outbound mail, beside its sender.
    admin: Option<String>,
}

/// Holds an id in [`Releaser::in_flight`] until dropped.
struct Claim<'a> {
    set: &'a Mutex<HashSet<String>>,
    id: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        lock(self.set).remove(&self.id);
    }
}

fn lock(set: &Mutex<HashSet<String>>) -> std::sync::MutexGuard<'_, HashSet<String>> {
    // The set stays consistent even if a holder panicked.
    set.lock().unwrap_or_else(|p| p.into_inner())
}

impl Releaser {
    /// A releaser delivering to `target`, greeting with `helo_name`.
    pub fn new(target: Endpoint, helo_name: &str) -> std::io::Result<Releaser> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("manager-release")
            .enable_all()
            .build()?;
        Ok(Releaser {
            runtime: Some(runtime),
            target,
            client: ClientConfig {
                helo_name: helo_name.to_string(),
                command_timeout: COMMAND_TIMEOUT,
                data_timeout: DATA_TIMEOUT,
            },
            in_flight: Mutex::new(HashSet::new()),
            hostname: helo_name.to_string(),
            admin: None,
        })
    }

    /// Also tells `admin` of held outbound mail.
    pub fn with_admin(mut self, admin: Option<String>) -> Releaser {
        self.admin = admin.filter(|a| !a.trim().is_empty());
        self
    }

    /// Tells the sender of held outbound mail (and the administrator) what
    /// was held and why, from the postmaster with the null sender so that
    /// a notice never bounces. Must be called outside any tokio runtime;
    /// a failure is logged: the message stays held either way.
    pub fn notify_held(&self, new: &NewQuarantine, ids: &[String]) {
        let mut to: Vec<String> = Vec::new();
        if !new.sender.is_empty() {
            to.push(new.sender.clone());
        }
        if let Some(admin) = &self.admin {
            if !to.contains(admin) {
                to.push(admin.clone());
            }
        }
        if to.is_empty() {
            return;
        }
        let notice = held_notice(&self.hostname, new, ids, &to);
        let log_id = format!("held notice {}", ids.first().map_or("-", String::as_str));
        match self.send_notice(&to, &notice, &log_id) {
            Ok(reply) => log::info!("{log_id}: sent to {}: {reply}", to.join(", ")),
            Err(why) => log::warn!("{log_id}: to {} failed: {why}", to.join(", ")),
        }
    }

    /// Hands `message` for `to` to the mta from the null sender (notices
    /// and digests never bounce); the mta's reply, or why it failed. Must
    /// be called outside any tokio runtime.
    pub fn send_notice(
        &self,
        to: &[String],
        message: &[u8],
        log_id: &str,
    ) -> Result<String, String> {
        let envelope = Envelope {
            sender: "",
            recipients: to,
            ..Default::default()
        };
        let runtime = self.runtime.as_ref().expect("runtime lives until drop");
        runtime.block_on(async {
            tokio::time::timeout(RELEASE_TIMEOUT, self.deliver(&envelope, message, log_id))
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {RELEASE_TIMEOUT:?}")))
        })
    }

    /// The box's host name (notices come from its postmaster).
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// Delivers item `id` to its recipient through the mta, then removes it.
    /// Must be called from a thread outside any tokio runtime.
    pub fn release(&self, store: &Store, id: &str) -> Result<Released, ReleaseError> {
        let _claim = self.claim(id)?;
        let item = store.quarantine_item(id)?;
        let message = store.quarantine_message(id)?;
        let recipients = [item.recipient.clone()];
        let envelope = Envelope {
            sender: &item.sender,
            recipients: &recipients,
            ..Default::default()
        };
        let log_id = format!("release {id}");
        let runtime = self.runtime.as_ref().expect("runtime lives until drop");
        let outcome = runtime.block_on(async {
            tokio::time::timeout(RELEASE_TIMEOUT, self.deliver(&envelope, &message, &log_id))
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {RELEASE_TIMEOUT:?}")))
        });
        let reply = outcome.map_err(|why| {
            log::warn!("{log_id}: to {} failed: {why}", self.target);
            ReleaseError::Upstream(why)
        })?;
        log::info!("{log_id}: {} accepted it: {reply}", self.target);
        let why = QuarantineDelete::Released {
            remote: self.target.to_string(),
            reply: reply.clone(),
        };
        if let Err(e) = store.quarantine_remove(id, why) {
            log::error!("{log_id}: delivered, but removing the item failed: {e}");
            return Err(e.into());
        }
        // A released spam was a false positive: the filter learns it as ham.
        // Viruses and blocked attachments are released for other reasons.
        if item.kind == model::api::QuarantineKind::Spam {
            match store.learn_add(false, &message) {
                Ok(e) => log::info!(
                    "{log_id}: taught to the filter as ham (learn event {})",
                    e.seq
                ),
                Err(e) => log::warn!("{log_id}: could not be taught as ham: {e}"),
            }
        }
        Ok(Released {
            id: id.to_string(),
            reply,
        })
    }

    fn claim(&self, id: &str) -> Result<Claim<'_>, ReleaseError> {
        if !lock(&self.in_flight).insert(id.to_string()) {
            return Err(ReleaseError::InProgress(id.to_string()));
        }
        Ok(Claim {
            set: &self.in_flight,
            id: id.to_string(),
        })
    }

    /// One SMTP transaction; the final reply on success, the reason otherwise.
    async fn deliver(
        &self,
        envelope: &Envelope<'_>,
        message: &[u8],
        log_id: &str,
    ) -> Result<String, String> {
        let report = match &self.target {
            Endpoint::Unix(path) => {
                let stream =
                    tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::UnixStream::connect(path))
                        .await
                        .map_err(|_| format!("connecting to {} timed out", self.target))?
                        .map_err(|e| format!("cannot connect to {}: {e}", self.target))?;
                smtp_client::send_logged(stream, &self.client, envelope, message, log_id).await
            }
            Endpoint::Tcp(address) => {
                let (host, port) = split_host_port(address)?;
                let stream = smtp_client::connect_tcp(host, port, CONNECT_TIMEOUT)
                    .await
                    .map_err(|e| format!("cannot connect to {address}: {e}"))?;
                smtp_client::send_logged(stream, &self.client, envelope, message, log_id).await
            }
        };
        verdict(&report.map_err(|e| e.to_string())?)
    }
}

/// The notice of held outbound mail.
fn held_notice(hostname: &str, new: &NewQuarantine, ids: &[String], to: &[String]) -> Vec<u8> {
    let what = match new.kind {
        model::api::QuarantineKind::Virus => "a virus",
        model::api::QuarantineKind::Attachment => "an attachment that is not allowed",
        model::api::QuarantineKind::Spam => "what looks like spam",
    };
    let subject: String = new
        .subject
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    let body = format!(
        "Your message was not sent: it carries {what}.\n\n\
         Subject:    {subject}\n\
         Recipients: {}\n\
         Reasons:    {}\n\
         Held as:    {}\n\n\
         It is held in the quarantine of {hostname}. If it is legitimate, ask\n\
         your administrator to release it; otherwise, check the computer it\n\
         was sent from.\n",
        new.recipients.join(", "),
        new.reasons.join("; "),
        ids.join(", "),
    );
    let postmaster = format!("postmaster@{hostname}");
    mail_builder::MessageBuilder::new()
        .from(("Mail filter", postmaster.as_str()))
        .to(to.iter().map(String::as_str).collect::<Vec<_>>())
        .subject(format!("Held: {subject}"))
        .header(
            "Auto-Submitted",
            mail_builder::headers::raw::Raw::new("auto-generated"),
        )
        .text_body(body)
        .write_to_vec()
        .unwrap_or_default()
}

impl Drop for Releaser {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside async code (where
        // `run` ends); nothing is in flight by now, so do not wait.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// `host:port` or `[v6]:port` of an [`Endpoint::Tcp`].
fn split_host_port(address: &str) -> Result<(&str, u16), String> {
    address
        .rsplit_once(':')
        .and_then(|(h, p)| {
            Some((
                h.trim_start_matches('[').trim_end_matches(']'),
                p.parse().ok()?,
            ))
        })
        .ok_or_else(|| format!("{address:?} is not HOST:PORT"))
}

/// The final reply when the mta took the message, else the reply that refused it.
fn verdict(report: &DeliveryReport) -> Result<String, String> {
    if !report.greeting.is_positive() {
        return Err(format!("greeting: {}", report.greeting));
    }
    if let Some(refused) = report.recipients.iter().find(|r| !r.reply.is_positive()) {
        return Err(format!(
            "RCPT TO:<{}>: {}",
            refused.recipient, refused.reply
        ));
    }
    match &report.data_reply {
        Some(reply) if reply.is_positive() => Ok(reply.to_string()),
        Some(reply) => Err(format!("DATA: {reply}")),
        None => Err("the mta ended the transaction before DATA".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtp_client::{RecipientResult, Reply};

    fn report(greeting: u16, rcpt: u16, data: Option<u16>) -> DeliveryReport {
        DeliveryReport {
            greeting: Reply::new(greeting, "hi"),
            recipients: vec![RecipientResult {
                recipient: "a@b.test".into(),
                reply: Reply::new(rcpt, "rcpt"),
            }],
            data_reply: data.map(|c| Reply::new(c, "2.0.0 queued as X")),
            bytes_sent: 0,
            dsn_passed: false,
        }
    }

    #[test]
    fn only_a_positive_final_reply_counts() {
        assert_eq!(
            verdict(&report(220, 250, Some(250))).unwrap(),
            "250 2.0.0 queued as X"
        );
        assert!(verdict(&report(220, 250, Some(451)))
            .unwrap_err()
            .starts_with("DATA: 451"));
        assert!(verdict(&report(220, 550, None))
            .unwrap_err()
            .contains("RCPT TO:<a@b.test>: 550"));
        assert!(verdict(&report(554, 250, Some(250)))
            .unwrap_err()
            .starts_with("greeting"));
        assert!(verdict(&report(220, 250, None)).is_err());
    }

    #[test]
    fn splits_tcp_endpoints() {
        assert_eq!(split_host_port("127.0.0.1:25").unwrap(), ("127.0.0.1", 25));
        assert_eq!(split_host_port("[::1]:2525").unwrap(), ("::1", 2525));
        assert!(split_host_port("nohost").is_err());
    }
}
