//! Box-wide settings in `data.db`: the admin password's hash and the
//! networks allowed to reach the web administration.
//!
//! Both are written rarely and acknowledged only after a flush.

use super::{decode, encode, Store, StoreError, StoreResult};

/// Key of the admin password's PHC string (never the password itself).
const ADMIN_PASSWORD: &[u8] = b"admin_password";
/// Key of the admin networks, a JSON list of CIDRs in normal form.
const ADMIN_NETWORKS: &[u8] = b"admin_networks";

impl Store {
    /// The admin password's PHC hash, once one is set.
    pub fn admin_password_hash(&self) -> StoreResult<Option<String>> {
        self.settings
            .get(ADMIN_PASSWORD)?
            .map(|v| {
                String::from_utf8(v.to_vec()).map_err(|_| StoreError::Corrupt {
                    tree: "settings",
                    detail: "admin password hash is not UTF-8".into(),
                })
            })
            .transpose()
    }

    /// Stores `new` as the admin password's hash if the stored one is still
    /// `expected` (what the caller checked the current password against),
    /// then flushes. A change in between is a 409: the caller's check no
    /// longer holds.
    pub fn replace_admin_password_hash(
        &self,
        expected: Option<&str>,
        new: &str,
    ) -> StoreResult<()> {
        self.settings
            .compare_and_swap(
                ADMIN_PASSWORD,
                expected.map(str::as_bytes),
                Some(new.as_bytes()),
            )?
            .map_err(|_| {
                StoreError::Conflict("the admin password was changed meanwhile; try again".into())
            })?;
        self.flush()
    }

    /// The admin networks; empty means any.
    pub fn admin_networks(&self) -> StoreResult<Vec<String>> {
        match self.settings.get(ADMIN_NETWORKS)? {
            Some(v) => decode("settings", &v),
            None => Ok(Vec::new()),
        }
    }

    /// Replaces the admin networks (already checked and normalised) and flushes.
    pub fn set_admin_networks(&self, networks: &[String]) -> StoreResult<()> {
        self.settings.insert(ADMIN_NETWORKS, encode(&networks))?;
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use crate::store::test_util::temp_store;
    use crate::store::StoreError;

    #[test]
    fn password_hash_is_compare_and_swap() {
        let (_dir, store) = temp_store();
        assert_eq!(store.admin_password_hash().unwrap(), None);
        store.replace_admin_password_hash(None, "h1").unwrap();
        assert!(matches!(
            store.replace_admin_password_hash(None, "h2"),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.replace_admin_password_hash(Some("old"), "h2"),
            Err(StoreError::Conflict(_))
        ));
        store.replace_admin_password_hash(Some("h1"), "h2").unwrap();
        assert_eq!(store.admin_password_hash().unwrap().as_deref(), Some("h2"));
    }

    #[test]
    fn networks_default_to_empty_and_round_trip() {
        let (_dir, store) = temp_store();
        assert!(store.admin_networks().unwrap().is_empty());
        let list = vec!["10.0.0.0/8".to_string(), "2001:db8::/32".to_string()];
        store.set_admin_networks(&list).unwrap();
        assert_eq!(store.admin_networks().unwrap(), list);
        store.set_admin_networks(&[]).unwrap();
        assert!(store.admin_networks().unwrap().is_empty());
    }
}
