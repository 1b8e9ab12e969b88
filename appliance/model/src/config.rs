//! `system.json`: which roles run on this box and where they listen.
//!
//! Every role reads the same file from the data directory, so one edit moves
//! an address for all of them. Relative paths are relative to the data
//! directory. Unknown keys are refused (a misspelt key must not silently fall
//! back to a default), and all problems are reported together.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::api::{DeliveryServer, NewDomain, NewUser};
use crate::network::NetworkConfig;
use crate::Endpoint;

/// File name of the configuration inside the data directory.
pub const SYSTEM_JSON: &str = "system.json";

/// File inside the data directory holding the token TCP API clients must send
/// (`Authorization: Bearer …`); created by the manager with mode 0600.
pub const API_TOKEN_FILE: &str = "api-token";

/// A role of the box; each runs as `filterbox <role>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Source of truth and API.
    Manager,
    /// Milter server.
    Filter,
    /// SMTP server, queue and delivery.
    Mta,
}

impl Role {
    /// The role's name as used on the command line and in log prefixes.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Manager => "manager",
            Role::Filter => "filter",
            Role::Mta => "mta",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The whole of `system.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SystemConfig {
    /// The box's name: SMTP banner, EHLO name, `Received` headers.
    pub hostname: String,
    /// Roles this box runs, in start order (each waits for the previous to be healthy).
    pub roles: Vec<Role>,
    /// Manager settings.
    pub manager: ManagerConfig,
    /// Filter settings.
    pub filter: FilterConfig,
    /// MTA settings.
    pub mta: MtaConfig,
    /// Domains and users the manager creates when it makes a new `data.db`;
    /// ignored afterwards (the database is then the source of truth).
    pub initial_data: InitialData,
    /// Network settings; absent on a workstation, where `filterbox up`
    /// leaves the host's network alone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkConfig>,
    /// The supervisor's control socket (see [`crate::control`]).
    pub control_socket: PathBuf,
    /// Further commands the supervisor runs and restarts like the roles
    /// (started at once, stopped after the roles).
    pub services: Vec<ServiceConfig>,
    /// Where the supervisor keeps the roles' logs, and where it forwards them.
    pub logging: LoggingConfig,
    /// A hardware watchdog, fed only while every role is healthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watchdog: Option<WatchdogConfig>,
    /// Run each role as its own unprivileged user (only when started as root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<RoleUsers>,
    /// A serial console, run and restarted by the supervisor like a service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console: Option<ConsoleConfig>,
    /// The box's TLS certificate and key, shared by SMTP and HTTPS.
    pub tls: TlsFiles,
}

/// Where the box's certificate and private key live (PEM).
///
/// Made self-signed for [`SystemConfig::hostname`] on first start when
/// missing, and replaced by an administrator's upload (`PUT /tls`); the roles
/// pick up a replacement without a restart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, or SEC1/PKCS#1).
    pub key: PathBuf,
}

impl Default for TlsFiles {
    fn default() -> Self {
        TlsFiles {
            cert: "tls/cert.pem".into(),
            key: "tls/key.pem".into(),
        }
    }
}

/// A command the supervisor runs and restarts (with the roles' backoff and
/// crash-loop rules); started at once, not waiting for the roles, and
/// stopped after them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Name in logs and status; unique, and not a role's name.
    pub name: String,
    /// Program and arguments; the program is looked up in `PATH`.
    pub command: Vec<String>,
    /// User to run it as (only when the supervisor runs as root).
    #[serde(default)]
    pub user: Option<String>,
}

/// Log files and remote syslog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// Directory of the log files (`<name>.log`, rotated to `<name>.log.1` ...).
    pub dir: PathBuf,
    /// A log file is rotated when it would grow beyond this many bytes.
    pub max_file_bytes: u64,
    /// Rotated files kept per process, besides the current one.
    pub files_kept: u32,
    /// Also send every line to this syslog server (RFC 5424).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_syslog: Option<SyslogConfig>,
}

/// A remote syslog server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// `HOST:PORT` (514 is the usual port).
    pub address: String,
    /// `udp` (RFC 5426) or `tcp` (RFC 6587, octet-counted).
    #[serde(default)]
    pub protocol: SyslogProtocol,
}

/// Transport to a syslog server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogProtocol {
    /// One datagram per message.
    #[default]
    Udp,
    /// A stream of octet-counted messages.
    Tcp,
}

/// The hardware watchdog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchdogConfig {
    /// The device, e.g. `/dev/watchdog`; skipped with a warning when absent.
    pub device: PathBuf,
    /// Seconds between two feeds while healthy (well below the device's timeout).
    #[serde(default = "default_watchdog_interval")]
    pub interval_secs: u64,
}

fn default_watchdog_interval() -> u64 {
    5
}

/// The unprivileged users the roles run as.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoleUsers {
    /// User of the manager.
    pub manager: String,
    /// User of the filter.
    pub filter: String,
    /// User of the mta.
    pub mta: String,
    /// Group shared by the roles: their sockets and the data directory.
    pub group: String,
}

impl Default for RoleUsers {
    fn default() -> Self {
        RoleUsers {
            manager: "fb-manager".into(),
            filter: "fb-filter".into(),
            mta: "fb-mta".into(),
            group: "filterbox".into(),
        }
    }
}

impl RoleUsers {
    /// The user `role` runs as.
    pub fn of(&self, role: Role) -> &str {
        match role {
            Role::Manager => &self.manager,
            Role::Filter => &self.filter,
            Role::Mta => &self.mta,
        }
    }
}

/// The serial console.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// The terminal device, e.g. `/dev/ttyS0`.
    pub tty: PathBuf,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            dir: "logs".into(),
            max_file_bytes: 1024 * 1024,
            files_kept: 5,
            remote_syslog: None,
        }
    }
}

/// Manager settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ManagerConfig {
    /// The API's unix socket (trusted: reachable only through file permissions).
    pub api_socket: PathBuf,
    /// The API (and later the web UI) on TCP; clients must send the API token.
    pub http_listen: Option<String>,
    /// Where released messages are handed back to the mta (its inject listener).
    pub mta_inject: Endpoint,
    /// The administrator's address, told (with the sender) when outbound
    /// mail is held for a virus, an attachment or spam; `None`: only the
    /// sender is told.
    pub notify_admin: Option<String>,
    /// Where users reach the box, for the links in quarantine digests
    /// (e.g. `https://filter.example.com`); `None`: `https://HOSTNAME`.
    pub public_url: Option<String>,
}

