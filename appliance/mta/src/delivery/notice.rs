//! Sending delivery reports to the sender: bounces, delay notices and
//! success reports, each only for the recipients whose NOTIFY asks for it
//! (RFC 3461), never to the null sender and never about a report.
//!
//! A report is queued durably like any message; if that fails, a bounce is
//! retried later (its recipients stay pending) and a delay notice simply
//! comes with the next attempt.

use model::api::EventKind;

use super::bounce::{self, Action, Failure};
use super::DeliveryContext;
use crate::queue::Entry;
use crate::tracking::event;

/// The items whose recipients want to hear about `action`.
pub fn wanted(entry: &Entry, items: &[Failure], action: Action) -> Vec<Failure> {
    items
        .iter()
        .filter(|f| {
            let n = entry.dsn.notify(&f.recipient);
            match action {
                Action::Failed => n.failure,
                Action::Delayed => n.delay,
                Action::Relayed => n.success,
            }
        })
        .cloned()
        .collect()
}

/// Bounces `failures` (tracked as `bounced`); false when the bounce could
/// not be queued, so the failures must be retried.
pub async fn bounce(
    ctx: &DeliveryContext,
    entry: &Entry,
    body: &[u8],
    failures: &[Failure],
    now: u64,
) -> bool {
    let recipients: Vec<String> = failures.iter().map(|f| f.recipient.clone()).collect();
    let mut e = event(EventKind::Bounced, &entry.id, &entry.sender, &recipients);
    e.message_id = entry.message_id.clone();
    e.reply = failures.first().map(|f| f.reason.clone());
    let reported = wanted(entry, failures, Action::Failed);
    match report(ctx, entry, body, &reported, now, Action::Failed).await {
        Some(Some(dsn_id)) => {
            e.detail = format!("bounce {dsn_id} sent to <{}>", entry.sender);
        }
        Some(None) => {
            log::info!(
                "{}: failed recipients not bounced (null sender, a bounce itself, or NOTIFY)",
                entry.id
            );
            e.detail = "no bounce sent: null sender, a bounce itself, or NOTIFY".into();
        }
        None => return false,
    }
    ctx.tracker.emit(e);
    true
}

/// Tells the sender once that the `retry` recipients are still waiting,
/// when the message is older than the notice age.
pub async fn delay(
    ctx: &DeliveryContext,
    entry: &mut Entry,
    body: &[u8],
    retry: &[String],
    now: u64,
) {
    let age = now.saturating_sub(entry.arrived);
    let after = ctx.delay_notice_after.as_millis() as u64;
    if entry.delay_notified || after == 0 || age < after || retry.is_empty() {
        return;
    }
    let items: Vec<Failure> = entry
        .pending()
        .filter(|r| retry.contains(&r.address))
        .map(|r| {
            let last = match &r.status {
                crate::queue::Status::Pending { last: Some(l) } => l.clone(),
                _ => "not delivered yet".into(),
            };
            Failure {
                recipient: r.address.clone(),
                status: bounce::status_of(&last)
                    .filter(|s| s.starts_with('4'))
                    .unwrap_or_else(|| "4.4.1".into()),
                diagnostic: last
                    .get(..3)
                    .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
                    .map(|_| last.clone()),
                reason: format!("still trying: {last}"),
            }
        })
        .collect();
    let items = wanted(entry, &items, Action::Delayed);
    if report(ctx, entry, body, &items, now, Action::Delayed)
        .await
        .is_some()
    {
        entry.delay_notified = true;
    }
}

/// Reports deliveries to recipients whose NOTIFY includes SUCCESS.
pub async fn relayed(
    ctx: &DeliveryContext,
    entry: &Entry,
    body: &[u8],
    items: &[Failure],
    now: u64,
) {
    let items = wanted(entry, items, Action::Relayed);
    report(ctx, entry, body, &items, now, Action::Relayed).await;
}

/// Queues the report; `Some(None)` when there is nobody to tell, `None`
/// when it could not be queued.
async fn report(
    ctx: &DeliveryContext,
    entry: &Entry,
    body: &[u8],
    items: &[Failure],
    now: u64,
    action: Action,
) -> Option<Option<String>> {
    let to = model::address::normalize_address(&entry.sender);
    let (Ok(to), false, false) = (to, entry.is_dsn, items.is_empty()) else {
        return Some(None);
    };
    let id = model::id::new_id();
    let mut dsn = Entry::new(id.clone(), String::new(), &[to], now);
    dsn.is_dsn = true;
    dsn.message_id = Some(format!("{}.{}@{}", entry.id, action.tag(), ctx.hostname));
    let bytes = bounce::build_report(&ctx.hostname, entry, body, items, now, action);
    match ctx.committer.commit(dsn, bytes).await {
        Ok(()) => {
            log::info!(
                "{}: {} report {id} queued for <{}>",
                entry.id,
                action.tag(),
                entry.sender
            );
            let _ = ctx.queued.send(id.clone());
            Some(Some(id))
        }
        Err(err) => {
            log::error!(
                "{}: cannot queue the {} report: {err}",
                entry.id,
                action.tag()
            );
            None
        }
    }
}
