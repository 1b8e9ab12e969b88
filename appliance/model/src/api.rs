//! The manager's JSON API: the entities and the paths.
//!
//! The manager serves these on its unix socket and on TCP; the mta, the filter,
//! `filterbox ctl` and (later) the web UI are its clients. Request bodies are
//! strict (`deny_unknown_fields`) so a typo in a script is a 422, not a silent
//! default. All times are unix milliseconds.
//!
//! Paths (all under [`PREFIX`] except `/health`):
//!
//! | method | path | body | answer |
//! |---|---|---|---|
//! | GET | `/health` | | [`Health`] |
//! | GET | `/domains` | | `[Domain]` |
//! | POST | `/domains` | [`NewDomain`] | 201 [`Domain`]; 409 if it exists |
//! | GET | `/domains/{name}` | | [`Domain`] |
//! | DELETE | `/domains/{name}` | | 204; its users go too |
//! | GET | `/users?domain=&q=&limit=` | | `[User]` |
//! | POST | `/users` | [`NewUser`] | 201 [`User`]; 422 if its domain is unknown |
//! | GET | `/users/{address}` | | [`User`] |
//! | DELETE | `/users/{address}` | | 204 |
//! | GET | `/directory` | | [`Directory`] |
//! | GET | `/generation` | | [`Generation`] |
//! | GET | `/quarantine?recipient=&kind=&limit=` | | `[QuarantineItem]`, newest first |
//! | POST | `/quarantine` | [`NewQuarantine`] | 201 [`QuarantineCreated`], after fsync |
//! | GET | `/quarantine/{id}` | | [`QuarantineItem`] |
//! | GET | `/quarantine/{id}/message` | | the raw message, `message/rfc822` |
//! | POST | `/quarantine/{id}/release` | | [`Released`], after the mta said 250 |
//! | DELETE | `/quarantine/{id}` | | 204 |
//! | POST | `/tracking` | `[TrackingEvent]` | 204 |
//! | GET | `/tracking?queue_id=&message_id=&sender=&recipient=&limit=` | | `[TrackingEvent]`, oldest first |
//! | GET | `/admin` | | [`AdminState`] |
//! | PUT | `/admin/password` | [`SetPassword`] | 204 (see [`SetPassword`] for who may) |
//! | POST | `/admin/verify` | [`VerifyPassword`] | 204; 401 wrong; 409 none set; 429 too many failures |
//! | POST | `/admin/token` | [`VerifyPassword`] | 200 [`AdminToken`]; 401 wrong; 409 none set; 429 too many failures (on TCP without a token: the admin's login) |
//! | GET | `/settings/admin-networks` | | [`AdminNetworks`] |
//! | PUT | `/settings/admin-networks` | [`AdminNetworks`] | 200 [`AdminNetworks`] |
//! | GET | `/stats` | | [`MailStats`] |
//! | GET | `/system` | | [`crate::control::SystemStatus`] from the supervisor; 502 if it does not answer |
//! | GET | `/firmware` | | [`crate::control::FirmwareStatus`]: slots, versions, an install's progress (`install.done`/`total`) or outcome, USB bundles |
//! | POST | `/firmware/upload?force=&reboot=` | the `.fbu` bundle itself (`application/octet-stream`, streamed, no size cap but the slot's) | 200 [`FirmwareInstall`] once installed (then the box reboots unless `reboot=false`); 422 refused (signature, board, version, truncated, oversized, hash); 409 an install is under way |
//! | POST | `/firmware/url` | [`FirmwareUrl`] | 202 [`FirmwareInstall`] once the bundle's signature and metadata are checked; the install goes on, progress and outcome in `GET /firmware` |
//! | PATCH | `/domains/{name}` | [`DomainUpdate`] | 200 [`Domain`] |
//! | GET | `/domains/{name}/dkim` | | [`DkimRecord`]: the TXT record to publish |
//! | GET | `/smtp-accounts` | | `[SmtpAccount]` |
//! | POST | `/smtp-accounts` | [`NewSmtpAccount`] | 201 [`SmtpAccount`]; 409 if it exists |
//! | DELETE | `/smtp-accounts/{username}` | | 204 |
//! | POST | `/smtp-accounts/verify` | [`SmtpAuthCheck`] | 204; 401 wrong; 429 too many failures; 403 over TCP (unix socket only: the mta) |
//! | GET | `/tls` | | [`TlsCertificate`] (the certificate only) |
//! | PUT | `/tls` | [`NewTlsCertificate`] | 200 [`TlsCertificate`]; 422 unreadable, mismatched or expired |
//! | GET | `/queue?domain=&limit=` | | `[crate::queue::QueueItem]` from the mta |
//! | GET | `/queue/{id}` | | [`crate::queue::QueueItem`] |
//! | DELETE | `/queue/{id}` | | 204; the sender is not told |
//! | POST | `/queue/flush?domain=&id=` | | 200 [`crate::queue::QueueDone`]: retry now |
//! | GET | `/queue/holds` | | `[String]`: domains whose mail is held |
//! | PUT | `/queue/holds/{domain}` | | 204: hold the domain's mail in the queue |
//! | DELETE | `/queue/holds/{domain}` | | 204: release it (delivered at once) |
//! | POST | `/learn` | [`crate::policy::NewLearnEvent`] | 201 [`crate::policy::LearnEvent`] without the message: a user reports spam (or ham); releasing a spam from the quarantine adds a ham event itself |
//! | GET | `/learn?after=&limit=` | | `[crate::policy::LearnEvent]`, oldest first: what the filter learns |
//!
//! The filter's policy (served to the filter, set by administrators):
//!
//! | method | path | body | answer |
//! |---|---|---|---|
//! | GET | `/filter-policy` | | [`crate::policy::FilterPolicy`] |
//! | PUT | `/filter-policy/domains/{name}` | [`crate::policy::DomainPolicy`] | 200 [`crate::policy::DomainPolicy`]; 404 unknown domain; 422 thresholds that do not rise, bad extensions |
//! | PUT | `/filter-policy/users/{address}` | [`crate::policy::UserPolicy`] | 200 [`crate::policy::UserPolicy`] (lists in normal form); 404 unknown user; 422 an entry neither an address nor a domain |
//! | PUT | `/filter-policy/delay-exempt` | [`crate::policy::FilterPolicy`] with only the exempt lists read | 200 [`crate::policy::FilterPolicy`] |
//!
//! The firmware routes are for administrators: over TCP the token, on the
//! unix socket only root or the manager's own user (not the other roles).
//!
//! Errors are an [`ErrorBody`] with a fitting status: 400 malformed JSON,
//! 401 missing or wrong token on TCP, 404 unknown route or entity, 405 wrong
//! method, 409 conflict, 413 body too large, 422 missing or invalid fields,
//! 502 when a released message could not be handed to the mta.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Prefix of every API path but `/health`.
pub const PREFIX: &str = "/api/v1";