/// Filter settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// Milter listeners: unix sockets and/or TCP addresses.
    pub listen: Vec<Endpoint>,
    /// The manager's API, for quarantining, policies and learning.
    pub manager: Endpoint,
    /// DNS servers (`ip` or `ip:port`) for SPF, DKIM, DMARC, ARC and block
    /// lists; empty: those of the system (`/etc/resolv.conf`, re-read when
    /// it changes).
    pub nameservers: Vec<String>,
    /// IP block lists (DNSBL zones); none by default: they send the
    /// clients' addresses to a third party, and most need a subscription.
    pub ip_blocklists: Vec<Blocklist>,
    /// Domain block lists for the URIs in messages (e.g. `dbl.example`).
    pub uri_blocklists: Vec<Blocklist>,
    /// Directory of ClamAV signature files (`.hdb`, `.hsb`, `.ndb`) for the
    /// built-in virus scanner; reread when its files change.
    pub signatures_dir: PathBuf,
    /// clamd, if installed, gets every message too (INSTREAM).
    pub clamd: Option<Endpoint>,
    /// Where the filter keeps its sender history (`history.db`).
    pub state_dir: PathBuf,
    /// See [`DelayQueueConfig`].
    pub delay_queue: DelayQueueConfig,
    /// Longest all engines may take for one message, in milliseconds.
    pub scan_timeout_ms: u64,
    /// What a message gets when an engine fails or runs out of time.
    pub on_engine_failure: EngineFailure,
    /// How often the policy snapshot and learn events are fetched, seconds.
    pub policy_refresh_secs: u64,
}

/// One DNS block list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blocklist {
    /// The zone queried (`<reversed-ip>.zone` or `<domain>.zone`).
    pub zone: String,
    /// Added to the spam score of a listed message.
    pub score: f64,
}

/// The sender history's delay queue (greylisting of unknown patterns, the
/// seeds' defence against snowshoe spam).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DelayQueueConfig {
    /// Off by default: it delays the first mail of every new correspondent.
    pub enabled: bool,
    /// A retry earlier than this after the first attempt is delayed again.
    pub delay_secs: u64,
    /// A retry later than this counts as a new first attempt.
    pub retry_window_secs: u64,
    /// How long a pattern that passed stays known without new mail.
    pub remember_days: u64,
}

