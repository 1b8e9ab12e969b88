//! DNS block lists: the SMTP client's address against `ip_blocklists`
//! (`<reversed address>.<zone>`) and the message's link hosts against
//! `uri_blocklists` (`<host>.<zone>`). Both lists are empty by default:
//! every query tells the list's operator who writes to this box.
//!
//! A listing is an A answer in 127.0.0.0/8; 127.255.255.0/24 are the
//! lists' error codes (query refused, rate limited) and never count.
//! Queries run at most [`MAX_CONCURRENT_QUERIES`] at a time, each bounded
//! by [`QUERY_TIMEOUT`]; a list that does not answer lists nothing.

pub mod uris;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use log::debug;
use mail_auth::hickory_resolver::TokioResolver;
use model::config::Blocklist;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::engine::Finding;

/// Most block list queries in flight for one message.
pub const MAX_CONCURRENT_QUERIES: usize = 8;

/// Longest wait for one list's answer.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// One query and the finding it yields when listed.
struct Query {
    name: String,
    finding: Finding,
}

/// The findings of `ip` (when known) on `ip_lists` and of `hosts` on
/// `uri_lists`: `RCVD_IN_DNSBL[zone] (+score)` and `URIBL[zone]
/// (+score)`, each list counted once per message.
pub async fn check(
    resolver: &TokioResolver,
    session: &str,
    ip: Option<IpAddr>,
    ip_lists: &[Blocklist],
    hosts: &[String],
    uri_lists: &[Blocklist],
) -> Vec<Finding> {
    let mut queries = Vec::new();
    for list in ip_lists {
        if let Some(ip) = ip {
            queries.push(Query {
                name: ip_query(ip, &list.zone),
                finding: finding("RCVD_IN_DNSBL", list),
            });
        }
    }
    for list in uri_lists {
        for host in hosts {
            queries.push(Query {
                name: format!("{host}.{}.", zone(&list.zone)),
                finding: finding("URIBL", list),
            });
        }
    }
    let mut hits = run(resolver, session, queries).await;
    hits.dedup_by(|a, b| a.reason == b.reason);
    hits
}

fn finding(rule: &str, list: &Blocklist) -> Finding {
    let score = list.score;
    Finding::score(score, format!("{rule}[{}] ({score:+.1})", zone(&list.zone)))
}

fn zone(zone: &str) -> &str {
    zone.trim().trim_matches('.')
}

/// Runs `queries` with bounded concurrency; the findings of listed names,
/// in the order of `queries`.
async fn run(resolver: &TokioResolver, session: &str, queries: Vec<Query>) -> Vec<Finding> {
    let slots = Arc::new(Semaphore::new(MAX_CONCURRENT_QUERIES));
    let mut tasks = JoinSet::new();
    for (order, query) in queries.into_iter().enumerate() {
        let (resolver, slots) = (resolver.clone(), Arc::clone(&slots));
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await.ok()?;
            let lookup = resolver.ipv4_lookup(query.name.as_str());
            let answers = tokio::time::timeout(QUERY_TIMEOUT, lookup)
                .await
                .ok()?
                .ok()?;
            let addrs: Vec<Ipv4Addr> = answers.iter().map(|a| a.0).collect();
            listed(&addrs).then_some((order, query))
        });
    }
    let mut hits = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Ok(Some(hit)) = done {
            hits.push(hit);
        }
    }
    hits.sort_by_key(|(order, _)| *order);
    hits.into_iter()
        .map(|(_, q)| {
            debug!("{session}: listed: {}", q.name);
            q.finding
        })
        .collect()
}

/// The query name of `ip` in `zone`: IPv4 octets reversed, IPv6 nibbles
/// reversed (RFC 5782 section 2.1 and 2.4), absolute.
pub fn ip_query(ip: IpAddr, zone_name: &str) -> String {
    let reversed: Vec<String> = match ip {
        IpAddr::V4(v4) => v4.octets().iter().rev().map(u8::to_string).collect(),
        IpAddr::V6(v6) => v6
            .octets()
            .iter()
            .rev()
            .flat_map(|b| [b & 0xf, b >> 4])
            .map(|n| format!("{n:x}"))
            .collect(),
    };
    format!("{}.{}.", reversed.join("."), zone(zone_name))
}

/// Whether answers mean "listed": an address in 127.0.0.0/8 outside the
/// error range 127.255.255.0/24.
pub fn listed(answers: &[Ipv4Addr]) -> bool {
    answers.iter().any(|a| {
        let [first, second, third, _] = a.octets();
        first == 127 && !(second == 255 && third == 255)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_names_follow_rfc_5782() {
        let v4: IpAddr = "192.0.2.99".parse().unwrap();
        assert_eq!(ip_query(v4, "bl.test."), "99.2.0.192.bl.test.");
        let v6: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        assert_eq!(
            ip_query(v6, " bl.test"),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.test."
        );
    }

    #[test]
    fn only_loopback_answers_outside_the_error_range_list() {
        let a = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert!(listed(&[a("127.0.0.2")]));
        assert!(listed(&[a("127.255.255.254"), a("127.0.1.4")]));
        assert!(!listed(&[a("127.255.255.254")]));
        assert!(!listed(&[a("192.0.2.1")]));
        assert!(!listed(&[]));
    }

    #[test]
    fn findings_name_the_list_and_its_score() {
        let list = Blocklist {
            zone: "zen.bl.test.".into(),
            score: 3.0,
        };
        assert_eq!(
            finding("RCVD_IN_DNSBL", &list).reason,
            "RCVD_IN_DNSBL[zen.bl.test] (+3.0)"
        );
        assert_eq!(finding("URIBL", &list).score, 3.0);
    }
}
