//! One delivery attempt of one queued message.
//!
//! Pending recipients are grouped by domain and handed to the domain's
//! servers. Each recipient's fate is recorded in the queue entry (not
//! fsynced on its own: after a crash a delivery may be repeated, never
//! lost); temporary failures are retried with backoff until the message is
//! older than the give-up age; permanent failures and expired ones bounce.
//! The message leaves the queue when no recipient is pending. Recipients
//! whose destination is at its concurrency limit are not tried: they come
//! back after [`BUSY_RETRY`] and the attempt does not count.

use std::collections::BTreeMap;

use model::api::EventKind;
use sha2::{Digest, Sha256};

use super::bounce::{self, Failure};
use super::route::backoff;
use super::transfer::{deliver_domain, Job, Outcome};
use super::DeliveryContext;
use crate::queue::{Entry, Status};
use crate::tracking::event;

/// When recipients of a destination at its limit are looked at again.
pub const BUSY_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs one attempt for message `id`; returns when it is due again, or
/// `None` when it left the queue (or could not be read).
pub async fn attempt(ctx: &DeliveryContext, id: &str) -> Option<u64> {
    let (mut entry, body) = load(ctx, id).await?;
    let digest = format!("{:x}", Sha256::digest(&body));
    let mut failures = Vec::new();
    let mut relayed = Vec::new();
    let (mut tried, mut deferred, mut busy) = (false, false, false);
    for (domain, recipients) in by_domain(&entry) {
        if ctx.holds.is_held(&domain) {
            continue;
        }
        let dsn = entry.dsn.request(&recipients);
        let job = Job {
            id,
            sender: &entry.sender,
            domain: &domain,
            recipients: &recipients,
            message: &body,
            smtputf8: entry.smtputf8,
            dsn: dsn.as_ref(),
        };
        // One `delivered` event per transaction: its recipients share the
        // server, the reply and the proof.
        let mut delivered: Option<model::api::TrackingEvent> = None;
        for (rcpt, outcome) in deliver_domain(ctx, &job).await {
            tried |= !matches!(outcome, Outcome::Busy);
            match outcome {
                Outcome::Busy => busy = true,
                Outcome::Delivered {
                    remote,
                    reply,
                    proof,
                    dsn_passed,
                } => {
                    log::info!("{id}: delivered to <{rcpt}> via {remote}: {reply}");
                    let e = delivered.get_or_insert_with(|| {
                        let mut e = tracked(EventKind::Delivered, &entry, &[]);
                        e.detail = format!("sha256={digest} size={}", body.len());
                        e.remote = Some(remote.clone());
                        e.reply = Some(reply.clone());
                        e.proof = Some(*proof);
                        e
                    });
                    e.recipients.push(rcpt.clone());
                    // A next hop that took the DSN request reports itself.
                    if !dsn_passed {
                        relayed.push(Failure {
                            recipient: rcpt.clone(),
                            status: "2.0.0".into(),
                            reason: format!("delivered via {remote}"),
                            diagnostic: Some(reply.clone()),
                        });
                    }
                    entry.set_status(&rcpt, Status::Delivered { remote, reply });
                }
                Outcome::Permanent { reply } => {
                    log::info!("{id}: <{rcpt}> refused: {reply}");
                    failures.push(Failure {
                        recipient: rcpt.clone(),
                        status: bounce::status_of(&reply).unwrap_or_else(|| "5.0.0".into()),
                        reason: reply.clone(),
                        diagnostic: Some(reply),
                    });
                }
                Outcome::Transient { reason, reply } => {
                    deferred = true;
                    log::info!("{id}: <{rcpt}> deferred: {reason}");
                    let mut e = tracked(EventKind::Deferred, &entry, std::slice::from_ref(&rcpt));
                    e.detail = reason.clone();
                    e.reply = reply.clone();
                    ctx.tracker.emit(e);
                    entry.set_status(
                        &rcpt,
                        Status::Pending {
                            last: Some(reply.unwrap_or(reason)),
                        },
                    );
                }
            }
        }
        if let Some(e) = delivered {
            ctx.tracker.emit(e);
        }
    }
    if tried {
        entry.attempts += 1;
    }
    let now = model::time::now_ms();
    let retry: Vec<String> = entry
        .pending()
        .filter(|r| !failures.iter().any(|f: &Failure| f.recipient == r.address))
        .map(|r| r.address.clone())
        .collect();
    // Held recipients wait for their release; they never expire.
    let (held, retry): (Vec<String>, Vec<String>) = retry
        .into_iter()
        .partition(|r| ctx.holds.is_held(model::address::domain_of(r)));
    let too_old = now.saturating_sub(entry.arrived) >= ctx.give_up_after.as_millis() as u64;
    if too_old && !retry.is_empty() {
        failures.extend(expired(&entry, &retry));
    }
    if (!too_old && !retry.is_empty()) || !held.is_empty() {
        let delay = backoff(ctx.retry_initial, ctx.retry_max, entry.attempts);
        entry.next_attempt = now + delay.as_millis() as u64;
    }
    if busy && !deferred && !too_old {
        // Nothing here failed: only a full destination stopped us.
        entry.next_attempt = now + BUSY_RETRY.as_millis() as u64;
    }
    if !too_old {
        super::notice::delay(ctx, &mut entry, &body, &retry, now).await;
    }
    super::notice::relayed(ctx, &entry, &body, &relayed, now).await;
    if !failures.is_empty() {
        settle_failures(ctx, &mut entry, &body, &failures, now).await;
    }
    persist(ctx, entry).await
}

