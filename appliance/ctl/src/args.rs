//! The command line of `filterbox ctl`, and the checks done on it before any
//! API call (so a typo costs nothing and says what was expected).

use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Subcommand};
use model::api::DeliveryServer;
use model::network::Cidr;
use model::Endpoint;

/// `filterbox ctl`: administer the box through the manager's API.
#[derive(Debug, Args)]
pub struct CtlArgs {
    /// The data directory (finds the API socket and token there).
    #[arg(
        long,
        global = true,
        env = "FILTERBOX_DATA_DIR",
        default_value = "./filterbox-data"
    )]
    pub data_dir: PathBuf,
    /// The API: `unix:PATH` or `HOST:PORT` [default: the socket named in DIR/system.json].
    #[arg(long, global = true, value_name = "ENDPOINT")]
    pub api: Option<Endpoint>,
    /// API token for TCP endpoints [default: DIR/api-token].
    #[arg(
        long,
        global = true,
        env = "FILTERBOX_API_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Print the API's JSON instead of tables (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The object to work on.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Mail domains and their delivery servers.
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Provisioned mailboxes.
    #[command(subcommand)]
    User(UserCommand),
    /// Held messages.
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
    /// What happened to a message.
    #[command(subcommand)]
    Tracking(TrackingCommand),
    /// The mta's queue: messages waiting for delivery, held domains.
    #[command(subcommand)]
    Queue(crate::commands::queue::QueueCommand),
    /// The admin account (console and web UI) and where it may log in from.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Mail counters: totals and the last 24 hours.
    Stats,
    /// SMTP AUTH logins for senders without a fixed address.
    #[command(subcommand)]
    SmtpAccount(crate::commands::smtp_account::SmtpAccountCommand),
    /// The box's TLS certificate.
    #[command(subcommand)]
    Tls(crate::commands::tls::TlsCommand),
}

/// `admin …`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Whether the admin password is set.
    Status,
    /// Set the admin password. On a terminal it is asked twice, without
    /// echo; from a pipe it is one line (after the current password's line
    /// when that is asked). Run as root on the box (the manager's unix
    /// socket), no current password is needed: the recovery path for a lost
    /// one. Other users need `--current`.
    Password {
        /// Ask for the password in force too (always asked over TCP once one is set).
        #[arg(long)]
        current: bool,
    },
    /// Show the networks allowed to reach the web administration, or
    /// replace them with the CIDRs given.
    Networks {
        /// Networks, e.g. 192.168.1.0/24 2001:db8::/32.
        #[arg(value_name = "CIDR", conflicts_with = "clear")]
        networks: Vec<Cidr>,
        /// Allow any network (empty the list).
        #[arg(long)]
        clear: bool,
    },
}

/// `domain …`
#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// List all domains.
    List,
    /// Accept mail for a domain and deliver it to its servers.
    Add {
        /// The domain name.
        name: String,
        /// A delivery server; repeat the option for more.
        #[arg(
            long = "server",
            required = true,
            value_name = "HOST[:PORT][/PRIORITY]",
            help = "A delivery server: HOST[:PORT][/PRIORITY] (port 25 and priority 10 when omitted; \
                    lower priority is tried first). Repeat for more"
        )]
        servers: Vec<ServerSpec>,
    },
    /// Show one domain.
    Show {
        /// The domain name.
        name: String,
    },
    /// Delete a domain and all its users.
    Delete {
        /// The domain name.
        name: String,
    },
    /// Change a domain's settings; only the options given change.
    Set(crate::commands::domain_set::DomainSetArgs),
    /// The DKIM TXT record to publish for the domain's outbound mail.
    Dkim {
        /// The domain name.
        name: String,
    },
}

/// `user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// List users.
    List {
        /// Only this domain's users.
        #[arg(long)]
        domain: Option<String>,
        /// Only addresses containing this text.
        #[arg(long)]
        search: Option<String>,
    },
    /// Provision a mailbox (its domain must exist).
    Add {
        /// The address.
        address: String,
    },
    /// Remove a mailbox.
    Delete {
        /// The address.
        address: String,
    },
}

/// `quarantine …`
#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// List held messages, newest first.
    List {
        /// Only this recipient's.
        #[arg(long)]
        recipient: Option<String>,
    },
    /// Show one item.
    Show {
        /// The item id, as listed.
        id: QuarantineId,
    },
    /// Write the raw message to stdout.
    Message {
        /// The item id, as listed.
        id: QuarantineId,
    },
    /// Deliver the message to its recipient after all.
    Release {
        /// The item id, as listed.
        id: QuarantineId,
    },
    /// Delete the item.
    Delete {
        /// The item id, as listed.
        id: QuarantineId,
    },
}

/// `tracking …`
#[derive(Debug, Subcommand)]
pub enum TrackingCommand {
    /// Show a message's way, oldest event first (give at least one term).
    Show(TrackingTerms),
}

/// Search terms of `tracking show`; all given must match.
#[derive(Debug, Args)]
#[group(required = true, multiple = true)]
pub struct TrackingTerms {
    /// The mta's queue id.
    #[arg(long)]
    pub queue_id: Option<String>,
    /// The Message-ID header (angle brackets optional).
    #[arg(long)]
    pub message_id: Option<String>,
    /// The envelope sender.
    #[arg(long)]
    pub sender: Option<String>,
    /// An envelope recipient.
    #[arg(long)]
    pub recipient: Option<String>,
}

/// A `--server` value, checked: host, port and priority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec(pub DeliveryServer);

