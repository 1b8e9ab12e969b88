//! The sender history in the milter: the delay queue answers at RCPT,
//! snowshoe detection and verdict counting at end of message.
//!
//! The history is advisory: when `history.db` fails, mail goes on as if
//! the history were not there (logged), never delayed or lost because of it.
//! Outbound mail and clients without an IP address are left out.

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use log::{info, warn};
use miltr_common::actions::{Action, Replycode};
use model::config::{DelayQueueConfig, FilterConfig};
use sender_history::{Decision, Exemptions, History, HistoryError, Outcome, Pass, Sender};

use crate::engine::{Class, Finding};
use crate::message::{Connection, Message};

/// How often expired history records are removed.
pub const PURGE_EVERY_SECS: u64 = 3600;

/// `history.db` with the delay queue's settings.
pub struct SenderHistory {
    history: History,
    config: DelayQueueConfig,
    last_purge: AtomicU64,
}

impl SenderHistory {
    /// Opens `history.db` in `filter.state_dir` (relative to `data_dir`
    /// unless already resolved).
    pub fn open(filter: &FilterConfig, data_dir: &Path) -> Result<SenderHistory, HistoryError> {
        Ok(SenderHistory {
            history: History::open(&data_dir.join(&filter.state_dir))?,
            config: filter.delay_queue.clone(),
            last_purge: AtomicU64::new(0),
        })
    }

    /// Whether the delay queue is on (`filter.delay_queue.enabled`).
    pub fn delay_queue_enabled(&self) -> bool {
        self.config.enabled
    }

    /// The delay queue's answer to a recipient at `now`: `None` lets it
    /// through, else a 451 4.7.1. `delays` is false when the recipient's
    /// domain opted out or the recipient allow-lists the sender; `exempt`
    /// are the policy's exempt networks and senders.
    pub fn at_rcpt(
        &self,
        session: &str,
        conn: &Connection,
        delays: bool,
        exempt: &Exemptions,
        now: u64,
    ) -> Option<Action> {
        if !self.config.enabled || !delays || conn.is_outbound() {
            return None;
        }
        let ip = conn.client_ip()?.parse::<IpAddr>().ok()?;
        if exempt.covers(ip, conn.sender()) {
            return None;
        }
        let sender = Sender::new(ip, conn.helo().unwrap_or(""), conn.sender());
        match self.history.delay(&sender, now, &self.config) {
            Ok(Decision::Pass(Pass::Known)) => None,
            Ok(Decision::Pass(Pass::Retried)) => {
                info!(
                    "{session}: delay queue: {} retried, now known",
                    sender.triple()
                );
                None
            }
            Ok(Decision::Delay { retry_in, first }) => {
                let when = if first {
                    "first attempt"
                } else {
                    "retry too soon"
                };
                info!(
                    "{session}: delay queue: {} delayed ({when})",
                    sender.triple()
                );
                let text =
                    format!("Sender not yet known here, please try again in {retry_in} seconds");
                Some(Replycode::new([4, 5, 1], [4, 7, 1], &text).into())
            }
            Err(e) => {
                warn!("{session}: delay queue unavailable, not delaying: {e}");
                None
            }
        }
    }

    /// At end of message: the snowshoe finding of `message`, if its
    /// sending range looks like one campaign from many new addresses.
    pub fn findings(&self, session: &str, message: &Message, now: u64) -> Vec<Finding> {
        let Some(sender) = sender_of(message) else {
            return Vec::new();
        };
        match self.history.snowshoe(&sender, &message.body, now) {
            Ok(Some(s)) => {
                info!(
                    "{session}: {}: {} new addresses near {} sent similar mail",
                    s.name, s.addresses, sender.ip
                );
                vec![Finding::score(s.score, s.reason())]
            }
            Ok(None) => Vec::new(),
            Err(e) => {
                warn!("{session}: snowshoe check failed: {e}");
                Vec::new()
            }
        }
    }

    /// Counts the message's final `class` for its sender pattern, and
    /// purges expired records now and then.
    pub fn record(&self, session: &str, message: &Message, class: Class, now: u64) {
        let Some(sender) = sender_of(message) else {
            return;
        };
        if let Err(e) = self.history.record(&sender, outcome(class), now) {
            warn!("{session}: cannot record sender history: {e}");
        }
        self.maybe_purge(now);
    }

    /// Writes the history to disk (at shutdown).
    pub fn flush(&self) -> Result<(), HistoryError> {
        self.history.flush()
    }

    /// Purges on a thread of its own once per [`PURGE_EVERY_SECS`].
    fn maybe_purge(&self, now: u64) {
        let last = self.last_purge.load(Ordering::Relaxed);
        if now.saturating_sub(last) < PURGE_EVERY_SECS
            || self
                .last_purge
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let (history, config) = (self.history.clone(), self.config.clone());
        let spawned = std::thread::Builder::new()
            .name("history-purge".into())
            .spawn(move || match history.purge(now, &config) {
                Ok(0) => {}
                Ok(n) => info!("sender history: purged {n} expired records"),
                Err(e) => warn!("sender history: purge failed: {e}"),
            });
        if let Err(e) = spawned {
            warn!("sender history: cannot start the purge: {e}");
        }
    }
}

