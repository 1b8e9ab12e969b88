//! Domains: the mail domains the box accepts, with their delivery servers.

use std::net::IpAddr;

use model::address::normalize_domain;
use model::api::{DeliveryServer, Domain, NewDomain};
use sled::Transactional;

use super::{abort, bump_generation, decode, encode, tx_error, Store, StoreError, StoreResult};

impl Store {
    /// All domains, sorted by name.
    pub fn domains(&self) -> StoreResult<Vec<Domain>> {
        self.domains
            .iter()
            .values()
            .map(|v| decode("domains", &v?))
            .collect()
    }

    /// One domain; `name` in any spelling.
    pub fn domain(&self, name: &str) -> StoreResult<Domain> {
        let key = normalize_domain(name).map_err(|_| no_such_domain(name))?;
        match self.domains.get(key.as_bytes())? {
            Some(v) => decode("domains", &v),
            None => Err(no_such_domain(name)),
        }
    }

    /// Creates a domain after validating it; 409 when it exists.
    pub fn create_domain(&self, new: &NewDomain, now: u64) -> StoreResult<Domain> {
        let domain = validate_domain(new, now)?;
        let exists = || StoreError::Conflict(format!("domain {} already exists", domain.name));
        if self.domains.contains_key(domain.name.as_bytes())? {
            return Err(exists());
        }
        // Made before the lock: RSA key generation takes a moment.
        let dkim = super::dkim::new_key(now)?;
        let dkim_tree = self.dkim_tree()?;
        let _guard = self.lock_directory();
        let key = domain.name.as_bytes();
        let value = encode(&domain);
        (&self.domains, &self.meta, &dkim_tree)
            .transaction(|(domains, meta, keys)| {
                if domains.get(key)?.is_some() {
                    return abort(exists());
                }
                domains.insert(key, value.as_slice())?;
                super::dkim::insert(keys, &domain.name, &dkim)?;
                bump_generation(meta)
            })
            .map_err(tx_error)?;
        self.flush()?;
        log::info!("domain {} created", domain.name);
        Ok(domain)
    }

    /// Deletes a domain and all its users.
    pub fn delete_domain(&self, name: &str) -> StoreResult<()> {
        let key = normalize_domain(name).map_err(|_| no_such_domain(name))?;
        let _guard = self.lock_directory();
        // Users are keyed `domain\0local`, so the domain's users are one
        // prefix; the directory lock keeps new ones out until we commit.
        let user_keys = self
            .users
            .scan_prefix(super::users::domain_prefix(&key))
            .keys()
            .collect::<Result<Vec<_>, _>>()?;
        let dkim_tree = self.dkim_tree()?;
        (&self.domains, &self.users, &self.meta, &dkim_tree)
            .transaction(|(domains, users, meta, keys)| {
                if domains.remove(key.as_bytes())?.is_none() {
                    return abort(no_such_domain(name));
                }
                keys.remove(key.as_bytes())?;
                for k in &user_keys {
                    users.remove(k)?;
                }
                bump_generation(meta)
            })
            .map_err(tx_error)?;
        self.flush()?;
        log::info!("domain {key} deleted with {} users", user_keys.len());
        Ok(())
    }
}

fn no_such_domain(name: &str) -> StoreError {
    StoreError::NotFound(format!("no domain {name:?}"))
}