impl FromStr for ServerSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<ServerSpec, String> {
        let bad = |why: &str| {
            format!("{why} in {s:?}: expected HOST[:PORT][/PRIORITY], e.g. mx.example.test:25/10")
        };
        let (hostport, priority) = match s.rsplit_once('/') {
            Some((hp, p)) => (
                hp,
                p.parse::<u16>()
                    .map_err(|_| bad("priority is not a number from 0 to 65535"))?,
            ),
            None => (s, 10),
        };
        let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(|| bad("missing ]"))?;
            match after {
                "" => (host, None),
                _ => (
                    host,
                    Some(
                        after
                            .strip_prefix(':')
                            .ok_or_else(|| bad("expected :PORT after ]"))?,
                    ),
                ),
            }
        } else {
            if hostport.matches(':').count() > 1 {
                return Err(bad(
                    "write IPv6 addresses in brackets, e.g. [2001:db8::1]:25",
                ));
            }
            match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.trim().is_empty() {
            return Err(bad("missing host"));
        }
        let port = match port {
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err(bad("port is not a number from 1 to 65535")),
            },
            None => 25,
        };
        Ok(ServerSpec(DeliveryServer {
            host: host.to_string(),
            port,
            priority,
        }))
    }
}

/// A quarantine id, checked for the shape the manager makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineId(pub String);

impl FromStr for QuarantineId {
    type Err = String;

    fn from_str(s: &str) -> Result<QuarantineId, String> {
        if model::id::is_valid_id(s) {
            Ok(QuarantineId(s.to_string()))
        } else {
            Err(format!(
                "{s:?} is not a quarantine id: expected 21 lowercase hex digits as shown by `quarantine list`"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: CtlArgs,
    }

    fn parse(argv: &[&str]) -> Result<CtlArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("ctl").chain(argv.iter().copied())).map(|c| c.args)
    }

    fn server(host: &str, port: u16, priority: u16) -> ServerSpec {
        ServerSpec(DeliveryServer {
            host: host.into(),
            port,
            priority,
        })
    }

    #[test]
    fn server_specs() {
        assert_eq!("mx.a.test".parse(), Ok(server("mx.a.test", 25, 10)));
        assert_eq!("mx.a.test:2525".parse(), Ok(server("mx.a.test", 2525, 10)));
        assert_eq!("mx.a.test/5".parse(), Ok(server("mx.a.test", 25, 5)));
        assert_eq!(
            "127.0.0.1:2626/20".parse(),
            Ok(server("127.0.0.1", 2626, 20))
        );
        assert_eq!("[::1]:26/1".parse(), Ok(server("::1", 26, 1)));
        assert_eq!("[::1]".parse(), Ok(server("::1", 25, 10)));
        for (bad, why) in [
            ("", "missing host"),
            (":25", "missing host"),
            ("mx:0", "port"),
            ("mx:x", "port"),
            ("mx:70000", "port"),
            ("mx/x", "priority"),
            ("::1:25", "brackets"),
            ("[::1", "missing ]"),
            ("[::1]25", "after ]"),
        ] {
            let e = bad.parse::<ServerSpec>().unwrap_err();
            assert!(
                e.contains(why) && e.contains("HOST[:PORT][/PRIORITY]"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn parses_commands_and_global_options() {
        let a = parse(&[
            "--data-dir",
            "/d",
            "domain",
            "add",
            "a.test",
            "--server",
            "mx.a.test:25/5",
            "--server",
            "b.test",
            "--json",
        ])
        .unwrap();
        assert!(a.json);
        assert_eq!(a.data_dir, PathBuf::from("/d"));
        match a.command {
            Command::Domain(DomainCommand::Add { name, servers }) => {
                assert_eq!(name, "a.test");
                assert_eq!(
                    servers,
                    [server("mx.a.test", 25, 5), server("b.test", 25, 10)]
                );
            }
            other => panic!("{other:?}"),
        }
        let a = parse(&[
            "quarantine",
            "list",
            "--api",
            "127.0.0.1:8080",
            "--token",
            "t",
        ])
        .unwrap();
        assert_eq!(a.api, Some(Endpoint::Tcp("127.0.0.1:8080".into())));
        assert_eq!(a.token.as_deref(), Some("t"));
    }

    #[test]
    fn bad_arguments_say_what_was_expected() {
        let e = parse(&["domain", "add", "a.test", "--server", "mx:0"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("HOST[:PORT][/PRIORITY]"), "{e}");
        let e = parse(&["domain", "add", "a.test"]).unwrap_err().to_string();
        assert!(e.contains("--server"), "{e}");
        let e = parse(&["quarantine", "show", "../etc"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("21 lowercase hex digits"), "{e}");
        let e = parse(&["tracking", "show"]).unwrap_err().to_string();
        assert!(e.contains("--queue-id"), "{e}");
        let e = parse(&["--api", "nowhere", "domain", "list"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("HOST:PORT"), "{e}");
        let e = parse(&["admin", "networks", "10.0.0.0/33"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("10.0.0.0/33") && e.contains("from 0 to 32"),
            "{e}"
        );
        let e = parse(&["admin", "networks", "--clear", "10.0.0.0/8"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--clear"), "{e}");
        assert!(parse(&["admin", "password", "--current"]).is_ok());
        assert!(parse(&[
            "tracking",
            "show",
            "--sender",
            "",
            "--recipient",
            "a@b.test"
        ])
        .is_ok());
    }
}