impl Default for DelayQueueConfig {
    fn default() -> Self {
        DelayQueueConfig {
            enabled: false,
            delay_secs: 300,
            retry_window_secs: 4 * 3600,
            remember_days: 36,
        }
    }
}

/// The fallback when the engines cannot give a verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineFailure {
    /// The sender is told to retry later (4xx): nothing unscanned passes.
    #[default]
    Tempfail,
    /// The message is delivered with a header saying it was not scanned.
    Pass,
}

/// MTA settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MtaConfig {
    /// Inbound SMTP (port 25 on the box).
    pub smtp_listen: String,
    /// Submission (port 587 on the box).
    pub submission_listen: Option<String>,
    /// Unix socket where the manager re-injects released messages over SMTP;
    /// mail arriving here skips the filter and the recipient checks.
    pub inject_socket: PathBuf,
    /// The filter, as a milter; `None` delivers unfiltered.
    pub milter: Option<Endpoint>,
    /// The manager's API.
    pub manager: Endpoint,
    /// Largest message accepted, in bytes (announced with SIZE).
    pub max_message_size: u64,
    /// Concurrent SMTP sessions; further clients get 421.
    pub max_connections: usize,
    /// Recipients per message; further RCPTs get 452.
    pub max_recipients: usize,
    /// Concurrent outgoing deliveries.
    pub delivery_workers: usize,
    /// First retry delay after a temporary failure, in seconds; doubles each time.
    pub retry_initial_secs: u64,
    /// Longest retry delay, in seconds.
    pub retry_max_secs: u64,
    /// Age after which a message that still fails is bounced, in seconds.
    pub give_up_after_secs: u64,
    /// Implicit TLS (RFC 8314; port 465 on the box); `None` disables it.
    pub smtps_listen: Option<String>,
    /// Concurrent sessions from one client IP; further ones get 421.
    pub max_connections_per_ip: usize,
    /// New sessions per client IP per minute; further ones get 421.
    pub connections_per_ip_per_minute: u32,
    /// Idle time allowed between commands (RFC 5321 4.5.3.2: 5 minutes).
    pub command_timeout_secs: u64,
    /// Idle time allowed within DATA (RFC 5321 4.5.3.2: 3 minutes per block).
    pub data_timeout_secs: u64,
    /// Errors in a session after which each reply is delayed (a tarpit).
    pub error_delay_after: u32,
    /// The delay per error past [`MtaConfig::error_delay_after`], in milliseconds.
    pub error_delay_ms: u64,
    /// Errors in a session after which it gets 421 and is closed (0 = never).
    pub error_disconnect_after: u32,
    /// How the mta resolves MX and address records for outbound delivery.
    pub dns: DnsConfig,
    /// Concurrent deliveries to one destination (domain or host).
    pub per_destination_concurrency: usize,
    /// How long a recipient the domain's server accepted (call-out) is trusted.
    pub callout_positive_ttl_secs: u64,
    /// How long a recipient the domain's server refused (call-out) stays refused.
    pub callout_negative_ttl_secs: u64,
    /// Time for a whole call-out (connect, EHLO, MAIL, RCPT).
    pub callout_timeout_secs: u64,
    /// Age after which the sender is told once that delivery is delayed.
    pub delay_notice_after_secs: u64,
    /// The mta's own socket for queue operations (see [`crate::queue`]).
    pub control_socket: PathBuf,
}

/// DNS settings of outbound delivery.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// Resolvers as `IP` or `IP:PORT`; empty means the system's
    /// `/etc/resolv.conf` (on the box, what DHCP or the console set).
    pub nameservers: Vec<String>,
}

/// Seed data for a new `data.db`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InitialData {
    /// Domains to create.
    pub domains: Vec<NewDomain>,
    /// Users to create.
    pub users: Vec<NewUser>,
}