/// The sender pattern of inbound `message`; `None` for outbound mail and
/// clients without an address.
fn sender_of(message: &Message) -> Option<Sender> {
    let ip = message.client_ip.as_deref()?.parse::<IpAddr>().ok()?;
    if message.outbound {
        return None;
    }
    Some(Sender::new(
        ip,
        message.helo.as_deref().unwrap_or(""),
        &message.sender,
    ))
}

fn outcome(class: Class) -> Outcome {
    match class {
        Class::Clean => Outcome::Clean,
        Class::Spam => Outcome::Spam,
        Class::Virus => Outcome::Virus,
        Class::Attachment => Outcome::Attachment,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use miltr_common::actions::Action;

    const NOW: u64 = 1_800_000_000;

    fn open(dir: &Path, enabled: bool) -> SenderHistory {
        let config = FilterConfig {
            state_dir: "state".into(),
            delay_queue: DelayQueueConfig {
                enabled,
                ..DelayQueueConfig::default()
            },
            ..FilterConfig::default()
        };
        SenderHistory::open(&config, dir).unwrap()
    }

    fn conn(ip: Option<&str>, sender: &str) -> Connection {
        let mut c = Connection::new(true);
        c.on_connect(ip.map(String::from));
        c.on_helo("mx.sender.test");
        c.on_mail(sender);
        c
    }

    fn text(action: Option<Action>) -> String {
        match action {
            Some(Action::Replycode(r)) => r.message().into_owned(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn delays_unless_disabled_exempt_outbound_or_without_address() {
        let dir = tempfile::tempdir().unwrap();
        let h = open(dir.path(), true);
        let none = Exemptions::default();
        let c = conn(Some("192.0.2.1"), "<a@sender.test>");
        assert_eq!(
            text(h.at_rcpt("s", &c, true, &none, NOW)),
            "Sender not yet known here, please try again in 300 seconds"
        );
        assert!(
            h.at_rcpt("s", &c, false, &none, NOW).is_none(),
            "domain opted out"
        );
        assert!(h
            .at_rcpt("s", &conn(None, "<a@b.test>"), true, &none, NOW)
            .is_none());
        let mut out = conn(Some("192.0.2.1"), "<a@sender.test>");
        out.on_macros([(&b"{auth_authen}"[..], &b"alice"[..])]);
        assert!(h.at_rcpt("s", &out, true, &none, NOW).is_none(), "outbound");

        let (exempt, bad) = Exemptions::new(
            &["198.51.100.0/24".into(), "bad".into()],
            &["partner.test".into()],
        );
        assert_eq!(bad, ["bad"]);
        let partner_net = conn(Some("198.51.100.9"), "<x@y.test>");
        assert!(h.at_rcpt("s", &partner_net, true, &exempt, NOW).is_none());
        let partner = conn(Some("203.0.113.9"), "<x@partner.test>");
        assert!(h.at_rcpt("s", &partner, true, &exempt, NOW).is_none());
        let stranger = conn(Some("203.0.113.9"), "<x@stranger.test>");
        assert!(h.at_rcpt("s", &stranger, true, &exempt, NOW).is_some());
        assert!(
            h.at_rcpt("s", &c, true, &exempt, NOW + 300).is_none(),
            "timely retry"
        );

        let off = open(tempfile::tempdir().unwrap().path(), false);
        assert!(
            off.at_rcpt("s", &stranger, true, &none, NOW).is_none(),
            "disabled"
        );
    }

    #[test]
    fn a_snowshoe_finding_can_make_a_message_spam() {
        let dir = tempfile::tempdir().unwrap();
        let h = open(dir.path(), false);
        let body = b"Your account statement is ready: log in to the secure portal \
            to review recent transactions, confirm your identity and avoid suspension.";
        let mut last = Vec::new();
        for n in 1..=4u8 {
            let mut c = conn(Some(&format!("203.0.113.{n}")), "<info@bank.test>");
            c.on_body(body);
            let message = c.finish().unwrap();
            last = h.findings("s", &message, NOW);
            h.record("s", &message, Class::Clean, NOW);
        }
        let clean = crate::engine::Verdict {
            class: Class::Clean,
            score: 0.5,
            reasons: vec!["OTHER".into()],
        };
        let v = clean.with_findings(&last, 3.0);
        assert_eq!(v.class, Class::Spam);
        assert_eq!(v.reasons, ["OTHER", "SNOWSHOE_24 (+3.0)"]);
        assert!((v.score - 3.5).abs() < 1e-9);
    }
}
