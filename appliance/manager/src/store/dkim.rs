//! DKIM keys: one signing key per domain, made when the domain is created.
//!
//! The key is RSA 2048 (`rsa-sha256`), the algorithm every receiver
//! verifies (ed25519, RFC 8463, is still ignored by large mailbox
//! providers). The private key stays in `data.db` and reaches only the mta
//! (in the directory, on the unix socket); the public half is what
//! `GET /domains/{name}/dkim` tells the customer to publish. Domains made
//! before keys existed get theirs when the manager starts.

use base64::Engine;
use model::api::{DkimKey, DkimRecord};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

use super::{bump_generation, decode, encode, tx_error, Store, StoreError, StoreResult};

/// The sled tree of the keys, keyed by normal-form domain name.
const TREE: &str = "dkim";
/// RSA modulus size: RFC 8301 requires at least 1024 and recommends 2048.
const RSA_BITS: usize = 2048;

/// A domain's key as stored.
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredKey {
    /// `s=` of the signatures; dated so a later rotation gets a new name.
    pub selector: String,
    /// `rsa-sha256`.
    pub algorithm: String,
    /// PKCS#8 DER, base64.
    pub private_key: String,
    /// SubjectPublicKeyInfo DER, base64: the record's `p=`.
    pub public_key: String,
    /// When it was made.
    pub created: u64,
}

/// Makes a new key for a domain (RSA key generation takes a moment: call
/// it before taking the directory lock).
pub fn new_key(now: u64) -> StoreResult<StoredKey> {
    let crypto = |e: &dyn std::fmt::Display| StoreError::KeyGeneration(e.to_string());
    let private =
        rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_BITS).map_err(|e| crypto(&e))?;
    let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
    let private_der = private.to_pkcs8_der().map_err(|e| crypto(&e))?;
    let public_der = private
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| crypto(&e))?;
    Ok(StoredKey {
        selector: selector(now),
        algorithm: "rsa-sha256".into(),
        private_key: b64(private_der.as_bytes()),
        public_key: b64(public_der.as_bytes()),
        created: now,
    })
}

/// `fbYYYYMM` of `now`.
fn selector(now: u64) -> String {
    let date = model::time::format_rfc3339(now);
    format!("fb{}{}", &date[0..4], &date[5..7])
}

/// Stores `key` for `domain` inside a directory transaction.
pub(super) fn insert(
    tree: &TransactionalTree,
    domain: &str,
    key: &StoredKey,
) -> Result<(), ConflictableTransactionError<StoreError>> {
    tree.insert(domain.as_bytes(), encode(key))?;
    Ok(())
}

impl Store {
    /// The keys' tree (sled opens a tree once and caches it).
    pub(super) fn dkim_tree(&self) -> StoreResult<sled::Tree> {
        Ok(self.db.open_tree(TREE)?)
    }

    /// What the customer of `name` publishes in DNS.
    pub fn dkim_record(&self, name: &str) -> StoreResult<DkimRecord> {
        let domain = self.domain(name)?;
        let key = self
            .dkim_tree()?
            .get(domain.name.as_bytes())?
            .map(|v| decode::<StoredKey>(TREE, &v))
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("no DKIM key for {}", domain.name)))?;
        Ok(DkimRecord {
            name: format!("{}._domainkey.{}", key.selector, domain.name),
            value: format!("v=DKIM1; k=rsa; p={}", key.public_key),
            selector: key.selector,
            domain: domain.name,
        })
    }

    /// Every domain's private key, for the mta's directory.
    pub fn dkim_keys(&self) -> StoreResult<Vec<DkimKey>> {
        self.dkim_tree()?
            .iter()
            .map(|item| {
                let (domain, v) = item?;
                let key: StoredKey = decode(TREE, &v)?;
                Ok(DkimKey {
                    domain: String::from_utf8_lossy(&domain).into_owned(),
                    selector: key.selector,
                    algorithm: key.algorithm,
                    private_key: key.private_key,
                })
            })
            .collect()
    }

    /// Gives every domain without a key one (domains of an older
    /// `data.db`); the mta sees them with the next generation.
    pub fn ensure_dkim_keys(&self, now: u64) -> StoreResult<()> {
        let tree = self.dkim_tree()?;
        for domain in self.domains()? {
            if tree.get(domain.name.as_bytes())?.is_some() {
                continue;
            }
            let key = new_key(now)?;
            let _guard = self.lock_directory();
            (&tree, &self.domains, &self.meta)
                .transaction(|(keys, domains, meta)| {
                    // Deleted meanwhile: nothing to sign for.
                    if domains.get(domain.name.as_bytes())?.is_some() {
                        insert(keys, &domain.name, &key)?;
                        bump_generation(meta)?;
                    }
                    Ok(())
                })
                .map_err(tx_error)?;
            self.flush()?;
            log::info!("DKIM key made for {}", domain.name);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_util::temp_store;
    use model::api::{DeliveryServer, NewDomain};

    #[test]
    fn a_domain_gets_a_key_with_its_record_and_loses_it_with_it() {
        let (_dir, store) = temp_store();
        let now = 1_795_314_048_000; // 2026-11-22
        let new = NewDomain {
            name: "Customer.TEST".into(),
            delivery: vec![DeliveryServer {
                host: "127.0.0.1".into(),
                port: 25,
                priority: 1,
            }],
            provisioning: Default::default(),
            tls: Default::default(),
            relay_networks: Default::default(),
        };
        store.create_domain(&new, now).unwrap();
        let record = store.dkim_record("customer.test").unwrap();
        assert_eq!(record.selector, "fb202611");
        assert_eq!(record.name, "fb202611._domainkey.customer.test");
        let p = record.value.strip_prefix("v=DKIM1; k=rsa; p=").unwrap();
        let spki = base64::engine::general_purpose::STANDARD.decode(p).unwrap();
        assert!(spki.len() > 256, "a 2048-bit key: {} bytes", spki.len());
        let keys = store.dkim_keys().unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(
            (keys[0].domain.as_str(), keys[0].algorithm.as_str()),
            ("customer.test", "rsa-sha256")
        );
        let generation = store.generation().unwrap();
        store.ensure_dkim_keys(now).unwrap();
        assert_eq!(store.generation().unwrap(), generation, "nothing to add");
        store.delete_domain("customer.test").unwrap();
        assert!(store.dkim_keys().unwrap().is_empty());
        assert!(matches!(
            store.dkim_record("customer.test"),
            Err(StoreError::NotFound(_))
        ));
    }
}
