//! The digest links' key and their single use (see `crate::links`).
//!
//! The key is made once, on first use, and kept in `meta`; a backup
//! carries it, so links sent before a restore still work. Each used link's
//! nonce is kept in `used_links` with its expiry until
//! [`Store::purge_used_links`] drops it: past its expiry a link is refused
//! for that reason anyway.

use super::{decode_u64, Store, StoreError, StoreResult};
use crate::links::KEY_BYTES;

/// Key in `meta` of the links' signing key.
const LINK_KEY: &[u8] = b"link_key";

impl Store {
    /// The links' signing key, made on first use.
    pub fn link_key(&self) -> StoreResult<[u8; KEY_BYTES]> {
        if let Some(k) = self.meta.get(LINK_KEY)? {
            return key_of(&k);
        }
        let fresh = crate::links::new_key()
            .map_err(|e| StoreError::KeyGeneration(format!("no randomness: {e}")))?;
        // Two first uses at once: the first write wins, both use it.
        let _ = self
            .meta
            .compare_and_swap(LINK_KEY, None as Option<&[u8]>, Some(&fresh[..]))?;
        self.flush()?;
        let stored = self
            .meta
            .get(LINK_KEY)?
            .ok_or_else(|| StoreError::Corrupt {
                tree: "meta",
                detail: "link key vanished".into(),
            })?;
        key_of(&stored)
    }

    /// Marks the link with `nonce` (valid until `expires`) used; false when
    /// it was used before. Durable before it returns: a link acted on
    /// must never work a second time after a crash.
    pub fn use_link(&self, nonce: &str, expires: u64) -> StoreResult<bool> {
        let fresh = self
            .used_links
            .compare_and_swap(
                nonce.as_bytes(),
                None as Option<&[u8]>,
                Some(&expires.to_be_bytes()[..]),
            )?
            .is_ok();
        if fresh {
            self.flush()?;
        }
        Ok(fresh)
    }

    /// True when the link with `nonce` was used.
    pub fn link_used(&self, nonce: &str) -> StoreResult<bool> {
        Ok(self.used_links.contains_key(nonce.as_bytes())?)
    }

    /// Forgets used links that expired before `now` (unix seconds);
    /// returns how many.
    pub fn purge_used_links(&self, now: u64) -> StoreResult<usize> {
        let mut gone = 0;
        for entry in self.used_links.iter() {
            let (nonce, expires) = entry?;
            if decode_u64("used_links", &expires)? < now {
                self.used_links.remove(nonce)?;
                gone += 1;
            }
        }
        Ok(gone)
    }
}

fn key_of(v: &[u8]) -> StoreResult<[u8; KEY_BYTES]> {
    v.try_into().map_err(|_| StoreError::Corrupt {
        tree: "meta",
        detail: format!("link key of {} bytes", v.len()),
    })
}

#[cfg(test)]
mod tests {
    use crate::links::{Link, LinkAction, LinkError};
    use crate::store::test_util::temp_store;

    #[test]
    fn the_key_is_made_once_and_a_link_is_used_once() {
        let (dir, store) = temp_store();
        let key = store.link_key().unwrap();
        assert_eq!(store.link_key().unwrap(), key);
        let link = Link::new(LinkAction::Release, "q1", "u@example.test", 2_000);
        let token = link.sign(&key);
        let checked = Link::verify(&key, &token, 1_000).unwrap();
        assert!(store.use_link(&checked.nonce, checked.expires).unwrap());
        assert!(!store.use_link(&checked.nonce, checked.expires).unwrap());

        // Still used after a restart; the key survives too.
        drop(store);
        let store = crate::store::Store::open(&dir.path().join("data.db")).unwrap();
        assert_eq!(store.link_key().unwrap(), key);
        assert!(!store.use_link(&checked.nonce, checked.expires).unwrap());
        assert_eq!(store.purge_used_links(2_000).unwrap(), 0);
        assert_eq!(store.purge_used_links(2_001).unwrap(), 1);
        assert_eq!(
            Link::verify(&key, &token, 2_001),
            Err(LinkError::Expired),
            "a purged nonce's link has expired anyway"
        );
    }
}
