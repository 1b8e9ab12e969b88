//! sled access: blocking calls, meant for `spawn_blocking` or the committer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Entry;

/// sled's page cache; the queue is mostly written once and read once.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Why the queue could not be used.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// sled could not open the database.
    #[error("cannot open the queue {path}: {source}")]
    Open {
        /// The database directory.
        path: PathBuf,
        /// sled's error.
        source: sled::Error,
    },
    /// A read, write or flush failed.
    #[error("queue storage: {0}")]
    Storage(#[from] sled::Error),
    /// The fsync of a group commit failed; shared by every message of the group.
    #[error("queue flush failed: {0}")]
    Flush(String),
    /// A stored envelope could not be decoded.
    #[error("queue entry {id} is corrupt: {source}")]
    Corrupt {
        /// Its key.
        id: String,
        /// The decoding error.
        source: serde_json::Error,
    },
    /// The committer task is gone (the mta is shutting down).
    #[error("the queue is shutting down")]
    Closed,
}

/// The queue database; cheap to clone (sled handles are shared).
#[derive(Clone, Debug)]
pub struct Store {
    db: sled::Db,
    entries: sled::Tree,
    bodies: sled::Tree,
}

impl Store {
    /// Opens (or creates) the queue at `path`. `background_flush` lets sled
    /// also flush on its own (it bounds how many state updates a crash can
    /// lose); acknowledged messages never depend on it.
    pub fn open(path: &Path, background_flush: Option<Duration>) -> Result<Store, QueueError> {
        let open = || -> sled::Result<Store> {
            let db = sled::Config::new()
                .path(path)
                .cache_capacity(CACHE_BYTES)
                .flush_every_ms(background_flush.map(|d| d.as_millis() as u64))
                .open()?;
            Ok(Store {
                entries: db.open_tree("entries")?,
                bodies: db.open_tree("bodies")?,
                db,
            })
        };
        open().map_err(|source| QueueError::Open {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Writes a new message (not yet durable: see [`Store::flush`]).
    pub fn insert(&self, entry: &Entry, body: &[u8]) -> Result<(), QueueError> {
        // The body first: an entry never points at a missing body.
        self.bodies.insert(entry.id.as_bytes(), body)?;
        let json = serde_json::to_vec(entry).expect("entries serialise");
        self.entries.insert(entry.id.as_bytes(), json)?;
        Ok(())
    }

    /// Rewrites an entry's state (durable at the next flush). An entry
    /// removed meanwhile (deleted by an administrator while a delivery
    /// attempt ran) stays removed: the update is dropped, atomically.
    pub fn update(&self, entry: &Entry) -> Result<(), QueueError> {
        let json = serde_json::to_vec(entry).expect("entries serialise");
        self.entries
            .fetch_and_update(entry.id.as_bytes(), |old| old.map(|_| json.clone()))?;
        Ok(())
    }

    /// Another tree of the queue database, for state kept with the queue.
    pub(crate) fn tree(&self, name: &str) -> Result<sled::Tree, QueueError> {
        Ok(self.db.open_tree(name)?)
    }

    /// fsyncs everything written so far.
    pub fn flush(&self) -> Result<(), QueueError> {
        self.db.flush()?;
        Ok(())
    }

    /// The entry `id`, if queued.
    pub fn entry(&self, id: &str) -> Result<Option<Entry>, QueueError> {
        self.entries
            .get(id.as_bytes())?
            .map(|v| decode(id, &v))
            .transpose()
    }

    /// The message bytes of `id`, if queued.
    pub fn body(&self, id: &str) -> Result<Option<Vec<u8>>, QueueError> {
        Ok(self.bodies.get(id.as_bytes())?.map(|v| v.to_vec()))
    }

    /// Removes a finished message.
    pub fn remove(&self, id: &str) -> Result<(), QueueError> {
        self.entries.remove(id.as_bytes())?;
        self.bodies.remove(id.as_bytes())?;
        Ok(())
    }

    /// Every queued entry, oldest first. Bodies without an entry (a crash
    /// between the two writes of an unacknowledged message) are removed;
    /// undecodable entries are reported and skipped, never deleted.
    pub fn load_all(&self) -> Result<Vec<Entry>, QueueError> {
        let mut out = Vec::new();
        for item in self.entries.iter() {
            let (key, value) = item?;
            let id = String::from_utf8_lossy(&key).into_owned();
            match decode(&id, &value) {
                Ok(entry) => out.push(entry),
                Err(e) => log::error!("{e}; left in place for inspection"),
            }
        }
        for item in self.bodies.iter() {
            let (key, _) = item?;
            if !self.entries.contains_key(&key)? {
                self.bodies.remove(&key)?;
            }
        }
        Ok(out)
    }
}

fn decode(id: &str, bytes: &[u8]) -> Result<Entry, QueueError> {
    serde_json::from_slice(bytes).map_err(|source| QueueError::Corrupt {
        id: id.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_load_update_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("q.db"), None).unwrap();
        let e = Entry::new("id1".into(), "".into(), &["a@x.test".into()], 1);
        store.insert(&e, b"msg").unwrap();
        store.bodies.insert("orphan", b"x".as_slice()).unwrap();
        store.flush().unwrap();
        assert_eq!(store.load_all().unwrap(), vec![e.clone()]);
        assert!(
            store.body("orphan").unwrap().is_none(),
            "orphan bodies are removed"
        );
        assert_eq!(store.body("id1").unwrap().unwrap(), b"msg");
        store.remove("id1").unwrap();
        store.update(&e).unwrap();
        assert!(
            store.entry("id1").unwrap().is_none(),
            "an update does not bring a removed entry back"
        );
    }
}
