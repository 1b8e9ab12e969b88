//! Domains whose mail is held in the queue (e.g. while the customer's
//! server is serviced): kept in the `holds` tree of `queue.db`, so a hold
//! survives restarts, and mirrored in memory because every delivery
//! attempt asks.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use super::{QueueError, Store};

/// The held domains; cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct Holds {
    tree: sled::Tree,
    store: Store,
    held: Arc<RwLock<BTreeSet<String>>>,
}

impl Holds {
    /// Loads the holds kept in `store`.
    pub fn open(store: &Store) -> Result<Holds, QueueError> {
        let tree = store.tree("holds")?;
        let mut held = BTreeSet::new();
        for key in tree.iter().keys() {
            held.insert(String::from_utf8_lossy(&key?).into_owned());
        }
        Ok(Holds {
            tree,
            store: store.clone(),
            held: Arc::new(RwLock::new(held)),
        })
    }

    /// True while `domain` (normal form) is held.
    pub fn is_held(&self, domain: &str) -> bool {
        self.read().contains(domain)
    }

    /// The held domains, sorted.
    pub fn list(&self) -> Vec<String> {
        self.read().iter().cloned().collect()
    }

    /// Holds `domain`; durable when this returns. Blocking (sled).
    pub fn hold(&self, domain: &str) -> Result<(), QueueError> {
        self.tree.insert(domain.as_bytes(), &[])?;
        self.store.flush()?;
        self.held
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(domain.to_string());
        Ok(())
    }

    /// Stops holding `domain`; false when it was not held. Blocking (sled).
    pub fn release(&self, domain: &str) -> Result<bool, QueueError> {
        let was = self.tree.remove(domain.as_bytes())?.is_some();
        self.store.flush()?;
        self.held
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(domain);
        Ok(was)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeSet<String>> {
        self.held.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        {
            let store = Store::open(&path, None).unwrap();
            let holds = Holds::open(&store).unwrap();
            holds.hold("b.test").unwrap();
            holds.hold("a.test").unwrap();
            assert!(holds.release("b.test").unwrap());
            assert!(!holds.release("c.test").unwrap());
            assert!(holds.is_held("a.test") && !holds.is_held("b.test"));
        }
        let store = Store::open(&path, None).unwrap();
        assert_eq!(Holds::open(&store).unwrap().list(), ["a.test"]);
    }
}