impl Default for SystemConfig {
    fn default() -> Self {
        SystemConfig {
            hostname: "filterbox.example.test".into(),
            roles: vec![Role::Manager, Role::Filter, Role::Mta],
            manager: ManagerConfig::default(),
            filter: FilterConfig::default(),
            mta: MtaConfig::default(),
            initial_data: InitialData {
                domains: vec![NewDomain {
                    provisioning: Default::default(),
                    relay_networks: Default::default(),
                    tls: Default::default(),
                    name: "example.test".into(),
                    delivery: vec![DeliveryServer {
                        host: "127.0.0.1".into(),
                        port: 2626,
                        priority: 10,
                    }],
                }],
                users: vec![NewUser {
                    source: Default::default(),
                    address: "user@example.test".into(),
                }],
            },
            network: None,
            control_socket: "control.sock".into(),
            services: Vec::new(),
            logging: LoggingConfig::default(),
            watchdog: None,
            users: None,
            console: None,
            tls: TlsFiles::default(),
        }
    }
}

impl Default for ManagerConfig {
    fn default() -> Self {
        ManagerConfig {
            api_socket: "manager.sock".into(),
            http_listen: Some("127.0.0.1:8080".into()),
            mta_inject: Endpoint::Unix("mta-inject.sock".into()),
            notify_admin: None,
            public_url: None,
        }
    }
}

impl Default for FilterConfig {
    fn default() -> Self {
        FilterConfig {
            listen: vec![Endpoint::Unix("filter.sock".into())],
            manager: Endpoint::Unix("manager.sock".into()),
            nameservers: Vec::new(),
            ip_blocklists: Vec::new(),
            uri_blocklists: Vec::new(),
            signatures_dir: "signatures".into(),
            clamd: None,
            state_dir: "filter".into(),
            delay_queue: DelayQueueConfig::default(),
            scan_timeout_ms: 30_000,
            on_engine_failure: EngineFailure::Tempfail,
            policy_refresh_secs: 5,
        }
    }
}

impl Default for MtaConfig {
    fn default() -> Self {
        MtaConfig {
            smtp_listen: "127.0.0.1:2525".into(),
            submission_listen: Some("127.0.0.1:2587".into()),
            inject_socket: "mta-inject.sock".into(),
            milter: Some(Endpoint::Unix("filter.sock".into())),
            manager: Endpoint::Unix("manager.sock".into()),
            max_message_size: 25 * 1024 * 1024,
            max_connections: 500,
            max_recipients: 100,
            delivery_workers: 16,
            retry_initial_secs: 60,
            retry_max_secs: 3600,
            give_up_after_secs: 5 * 24 * 3600,
            smtps_listen: Some("127.0.0.1:2465".into()),
            max_connections_per_ip: 20,
            connections_per_ip_per_minute: 600,
            command_timeout_secs: 300,
            data_timeout_secs: 180,
            error_delay_after: 3,
            error_delay_ms: 1000,
            error_disconnect_after: 20,
            dns: DnsConfig::default(),
            per_destination_concurrency: 20,
            callout_positive_ttl_secs: 7 * 24 * 3600,
            callout_negative_ttl_secs: 3600,
            callout_timeout_secs: 30,
            delay_notice_after_secs: 4 * 3600,
            control_socket: "mta-control.sock".into(),
        }
    }
}

/// Why `system.json` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid JSON of the right shape.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// serde's message, with line and column.
        source: serde_json::Error,
    },
    /// The values are unusable; every problem is listed.
    #[error("{path}: {}", .problems.join("; "))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// One sentence per problem.
        problems: Vec<String>,
    },
}