/// Answer of `GET /health`: a role is healthy when this answers at all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Always `"ok"`.
    pub status: String,
    /// Which role answered.
    pub role: String,
    /// [`crate::VERSION`] of the answering binary.
    pub version: String,
}

/// One of a domain's own mail servers, where its clean mail is delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryServer {
    /// Host name or IP address literal.
    pub host: String,
    /// SMTP port; 25 when omitted.
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// Lower is tried first, as with MX preferences; 10 when omitted.
    #[serde(default = "default_priority")]
    pub priority: u16,
}

fn default_smtp_port() -> u16 {
    25
}

fn default_priority() -> u16 {
    10
}

/// How mailboxes of a domain come to be filtered (the seeds' "mailbox
/// provisioning methods"). Either way an unknown recipient is checked with
/// an SMTP call-out to the domain's server, and refused if it refuses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provisioning {
    /// Only mailboxes an administrator added are filtered; mail for other
    /// mailboxes the server accepts is relayed to it unfiltered.
    #[default]
    Manual,
    /// A mailbox the server accepts is provisioned on its first mail (with
    /// the domain's default preferences) and filtered from then on.
    Automatic,
}

/// Whether mail to a domain's own servers may travel in clear.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsPolicy {
    /// STARTTLS when offered, clear otherwise (like Postfix `may`).
    #[default]
    Opportunistic,
    /// Never in clear: a server without STARTTLS defers the mail (`encrypt`).
    Required,
}

