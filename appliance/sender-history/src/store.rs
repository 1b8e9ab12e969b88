//! `history.db`: the sled database behind the pure logic of [`crate::delay`]
//! and [`crate::snowshoe`], plus the per-pattern statistics.
//!
//! Three trees: `patterns` (per network, HELO and sender domain: first and
//! last seen, messages, verdicts), `delay` (per network+HELO+domain triple:
//! pending or known) and `snowshoe` (recent sightings per range and band).
//! Every read-modify-write is one atomic sled update, so concurrent
//! connections never lose a count. Losing the last half second of writes
//! in a crash only means a sender is delayed once more: no fsync per write.

use std::path::{Path, PathBuf};

use model::config::DelayQueueConfig;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::delay::{self, Decision, Entry};
use crate::pattern::{network, Kind, Sender};
use crate::snowshoe::{self, Fingerprint, Snowshoe};

/// File name of the database inside the filter's state directory.
pub const FILE_NAME: &str = "history.db";

/// Why the history could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// The database could not be opened (another process holds it?).
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The database directory.
        path: PathBuf,
        /// sled's reason.
        source: sled::Error,
    },
    /// A read or write failed.
    #[error("history.db: {0}")]
    Db(#[from] sled::Error),
}

/// What the filter concluded about a message, counted per pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered.
    Clean,
    /// Spam.
    Spam,
    /// A virus.
    Virus,
    /// A blocked attachment.
    Attachment,
}

/// What the history knows about one pattern.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// First message (unix seconds).
    pub first_seen: u64,
    /// Latest message (unix seconds).
    pub last_seen: u64,
    /// Messages seen.
    pub messages: u64,
    /// Of those, clean.
    pub clean: u64,
    /// Spam.
    pub spam: u64,
    /// Viruses.
    pub virus: u64,
    /// Blocked attachments.
    pub attachment: u64,
}

impl Stats {
    fn count(&mut self, outcome: Outcome, now: u64) {
        if self.messages == 0 {
            self.first_seen = now;
        }
        self.last_seen = self.last_seen.max(now);
        self.messages = self.messages.saturating_add(1);
        let n = match outcome {
            Outcome::Clean => &mut self.clean,
            Outcome::Spam => &mut self.spam,
            Outcome::Virus => &mut self.virus,
            Outcome::Attachment => &mut self.attachment,
        };
        *n = n.saturating_add(1);
    }
}

/// The open database.
#[derive(Clone)]
pub struct History {
    db: sled::Db,
    patterns: sled::Tree,
    delay: sled::Tree,
    snowshoe: sled::Tree,
}

impl History {
    /// Opens (creating) `dir/history.db`.
    pub fn open(dir: &Path) -> Result<History, HistoryError> {
        let path = dir.join(FILE_NAME);
        let open = |path: &Path| -> Result<History, sled::Error> {
            std::fs::create_dir_all(dir)?;
            let db = open_db(path)?;
            Ok(History {
                patterns: db.open_tree("patterns")?,
                delay: db.open_tree("delay")?,
                snowshoe: db.open_tree("snowshoe")?,
                db,
            })
        };
        open(&path).map_err(|source| HistoryError::Open { path, source })
    }

    /// The delay queue's decision for `sender` at `now`, stored atomically.
    pub fn delay(
        &self,
        sender: &Sender,
        now: u64,
        config: &DelayQueueConfig,
    ) -> Result<Decision, HistoryError> {
        let step = |old: Option<&[u8]>| {
            let entry = old.and_then(decode::<Entry>);
            let (decision, store) = delay::decide(entry, now, config);
            (decision, store.map(|e| encode(&e)))
        };
        let old = self.delay.fetch_and_update(sender.triple(), |old| {
            step(old).1.or_else(|| old.map(<[u8]>::to_vec))
        })?;
        Ok(step(old.as_deref()).0)
    }

    /// Counts one message with its `outcome` for each of `sender`'s patterns.
    pub fn record(&self, sender: &Sender, outcome: Outcome, now: u64) -> Result<(), HistoryError> {
        for (kind, key) in sender.patterns() {
            self.patterns
                .update_and_fetch(format!("{}{key}", kind.prefix()), |old| {
                    let mut stats = old.and_then(decode::<Stats>).unwrap_or_default();
                    stats.count(outcome, now);
                    Some(encode(&stats))
                })?;
        }
        Ok(())
    }

