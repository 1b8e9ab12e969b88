//! The tracking log: what happened to each message, searchable by queue id,
//! Message-ID, sender and recipient.
//!
//! Events are keyed by big-endian time plus a sled-generated sequence, so a
//! scan comes out oldest first. Each search key has an index tree whose keys
//! are `term\0eventkey`: one prefix scan finds a term's events in time order.

use model::api::TrackingEvent;
use model::client::TrackingQuery;
use sled::{Db, Transactional, Tree};

use super::{decode, encode, stats, tx_error, Store, StoreError, StoreResult};

/// Most events accepted in one `POST /tracking`.
pub const MAX_BATCH: usize = 10_000;
/// Longest searchable field (queue id, Message-ID, address), in bytes.
const MAX_TERM: usize = 998;

/// The four index trees.
pub(super) struct Indexes {
    queue_id: Tree,
    message_id: Tree,
    sender: Tree,
    recipient: Tree,
}

impl Indexes {
    pub(super) fn open(db: &Db) -> sled::Result<Indexes> {
        Ok(Indexes {
            queue_id: db.open_tree("tracking_by_queue_id")?,
            message_id: db.open_tree("tracking_by_message_id")?,
            sender: db.open_tree("tracking_by_sender")?,
            recipient: db.open_tree("tracking_by_recipient")?,
        })
    }
}

/// The normal form of each search key, applied to stored and searched values alike.
fn norm_queue_id(s: &str) -> String {
    s.trim().to_string()
}

fn norm_message_id(s: &str) -> String {
    s.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_ascii_lowercase()
}

fn norm_address(s: &str) -> String {
    s.trim().to_ascii_lowercase()
}

fn index_key(term: &str, event_key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(term.len() + 1 + event_key.len());
    k.extend_from_slice(term.as_bytes());
    k.push(0);
    k.extend_from_slice(event_key);
    k
}

/// Checks one event; the message names the event (1-based) and the field.
pub(super) fn validate(i: usize, e: &TrackingEvent) -> StoreResult<()> {
    let bad = |why: String| StoreError::Invalid(format!("event {}: {why}", i + 1));
    if e.queue_id.trim().is_empty() {
        return Err(bad("queue_id is empty".into()));
    }
    let terms = [
        ("queue_id", Some(&e.queue_id)),
        ("message_id", e.message_id.as_ref()),
    ]
    .into_iter()
    .chain([("sender", Some(&e.sender))])
    .chain(e.recipients.iter().map(|r| ("recipients", Some(r))));
    for (field, value) in terms {
        let Some(v) = value else { continue };
        if v.len() > MAX_TERM {
            return Err(bad(format!("{field} is longer than {MAX_TERM} bytes")));
        }
        if v.contains('\0') {
            return Err(bad(format!("{field} contains a NUL character")));
        }
    }
    Ok(())
}

/// The search terms of a query in normal form.
struct Filters {
    queue_id: Option<String>,
    message_id: Option<String>,
    sender: Option<String>,
    recipient: Option<String>,
}

impl Filters {
    fn new(q: &TrackingQuery) -> Filters {
        Filters {
            queue_id: q.queue_id.as_deref().map(norm_queue_id),
            message_id: q.message_id.as_deref().map(norm_message_id),
            sender: q.sender.as_deref().map(norm_address),
            recipient: q.recipient.as_deref().map(norm_address),
        }
    }

    fn matches(&self, e: &TrackingEvent) -> bool {
        let eq = |f: &Option<String>, v: String| f.as_ref().is_none_or(|f| *f == v);
        eq(&self.queue_id, norm_queue_id(&e.queue_id))
            && self
                .message_id
                .as_ref()
                .is_none_or(|f| e.message_id.as_deref().map(norm_message_id).as_ref() == Some(f))
            && eq(&self.sender, norm_address(&e.sender))
            && self
                .recipient
                .as_ref()
                .is_none_or(|f| e.recipients.iter().any(|r| norm_address(r) == *f))
    }
}

impl Store {
    /// Stores a batch of events atomically after validating all of them,
    /// with the mail counters they add (same transaction). Not flushed:
    /// losing the last half second of tracking in a crash is acceptable, an
    /// fsync per batch is not.
    pub fn record_events(&self, events: &[TrackingEvent]) -> StoreResult<()> {
        if events.len() > MAX_BATCH {
            return Err(StoreError::Invalid(format!(
                "{} events in one batch; send at most {MAX_BATCH}",
                events.len()
            )));
        }
        for (i, e) in events.iter().enumerate() {
            validate(i, e)?;
        }
        let mut rows = Vec::with_capacity(events.len());
        for e in events {
            let mut key = e.time.to_be_bytes().to_vec();
            key.extend_from_slice(&self.db.generate_id()?.to_be_bytes());
            rows.push((key, encode(e), e));
        }
        let now = model::time::now_ms();
        let counted = stats::Delta::of(events, now);
        let ix = &self.index;
        (
            &self.tracking,
            &ix.queue_id,
            &ix.message_id,
            &ix.sender,
            &ix.recipient,
            &self.stats,
        )
            .transaction(
                |(events_tree, by_queue, by_mid, by_sender, by_rcpt, counters)| {
                    for (key, value, e) in &rows {
                        events_tree.insert(key.as_slice(), value.as_slice())?;
                        by_queue.insert(index_key(&norm_queue_id(&e.queue_id), key), &[][..])?;
                        if let Some(mid) = &e.message_id {
                            by_mid.insert(index_key(&norm_message_id(mid), key), &[][..])?;
                        }
                        by_sender.insert(index_key(&norm_address(&e.sender), key), &[][..])?;
                        for r in &e.recipients {
                            by_rcpt.insert(index_key(&norm_address(r), key), &[][..])?;
                        }
                    }
                    counted.apply(counters)
                },
            )
            .map_err(tx_error)?;
        self.prune_stats(now)
    }

