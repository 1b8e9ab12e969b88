//! Mail counters, kept as tracking events arrive: totals since the database
//! was created and one bucket per hour, written in the same transaction as
//! the events (so the counters and the log never disagree).
//!
//! Keys of the `stats` tree: `t` for the totals, `h` + the hour's start
//! (unix ms, big-endian) for a bucket, so buckets sort by time and old ones
//! go with one range scan. Values are [`Counters`] as JSON.

use std::collections::BTreeMap;

use model::api::{Counters, EventKind, HourCounters, MailStats, TrackingEvent};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::{decode, encode, Store, StoreError, StoreResult};

/// One hour in milliseconds.
pub const HOUR_MS: u64 = 3_600_000;
/// Hour buckets older than this are pruned.
pub const RETENTION_MS: u64 = 30 * 24 * HOUR_MS;
/// Hours `GET /stats` shows.
pub const SHOWN_HOURS: u64 = 24;
/// Key of the totals.
const TOTAL: &[u8] = b"t";
/// First byte of an hour bucket's key.
const HOUR_TAG: u8 = b'h';

fn hour_key(hour: u64) -> [u8; 9] {
    let mut k = [HOUR_TAG; 9];
    k[1..].copy_from_slice(&hour.to_be_bytes());
    k
}

/// What one event adds: per event for received, rejected and deferred,
/// per recipient for delivered, quarantined and bounced.
fn count(e: &TrackingEvent) -> Counters {
    let recipients = e.recipients.len() as u64;
    let mut c = Counters::default();
    match e.kind {
        EventKind::Received => c.received = 1,
        EventKind::Rejected => c.rejected = 1,
        EventKind::Deferred => c.deferred = 1,
        EventKind::Delivered => c.delivered = recipients,
        EventKind::Quarantined => c.quarantined = recipients,
        EventKind::Bounced => c.bounced = recipients,
        EventKind::Verdict | EventKind::Queued | EventKind::Released | EventKind::Deleted => {}
    }
    c
}

fn add(to: &mut Counters, c: &Counters) {
    to.received = to.received.saturating_add(c.received);
    to.delivered = to.delivered.saturating_add(c.delivered);
    to.quarantined = to.quarantined.saturating_add(c.quarantined);
    to.rejected = to.rejected.saturating_add(c.rejected);
    to.deferred = to.deferred.saturating_add(c.deferred);
    to.bounced = to.bounced.saturating_add(c.bounced);
}

/// What a batch of events adds, in total and per hour.
pub(super) struct Delta {
    total: Counters,
    hours: BTreeMap<u64, Counters>,
}

impl Delta {
    /// Counts `events`; those older than the retention at `now` count in
    /// the totals only.
    pub(super) fn of(events: &[TrackingEvent], now: u64) -> Delta {
        let mut d = Delta {
            total: Counters::default(),
            hours: BTreeMap::new(),
        };
        for e in events {
            let c = count(e);
            if c == Counters::default() {
                continue;
            }
            add(&mut d.total, &c);
            if e.time >= now.saturating_sub(RETENTION_MS) {
                add(d.hours.entry(e.time - e.time % HOUR_MS).or_default(), &c);
            }
        }
        d
    }

    /// Adds this delta to the counters inside a transaction.
    pub(super) fn apply(
        &self,
        stats: &TransactionalTree,
    ) -> Result<(), ConflictableTransactionError<StoreError>> {
        if self.total == Counters::default() {
            return Ok(());
        }
        let keyed = std::iter::once((TOTAL.to_vec(), &self.total))
            .chain(self.hours.iter().map(|(h, c)| (hour_key(*h).to_vec(), c)));
        for (key, c) in keyed {
            let mut current = match stats.get(&key)? {
                Some(v) => decode("stats", &v).map_err(ConflictableTransactionError::Abort)?,
                None => Counters::default(),
            };
            add(&mut current, c);
            stats.insert(key, encode(&current))?;
        }
        Ok(())
    }
}

