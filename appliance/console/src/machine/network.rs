//! Menu entry 2: the network settings, field by field, each checked as it
//! is typed (with [`Cidr`] and [`NetworkConfig::problems`]) and asked again
//! until it is right; then a summary, a confirmation, and the supervisor
//! applies them (keeping the old ones if they fail).

use std::net::{IpAddr, Ipv4Addr};

use model::control::{ControlRequest, ControlResponse};
use model::network::{Cidr, Ipv4Config, NetworkConfig};

use super::status::render_interfaces;
use super::{unexpected, yes_no, Action, Flow, Out, Outcome, Screen};

/// resolv.conf uses no more than this many name servers.
const MAX_DNS: usize = 3;

/// The setting being asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Interface,
    Method,
    Address,
    Gateway,
    Dns,
    Hostname,
    Confirm,
}

/// The settings being edited.
#[derive(Debug, Clone)]
struct Draft {
    hostname: String,
    /// The settings in force; [`Draft::build`] replaces the edited parts.
    current: NetworkConfig,
    iface: usize,
    dhcp: bool,
    address: Option<Cidr>,
    gateway: Option<Ipv4Addr>,
    dns: Vec<IpAddr>,
}

#[derive(Debug, Default)]
enum State {
    /// Reading system.json.
    #[default]
    Loading,
    /// Asking a field.
    Editing(Field, Draft),
    /// The supervisor applies the settings.
    Applying,
    /// Fetching the interfaces as they now are.
    Showing,
}

/// The network screen.
#[derive(Debug, Default)]
pub(super) struct Network {
    state: State,
}

impl Screen for Network {
    fn start(&mut self, out: &mut Out) -> Flow {
        out.perform(Action::ReadSettings);
        Flow::Stay
    }

    fn line(&mut self, line: &str, out: &mut Out) -> Flow {
        let State::Editing(field, mut draft) = std::mem::take(&mut self.state) else {
            return Flow::Stay;
        };
        let line = line.trim();
        if field == Field::Confirm {
            return self.confirm(line, draft, out);
        }
        match take(field, &mut draft, line) {
            Ok(()) => self.ask(next(field, &draft), draft, out),
            Err(problem) => {
                out.say(&problem);
                self.ask(field, draft, out)
            }
        }
    }

    fn done(&mut self, outcome: Outcome, out: &mut Out) -> Flow {
        match (std::mem::take(&mut self.state), outcome) {
            (State::Loading, Outcome::Settings { network: None, .. }) => {
                out.say(
                    "This box does not manage its network: system.json has no \"network\" section.",
                );
                Flow::Menu
            }
            (
                State::Loading,
                Outcome::Settings {
                    hostname,
                    network: Some(net),
                },
            ) => {
                out.text
                    .push_str(&render_settings("Current", &hostname, &net));
                let draft = Draft::new(hostname, net, 0);
                let first = if draft.current.interfaces.len() > 1 {
                    Field::Interface
                } else {
                    Field::Method
                };
                self.ask(first, draft, out)
            }
            (State::Applying, Outcome::Control(ControlResponse::Ok { message })) => {
                out.say("The new settings are in force.");
                out.say(&message);
                self.state = State::Showing;
                out.perform(Action::Control(ControlRequest::Status));
                Flow::Stay
            }
            (State::Applying, other) => {
                let why = match other {
                    Outcome::Control(ControlResponse::Error { message }) => message,
                    Outcome::Failed(f) => f.message,
                    other => format!("unexpected answer {other:?}"),
                };
                out.say(&format!("Not applied: {why}"));
                out.say("The old settings are still in force.");
                Flow::Menu
            }
            (State::Showing, Outcome::Control(ControlResponse::Status(s))) => {
                out.say("Interfaces now:");
                out.text.push_str(&render_interfaces(&s.interfaces));
                Flow::Menu
            }
            (_, other) => unexpected("Cannot show the network settings", &other, out),
        }
    }
}