/// Body of `POST /domains`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDomain {
    /// The domain name; stored in normal form (see [`crate::address`]).
    pub name: String,
    /// At least one server to deliver the domain's mail to.
    pub delivery: Vec<DeliveryServer>,
    /// See [`Provisioning`].
    #[serde(default)]
    pub provisioning: Provisioning,
    /// See [`TlsPolicy`].
    #[serde(default)]
    pub tls: TlsPolicy,
    /// The customer's client networks (CIDR, IPv4 or IPv6) whose mail to
    /// any destination the box relays outbound.
    #[serde(default)]
    pub relay_networks: Vec<String>,
}

/// A domain the box accepts mail for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    /// Normal-form domain name; the key.
    pub name: String,
    /// Delivery servers, sorted by priority.
    pub delivery: Vec<DeliveryServer>,
    /// When it was created.
    pub created: u64,
    /// See [`Provisioning`].
    #[serde(default)]
    pub provisioning: Provisioning,
    /// See [`TlsPolicy`].
    #[serde(default)]
    pub tls: TlsPolicy,
    /// See [`NewDomain::relay_networks`].
    #[serde(default)]
    pub relay_networks: Vec<String>,
}

/// Body of `PATCH /domains/{name}`: only the fields given change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainUpdate {
    /// New delivery servers (at least one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Vec<DeliveryServer>>,
    /// New provisioning method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning: Option<Provisioning>,
    /// New delivery TLS policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsPolicy>,
    /// New relay networks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_networks: Option<Vec<String>>,
}

/// Answer of `GET /domains/{name}/dkim`: what the customer publishes so
/// that receivers can verify the box's signatures on the domain's mail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DkimRecord {
    /// The domain.
    pub domain: String,
    /// The selector (`s=` of the signatures).
    pub selector: String,
    /// Where the record goes: `<selector>._domainkey.<domain>`.
    pub name: String,
    /// The TXT record's value, e.g. `v=DKIM1; k=rsa; p=...`.
    pub value: String,
}

/// A domain's signing key, for the mta only (in [`Directory::dkim`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DkimKey {
    /// The domain whose mail is signed.
    pub domain: String,
    /// The selector.
    pub selector: String,
    /// The algorithm: `rsa-sha256` or `ed25519-sha256`.
    pub algorithm: String,
    /// The private key, PKCS#8 DER in base64.
    pub private_key: String,
}

impl std::fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimKey")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// An SMTP AUTH login for senders without a fixed address (roaming
/// users of a customer relaying outbound through the box).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpAccount {
    /// The login name, usually a mail address.
    pub username: String,
    /// The customer's domain it belongs to.
    pub domain: String,
    /// When it was created.
    pub created: u64,
}

/// Body of `POST /smtp-accounts`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSmtpAccount {
    /// The login name.
    pub username: String,
    /// The customer's domain; must exist.
    pub domain: String,
    /// The password; stored only as an argon2id hash.
    pub password: String,
}

impl std::fmt::Debug for NewSmtpAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSmtpAccount")
            .field("username", &self.username)
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

/// Body of `POST /smtp-accounts/verify`: the mta checking an AUTH attempt.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpAuthCheck {
    /// The login name the client gave.
    pub username: String,
    /// The password the client gave.
    pub password: String,
    /// The client's IP, for throttling.
    #[serde(default)]
    pub client_ip: Option<String>,
}

impl std::fmt::Debug for SmtpAuthCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpAuthCheck")
            .field("username", &self.username)
            .field("client_ip", &self.client_ip)
            .finish_non_exhaustive()
    }
}

/// Answer of `GET /tls`: the certificate the box presents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsCertificate {
    /// The leaf's subject.
    pub subject: String,
    /// Its DNS names.
    pub names: Vec<String>,
    /// Its issuer (the subject again when self-signed).
    pub issuer: String,
    /// Valid from, unix milliseconds.
    pub not_before: u64,
    /// Valid until, unix milliseconds.
    pub not_after: u64,
    /// True for the certificate the box made itself.
    pub self_signed: bool,
    /// The chain, PEM.
    pub pem: String,
}

/// Body of `PUT /tls`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTlsCertificate {
    /// The chain, PEM, leaf first.
    pub cert: String,
    /// The private key, PEM.
    pub key: String,
}

