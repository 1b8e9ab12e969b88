//! One domain's share of a message: find its servers (the directory's
//! delivery servers for our domains, MX records for the others), then try
//! them in order until one gives a verdict on the recipients.
//!
//! A server that cannot be reached, greets with an error, cannot do the TLS
//! the domain requires, or defers every recipient before taking the message
//! is skipped for the next one (as Postfix does with MX hosts); the last
//! reasons are kept for the deferral. Deliveries to one destination are
//! limited by [`super::limit`].

use std::net::{IpAddr, SocketAddr};

use model::api::{DeliveryProof, DeliveryServer, TlsPolicy};
use smtp_client::{ClientError, Delivery, Destination, Envelope, Stage, TlsMode};

use super::dns::DnsError;
use super::{route, DeliveryContext, CONNECT_TIMEOUT};

/// Port of SMTP between MTAs (RFC 5321), for hosts found by MX lookup.
const SMTP_PORT: u16 = 25;

/// The fate of one recipient in this attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted by `remote` (`host [ip]:port`) with `reply`.
    Delivered {
        /// The server that took it.
        remote: String,
        /// Its final reply.
        reply: String,
        /// What the conversation proves.
        proof: Box<DeliveryProof>,
        /// The server took the sender's DSN request: it reports success.
        dsn_passed: bool,
    },
    /// Refused for good (5xx); `reply` names the server.
    Permanent {
        /// The server's refusal.
        reply: String,
    },
    /// Not tried: the destination already has all the deliveries it may
    /// have at once; try again in a moment, without counting an attempt.
    Busy,
    /// Not delivered this time; retry later.
    Transient {
        /// Why, naming the server, for logs and tracking.
        reason: String,
        /// The server's reply, when it gave one (for an eventual bounce).
        reply: Option<String>,
    },
}

/// One message for one domain.
#[derive(Clone, Copy, Debug)]
pub struct Job<'a> {
    /// The queue id, for the logs.
    pub id: &'a str,
    /// The envelope sender.
    pub sender: &'a str,
    /// The recipients' domain (normal form).
    pub domain: &'a str,
    /// The recipients, all of `domain`.
    pub recipients: &'a [String],
    /// The message.
    pub message: &'a [u8],
    /// It needs SMTPUTF8.
    pub smtputf8: bool,
    /// The sender's DSN parameters for `recipients`.
    pub dsn: Option<&'a smtp_client::DsnRequest>,
}

/// Delivers `job`; one outcome per recipient.
pub async fn deliver_domain(ctx: &DeliveryContext, job: &Job<'_>) -> Vec<(String, Outcome)> {
    let Some(_slot) = ctx.limits.try_acquire(job.domain) else {
        return all(job, |_| Outcome::Busy);
    };
    let (servers, tls) = match servers(ctx, job.domain).await {
        Ok(found) => found,
        Err(DnsError::Permanent { status, reason }) => {
            let reply = format!("550 {status} {reason}");
            return all(job, |_| Outcome::Permanent {
                reply: reply.clone(),
            });
        }
        Err(DnsError::Transient(reason)) => return transient(job, reason, None),
    };
    let mut failures = Vec::new();
    let mut last_reply = None;
    for server in &servers {
        let addresses = match ctx.dns.addresses(&server.host).await {
            Ok(a) => a,
            Err(e) => {
                failures.push(format!("{}: {e}", server.host));
                continue;
            }
        };
        for ip in addresses {
            let remote = format!("{} [{ip}]:{}", server.host, server.port);
            match try_address(ctx, job, server, ip, tls).await {
                Ok(d) if decisive(&d) => return outcomes(&remote, ip, server.port, d),
                Ok(d) => {
                    let reply = first_refusal(&d);
                    failures.push(format!("{remote} said {reply}"));
                    last_reply = Some(reply);
                }
                Err(e) => failures.push(format!("{remote}: {e}")),
            }
        }
    }
    transient(job, failures.join("; "), last_reply)
}

/// The servers of `domain` in the order to try them, and its TLS policy.
async fn servers(
    ctx: &DeliveryContext,
    domain: &str,
) -> Result<(Vec<DeliveryServer>, TlsMode), DnsError> {
    let Some(directory) = ctx.directory.snapshot() else {
        return Err(DnsError::Transient(
            "recipient directory not loaded yet".into(),
        ));
    };
    let tls = match directory.tls_policy(domain) {
        TlsPolicy::Required => TlsMode::Required,
        TlsPolicy::Opportunistic => TlsMode::Opportunistic,
    };
    if directory.has_domain(domain) {
        return match directory.routes(domain) {
            Some(s) if !s.is_empty() => Ok((route::order(s), tls)),
            _ => Err(DnsError::Transient(format!(
                "no delivery server configured for {domain}"
            ))),
        };
    }
    let hosts = ctx.dns.mail_hosts(domain).await?;
    let servers: Vec<DeliveryServer> = hosts
        .into_iter()
        .map(|(priority, host)| DeliveryServer {
            host,
            port: SMTP_PORT,
            priority,
        })
        .collect();
    Ok((route::order(&servers), tls))
}

