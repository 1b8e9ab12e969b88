//! Menu entry 7: the DNS records that send the domains' mail to this box.

use std::net::IpAddr;

use model::api::Domain;
use model::control::{ControlRequest, ControlResponse, SystemStatus};

use super::{unexpected, Action, ApiCall, Flow, Out, Outcome, Screen};

/// The MX records screen: the domains from the manager, the host name and
/// addresses from the supervisor.
#[derive(Debug, Default)]
pub(super) struct MxRecords {
    domains: Option<Vec<Domain>>,
}

impl Screen for MxRecords {
    fn start(&mut self, out: &mut Out) -> Flow {
        out.perform(Action::Api(ApiCall::Domains));
        Flow::Stay
    }

    fn line(&mut self, _line: &str, _out: &mut Out) -> Flow {
        Flow::Stay
    }

    fn done(&mut self, outcome: Outcome, out: &mut Out) -> Flow {
        match (self.domains.take(), outcome) {
            (None, Outcome::Domains(d)) if d.is_empty() => {
                out.say("No domains yet: add them in the web administration or with `filterbox ctl domain add`.");
                Flow::Menu
            }
            (None, Outcome::Domains(d)) => {
                self.domains = Some(d);
                out.perform(Action::Control(ControlRequest::Status));
                Flow::Stay
            }
            (Some(d), Outcome::Control(ControlResponse::Status(s))) => {
                out.text.push_str(&render(&d, &s));
                Flow::Menu
            }
            (None, other) => unexpected("Cannot list the domains", &other, out),
            (Some(_), other) => unexpected("Cannot get the host name and addresses", &other, out),
        }
    }
}

/// The records, one per line, in zone-file syntax.
fn render(domains: &[Domain], s: &SystemStatus) -> String {
    let host = s.hostname.trim_end_matches('.');
    let mut t =
        String::from("Publish these records so that mail for the domains reaches this box:\n");
    for d in domains {
        t.push_str(&format!("{}. IN MX 10 {host}.\n", d.name));
    }
    let addresses: Vec<IpAddr> = s
        .interfaces
        .iter()
        .flat_map(|i| &i.addresses)
        .filter_map(|a| a.split('/').next()?.parse().ok())
        .filter(|ip| reachable(*ip))
        .collect();
    for ip in &addresses {
        let kind = if ip.is_ipv4() { "A" } else { "AAAA" };
        t.push_str(&format!("{host}. IN {kind} {ip}\n"));
    }
    if addresses.is_empty() {
        t.push_str("(No usable address on any interface yet: set one with 2) Network.)\n");
    }
    t
}

/// Addresses other hosts can reach (not loopback, link-local or unspecified).
fn reachable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_loopback() || v4.is_link_local() || v4.is_unspecified()),
        IpAddr::V6(v6) => {
            !(v6.is_loopback() || v6.is_unspecified() || v6.segments()[0] & 0xffc0 == 0xfe80)
        }
    }
}