impl std::fmt::Debug for NewTlsCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewTlsCertificate")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

/// What a delivery proves: who took the message, how, and what was said
/// (kept in the `delivered` tracking event, shown to senders and admins).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryProof {
    /// The host name in the server's 220 banner.
    pub banner_name: String,
    /// The host name in its EHLO reply.
    pub ehlo_name: String,
    /// Its IP address and port.
    pub address: String,
    /// The TLS version, e.g. `TLSv1.3`; `None` in clear.
    #[serde(default)]
    pub tls_version: Option<String>,
    /// The TLS cipher suite.
    #[serde(default)]
    pub tls_cipher: Option<String>,
    /// Every command the box sent and every reply, verbatim, in order
    /// (`C: MAIL FROM:<...>`, `S: 250 2.1.0 Ok`), the data itself excluded.
    pub transcript: Vec<String>,
    /// SHA-256 (hex) of the exact bytes sent as the message data.
    pub body_sha256: String,
    /// Their length.
    pub body_bytes: u64,
}

/// How a mailbox came to be provisioned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserSource {
    /// Added by an administrator.
    #[default]
    Admin,
    /// Added by the mta after the domain's server accepted it in a call-out
    /// ([`Provisioning::Automatic`]).
    Callout,
}

/// Body of `POST /users`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// The mailbox address; its domain must exist.
    pub address: String,
    /// Who adds it.
    #[serde(default)]
    pub source: UserSource,
}

/// A provisioned mailbox: mail to it is accepted and filtered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Normal-form address; the key.
    pub address: String,
    /// Its domain.
    pub domain: String,
    /// When it was created.
    pub created: u64,
    /// Who added it.
    #[serde(default)]
    pub source: UserSource,
}

/// Everything the mta needs for relay and recipient checks, in one answer.
///
/// The mta polls [`Generation`] and fetches this again only when the
/// generation moved, so configuration changes reach it without a restart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    /// Bumped by the manager on every change of domains or users.
    pub generation: u64,
    /// All domains.
    pub domains: Vec<Domain>,
    /// All provisioned addresses, normal form.
    pub users: Vec<String>,
    /// The domains' signing keys (only on the unix socket).
    #[serde(default)]
    pub dkim: Vec<DkimKey>,
}

/// Answer of `GET /generation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generation {
    /// See [`Directory::generation`].
    pub generation: u64,
}

/// Why a message was quarantined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuarantineKind {
    /// Scored as spam.
    Spam,
    /// Carries a virus.
    Virus,
    /// Carries a blocked attachment type.
    Attachment,
}

impl QuarantineKind {
    /// The lowercase name used in JSON and query strings.
    pub fn as_str(self) -> &'static str {
        match self {
            QuarantineKind::Spam => "spam",
            QuarantineKind::Virus => "virus",
            QuarantineKind::Attachment => "attachment",
        }
    }
}

/// Bytes carried in JSON as standard base64.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Base64Bytes(pub Vec<u8>);

impl std::fmt::Debug for Base64Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print message contents into logs.
        write!(f, "Base64Bytes({} bytes)", self.0.len())
    }
}

impl Serialize for Base64Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine;
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map(Base64Bytes)
            .map_err(|e| serde::de::Error::custom(format!("invalid base64: {e}")))
    }
}

/// Body of `POST /quarantine`: the filter hands over a message it holds back.
///
/// The manager makes one [`QuarantineItem`] per recipient (each user sees and
/// releases their own copy) and answers only after the entry is on disk, so
/// the mta may then answer 250 to the sender.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewQuarantine {
    /// The mta's queue id (milter macro `i`), when the client sent one.
    #[serde(default)]
    pub queue_id: Option<String>,
    /// The `Message-ID` header, without angle brackets.
    #[serde(default)]
    pub message_id: Option<String>,
    /// Envelope sender; empty for the null sender.
    pub sender: String,
    /// Envelope recipients held back.
    pub recipients: Vec<String>,
    /// The `Subject` header, decoded.
    #[serde(default)]
    pub subject: String,
    /// The `Date` header as written by the sender.
    #[serde(default)]
    pub date: Option<String>,
    /// The SMTP client's IP address.
    #[serde(default)]
    pub client_ip: Option<String>,
    /// A customer's own outgoing mail, held: its sender (and the
    /// administrator, `manager.notify_admin`) are told.
    #[serde(default)]
    pub outbound: bool,
    /// Spam, virus or attachment.
    pub kind: QuarantineKind,
    /// The filter's score.
    pub score: f64,
    /// Human-readable reasons, e.g. `GTUBE`, `EICAR in part 2`.
    pub reasons: Vec<String>,
    /// The whole message as it arrived.
    pub message: Base64Bytes,
}

