//! Contracts of issue 7 (the manager as the source of truth of a service
//! run for many customers): customers owning domains, who may log in and
//! what each may see, per-mailbox policies, quarantine searches, digests,
//! the audit log, reports and configuration backups.
//!
//! Contract only, except [`LinkInfo`], [`DigestSetting`] and
//! [`DigestRun`] (digests and their links are served): the manager does not
//! serve the rest yet. They are fixed first, as for the
//! earlier issues, so that the API, `filterbox ctl`, the web pages of
//! issue 8 and the tests are written against one shape.

use serde::{Deserialize, Serialize};

/// A customer of the service: owns domains (and their sub-domains) and
/// the outbound settings they share.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// Short stable key (`[a-z0-9-]{1,63}`), chosen at creation.
    pub id: String,
    /// The business name shown to administrators.
    pub name: String,
    /// Domains it owns, normal form.
    pub domains: Vec<String>,
    /// When it was created (unix ms).
    pub created: u64,
}

/// Body of `POST /customers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    /// See [`Customer::id`].
    pub id: String,
    /// See [`Customer::name`].
    pub name: String,
}

/// What a login may do. Checked on every route: a group admin sees and
/// changes only what its scope names, an end user only their own mail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Role {
    /// Everything, the box's own settings included.
    GlobalAdmin,
    /// The named customers' domains (and everything under them) and the
    /// named domains; nothing of the box itself.
    GroupAdmin {
        /// Customer ids.
        #[serde(default)]
        customers: Vec<String>,
        /// Domains, normal form.
        #[serde(default)]
        domains: Vec<String>,
    },
    /// One mailbox: its quarantine, its lists, its digest.
    EndUser {
        /// The mailbox, normal form.
        address: String,
    },
}

/// An administrator's account (end users log in as their mailbox).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The login name.
    pub name: String,
    /// See [`Role`].
    pub role: Role,
    /// Locked by the administrator (or by too many failed logins until
    /// [`Account::locked_until`]).
    #[serde(default)]
    pub disabled: bool,
    /// Unix ms until which logins are refused after repeated failures.
    #[serde(default)]
    pub locked_until: Option<u64>,
    /// When it was created (unix ms).
    pub created: u64,
}

/// How the users of a domain prove who they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum LoginMethod {
    /// A password kept on the box (argon2): set by the administrator,
    /// changed by the user.
    #[default]
    Local,
    /// The mailbox's own password, checked against the customer's POP3
    /// server.
    Pop3(RemoteLogin),
    /// The same against an IMAP server.
    Imap(RemoteLogin),
}

/// The customer's server a remote login is checked against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteLogin {
    /// Host name or address.
    pub host: String,
    /// Port; the protocol's TLS port when absent (995, 993).
    #[serde(default)]
    pub port: Option<u16>,
    /// `tls` (implicit), `starttls`; a password never goes out in clear.
    pub security: RemoteSecurity,
}

/// Transport security of a [`RemoteLogin`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RemoteSecurity {
    /// TLS from the first byte.
    #[default]
    Tls,
    /// STLS (POP3) or STARTTLS (IMAP) before the credentials.
    Starttls,
}

/// Body of `POST /login`: answered with a [`Session`] (and a cookie).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// An account name or a mailbox address.
    pub login: String,
    /// Never logged, never stored in clear.
    pub password: String,
}

/// A login's session or an API token, as listed for revocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Public id (not the secret), for `DELETE /sessions/{id}`.
    pub id: String,
    /// Who it acts as.
    pub login: String,
    /// What it may do.
    pub role: Role,
    /// When it was made (unix ms).
    pub created: u64,
    /// When it stops working (unix ms); `None` for an API token until
    /// revoked.
    pub expires: Option<u64>,
    /// The client address it was made from.
    pub from: Option<String>,
    /// The secret, present only in the answer that creates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// What users may do with their quarantined mail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// Read it online (headers and a safe text rendering).
    pub view: bool,
    /// Release it to themselves.
    pub release: bool,
    /// Resend a saved copy of delivered mail ([`MailboxPolicy::backup_days`]).
    pub resend: bool,
    /// Delete it for good.
    pub delete: bool,
}

/// A domain's policy for its mailboxes, each field overridable per user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxPolicy {
    /// Most bytes of quarantine per mailbox; past it the oldest messages
    /// go until usage is under the limit. `None`: no limit.
    pub quota_bytes: Option<u64>,
    /// Days a quarantined message is kept.
    pub retention_days: u32,
    /// At the end of retention: deleted, or moved to the mailbox's
    /// compressed archive (downloadable by the user and the admin).
    pub archive: bool,
    /// See [`Access`].
    pub access: Access,
    /// Days a copy of each delivered message is kept, so users can read and
    /// resend their mail while their own server is down; 0: none.
    pub backup_days: u32,
    /// See [`DigestSchedule`].
    pub digest: DigestSchedule,
}