impl SystemConfig {
    /// Reads and validates `DIR/system.json`; relative paths stay relative
    /// (call [`SystemConfig::resolve`] to anchor them).
    pub fn load(data_dir: &Path) -> Result<SystemConfig, ConfigError> {
        let path = data_dir.join(SYSTEM_JSON);
        let text = std::fs::read(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        let config: SystemConfig =
            serde_json::from_slice(&text).map_err(|source| ConfigError::Parse {
                path: path.clone(),
                source,
            })?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid { path, problems })
        }
    }

    /// Writes this configuration as `DIR/system.json` (pretty, for people to edit),
    /// through a temporary file so a crash never leaves half a file.
    pub fn write(&self, data_dir: &Path) -> Result<(), ConfigError> {
        let path = data_dir.join(SYSTEM_JSON);
        let tmp = data_dir.join(format!("{SYSTEM_JSON}.tmp"));
        let mut text = serde_json::to_vec_pretty(self).expect("config serialises");
        text.push(b'\n');
        let write = |p: &Path| -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(p)?;
            f.write_all(&text)?;
            f.sync_all()
        };
        write(&tmp)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| ConfigError::Write { path, source })
    }

    /// Every problem with the values, one sentence each; empty when usable.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if crate::address::normalize_domain(&self.hostname).is_err() {
            p.push(format!(
                "hostname {:?} is not a valid host name",
                self.hostname
            ));
        }
        let mut seen = Vec::new();
        for r in &self.roles {
            if seen.contains(r) {
                p.push(format!("role {r} is listed twice in roles"));
            }
            seen.push(*r);
        }
        let tcp = |what: &str, v: &str, p: &mut Vec<String>| {
            if !matches!(v.parse::<Endpoint>(), Ok(Endpoint::Tcp(_))) {
                p.push(format!("{what} {v:?} is not HOST:PORT"));
            }
        };
        if let Some(l) = &self.manager.http_listen {
            tcp("manager.http_listen", l, &mut p);
        }
        tcp("mta.smtp_listen", &self.mta.smtp_listen, &mut p);
        if let Some(l) = &self.mta.submission_listen {
            tcp("mta.submission_listen", l, &mut p);
        }
        if self.filter.listen.is_empty() {
            p.push("filter.listen needs at least one address".into());
        }
        let m = &self.mta;
        if m.max_message_size < 1024 {
            p.push("mta.max_message_size must be at least 1024 bytes".into());
        }
        for (name, v) in [
            ("mta.max_connections", m.max_connections),
            ("mta.max_recipients", m.max_recipients),
            ("mta.delivery_workers", m.delivery_workers),
        ] {
            if v == 0 {
                p.push(format!("{name} must be at least 1"));
            }
        }
        if m.retry_initial_secs == 0 || m.retry_max_secs < m.retry_initial_secs {
            p.push(
                "mta.retry_initial_secs must be at least 1 and at most mta.retry_max_secs".into(),
            );
        }
        p
    }

    /// Anchors every relative path and unix endpoint at `data_dir`.
    pub fn resolve(mut self, data_dir: &Path) -> SystemConfig {
        let abs = |p: &PathBuf| {
            if p.is_relative() {
                data_dir.join(p)
            } else {
                p.clone()
            }
        };
        self.manager.api_socket = abs(&self.manager.api_socket);
        self.manager.mta_inject = self.manager.mta_inject.resolve(data_dir);
        self.filter.listen = self
            .filter
            .listen
            .iter()
            .map(|e| e.resolve(data_dir))
            .collect();
        self.filter.manager = self.filter.manager.resolve(data_dir);
        self.filter.signatures_dir = data_dir.join(&self.filter.signatures_dir);
        self.filter.state_dir = data_dir.join(&self.filter.state_dir);
        self.filter.clamd = self.filter.clamd.take().map(|e| e.resolve(data_dir));
        self.mta.inject_socket = abs(&self.mta.inject_socket);
        self.mta.milter = self.mta.milter.as_ref().map(|e| e.resolve(data_dir));
        self.mta.manager = self.mta.manager.resolve(data_dir);
        self.mta.control_socket = abs(&self.mta.control_socket);
        self.tls.cert = abs(&self.tls.cert);
        self.tls.key = abs(&self.tls.key);
        self.control_socket = abs(&self.control_socket);
        self.logging.dir = abs(&self.logging.dir);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let c = SystemConfig::default();
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        c.write(dir.path()).unwrap();
        assert_eq!(SystemConfig::load(dir.path()).unwrap(), c);
    }

    #[test]
    fn unknown_keys_are_refused_with_position() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(SYSTEM_JSON),
            "{\n \"mta\": {\"smtp_listne\": \"x\"}}",
        )
        .unwrap();
        let e = SystemConfig::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("smtp_listne") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn all_problems_are_reported_together() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(SYSTEM_JSON),
            r#"{"hostname":"bad host","mta":{"smtp_listen":"nowhere","max_connections":0}}"#,
        )
        .unwrap();
        match SystemConfig::load(dir.path()).unwrap_err() {
            ConfigError::Invalid { problems, .. } => assert_eq!(problems.len(), 3, "{problems:?}"),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn resolve_anchors_relative_paths() {
        let c = SystemConfig::default().resolve(Path::new("/d"));
        assert_eq!(c.manager.api_socket, PathBuf::from("/d/manager.sock"));
        assert_eq!(c.mta.milter, Some(Endpoint::Unix("/d/filter.sock".into())));
        assert_eq!(c.mta.smtp_listen, "127.0.0.1:2525");
    }
}
