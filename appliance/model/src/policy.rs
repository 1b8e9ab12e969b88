//! What the filter applies per domain and per recipient, decided by the
//! administrators in the manager and served to the filter as one snapshot
//! (`GET /filter-policy`), polled by generation like the mta's directory.
//!
//! Scores are SpamAssassin-like: 0 is neutral, 5 is "probably spam". A
//! recipient's own thresholds win over its domain's, and its allow and
//! block lists are applied before any score.

use serde::{Deserialize, Serialize};

/// Spam score limits: a message scoring at or above one gets its action.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Delivered marked as spam (`X-Spam-Flag: YES`, subject prefix).
    pub tag: f64,
    /// Held in the quarantine.
    pub quarantine: f64,
    /// Refused at the end of DATA (550 5.7.1); `None`: never refused.
    #[serde(default)]
    pub reject: Option<f64>,
}

impl Default for Thresholds {
    fn default() -> Self {
        // 5 is where the shipped classifier is calibrated to call a
        // message spam (at most 0.1 % of ham above it in training).
        Thresholds {
            tag: 5.0,
            quarantine: 5.0,
            reject: None,
        }
    }
}

/// What to do with a message whose sender's domain publishes a DMARC
/// policy (`p=reject` / `p=quarantine`) and fails it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DmarcEnforcement {
    /// Report it in `Authentication-Results` and the score only.
    #[default]
    Report,
    /// Do what the sender's domain asks: refuse or quarantine.
    Honour,
}

/// Attachments a domain refuses to receive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttachmentPolicy {
    /// File name extensions, lowercase without the dot (`exe`, `js`).
    pub blocked_extensions: Vec<String>,
    /// Executables by their real type (magic bytes), whatever their name.
    pub block_executables: bool,
    /// Names like `invoice.pdf.exe`.
    pub block_double_extensions: bool,
    /// Office documents carrying macros.
    pub block_macros: bool,
    /// Archives whose content cannot be scanned (password protected).
    pub block_encrypted_archives: bool,
}

impl Default for AttachmentPolicy {
    fn default() -> Self {
        AttachmentPolicy {
            blocked_extensions: [
                "exe", "scr", "pif", "com", "bat", "cmd", "vbs", "vbe", "js", "jse", "wsf", "wsh",
                "hta", "cpl", "msi", "jar", "lnk", "ps1",
            ]
            .map(String::from)
            .to_vec(),
            block_executables: true,
            block_double_extensions: true,
            block_macros: true,
            block_encrypted_archives: false,
        }
    }
}

/// One domain's filtering.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainPolicy {
    /// The domain (normal form); may be left out in `PUT`, whose path names it.
    #[serde(default)]
    pub domain: String,
    /// Its spam thresholds.
    #[serde(default)]
    pub thresholds: Thresholds,
    /// See [`DmarcEnforcement`].
    #[serde(default)]
    pub dmarc: DmarcEnforcement,
    /// See [`AttachmentPolicy`].
    #[serde(default)]
    pub attachments: AttachmentPolicy,
    /// New sender patterns are delayed (when the delay queue is on).
    #[serde(default = "yes")]
    pub delay_queue: bool,
}

fn yes() -> bool {
    true
}

/// One recipient's own choices.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPolicy {
    /// The recipient (normal form); may be left out in `PUT`, whose path
    /// names it.
    #[serde(default)]
    pub address: String,
    /// Overrides its domain's thresholds.
    #[serde(default)]
    pub thresholds: Option<Thresholds>,
    /// Senders always let through: addresses (`a@b.test`) or domains (`b.test`).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Senders always held: addresses or domains.
    #[serde(default)]
    pub block: Vec<String>,
}

/// The whole snapshot: `GET /filter-policy`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterPolicy {
    /// Changes whenever anything in it changes.
    pub generation: u64,
    /// Domains with their own settings (others get the defaults).
    pub domains: Vec<DomainPolicy>,
    /// Recipients with their own settings.
    pub users: Vec<UserPolicy>,
    /// Client networks (CIDR) never delayed: partners, backup MXs.
    #[serde(default)]
    pub delay_exempt_networks: Vec<String>,
    /// Sender addresses or domains never delayed.
    #[serde(default)]
    pub delay_exempt_senders: Vec<String>,
}

/// What a user or the quarantine teaches the filter (`POST /learn` on the
/// manager, fetched by the filter with `GET /learn?after=`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearnEvent {
    /// Increasing; the filter remembers the last one it learned.
    pub seq: u64,
    /// Spam (a user's report) or ham (a release from the quarantine).
    pub spam: bool,
    /// The message, as received.
    pub message: crate::api::Base64Bytes,
}

/// Body of `POST /learn`: a message a user reports as spam, or the
/// quarantine releases as ham.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewLearnEvent {
    /// See [`LearnEvent::spam`].
    pub spam: bool,
    /// See [`LearnEvent::message`].
    pub message: crate::api::Base64Bytes,
}
