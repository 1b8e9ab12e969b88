//! Digest schedules (per domain, per user) and when each mailbox last got
//! its digest, in the `digests` tree; and which quarantined items are new
//! for which mailbox.

use std::collections::HashMap;

use model::address::{normalize_address, normalize_domain};
use model::api::QuarantineItem;
use model::tenancy::DigestSchedule;
use serde::{Deserialize, Serialize};

use super::{decode, encode, Store, StoreError, StoreResult};

/// What the `digests` tree keeps per user (`u:ADDRESS`) or domain
/// (`d:DOMAIN`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Entry {
    /// Its own schedule; `None`: its domain's (or the default, daily).
    schedule: Option<DigestSchedule>,
    /// Unix ms of the newest item the last digest listed (users only).
    #[serde(default)]
    through: u64,
    /// Unix ms the last digest was sent (users only).
    #[serde(default)]
    sent: u64,
}

/// One mailbox's digest to send: its new items, newest first.
#[derive(Debug)]
pub struct DueDigest {
    /// The mailbox.
    pub recipient: String,
    /// Items quarantined since its last digest.
    pub items: Vec<QuarantineItem>,
}

impl Store {
    /// Sets domain `name`'s digest schedule (its users' default).
    pub fn set_domain_digest(&self, name: &str, schedule: DigestSchedule) -> StoreResult<()> {
        let name = normalize_domain(name).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.domain(&name)?;
        let key = format!("d:{name}");
        let mut e = self.digest_entry(&key)?;
        e.schedule = Some(schedule);
        self.digests.insert(key, encode(&e))?;
        self.flush()
    }

    /// Sets user `address`'s own digest schedule (users may change theirs).
    pub fn set_user_digest(&self, address: &str, schedule: DigestSchedule) -> StoreResult<()> {
        let address = normalize_address(address).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.user(&address)?;
        let key = format!("u:{address}");
        let mut e = self.digest_entry(&key)?;
        e.schedule = Some(schedule);
        self.digests.insert(key, encode(&e))?;
        self.flush()
    }

    /// The schedule in force for `address`: its own, its domain's, daily.
    pub fn digest_schedule(&self, address: &str) -> StoreResult<DigestSchedule> {
        let address = normalize_address(address).map_err(|e| StoreError::Invalid(e.to_string()))?;
        if let Some(s) = self.digest_entry(&format!("u:{address}"))?.schedule {
            return Ok(s);
        }
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        Ok(self
            .digest_entry(&format!("d:{domain}"))?
            .schedule
            .unwrap_or_default())
    }

    /// The mailboxes whose digest is due at `now` (unix ms) with the items
    /// new since their last one; `force` ignores the schedule's interval
    /// (not `never`). One pass over the quarantine, newest first.
    pub fn due_digests(&self, now: u64, force: bool) -> StoreResult<Vec<DueDigest>> {
        let mut per: HashMap<String, Vec<QuarantineItem>> = HashMap::new();
        let mut cutoffs: HashMap<String, Option<u64>> = HashMap::new();
        for item in self.quarantine_list(None, None, usize::MAX)? {
            if item.outbound {
                continue;
            }
            let through = match cutoffs.get(&item.recipient) {
                Some(t) => *t,
                None => {
                    let t = self.digest_through(&item.recipient, now, force)?;
                    cutoffs.insert(item.recipient.clone(), t);
                    t
                }
            };
            if through.is_some_and(|t| item.quarantined > t) {
                per.entry(item.recipient.clone()).or_default().push(item);
            }
        }
        let mut due: Vec<DueDigest> = per
            .into_iter()
            .map(|(recipient, items)| DueDigest { recipient, items })
            .collect();
        due.sort_by(|a, b| a.recipient.cmp(&b.recipient));
        Ok(due)
    }

    /// Records that `recipient`'s digest listing items up to `through`
    /// (unix ms) was sent at `now`.
    pub fn digest_sent(&self, recipient: &str, through: u64, now: u64) -> StoreResult<()> {
        let key = format!("u:{recipient}");
        let mut e = self.digest_entry(&key)?;
        e.through = e.through.max(through);
        e.sent = now;
        self.digests.insert(key, encode(&e))?;
        self.flush()
    }

    /// For a recipient whose digest is due at `now`: the time after which
    /// items are new; `None` when no digest is due (or it has none).
    fn digest_through(&self, recipient: &str, now: u64, force: bool) -> StoreResult<Option<u64>> {
        if self.user(recipient).is_err() {
            return Ok(None);
        }
        let interval = match self.digest_schedule(recipient)? {
            DigestSchedule::Never => return Ok(None),
            DigestSchedule::Hourly => 3_600_000,
            DigestSchedule::Daily => 86_400_000,
            DigestSchedule::Weekly => 7 * 86_400_000,
        };
        let key = format!("u:{recipient}");
        let mut e = self.digest_entry(&key)?;
        if e.sent == 0 && !force {
            // First seen with held mail: its first digest comes one
            // interval from now, like every later one.
            e.sent = now;
            self.digests.insert(key, encode(&e))?;
            return Ok(None);
        }
        let due = force || now.saturating_sub(e.sent) >= interval;
        Ok(due.then_some(e.through))
    }

    fn digest_entry(&self, key: &str) -> StoreResult<Entry> {
        match self.digests.get(key)? {
            Some(v) => decode("digests", &v),
            None => Ok(Entry::default()),
        }
    }
}