/// How often a mailbox gets the digest of its new quarantined mail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DigestSchedule {
    /// Every hour with new mail.
    Hourly,
    /// Once a day.
    #[default]
    Daily,
    /// Once a week.
    Weekly,
    /// No digest.
    Never,
}

/// Query of `GET /quarantine` (every field narrows the result).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QuarantineQuery {
    /// Exact recipient.
    pub recipient: Option<String>,
    /// Sender address or domain (substring).
    pub sender: Option<String>,
    /// Subject substring, case-insensitive.
    pub subject: Option<String>,
    /// Quarantined at or after (unix ms).
    pub after: Option<u64>,
    /// Quarantined before (unix ms).
    pub before: Option<u64>,
    /// Score at least.
    pub min_score: Option<f64>,
    /// A reason containing this (e.g. `EICAR`, `SPF_FAIL`).
    pub reason: Option<String>,
    /// Page size (at most 500).
    pub limit: Option<u32>,
    /// Continue after this id (from the previous page).
    pub cursor: Option<String>,
}

/// One line of the audit log: who did what, when, from where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Unix ms.
    pub time: u64,
    /// The login (or `appliance` for the local socket).
    pub actor: String,
    /// The client address, when over TCP.
    pub from: Option<String>,
    /// e.g. `quarantine.release`, `user.delete`, `login.failed`.
    pub action: String,
    /// What it was done to (an id, an address, a domain).
    pub target: String,
}

/// One row of the report: counts per hour or day, per domain or customer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRow {
    /// Start of the hour or day (unix ms).
    pub start: u64,
    /// The domain or customer counted.
    pub subject: String,
    /// Messages received.
    pub received: u64,
    /// Delivered clean.
    pub clean: u64,
    /// Spam (tagged, held or refused).
    pub spam: u64,
    /// Viruses.
    pub virus: u64,
    /// Refused at SMTP.
    pub rejected: u64,
    /// Delayed by the delay queue.
    pub delayed: u64,
    /// Delivered to the customer's server.
    pub delivered: u64,
    /// Deferred (will be retried).
    pub deferred: u64,
    /// Bounced.
    pub bounced: u64,
}

/// First line of a configuration backup (`GET /backup`): one JSON
/// document, versioned; secrets (password hashes, DKIM keys, tokens) are
/// inside `secrets` so a reader knows what to guard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupHeader {
    /// The backup format's version; a box refuses newer ones.
    pub format: u32,
    /// The firmware version that wrote it.
    pub firmware: String,
    /// When (unix ms).
    pub created: u64,
}

/// Answer of `GET /links/{token}` (what a digest link would do; served)
/// and of `POST` on it (done).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkInfo {
    /// `release` or `block`.
    pub action: String,
    /// The quarantined item.
    pub id: String,
    /// Its recipient, the only one the link acts for.
    pub recipient: String,
    /// Its sender.
    pub sender: String,
    /// Its subject.
    pub subject: String,
    /// Unix seconds after which the link no longer works.
    pub expires: u64,
    /// Whether the link was used.
    pub used: bool,
}

/// Body of `PUT /digest/domains/{name}` and `/digest/users/{address}`,
/// answer of `GET /digest/users/{address}` (served).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestSetting {
    /// See [`DigestSchedule`].
    pub schedule: DigestSchedule,
}

/// Answer of `POST /digest/run` (served).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestRun {
    /// Digests handed to the mta.
    pub sent: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_login_methods_have_a_tagged_json_shape() {
        let r: Role = serde_json::from_str(
            r#"{"role":"group_admin","customers":["acme"],"domains":["example.test"]}"#,
        )
        .unwrap();
        assert_eq!(
            r,
            Role::GroupAdmin {
                customers: vec!["acme".into()],
                domains: vec!["example.test".into()]
            }
        );
        let m: LoginMethod = serde_json::from_str(
            r#"{"method":"imap","host":"mail.example.test","security":"starttls"}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            LoginMethod::Imap(RemoteLogin {
                host: "mail.example.test".into(),
                port: None,
                security: RemoteSecurity::Starttls
            })
        );
        let none = Session {
            id: "s1".into(),
            login: "a".into(),
            role: Role::GlobalAdmin,
            created: 1,
            expires: None,
            from: None,
            secret: None,
        };
        assert!(!serde_json::to_string(&none).unwrap().contains("secret"));
    }
}
