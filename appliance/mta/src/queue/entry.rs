//! The stored envelope of a queued message and its recipients' progress.

use serde::{Deserialize, Serialize};

/// Envelope and delivery state of one queued message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The queue id (also the key).
    pub id: String,
    /// The reverse-path; empty for the null sender (bounces).
    pub sender: String,
    /// When the message was queued, unix ms; the give-up age counts from here.
    pub arrived: u64,
    /// `Message-ID` of the message, for tracking events.
    pub message_id: Option<String>,
    /// A delivery status notification we generated: never bounced itself.
    pub is_dsn: bool,
    /// One state per recipient, in envelope order.
    pub recipients: Vec<RecipientState>,
    /// Delivery attempts made so far (drives the backoff).
    pub attempts: u32,
    /// Earliest time of the next attempt, unix ms.
    pub next_attempt: u64,
    /// What the sender asked to be told (RFC 3461).
    #[serde(default)]
    pub dsn: crate::dsn::MessageDsn,
    /// A delay notice was sent already (one per message).
    #[serde(default)]
    pub delay_notified: bool,
    /// Received with SMTPUTF8: delivered only where the server offers it.
    #[serde(default)]
    pub smtputf8: bool,
}

/// One recipient and how far it got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientState {
    /// The address, normal form.
    pub address: String,
    /// Its progress.
    pub status: Status,
}

/// The progress of one recipient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Status {
    /// Not delivered yet; `last` says why the previous attempt failed.
    Pending {
        /// The last failure, for the bounce and the logs.
        last: Option<String>,
    },
    /// Accepted by the next hop.
    Delivered {
        /// The next hop, `host [ip]:port`.
        remote: String,
        /// Its reply.
        reply: String,
    },
    /// Given up; the sender was told (unless the sender was null).
    Bounced {
        /// Why.
        reason: String,
    },
}

impl Entry {
    /// A new entry with every recipient pending, due now.
    pub fn new(id: String, sender: String, recipients: &[String], arrived: u64) -> Entry {
        Entry {
            id,
            sender,
            arrived,
            message_id: None,
            is_dsn: false,
            recipients: recipients
                .iter()
                .map(|r| RecipientState {
                    address: r.clone(),
                    status: Status::Pending { last: None },
                })
                .collect(),
            attempts: 0,
            next_attempt: arrived,
            dsn: Default::default(),
            smtputf8: false,
            delay_notified: false,
        }
    }

    /// Recipients still to deliver.
    pub fn pending(&self) -> impl Iterator<Item = &RecipientState> {
        self.recipients
            .iter()
            .filter(|r| matches!(r.status, Status::Pending { .. }))
    }

    /// True when no recipient is pending: the message can go.
    pub fn is_done(&self) -> bool {
        self.pending().next().is_none()
    }

    /// Sets the status of `address` (every occurrence; addresses are unique).
    pub fn set_status(&mut self, address: &str, status: Status) {
        for r in self.recipients.iter_mut().filter(|r| r.address == address) {
            r.status = status.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_pending_recipients() {
        let mut e = Entry::new(
            "q1".into(),
            "s@x.test".into(),
            &["a@x.test".into(), "b@x.test".into()],
            5,
        );
        assert_eq!(e.pending().count(), 2);
        e.set_status(
            "a@x.test",
            Status::Delivered {
                remote: "mx [127.0.0.1]:25".into(),
                reply: "250 ok".into(),
            },
        );
        assert!(!e.is_done());
        e.set_status(
            "b@x.test",
            Status::Bounced {
                reason: "550 no".into(),
            },
        );
        assert!(e.is_done());
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains(r#""state":"delivered""#), "{json}");
        assert_eq!(serde_json::from_str::<Entry>(&json).unwrap(), e);
    }
}
