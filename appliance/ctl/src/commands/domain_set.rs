//! `domain set NAME [options]` and `domain dkim NAME`: a domain's outbound
//! settings (relay networks, delivery TLS policy, provisioning, servers)
//! and the DKIM record its owner publishes.

use anyhow::Context;
use clap::Args;
use model::api::{DkimRecord, Domain, DomainUpdate, Provisioning, TlsPolicy};
use model::client::ApiClient;

use super::Out;
use crate::args::ServerSpec;
use crate::table::fields;

/// `domain set`: only the options given change.
#[derive(Debug, Args)]
pub struct DomainSetArgs {
    /// The domain name.
    pub name: String,
    /// Replace the delivery servers: HOST[:PORT][/PRIORITY], repeat for more.
    #[arg(long = "server", value_name = "HOST[:PORT][/PRIORITY]")]
    pub servers: Vec<ServerSpec>,
    /// How mailboxes are provisioned: `manual` or `automatic`.
    #[arg(long, value_parser = parse_provisioning)]
    pub provisioning: Option<Provisioning>,
    /// Delivery to the domain's servers: `opportunistic` or `required` TLS.
    #[arg(long, value_parser = parse_tls)]
    pub tls: Option<TlsPolicy>,
    /// Replace the client networks (CIDR) that may relay outbound mail;
    /// repeat for more.
    #[arg(
        long = "relay-network",
        value_name = "CIDR",
        conflicts_with = "no_relay_networks"
    )]
    pub relay_networks: Vec<String>,
    /// Remove every relay network.
    #[arg(long)]
    pub no_relay_networks: bool,
}

impl DomainSetArgs {
    /// The API body; an error when no option was given (a no-op is a typo).
    pub fn update(&self) -> anyhow::Result<DomainUpdate> {
        let relay_networks = if self.no_relay_networks {
            Some(Vec::new())
        } else {
            Some(self.relay_networks.clone()).filter(|n| !n.is_empty())
        };
        let update = DomainUpdate {
            delivery: Some(self.servers.iter().map(|s| s.0.clone()).collect())
                .filter(|s: &Vec<_>| !s.is_empty()),
            provisioning: self.provisioning,
            tls: self.tls,
            relay_networks,
        };
        if update == DomainUpdate::default() {
            anyhow::bail!(
                "nothing to change: give --server, --provisioning, --tls, --relay-network \
                 or --no-relay-networks"
            );
        }
        Ok(update)
    }
}

fn parse_provisioning(s: &str) -> Result<Provisioning, String> {
    match s {
        "manual" => Ok(Provisioning::Manual),
        "automatic" => Ok(Provisioning::Automatic),
        _ => Err(format!("{s:?}: expected manual or automatic")),
    }
}

fn parse_tls(s: &str) -> Result<TlsPolicy, String> {
    match s {
        "opportunistic" => Ok(TlsPolicy::Opportunistic),
        "required" => Ok(TlsPolicy::Required),
        _ => Err(format!("{s:?}: expected opportunistic or required")),
    }
}

/// Runs `domain set`.
pub fn set(api: &ApiClient, args: DomainSetArgs, out: &mut Out<'_>) -> anyhow::Result<()> {
    let update = args.update()?;
    let domain = api
        .update_domain(&args.name, &update)
        .with_context(|| format!("changing domain {}", args.name))?;
    out.emit(&domain, || show_settings(&domain))
}

/// Every setting of a domain, the outbound ones included.
fn show_settings(d: &Domain) -> String {
    let lower = |v: &dyn std::fmt::Debug| format!("{v:?}").to_lowercase();
    fields(&[
        ("name", d.name.clone()),
        ("delivery", super::domain::servers(&d.delivery)),
        ("provisioning", lower(&d.provisioning)),
        ("tls", lower(&d.tls)),
        ("relay networks", d.relay_networks.join(", ")),
    ])
}

/// Runs `domain dkim`: the TXT record to publish.
pub fn dkim(api: &ApiClient, name: &str, out: &mut Out<'_>) -> anyhow::Result<()> {
    let record = api
        .domain_dkim(name)
        .with_context(|| format!("reading the DKIM record of {name}"))?;
    out.emit(&record, || show_record(&record))
}

fn show_record(r: &DkimRecord) -> String {
    fields(&[
        ("domain", r.domain.clone()),
        ("selector", r.selector.clone()),
        ("publish", format!("{} TXT", r.name)),
        ("value", r.value.clone()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: DomainSetArgs,
    }

    fn update(args: &[&str]) -> anyhow::Result<DomainUpdate> {
        let cli = Cli::try_parse_from(std::iter::once("set").chain(args.iter().copied()))?;
        cli.args.update()
    }

    #[test]
    fn options_map_to_the_fields_they_change() {
        let u = update(&[
            "a.test",
            "--tls",
            "required",
            "--relay-network",
            "10.0.0.0/8",
        ])
        .unwrap();
        assert_eq!(
            u,
            DomainUpdate {
                tls: Some(TlsPolicy::Required),
                relay_networks: Some(vec!["10.0.0.0/8".into()]),
                ..Default::default()
            }
        );
        let u = update(&[
            "a.test",
            "--no-relay-networks",
            "--provisioning",
            "automatic",
        ])
        .unwrap();
        assert_eq!(u.relay_networks, Some(Vec::new()));
        assert_eq!(u.provisioning, Some(Provisioning::Automatic));
        assert!(u.delivery.is_none() && u.tls.is_none());
    }

    #[test]
    fn no_option_or_a_bad_value_is_an_error() {
        let e = update(&["a.test"]).unwrap_err().to_string();
        assert!(e.contains("nothing to change"), "{e}");
        let e = update(&["a.test", "--tls", "maybe"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("opportunistic or required"), "{e}");
        assert!(update(&[
            "a.test",
            "--relay-network",
            "1.0.0.0/8",
            "--no-relay-networks"
        ])
        .is_err());
    }
}