/// A tracking event about recipients of `entry`.
fn tracked(kind: EventKind, entry: &Entry, rcpts: &[String]) -> model::api::TrackingEvent {
    let mut e = event(kind, &entry.id, &entry.sender, rcpts);
    e.message_id = entry.message_id.clone();
    e
}

/// The `retry` recipients of a message that is too old: failed with status
/// 4.4.7 (delivery time expired), quoting the last reply if there was one.
fn expired(entry: &Entry, retry: &[String]) -> Vec<Failure> {
    entry
        .pending()
        .filter(|r| retry.contains(&r.address))
        .map(|r| {
            let last = match &r.status {
                Status::Pending { last: Some(l) } => l.clone(),
                _ => "no delivery attempt succeeded".into(),
            };
            let is_reply = last
                .get(..3)
                .is_some_and(|c| c.bytes().all(|b| b.is_ascii_digit()));
            Failure {
                recipient: r.address.clone(),
                reason: format!("gave up after {} attempts: {last}", entry.attempts),
                diagnostic: is_reply.then_some(last),
                status: "4.4.7".into(),
            }
        })
        .collect()
}

/// Bounces `failures` and marks them; if the bounce cannot be queued they
/// stay pending so nothing is lost (they are retried, then bounced again).
async fn settle_failures(
    ctx: &DeliveryContext,
    entry: &mut Entry,
    body: &[u8],
    failures: &[Failure],
    now: u64,
) {
    if super::notice::bounce(ctx, entry, body, failures, now).await {
        for f in failures {
            entry.set_status(
                &f.recipient,
                Status::Bounced {
                    reason: f.reason.clone(),
                },
            );
        }
    } else {
        for f in failures {
            entry.set_status(
                &f.recipient,
                Status::Pending {
                    last: Some(f.reason.clone()),
                },
            );
        }
        entry.next_attempt = now + ctx.retry_initial.as_millis() as u64;
    }
}

/// Pending recipients grouped by domain.
fn by_domain(entry: &Entry) -> BTreeMap<String, Vec<String>> {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in entry.pending() {
        let domain = model::address::domain_of(&r.address).to_string();
        groups.entry(domain).or_default().push(r.address.clone());
    }
    groups
}

async fn load(ctx: &DeliveryContext, id: &str) -> Option<(Entry, Vec<u8>)> {
    let store = ctx.store.clone();
    let key = id.to_string();
    let loaded = tokio::task::spawn_blocking(move || {
        Ok::<_, crate::queue::QueueError>((store.entry(&key)?, store.body(&key)?))
    })
    .await;
    match loaded {
        Ok(Ok((Some(entry), Some(body)))) => Some((entry, body)),
        Ok(Ok(_)) => {
            log::warn!("{id}: scheduled but no longer queued");
            None
        }
        Ok(Err(e)) => {
            log::error!("{id}: cannot read from the queue: {e}");
            None
        }
        Err(e) => {
            log::error!("{id}: queue read task failed: {e}");
            None
        }
    }
}

/// Writes the new state, or removes the message when it is done.
async fn persist(ctx: &DeliveryContext, entry: Entry) -> Option<u64> {
    let store = ctx.store.clone();
    let done = entry.is_done();
    let next = entry.next_attempt;
    let id = entry.id.clone();
    let written = tokio::task::spawn_blocking(move || {
        if done {
            store.remove(&entry.id)
        } else {
            store.update(&entry)
        }
    })
    .await;
    match written {
        Ok(Ok(())) if done => {
            log::info!("{id}: removed from the queue (all recipients done)");
            None
        }
        Ok(Ok(())) => Some(next),
        Ok(Err(e)) => {
            log::error!("{id}: cannot update the queue: {e}");
            Some(next)
        }
        Err(e) => {
            log::error!("{id}: queue update task failed: {e}");
            Some(next)
        }
    }
}