    /// What the history knows about one pattern (`key` as [`Sender::patterns`] gives it).
    pub fn stats(&self, kind: Kind, key: &str) -> Result<Option<Stats>, HistoryError> {
        let value = self.patterns.get(format!("{}{key}", kind.prefix()))?;
        Ok(value.as_deref().and_then(decode))
    }

    /// Records this message's fingerprint when `sender`'s network is new,
    /// and tells whether similar mail came from enough new addresses of its
    /// /24 or /16 within the window. Call before [`History::record`].
    pub fn snowshoe(
        &self,
        sender: &Sender,
        body: &[u8],
        now: u64,
    ) -> Result<Option<Snowshoe>, HistoryError> {
        let Some(fp) = snowshoe::fingerprint(body) else {
            return Ok(None);
        };
        let known_since = self.stats(Kind::Network, &sender.network())?;
        if known_since
            .is_some_and(|s| now.saturating_sub(s.first_seen) > snowshoe::NEW_NETWORK_SECS)
        {
            return Ok(None);
        }
        let narrow = self.sight(&sender.network(), sender, &fp, now)?;
        let wide = self.sight(&network(sender.ip, 16, 48), sender, &fp, now)?;
        Ok(snowshoe::judge(narrow, wide))
    }

    /// Adds a sighting to every band of `fp` in `range`; the largest count.
    fn sight(
        &self,
        range: &str,
        sender: &Sender,
        fp: &Fingerprint,
        now: u64,
    ) -> Result<usize, HistoryError> {
        let mut most = 0;
        for (band, value) in fp.iter().enumerate() {
            let key = format!("{range}|{band}|{value:016x}");
            let stored = self.snowshoe.update_and_fetch(key, |old| {
                let mut s = old.map(snowshoe::decode).unwrap_or_default();
                snowshoe::sight(&mut s, sender.ip, now);
                Some(snowshoe::encode(&s))
            })?;
            most = most.max(stored.map_or(0, |v| snowshoe::decode(&v).len()));
        }
        Ok(most)
    }

    /// Removes what has expired: delay entries past their window or
    /// `remember_days`, patterns without mail for `remember_days`, stale
    /// sightings. Returns how many records went.
    pub fn purge(&self, now: u64, config: &DelayQueueConfig) -> Result<usize, HistoryError> {
        let remember = config.remember_days.saturating_mul(86_400);
        let mut removed = 0;
        removed += remove_where(&self.delay, |v| {
            decode::<Entry>(v).is_none_or(|e| delay::expired(&e, now, config))
        })?;
        removed += remove_where(&self.patterns, |v| {
            decode::<Stats>(v).is_none_or(|s| now.saturating_sub(s.last_seen) > remember)
        })?;
        removed += remove_where(&self.snowshoe, |v| {
            snowshoe::decode(v)
                .iter()
                .all(|s| now.saturating_sub(s.at) > snowshoe::WINDOW_SECS)
        })?;
        Ok(removed)
    }

    /// Writes everything to disk (at shutdown).
    pub fn flush(&self) -> Result<(), HistoryError> {
        self.db.flush()?;
        Ok(())
    }
}

/// Removes the entries of `tree` whose value satisfies `stale`, unless the
/// value changed meanwhile.
fn remove_where(tree: &sled::Tree, stale: impl Fn(&[u8]) -> bool) -> Result<usize, HistoryError> {
    let mut removed = 0;
    for item in tree.iter() {
        let (key, value) = item?;
        if stale(&value)
            && tree
                .compare_and_swap(&key, Some(&value), None::<&[u8]>)?
                .is_ok()
        {
            removed += 1;
        }
    }
    Ok(removed)
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// A damaged record reads as absent: the history is advisory.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    serde_json::from_slice(bytes).ok()
}
/// How long [`open_db`] waits for the database's lock: sled's background
/// threads of a history just closed (a restart of the filter in the same
/// process) release it a moment later.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

fn open_db(path: &Path) -> sled::Result<sled::Db> {
    let started = std::time::Instant::now();
    loop {
        match sled::open(path) {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && started.elapsed() < LOCK_WAIT =>
            {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}
