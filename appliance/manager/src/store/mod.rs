//! `data.db`: the manager's sled database and the only code that touches it.
//!
//! The manager is the database's sole owner (ARCHITECTURE.md, "One owner per
//! database"); every other role reaches this data through the API. Changes
//! that span trees run in sled transactions so a crash never leaves half of
//! one, and writes the API acknowledges are flushed before the answer.

mod digest;
mod dkim;
mod domain_update;
mod domains;
mod learn;
mod links;
mod policy;
mod quarantine;
mod settings;
mod smtp_accounts;
mod stats;
mod tracking;
mod users;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Tree;

pub use digest::DueDigest;
pub use quarantine::QuarantineDelete;

/// Key in `meta` of the directory generation (u64, big-endian).
const GENERATION: &[u8] = b"generation";
/// Key in `meta` set once the initial data of a new database was imported.
const INITIALIZED: &[u8] = b"initialized";

/// Why a store operation failed; each variant maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The input is unusable; the sentence says why (HTTP 422).
    #[error("{0}")]
    Invalid(String),
    /// The entity already exists or is busy (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// No such entity (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// sled failed (HTTP 500).
    #[error("database error: {0}")]
    Db(#[from] sled::Error),
    /// A DKIM key could not be made, e.g. no system randomness (HTTP 500).
    #[error("DKIM key generation failed: {0}")]
    KeyGeneration(String),
    /// A stored record does not decode: a bug or a damaged file (HTTP 500).
    #[error("corrupt record in tree {tree}: {detail}")]
    Corrupt {
        /// The tree holding the record.
        tree: &'static str,
        /// What did not decode.
        detail: String,
    },
}

/// Result of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// The open database with one handle per tree.
pub struct Store {
    db: sled::Db,
    domains: Tree,
    users: Tree,
    meta: Tree,
    quarantine: Tree,
    quarantine_msg: Tree,
    quarantine_refs: Tree,
    tracking: Tree,
    index: tracking::Indexes,
    /// Mail counters (see `stats`).
    stats: Tree,
    /// Admin password hash and admin networks (see `settings`).
    settings: Tree,
    /// The filter's policy (see `policy`).
    filter_policy: Tree,
    /// What the filter is taught (see `learn`).
    learn: Tree,
    /// Nonces of digest links already used (see `links`).
    used_links: Tree,
    /// Digest schedules and when each mailbox last got one (see `digest`).
    digests: Tree,
    /// Serialises learn events, so sequence numbers are unique.
    learn_lock: Mutex<()>,
    /// Serialises directory (domain/user) writes, and directory reads that
    /// must see a generation matching their content; such writes are rare.
    directory_lock: Mutex<()>,
}

impl Store {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> StoreResult<Store> {
        let db = open_db(path)?;
        let tree = |name: &str| db.open_tree(name);
        Ok(Store {
            domains: tree("domains")?,
            users: tree("users")?,
            meta: tree("meta")?,
            quarantine: tree("quarantine")?,
            quarantine_msg: tree("quarantine_msg")?,
            quarantine_refs: tree("quarantine_refs")?,
            tracking: tree("tracking")?,
            index: tracking::Indexes::open(&db)?,
            stats: tree("stats")?,
            settings: tree("settings")?,
            learn: tree("learn")?,
            used_links: tree("used_links")?,
            digests: tree("digests")?,
            filter_policy: tree("filter_policy")?,
            learn_lock: Mutex::new(()),
            directory_lock: Mutex::new(()),
            db,
        })
    }

    /// True until [`Store::mark_initialized`] ran once on this database.
    pub fn is_new(&self) -> StoreResult<bool> {
        Ok(self.meta.get(INITIALIZED)?.is_none())
    }

    /// Records that the initial data was imported, durably.
    pub fn mark_initialized(&self) -> StoreResult<()> {
        self.meta.insert(INITIALIZED, &b"1"[..])?;
        self.flush()
    }

    /// Writes everything to disk; returns once it is fsynced.
    pub fn flush(&self) -> StoreResult<()> {
        self.db.flush()?;
        Ok(())
    }

    /// The directory generation: bumped on every domain or user change.
    pub fn generation(&self) -> StoreResult<u64> {
        self.meta
            .get(GENERATION)?
            .map_or(Ok(0), |v| decode_u64("meta", &v))
    }

    fn lock_learn(&self) -> MutexGuard<'_, ()> {
        self.learn_lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_directory(&self) -> MutexGuard<'_, ()> {
        // A panic while holding the lock leaves no partial state (writes are
        // transactions), so a poisoned lock is safe to reuse.
        self.directory_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Bumps the generation inside a directory transaction.
fn bump_generation(
    meta: &TransactionalTree,
) -> Result<(), ConflictableTransactionError<StoreError>> {
    let current = match meta.get(GENERATION)? {
        Some(v) => decode_u64("meta", &v).map_err(ConflictableTransactionError::Abort)?,
        None => 0,
    };
    meta.insert(GENERATION, &(current + 1).to_be_bytes())?;
    Ok(())
}

fn decode_u64(tree: &'static str, v: &[u8]) -> StoreResult<u64> {
    let bytes: [u8; 8] = v.try_into().map_err(|_| StoreError::Corrupt {
        tree,
        detail: format!("expected 8 bytes, found {}", v.len()),
    })?;
    Ok(u64::from_be_bytes(bytes))
}

fn decode<T: serde::de::DeserializeOwned>(tree: &'static str, v: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(v).map_err(|e| StoreError::Corrupt {
        tree,
        detail: e.to_string(),
    })
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Our entity types contain only strings, numbers and vectors: they
    // always serialise.
    serde_json::to_vec(value).expect("entities serialise to JSON")
}

/// Flattens a transaction's error into a [`StoreError`].
fn tx_error(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Db(e),
    }
}

/// Aborts a transaction with `e`.
fn abort<T>(e: StoreError) -> Result<T, ConflictableTransactionError<StoreError>> {
    Err(ConflictableTransactionError::Abort(e))
}

/// How long [`open_db`] waits for the database's lock: sled's background
/// threads of a store just closed (a restart) release it a moment later.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Opens the sled database at `path`, waiting up to [`LOCK_WAIT`] while
/// another handle in this process is still letting go of its lock.
fn open_db(path: &Path) -> sled::Result<sled::Db> {
    let started = std::time::Instant::now();
    loop {
        match sled::Config::new().path(path).open() {
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

#[cfg(test)]
pub(crate) mod test_util {
    use super::Store;

    /// A store in a fresh temporary directory (kept alive by the returned guard).
    pub fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data.db")).unwrap();
        (dir, store)
    }
}