/// One delivery to `ip`. A failed handshake under the opportunistic
/// policy is retried at once in clear on a new connection (as Postfix's
/// `may` does): a server with broken TLS must not stop the mail for good.
async fn try_address(
    ctx: &DeliveryContext,
    job: &Job<'_>,
    server: &DeliveryServer,
    ip: IpAddr,
    tls: TlsMode,
) -> Result<Delivery, ClientError> {
    match connect_and_deliver(ctx, job, server, ip, tls).await {
        Err(e) if tls == TlsMode::Opportunistic && e.stage() == Stage::Tls => {
            log::info!(
                "{} {} [{ip}]: TLS failed ({e}); trying again in clear",
                job.id,
                server.host
            );
            connect_and_deliver(ctx, job, server, ip, TlsMode::Disabled).await
        }
        other => other,
    }
}

async fn connect_and_deliver(
    ctx: &DeliveryContext,
    job: &Job<'_>,
    server: &DeliveryServer,
    ip: IpAddr,
    tls: TlsMode,
) -> Result<Delivery, ClientError> {
    let address = SocketAddr::new(ip, server.port);
    let stream = smtp_client::connect_tcp(&ip.to_string(), server.port, CONNECT_TIMEOUT).await?;
    let envelope = Envelope {
        sender: job.sender,
        recipients: job.recipients,
        smtputf8: job.smtputf8,
        dsn: job.dsn,
    };
    let destination = Destination {
        server_name: &server.host,
        tls,
    };
    let log_id = format!("{} {} [{address}]", job.id, server.host);
    smtp_client::deliver(
        stream,
        &ctx.client,
        &destination,
        &envelope,
        job.message,
        &log_id,
    )
    .await
}

/// Whether this server's answer stands: it took or refused someone for
/// good; otherwise (a greeting refusal, a local TLS refusal, everything
/// deferred) the next server may do better.
fn decisive(delivery: &Delivery) -> bool {
    let report = &delivery.report;
    report.greeting.is_positive()
        && (report.accepted().next().is_some() || report.permanent().next().is_some())
}

/// The reply that stopped a server: its greeting if that was a refusal,
/// else the first recipient's.
fn first_refusal(delivery: &Delivery) -> String {
    let report = &delivery.report;
    if !report.greeting.is_positive() {
        return format!("{}", report.greeting);
    }
    report
        .recipients
        .first()
        .map(|r| r.reply.to_string())
        .unwrap_or_else(|| report.greeting.to_string())
}

/// Turns the server's per-recipient replies into outcomes.
fn outcomes(remote: &str, ip: IpAddr, port: u16, delivery: Delivery) -> Vec<(String, Outcome)> {
    let proof = Box::new(proof_of(ip, port, &delivery));
    let dsn_passed = delivery.report.dsn_passed;
    delivery
        .report
        .recipients
        .into_iter()
        .map(|r| {
            let reply = r.reply.to_string();
            let outcome = if r.reply.is_positive() {
                Outcome::Delivered {
                    remote: remote.to_string(),
                    reply,
                    proof: proof.clone(),
                    dsn_passed,
                }
            } else if r.reply.is_permanent() {
                Outcome::Permanent { reply }
            } else {
                Outcome::Transient {
                    reason: format!("{remote} said {reply}"),
                    reply: Some(reply),
                }
            };
            (r.recipient, outcome)
        })
        .collect()
}

/// The tracking form of the client's proof.
fn proof_of(ip: IpAddr, port: u16, delivery: &Delivery) -> DeliveryProof {
    let proof = &delivery.proof;
    DeliveryProof {
        banner_name: proof.banner_name.clone(),
        ehlo_name: proof.ehlo_name.clone(),
        address: SocketAddr::new(ip, port).to_string(),
        tls_version: proof.tls.as_ref().map(|t| t.version.clone()),
        tls_cipher: proof.tls.as_ref().map(|t| t.cipher.clone()),
        transcript: proof.transcript.clone(),
        body_sha256: proof.body_sha256.clone().unwrap_or_default(),
        body_bytes: delivery.report.bytes_sent,
    }
}

fn all(job: &Job<'_>, outcome: impl Fn(&str) -> Outcome) -> Vec<(String, Outcome)> {
    job.recipients
        .iter()
        .map(|r| (r.clone(), outcome(r)))
        .collect()
}

fn transient(job: &Job<'_>, reason: String, reply: Option<String>) -> Vec<(String, Outcome)> {
    all(job, |_| Outcome::Transient {
        reason: reason.clone(),
        reply: reply.clone(),
    })
}