/// Answer of `POST /quarantine`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineCreated {
    /// One id per recipient, in the order of [`NewQuarantine::recipients`].
    pub ids: Vec<String>,
}

/// A held message as one recipient sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuarantineItem {
    /// The entry's id (see [`crate::id`]).
    pub id: String,
    /// The recipient this copy belongs to.
    pub recipient: String,
    /// Envelope sender.
    pub sender: String,
    /// `Subject` header.
    pub subject: String,
    /// `Date` header.
    pub date: Option<String>,
    /// When it was quarantined.
    pub quarantined: u64,
    /// Held on its way out (see [`NewQuarantine::outbound`]).
    #[serde(default)]
    pub outbound: bool,
    /// Spam, virus or attachment.
    pub kind: QuarantineKind,
    /// The filter's score.
    pub score: f64,
    /// Why.
    pub reasons: Vec<String>,
    /// Message size in bytes.
    pub size: u64,
    /// The mta's queue id, when known.
    pub queue_id: Option<String>,
    /// `Message-ID` header.
    pub message_id: Option<String>,
    /// SMTP client IP.
    pub client_ip: Option<String>,
}

/// Answer of `POST /quarantine/{id}/release`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Released {
    /// The released entry (now gone from the quarantine).
    pub id: String,
    /// The mta's reply to the re-injected message, e.g. `250 2.0.0 queued as …`.
    pub reply: String,
}

/// What happened to a message at one step of its way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// The mta received it (after DATA, before the filter's verdict was applied).
    Received,
    /// The filter's verdict as the mta applied it.
    Verdict,
    /// Held in the quarantine for these recipients.
    Quarantined,
    /// Refused at SMTP time (e.g. a filter reject); the sender got the reply.
    Rejected,
    /// On disk in the mta's queue; the sender got 250.
    Queued,
    /// Accepted by the next hop; `reply` holds its answer.
    Delivered,
    /// Temporarily failed; will be retried.
    Deferred,
    /// Given up or refused permanently; a bounce went to the sender.
    Bounced,
    /// Released from the quarantine and handed back to the mta.
    Released,
    /// Deleted from the quarantine.
    Deleted,
}

/// One step of a message's way, as `GET /tracking` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackingEvent {
    /// When it happened.
    pub time: u64,
    /// The mta's queue id, or the quarantine id for quarantine events without one.
    pub queue_id: String,
    /// `Message-ID` header, without angle brackets.
    #[serde(default)]
    pub message_id: Option<String>,
    /// Which step.
    pub kind: EventKind,
    /// Envelope sender.
    pub sender: String,
    /// Recipients this step concerns.
    pub recipients: Vec<String>,
    /// Free text: verdict and score, reason of a deferral, …
    #[serde(default)]
    pub detail: String,
    /// The other side, e.g. `mx.example.test [127.0.0.1]:25`.
    #[serde(default)]
    pub remote: Option<String>,
    /// The other side's SMTP reply, verbatim.
    #[serde(default)]
    pub reply: Option<String>,
    /// For `delivered`: what the delivery proves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<DeliveryProof>,
}

/// Answer of `GET /admin`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminState {
    /// False on a new box: the console's first screen sets the password, and
    /// no web login is accepted until then.
    pub password_set: bool,
}

/// Body of `PUT /admin/password`: the web UI's and the console's admin account.
///
/// Over the unix socket (the console: someone at the box) `current` may be
/// omitted, which is also the documented recovery path for a lost password.
/// Over TCP, `current` is required once a password is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    /// The new password: 8 to 128 characters.
    pub password: String,
    /// The password in force, when one is.
    #[serde(default)]
    pub current: Option<String>,
}

/// Body of `POST /admin/verify`: checks the admin password (console login).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyPassword {
    /// The password to check.
    pub password: String,
}