impl Network {
    fn ask(&mut self, field: Field, draft: Draft, out: &mut Out) -> Flow {
        let prompt = match field {
            Field::Interface => {
                let names: Vec<&str> = draft
                    .current
                    .interfaces
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect();
                format!(
                    "Interface to configure ({}) [{}]: ",
                    names.join(", "),
                    draft.name()
                )
            }
            Field::Method => {
                let method = if draft.dhcp { "dhcp" } else { "static" };
                format!("IPv4 on {}: dhcp or static? [{method}]: ", draft.name())
            }
            Field::Address => format!(
                "IPv4 address/prefix, e.g. 192.0.2.10/24{}: ",
                default(draft.address.map(|a| a.to_string()))
            ),
            Field::Gateway => format!(
                "Default gateway (none for no gateway){}: ",
                default(draft.gateway.map(|g| g.to_string()))
            ),
            Field::Dns => format!(
                "DNS servers, separated by spaces (none for no servers){}: ",
                default(Some(list(&draft.dns)).filter(|l| !l.is_empty()))
            ),
            Field::Hostname => format!("Host name [{}]: ", draft.hostname),
            Field::Confirm => {
                out.text
                    .push_str(&render_settings("New", &draft.hostname, &draft.build()));
                "Apply these settings now? (y/n): ".to_string()
            }
        };
        out.ask(&prompt, true);
        self.state = State::Editing(field, draft);
        Flow::Stay
    }

    fn confirm(&mut self, line: &str, draft: Draft, out: &mut Out) -> Flow {
        match yes_no(line) {
            Some(true) => {
                log::info!("console: applying new network settings");
                out.say("Applying...");
                self.state = State::Applying;
                out.perform(Action::Control(ControlRequest::ApplyNetwork {
                    hostname: draft.hostname.clone(),
                    network: draft.build(),
                }));
                Flow::Stay
            }
            Some(false) => {
                out.say("Cancelled: nothing changed.");
                Flow::Menu
            }
            None => {
                out.say("Please answer y or n.");
                out.ask("Apply these settings now? (y/n): ", true);
                self.state = State::Editing(Field::Confirm, draft);
                Flow::Stay
            }
        }
    }
}

impl Draft {
    fn new(hostname: String, current: NetworkConfig, iface: usize) -> Draft {
        let (dhcp, address, gateway) = match &current.interfaces[iface].ipv4 {
            Ipv4Config::Static { address, gateway } => (false, address.parse().ok(), *gateway),
            Ipv4Config::Dhcp => (true, None, None),
            Ipv4Config::Disabled => (false, None, None),
        };
        let dns = current.dns.clone();
        Draft {
            hostname,
            current,
            iface,
            dhcp,
            address,
            gateway,
            dns,
        }
    }

    fn name(&self) -> &str {
        &self.current.interfaces[self.iface].name
    }

    /// The settings in force with the edited parts replaced.
    fn build(&self) -> NetworkConfig {
        let mut net = self.current.clone();
        net.interfaces[self.iface].ipv4 = match (self.dhcp, self.address) {
            (false, Some(a)) => Ipv4Config::Static {
                address: a.to_string(),
                gateway: self.gateway,
            },
            // Not asked yet (static without an address is never built whole).
            (false, None) => self.current.interfaces[self.iface].ipv4.clone(),
            (true, _) => Ipv4Config::Dhcp,
        };
        net.dns = self.dns.clone();
        net
    }

    /// `Err` with every problem of the settings as they now stand.
    fn check(&self) -> Result<(), String> {
        let problems = self.build().problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }
}

