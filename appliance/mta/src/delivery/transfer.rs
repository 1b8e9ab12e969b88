//! One domain's share of a message: try its servers in order until one
//! gives a verdict on the recipients.

use smtp_client::{ClientError, DeliveryReport, Envelope};

use super::{route, DeliveryContext, CONNECT_TIMEOUT};

/// The fate of one recipient in this attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted by `remote` (`host [ip]:port`) with `reply`.
    Delivered {
        /// The server that took it.
        remote: String,
        /// Its final reply.
        reply: String,
    },
    /// Refused for good (5xx); `reply` names the server.
    Permanent {
        /// The server's refusal.
        reply: String,
    },
    /// Not delivered this time; retry later.
    Transient {
        /// Why, naming the server, for logs and tracking.
        reason: String,
        /// The server's reply, when it gave one (for an eventual bounce).
        reply: Option<String>,
    },
}

/// Delivers `message` for `recipients` of `domain`; one outcome per recipient.
pub async fn deliver_domain(
    ctx: &DeliveryContext,
    sender: &str,
    domain: &str,
    recipients: &[String],
    message: &[u8],
) -> Vec<(String, Outcome)> {
    let all = |reason: String| {
        recipients
            .iter()
            .map(|r| {
                let o = Outcome::Transient {
                    reason: reason.clone(),
                    reply: None,
                };
                (r.clone(), o)
            })
            .collect()
    };
    let Some(directory) = ctx.directory.snapshot() else {
        return all("recipient directory not loaded yet".into());
    };
    let servers = match directory.routes(domain) {
        Some(s) if !s.is_empty() => route::order(s),
        _ => return all(format!("no delivery server configured for {domain}")),
    };
    let mut failures = Vec::new();
    for server in &servers {
        match try_server(ctx, &server.host, server.port, sender, recipients, message).await {
            Ok((remote, report)) if report.greeting.is_positive() => {
                return outcomes(&remote, report);
            }
            Ok((remote, report)) => {
                failures.push(format!("{remote} greeted with {}", report.greeting))
            }
            Err(e) => failures.push(format!("{}:{}: {e}", server.host, server.port)),
        }
    }
    all(failures.join("; "))
}

async fn try_server(
    ctx: &DeliveryContext,
    host: &str,
    port: u16,
    sender: &str,
    recipients: &[String],
    message: &[u8],
) -> Result<(String, DeliveryReport), ClientError> {
    let stream = smtp_client::connect_tcp(host, port, CONNECT_TIMEOUT).await?;
    let remote = match stream.peer_addr() {
        Ok(a) => format!("{host} [{}]:{}", a.ip(), a.port()),
        Err(_) => format!("{host}:{port}"),
    };
    let envelope = Envelope { sender, recipients };
    let report = smtp_client::send(stream, &ctx.client, &envelope, message).await?;
    Ok((remote, report))
}

/// Turns the server's per-recipient replies into outcomes.
fn outcomes(remote: &str, report: DeliveryReport) -> Vec<(String, Outcome)> {
    report
        .recipients
        .into_iter()
        .map(|r| {
            let reply = r.reply.to_string();
            let outcome = if r.reply.is_positive() {
                Outcome::Delivered {
                    remote: remote.to_string(),
                    reply,
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