/// Answer of `POST /admin/token`: the API token, for an admin who proved
/// the admin password (a remote client's login; the file `api-token` is
/// readable only on the box).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminToken {
    /// The bearer token of the TCP API.
    pub token: String,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A secret: never in logs.
        f.write_str("AdminToken(..)")
    }
}

/// The networks allowed to reach the web administration (body and answer of
/// `/settings/admin-networks`); empty means any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminNetworks {
    /// CIDRs, e.g. `192.168.1.0/24`, `2001:db8::/32`.
    pub networks: Vec<String>,
}

/// Mail counters: what the console's status screen and the dashboard show.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Messages received (one per SMTP transaction).
    pub received: u64,
    /// Recipients delivered.
    pub delivered: u64,
    /// Recipients quarantined.
    pub quarantined: u64,
    /// Transactions refused at SMTP time.
    pub rejected: u64,
    /// Delivery attempts deferred.
    pub deferred: u64,
    /// Recipients bounced.
    pub bounced: u64,
}

/// Answer of `GET /stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailStats {
    /// Since the database was created.
    pub total: Counters,
    /// The last 24 hours, one entry per hour, oldest first (`hour` is the
    /// hour's start in unix milliseconds).
    pub hours: Vec<HourCounters>,
}

/// One hour of [`MailStats`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourCounters {
    /// Start of the hour, unix milliseconds.
    pub hour: u64,
    /// What happened in it.
    pub counters: Counters,
}

/// Body of `POST /firmware/url`: fetch a bundle over HTTP and install it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirmwareUrl {
    /// `http://host[:port]/path` (https is not supported yet; redirects are
    /// not followed).
    pub url: String,
    /// Install even an older or equal version (a downgrade).
    #[serde(default)]
    pub force: bool,
    /// Reboot into the new firmware once installed (the default).
    #[serde(default = "default_true")]
    pub reboot: bool,
}

fn default_true() -> bool {
    true
}

/// Answer of the firmware install routes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirmwareInstall {
    /// What happened, for people: e.g. `installed 0.2.0 into slot B; rebooting`.
    pub message: String,
}

/// The JSON body of every error answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong, for people (`message`) and programs (`code`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// The HTTP status, repeated for clients that lose it.
    pub status: u16,
    /// A stable token: `bad_json`, `unauthorized`, `not_found`,
    /// `method_not_allowed`, `conflict`, `too_large`, `invalid`, `upstream`,
    /// `throttled`, `internal`.
    pub code: String,
    /// A sentence saying what was wrong and, where it helps, what to do.
    pub message: String,
}

/// Percent-encodes a query-string value or path segment (RFC 3986 unreserved kept).
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes a percent-encoded component (`+` is a space, as in forms); `None`
/// when an escape is malformed or the result is not UTF-8.
pub fn decode_component(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_server_defaults() {
        let s: DeliveryServer = serde_json::from_str(r#"{"host":"mx.example.test"}"#).unwrap();
        assert_eq!((s.port, s.priority), (25, 10));
        assert!(
            serde_json::from_str::<NewDomain>(r#"{"name":"a.test","delivery":[],"x":1}"#).is_err()
        );
    }

    #[test]
    fn base64_round_trip_and_debug_hides_content() {
        let b = Base64Bytes(b"secret body".to_vec());
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<Base64Bytes>(&json).unwrap(), b);
        assert_eq!(format!("{b:?}"), "Base64Bytes(11 bytes)");
        assert!(serde_json::from_str::<Base64Bytes>("\"***\"").is_err());
    }

    #[test]
    fn components_round_trip() {
        let s = "a b/c?d=e&f@g.test%";
        assert_eq!(decode_component(&encode_component(s)).unwrap(), s);
        assert_eq!(decode_component("a+b%41").unwrap(), "a bA");
        assert!(decode_component("%4").is_none());
        assert!(decode_component("%zz").is_none());
    }

    #[test]
    fn kinds_serialise_lowercase() {
        assert_eq!(
            serde_json::to_string(&EventKind::Delivered).unwrap(),
            "\"delivered\""
        );
        assert_eq!(QuarantineKind::Virus.as_str(), "virus");
    }
}
