//! Users: provisioned mailboxes, and the directory the mta checks recipients against.

use model::address::{domain_of, normalize_address, normalize_domain};
use model::api::{Directory, NewUser, User};
use sled::Transactional;

use super::{abort, bump_generation, decode, encode, tx_error, Store, StoreError, StoreResult};

/// Key prefix of a domain's users: users are keyed `domain\0local`, so a
/// domain's users are one prefix scan (listing by domain, cascading delete).
pub(super) fn domain_prefix(domain: &str) -> Vec<u8> {
    let mut k = domain.as_bytes().to_vec();
    k.push(0);
    k
}

fn user_key(address: &str) -> Vec<u8> {
    let (local, domain) = address.rsplit_once('@').unwrap_or(("", address));
    let mut k = domain_prefix(domain);
    k.extend_from_slice(local.as_bytes());
    k
}

impl Store {
    /// Users, by domain then address; optionally of one domain and/or
    /// containing `q` (case-insensitive), at most `limit`.
    pub fn users(
        &self,
        domain: Option<&str>,
        q: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<User>> {
        let iter = match domain {
            Some(d) => {
                let d = normalize_domain(d).map_err(|e| StoreError::Invalid(e.to_string()))?;
                self.users.scan_prefix(domain_prefix(&d))
            }
            None => self.users.iter(),
        };
        let q = q.map(str::to_ascii_lowercase);
        let mut out = Vec::new();
        for v in iter.values() {
            let user: User = decode("users", &v?)?;
            if q.as_deref().is_none_or(|q| user.address.contains(q)) {
                out.push(user);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// One user; `address` in any spelling.
    pub fn user(&self, address: &str) -> StoreResult<User> {
        let addr = normalize_address(address).map_err(|_| no_such_user(address))?;
        match self.users.get(user_key(&addr))? {
            Some(v) => decode("users", &v),
            None => Err(no_such_user(address)),
        }
    }

    /// Provisions a user; its domain must exist (422), the address must be new (409).
    pub fn create_user(&self, new: &NewUser, now: u64) -> StoreResult<User> {
        let address =
            normalize_address(&new.address).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let user = User {
            domain: domain_of(&address).to_string(),
            address,
            created: now,
            source: new.source,
        };
        let key = user_key(&user.address);
        let value = encode(&user);
        let _guard = self.lock_directory();
        (&self.domains, &self.users, &self.meta)
            .transaction(|(domains, users, meta)| {
                if domains.get(user.domain.as_bytes())?.is_none() {
                    return abort(StoreError::Invalid(format!(
                        "domain {} does not exist: create it before its users",
                        user.domain
                    )));
                }
                if users.get(&key)?.is_some() {
                    return abort(StoreError::Conflict(format!(
                        "user {} already exists",
                        user.address
                    )));
                }
                users.insert(key.as_slice(), value.as_slice())?;
                bump_generation(meta)
            })
            .map_err(tx_error)?;
        self.flush()?;
        log::info!("user {} created", user.address);
        Ok(user)
    }

    /// Deletes a user.
    pub fn delete_user(&self, address: &str) -> StoreResult<()> {
        let addr = normalize_address(address).map_err(|_| no_such_user(address))?;
        let key = user_key(&addr);
        let _guard = self.lock_directory();
        (&self.users, &self.meta)
            .transaction(|(users, meta)| {
                if users.remove(key.as_slice())?.is_none() {
                    return abort(no_such_user(address));
                }
                bump_generation(meta)
            })
            .map_err(tx_error)?;
        self.flush()?;
        log::info!("user {addr} deleted");
        Ok(())
    }

    /// Domains, user addresses and the generation they belong to, consistent
    /// with each other (directory writes are held off while reading).
    pub fn directory(&self) -> StoreResult<Directory> {
        let _guard = self.lock_directory();
        let users = self
            .users
            .iter()
            .values()
            .map(|v| decode::<User>("users", &v?).map(|u| u.address))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Directory {
            dkim: Default::default(),
            generation: self.generation()?,
            domains: self.domains()?,
            users,
        })
    }
}

fn no_such_user(address: &str) -> StoreError {
    StoreError::NotFound(format!("no user {address:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_util::temp_store;
    use model::api::{DeliveryServer, NewDomain};

    fn domain(store: &Store, name: &str) {
        let new = NewDomain {
            provisioning: Default::default(),
            relay_networks: Default::default(),
            tls: Default::default(),
            name: name.into(),
            delivery: vec![DeliveryServer {
                host: "127.0.0.1".into(),
                port: 25,
                priority: 10,
            }],
        };
        store.create_domain(&new, 1).unwrap();
    }

    fn user(store: &Store, address: &str) -> StoreResult<User> {
        store.create_user(
            &NewUser {
                source: Default::default(),
                address: address.into(),
            },
            2,
        )
    }

    #[test]
    fn users_need_their_domain_and_are_unique() {
        let (_dir, store) = temp_store();
        let e = user(&store, "a@a.test").unwrap_err();
        assert!(matches!(&e, StoreError::Invalid(m) if m.contains("a.test does not exist")));
        domain(&store, "a.test");
        let u = user(&store, "Alice@A.test").unwrap();
        assert_eq!(
            (u.address.as_str(), u.domain.as_str()),
            ("alice@a.test", "a.test")
        );
        assert!(matches!(
            user(&store, "alice@a.test"),
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            user(&store, "not an address"),
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(store.user("ALICE@a.test").unwrap(), u);
    }

    #[test]
    fn listing_filters_and_domain_delete_cascades() {
        let (_dir, store) = temp_store();
        domain(&store, "a.test");
        domain(&store, "ab.test");
        for a in ["x@a.test", "y@a.test", "x@ab.test"] {
            user(&store, a).unwrap();
        }
        let names = |v: Vec<User>| v.into_iter().map(|u| u.address).collect::<Vec<_>>();
        assert_eq!(
            names(store.users(Some("a.test"), None, 100).unwrap()),
            ["x@a.test", "y@a.test"]
        );
        assert_eq!(
            names(store.users(None, Some("X@"), 100).unwrap()),
            ["x@a.test", "x@ab.test"]
        );
        assert_eq!(store.users(None, None, 2).unwrap().len(), 2);
        let generation = store.generation().unwrap();
        store.delete_domain("a.test").unwrap();
        assert_eq!(store.generation().unwrap(), generation + 1);
        let dir = store.directory().unwrap();
        assert_eq!(dir.users, ["x@ab.test"]);
        assert_eq!(dir.domains.len(), 1);
        assert_eq!(dir.generation, generation + 1);
        store.delete_user("x@ab.test").unwrap();
        assert!(matches!(
            store.delete_user("x@ab.test"),
            Err(StoreError::NotFound(_))
        ));
    }
}