impl Store {
    /// The totals and the [`SHOWN_HOURS`] hours up to the one holding
    /// `now`, oldest first; hours without mail are zeros.
    pub fn stats(&self, now: u64) -> StoreResult<MailStats> {
        let total = match self.stats.get(TOTAL)? {
            Some(v) => decode("stats", &v)?,
            None => Counters::default(),
        };
        let current = now - now % HOUR_MS;
        let first = current.saturating_sub((SHOWN_HOURS - 1) * HOUR_MS);
        let mut hours = Vec::with_capacity(SHOWN_HOURS as usize);
        for hour in (first..=current).step_by(HOUR_MS as usize) {
            let counters = match self.stats.get(hour_key(hour))? {
                Some(v) => decode("stats", &v)?,
                None => Counters::default(),
            };
            hours.push(HourCounters { hour, counters });
        }
        Ok(MailStats { total, hours })
    }

    /// Removes hour buckets that started more than [`RETENTION_MS`] before `now`.
    pub(super) fn prune_stats(&self, now: u64) -> StoreResult<()> {
        let cutoff = now.saturating_sub(RETENTION_MS);
        for key in self.stats.range(hour_key(0)..hour_key(cutoff)).keys() {
            self.stats.remove(key?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_util::temp_store;

    fn event(time: u64, kind: EventKind, rcpts: usize) -> TrackingEvent {
        TrackingEvent {
            proof: Default::default(),
            time,
            queue_id: "Q".into(),
            message_id: None,
            kind,
            sender: "s@x.test".into(),
            recipients: (0..rcpts).map(|i| format!("r{i}@y.test")).collect(),
            detail: String::new(),
            remote: None,
            reply: None,
        }
    }

    /// A time in the middle of an hour, well after the epoch.
    const NOW: u64 = 1_795_314_048_000;

    #[test]
    fn counts_per_event_or_per_recipient_by_kind() {
        let d = Delta::of(
            &[
                event(NOW, EventKind::Received, 3),
                event(NOW, EventKind::Verdict, 3),
                event(NOW, EventKind::Queued, 3),
                event(NOW, EventKind::Delivered, 2),
                event(NOW, EventKind::Quarantined, 3),
                event(NOW, EventKind::Bounced, 4),
                event(NOW, EventKind::Rejected, 2),
                event(NOW, EventKind::Deferred, 2),
                event(NOW, EventKind::Released, 1),
                event(NOW, EventKind::Deleted, 1),
            ],
            NOW,
        );
        let want = Counters {
            received: 1,
            delivered: 2,
            quarantined: 3,
            rejected: 1,
            deferred: 1,
            bounced: 4,
        };
        assert_eq!(d.total, want);
        assert_eq!(d.hours.len(), 1);
        assert_eq!(d.hours[&(NOW - NOW % HOUR_MS)], want);
    }

    #[test]
    fn buckets_by_hour_last_24_with_zeros_and_pruning() {
        let (_dir, store) = temp_store();
        // Real time: recording prunes and skips by the clock.
        let now = model::time::now_ms();
        let hour = now - now % HOUR_MS;
        store
            .record_events(&[
                event(hour, EventKind::Received, 1),
                event(hour - 1, EventKind::Received, 1),
                event(hour - 23 * HOUR_MS, EventKind::Delivered, 2),
                event(hour - 24 * HOUR_MS, EventKind::Delivered, 5),
                event(now - RETENTION_MS - HOUR_MS, EventKind::Bounced, 1),
            ])
            .unwrap();
        let s = store.stats(now).unwrap();
        assert_eq!(s.hours.len(), 24);
        assert_eq!(s.hours[0].hour, hour - 23 * HOUR_MS);
        assert_eq!(s.hours[0].counters.delivered, 2);
        assert_eq!(
            s.hours[22].counters,
            Counters {
                received: 1,
                ..Default::default()
            }
        );
        assert_eq!(s.hours[23].hour, hour);
        assert_eq!(s.hours[23].counters.received, 1);
        assert!(s.hours[1..22]
            .iter()
            .all(|h| h.counters == Counters::default()));
        assert_eq!(
            s.total,
            Counters {
                received: 2,
                delivered: 7,
                bounced: 1,
                ..Default::default()
            }
        );
        // Only the bucket of 24 hours ago falls out once 30 days have passed.
        let buckets = || store.stats.scan_prefix([HOUR_TAG]).count();
        assert_eq!(buckets(), 4, "the too-old bounce has no bucket");
        store
            .prune_stats(hour - 24 * HOUR_MS + RETENTION_MS + 1)
            .unwrap();
        assert_eq!(buckets(), 3);
        assert_eq!(store.stats(now).unwrap().total.delivered, 7, "totals stay");
    }
}