/// Takes the typed value of `field` into `draft`, or says what is wrong with it.
fn take(field: Field, draft: &mut Draft, line: &str) -> Result<(), String> {
    match field {
        Field::Interface => {
            if !line.is_empty() {
                let i = draft
                    .current
                    .interfaces
                    .iter()
                    .position(|i| i.name == line)
                    .ok_or_else(|| format!("No managed interface {line:?}."))?;
                *draft = Draft::new(draft.hostname.clone(), draft.current.clone(), i);
            }
            Ok(())
        }
        Field::Method => match line.to_ascii_lowercase().as_str() {
            "" => Ok(()),
            "dhcp" | "d" => {
                draft.dhcp = true;
                Ok(())
            }
            "static" | "s" => {
                draft.dhcp = false;
                Ok(())
            }
            _ => Err(format!("{line:?}: type dhcp or static.")),
        },
        Field::Address => take_address(draft, line),
        Field::Gateway => {
            let gateway = match line {
                "" => draft.gateway,
                "none" => None,
                g => Some(
                    g.parse::<Ipv4Addr>()
                        .map_err(|_| format!("{g:?} is not an IPv4 address, e.g. 192.0.2.1"))?,
                ),
            };
            let old = std::mem::replace(&mut draft.gateway, gateway);
            draft.check().inspect_err(|_| draft.gateway = old)
        }
        Field::Dns => take_dns(draft, line),
        Field::Hostname => {
            if !line.is_empty() {
                draft.hostname =
                    model::address::normalize_domain(line).map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        Field::Confirm => Ok(()),
    }
}

fn take_address(draft: &mut Draft, line: &str) -> Result<(), String> {
    let address = match (line, draft.address) {
        ("", Some(a)) => a,
        ("", None) => return Err("An address is needed, e.g. 192.0.2.10/24.".into()),
        (a, _) => a.parse::<Cidr>()?,
    };
    if !address.address.is_ipv4() {
        return Err(format!(
            "{address} is not an IPv4 address; e.g. 192.0.2.10/24."
        ));
    }
    let old = (draft.address, draft.gateway);
    draft.address = Some(address);
    // A gateway outside the new network is no longer a default to offer.
    if draft
        .gateway
        .is_some_and(|g| !address.contains(IpAddr::V4(g)) || IpAddr::V4(g) == address.address)
    {
        draft.gateway = None;
    }
    draft
        .check()
        .inspect_err(|_| (draft.address, draft.gateway) = old)
}

fn take_dns(draft: &mut Draft, line: &str) -> Result<(), String> {
    let servers = match line {
        "" => return Ok(()),
        "none" => Vec::new(),
        l => l
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpAddr>()
                    .map_err(|_| format!("{s:?} is not an IP address."))
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    if servers.len() > MAX_DNS {
        return Err(format!(
            "At most {MAX_DNS} DNS servers (resolv.conf uses no more)."
        ));
    }
    draft.dns = servers;
    Ok(())
}

/// The field asked after `field`.
fn next(field: Field, draft: &Draft) -> Field {
    match field {
        Field::Interface => Field::Method,
        Field::Method if draft.dhcp => Field::Dns,
        Field::Method => Field::Address,
        Field::Address => Field::Gateway,
        Field::Gateway => Field::Dns,
        Field::Dns => Field::Hostname,
        Field::Hostname | Field::Confirm => Field::Confirm,
    }
}

fn default(value: Option<String>) -> String {
    value.map(|v| format!(" [{v}]")).unwrap_or_default()
}

fn list(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The settings as people read them.
fn render_settings(title: &str, hostname: &str, net: &NetworkConfig) -> String {
    let mut t = format!("{title} network settings\n  Host name  {hostname}\n");
    for i in &net.interfaces {
        let v4 = match &i.ipv4 {
            Ipv4Config::Dhcp => "IPv4 DHCP".to_string(),
            Ipv4Config::Static {
                address,
                gateway: Some(g),
            } => format!("IPv4 static {address}, gateway {g}"),
            Ipv4Config::Static {
                address,
                gateway: None,
            } => format!("IPv4 static {address}, no gateway"),
            Ipv4Config::Disabled => "IPv4 disabled".to_string(),
        };
        t.push_str(&format!("  {:<10} {v4}\n", i.name));
    }
    let dns = if net.dns.is_empty() {
        "none".to_string()
    } else {
        list(&net.dns)
    };
    t.push_str(&format!("  DNS        {dns}\n"));
    t
}
