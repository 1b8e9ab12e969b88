//! `domain list|add|show|delete` (`set` and `dkim`: [`super::domain_set`]).

use anyhow::Context;
use model::address::normalize_domain;
use model::api::{encode_component, DeliveryServer, Domain, NewDomain, PREFIX};
use model::client::ApiClient;

use super::{time, Out};
use crate::args::DomainCommand;
use crate::table::{fields, table};

/// Runs one `domain` subcommand.
pub fn run(api: &ApiClient, cmd: DomainCommand, out: &mut Out<'_>) -> anyhow::Result<()> {
    match cmd {
        DomainCommand::List => {
            let domains = api.domains().context("listing domains")?;
            out.emit(&domains, || {
                let rows: Vec<Vec<String>> = domains
                    .iter()
                    .map(|d| vec![d.name.clone(), servers(&d.delivery), time(d.created)])
                    .collect();
                table(&["NAME", "DELIVERY", "CREATED"], &rows)
            })
        }
        DomainCommand::Add { name, servers } => {
            let name = normalize_domain(&name)?;
            let new = NewDomain {
                provisioning: Default::default(),
                relay_networks: Default::default(),
                tls: Default::default(),
                name: name.clone(),
                delivery: servers.into_iter().map(|s| s.0).collect(),
            };
            let domain = api
                .create_domain(&new)
                .with_context(|| format!("adding domain {name}"))?;
            out.emit(&domain, || show(&domain))
        }
        DomainCommand::Show { name } => {
            let path = format!("{PREFIX}/domains/{}", encode_component(&name));
            let domain: Domain = api
                .call::<(), _>("GET", &path, None)
                .with_context(|| format!("showing domain {name}"))?;
            out.emit(&domain, || show(&domain))
        }
        DomainCommand::Delete { name } => {
            api.delete_domain(&name)
                .with_context(|| format!("deleting domain {name}"))?;
            out.done(&format!("deleted domain {name} and its users"))
        }
        DomainCommand::Set(args) => super::domain_set::set(api, args, out),
        DomainCommand::Dkim { name } => super::domain_set::dkim(api, &name, out),
    }
}

/// `host:port/priority, …`
pub(super) fn servers(delivery: &[DeliveryServer]) -> String {
    delivery
        .iter()
        .map(|s| {
            let host = if s.host.contains(':') {
                format!("[{}]", s.host)
            } else {
                s.host.clone()
            };
            format!("{host}:{}/{}", s.port, s.priority)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn show(d: &Domain) -> String {
    fields(&[
        ("name", d.name.clone()),
        ("delivery", servers(&d.delivery)),
        ("created", time(d.created)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_read_back_as_server_options() {
        let d = vec![
            DeliveryServer {
                host: "mx.a.test".into(),
                port: 25,
                priority: 5,
            },
            DeliveryServer {
                host: "::1".into(),
                port: 2525,
                priority: 10,
            },
        ];
        assert_eq!(servers(&d), "mx.a.test:25/5, [::1]:2525/10");
        for s in servers(&d).split(", ") {
            assert!(s.parse::<crate::args::ServerSpec>().is_ok(), "{s}");
        }
    }
}
