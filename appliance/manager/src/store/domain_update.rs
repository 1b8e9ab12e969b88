//! Changing a domain in place (`PATCH /domains/{name}`): its delivery
//! servers, provisioning, delivery TLS policy and relay networks. Its users,
//! DKIM key and creation time stay.

use model::api::{Domain, DomainUpdate, NewDomain};
use sled::Transactional;

use super::domains::validate_domain;
use super::{abort, bump_generation, encode, tx_error, Store, StoreError, StoreResult};

impl Store {
    /// Applies `update` to domain `name` after validating the result as a
    /// new domain would be; nothing changes when any field is invalid.
    pub fn update_domain(&self, name: &str, update: &DomainUpdate) -> StoreResult<Domain> {
        let _guard = self.lock_directory();
        let current = self.domain(name)?;
        let merged = NewDomain {
            name: current.name.clone(),
            delivery: update.delivery.clone().unwrap_or(current.delivery),
            provisioning: update.provisioning.unwrap_or(current.provisioning),
            tls: update.tls.unwrap_or(current.tls),
            relay_networks: update
                .relay_networks
                .clone()
                .unwrap_or(current.relay_networks),
        };
        let domain = validate_domain(&merged, current.created)?;
        let key = domain.name.as_bytes();
        let value = encode(&domain);
        (&self.domains, &self.meta)
            .transaction(|(domains, meta)| {
                if domains.get(key)?.is_none() {
                    return abort(StoreError::NotFound(format!("no domain {name:?}")));
                }
                domains.insert(key, value.as_slice())?;
                bump_generation(meta)
            })
            .map_err(tx_error)?;
        self.flush()?;
        log::info!("domain {} changed", domain.name);
        Ok(domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_util::temp_store;
    use model::api::{DeliveryServer, Provisioning, TlsPolicy};

    fn server(host: &str) -> DeliveryServer {
        DeliveryServer {
            host: host.into(),
            port: 25,
            priority: 10,
        }
    }

    #[test]
    fn only_given_fields_change_and_bad_values_change_nothing() {
        let (_dir, store) = temp_store();
        let new = NewDomain {
            name: "a.test".into(),
            delivery: vec![server("192.0.2.1")],
            provisioning: Provisioning::Manual,
            tls: TlsPolicy::Opportunistic,
            relay_networks: vec!["192.0.2.0/24".into()],
        };
        store.create_domain(&new, 5).unwrap();
        let generation = store.generation().unwrap();
        let changed = store
            .update_domain(
                "A.TEST",
                &DomainUpdate {
                    tls: Some(TlsPolicy::Required),
                    relay_networks: Some(vec!["2001:db8::/32".into(), "10.1.2.3/8".into()]),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(changed.tls, TlsPolicy::Required);
        assert_eq!(changed.relay_networks, ["2001:db8::/32", "10.1.2.3/8"]);
        assert_eq!(changed.delivery, [server("192.0.2.1")]);
        assert_eq!(
            (changed.created, changed.provisioning),
            (5, Provisioning::Manual)
        );
        assert_eq!(store.domain("a.test").unwrap(), changed);
        assert_eq!(store.generation().unwrap(), generation + 1);

        for bad in [
            DomainUpdate {
                relay_networks: Some(vec!["10.0.0.0/33".into()]),
                ..Default::default()
            },
            DomainUpdate {
                delivery: Some(Vec::new()),
                provisioning: Some(Provisioning::Automatic),
                ..Default::default()
            },
        ] {
            let e = store.update_domain("a.test", &bad).unwrap_err();
            assert!(matches!(e, StoreError::Invalid(_)), "{e}");
        }
        assert_eq!(store.domain("a.test").unwrap(), changed, "unchanged");
        assert_eq!(store.generation().unwrap(), generation + 1);
        let missing = store.update_domain("b.test", &DomainUpdate::default());
        assert!(matches!(missing, Err(StoreError::NotFound(_))));
    }
}