    /// Events matching every given term, oldest first, at most `limit`;
    /// with no terms, the oldest events.
    pub fn tracking(&self, q: &TrackingQuery, limit: usize) -> StoreResult<Vec<TrackingEvent>> {
        let f = Filters::new(q);
        let ix = &self.index;
        let chosen = [
            (&ix.queue_id, &f.queue_id),
            (&ix.message_id, &f.message_id),
            (&ix.recipient, &f.recipient),
            (&ix.sender, &f.sender),
        ]
        .into_iter()
        .find_map(|(tree, term)| term.as_ref().map(|t| (tree, t)));
        let mut out = Vec::new();
        let Some((tree, term)) = chosen else {
            for v in self.tracking.iter().values().take(limit) {
                out.push(decode("tracking", &v?)?);
            }
            return Ok(out);
        };
        let prefix = index_key(term, &[]);
        for k in tree.scan_prefix(&prefix).keys() {
            let k = k?;
            // An index entry always has its event (same transaction); skip
            // defensively rather than fail the whole search if one does not.
            let Some(v) = self.tracking.get(&k[prefix.len()..])? else {
                continue;
            };
            let event: TrackingEvent = decode("tracking", &v)?;
            if f.matches(&event) {
                out.push(event);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_util::temp_store;
    use model::api::EventKind;

    fn event(
        time: u64,
        queue_id: &str,
        kind: EventKind,
        sender: &str,
        rcpts: &[&str],
    ) -> TrackingEvent {
        TrackingEvent {
            proof: Default::default(),
            time,
            queue_id: queue_id.into(),
            message_id: Some(format!("<{queue_id}@Example.test>")),
            kind,
            sender: sender.into(),
            recipients: rcpts.iter().map(|r| r.to_string()).collect(),
            detail: String::new(),
            remote: None,
            reply: None,
        }
    }

    fn query(
        queue_id: Option<&str>,
        mid: Option<&str>,
        sender: Option<&str>,
        rcpt: Option<&str>,
    ) -> TrackingQuery {
        TrackingQuery {
            queue_id: queue_id.map(Into::into),
            message_id: mid.map(Into::into),
            sender: sender.map(Into::into),
            recipient: rcpt.map(Into::into),
        }
    }

    #[test]
    fn searches_by_each_key_and_combinations_oldest_first() {
        let (_dir, store) = temp_store();
        store
            .record_events(&[
                event(30, "Q1", EventKind::Delivered, "s@x.test", &["a@y.test"]),
                event(
                    10,
                    "Q1",
                    EventKind::Received,
                    "s@x.test",
                    &["a@y.test", "b@y.test"],
                ),
                event(20, "Q2", EventKind::Received, "", &["B@y.test"]),
            ])
            .unwrap();
        let times = |q: TrackingQuery| {
            store
                .tracking(&q, 100)
                .unwrap()
                .iter()
                .map(|e| e.time)
                .collect::<Vec<_>>()
        };
        assert_eq!(times(query(Some("Q1"), None, None, None)), [10, 30]);
        assert_eq!(
            times(query(None, Some("q2@example.TEST"), None, None)),
            [20]
        );
        assert_eq!(
            times(query(None, Some("<Q1@example.test>"), None, None)),
            [10, 30]
        );
        assert_eq!(times(query(None, None, Some("S@X.test"), None)), [10, 30]);
        assert_eq!(
            times(query(None, None, Some(""), None)),
            [20],
            "null sender"
        );
        assert_eq!(times(query(None, None, None, Some("b@y.test"))), [10, 20]);
        assert_eq!(times(query(Some("Q1"), None, None, Some("b@y.test"))), [10]);
        assert_eq!(
            times(query(Some("Q2"), None, Some("s@x.test"), None)),
            Vec::<u64>::new()
        );
        assert_eq!(times(query(None, None, None, None)), [10, 20, 30]);
        assert_eq!(
            store
                .tracking(&query(Some("Q1"), None, None, None), 1)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn a_bad_event_refuses_the_whole_batch() {
        let (_dir, store) = temp_store();
        let good = event(1, "Q1", EventKind::Received, "s@x.test", &[]);
        let bad = event(2, " ", EventKind::Received, "s@x.test", &[]);
        let e = store.record_events(&[good.clone(), bad]).unwrap_err();
        assert!(
            matches!(&e, StoreError::Invalid(m) if m.contains("event 2: queue_id")),
            "{e}"
        );
        let nul = event(2, "Q\0", EventKind::Received, "s@x.test", &[]);
        assert!(store.record_events(&[good, nul]).is_err());
        assert!(store
            .tracking(&TrackingQuery::default(), 10)
            .unwrap()
            .is_empty());
    }
}