/// Checks a new domain and returns it in stored form: normal-form name,
/// servers sorted by priority.
pub fn validate_domain(new: &NewDomain, now: u64) -> StoreResult<Domain> {
    let name = normalize_domain(&new.name).map_err(|e| StoreError::Invalid(e.to_string()))?;
    if new.delivery.is_empty() {
        return Err(StoreError::Invalid(format!(
            "domain {name} needs at least one delivery server"
        )));
    }
    let mut delivery = new
        .delivery
        .iter()
        .enumerate()
        .map(|(i, s)| validate_server(i, s))
        .collect::<StoreResult<Vec<_>>>()?;
    delivery.sort_by_key(|s| s.priority);
    let relay_networks = new
        .relay_networks
        .iter()
        .map(|n| {
            n.parse::<model::network::Cidr>()
                .map(|c| c.to_string())
                .map_err(|e| StoreError::Invalid(format!("relay network {n:?}: {e}")))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Domain {
        name,
        delivery,
        created: now,
        provisioning: new.provisioning,
        tls: new.tls,
        relay_networks,
    })
}

fn validate_server(index: usize, s: &DeliveryServer) -> StoreResult<DeliveryServer> {
    let bad = |why: &str| StoreError::Invalid(format!("delivery server {}: {why}", index + 1));
    let host = s.host.trim();
    if host.is_empty() {
        return Err(bad("host is empty"));
    }
    let host = if host.parse::<IpAddr>().is_ok() {
        host.to_string()
    } else {
        normalize_domain(host).map_err(|_| {
            bad(&format!(
                "host {host:?} is neither an IP address nor a valid host name"
            ))
        })?
    };
    if s.port == 0 {
        return Err(bad("port 0 is not a valid SMTP port"));
    }
    Ok(DeliveryServer {
        host,
        port: s.port,
        priority: s.priority,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_util::temp_store;

    fn server(host: &str, port: u16, priority: u16) -> DeliveryServer {
        DeliveryServer {
            host: host.into(),
            port,
            priority,
        }
    }

    #[test]
    fn validation_normalises_and_sorts() {
        let d = validate_domain(
            &NewDomain {
                provisioning: Default::default(),
                relay_networks: Default::default(),
                tls: Default::default(),
                name: "Example.TEST.".into(),
                delivery: vec![server("MX2.example.test", 25, 20), server("::1", 2525, 5)],
            },
            7,
        )
        .unwrap();
        assert_eq!(d.name, "example.test");
        assert_eq!(
            d.delivery,
            vec![server("::1", 2525, 5), server("mx2.example.test", 25, 20)]
        );
        assert_eq!(d.created, 7);
    }

    #[test]
    fn validation_refuses_bad_values() {
        let cases = [
            (
                "bad_name.test",
                vec![server("h.test", 25, 1)],
                "invalid domain",
            ),
            ("a.test", vec![], "at least one delivery server"),
            ("a.test", vec![server(" ", 25, 1)], "host is empty"),
            ("a.test", vec![server("h.test", 0, 1)], "port 0"),
            ("a.test", vec![server("h_x", 25, 1)], "neither an IP"),
        ];
        for (name, delivery, want) in cases {
            let e = validate_domain(
                &NewDomain {
                    provisioning: Default::default(),
                    relay_networks: Default::default(),
                    tls: Default::default(),
                    name: name.into(),
                    delivery,
                },
                0,
            )
            .unwrap_err();
            assert!(
                matches!(&e, StoreError::Invalid(m) if m.contains(want)),
                "{name}: {e}"
            );
        }
    }

    #[test]
    fn create_conflict_delete_and_generation() {
        let (_dir, store) = temp_store();
        let new = NewDomain {
            provisioning: Default::default(),
            relay_networks: Default::default(),
            tls: Default::default(),
            name: "a.test".into(),
            delivery: vec![server("127.0.0.1", 25, 1)],
        };
        assert_eq!(store.generation().unwrap(), 0);
        store.create_domain(&new, 1).unwrap();
        assert_eq!(store.generation().unwrap(), 1);
        let dup = store.create_domain(&new, 2).unwrap_err();
        assert!(matches!(dup, StoreError::Conflict(_)), "{dup}");
        assert_eq!(
            store.generation().unwrap(),
            1,
            "a refused change bumps nothing"
        );
        assert_eq!(store.domain("A.TEST").unwrap().created, 1);
        store.delete_domain("a.test").unwrap();
        assert_eq!(store.generation().unwrap(), 2);
        assert!(matches!(
            store.delete_domain("a.test"),
            Err(StoreError::NotFound(_))
        ));
        assert!(store.domains().unwrap().is_empty());
    }
}
