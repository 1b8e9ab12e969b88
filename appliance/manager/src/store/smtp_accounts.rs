//! SMTP AUTH accounts: logins for a customer's roaming senders, with the
//! password kept only as an argon2id hash (made by the caller).
//!
//! Kept in their own tree, keyed by the lower-cased login name; deleting a
//! domain does not reach them, so an account of a deleted domain simply
//! stops being useful (relay needs the domain).

use model::address::normalize_domain;
use model::api::{NewSmtpAccount, SmtpAccount};
use serde::{Deserialize, Serialize};

use super::{decode, encode, Store, StoreError, StoreResult};

/// Name of the tree.
const TREE: &str = "smtp_accounts";
/// Longest login name.
const MAX_USERNAME: usize = 254;

/// What is stored per account.
#[derive(Serialize, Deserialize)]
struct Stored {
    account: SmtpAccount,
    /// The argon2id PHC string.
    hash: String,
}

/// The login name in normal form (trimmed, lower case), or why it is unusable.
pub fn normalize_username(username: &str) -> StoreResult<String> {
    let name = username.trim().to_lowercase();
    if name.is_empty() || name.len() > MAX_USERNAME || name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "username: 1 to {MAX_USERNAME} characters without control characters"
        )));
    }
    Ok(name)
}

impl Store {
    fn accounts_tree(&self) -> StoreResult<sled::Tree> {
        Ok(self.db.open_tree(TREE)?)
    }

    /// Every account, by login name.
    pub fn smtp_accounts(&self) -> StoreResult<Vec<SmtpAccount>> {
        let mut out = Vec::new();
        for v in self.accounts_tree()?.iter().values() {
            let stored: Stored = decode(TREE, &v?)?;
            out.push(stored.account);
        }
        Ok(out)
    }

    /// Adds an account of an existing domain, with the hash of its password; flushed.
    pub fn create_smtp_account(
        &self,
        new: &NewSmtpAccount,
        hash: String,
        now: u64,
    ) -> StoreResult<SmtpAccount> {
        let username = normalize_username(&new.username)?;
        let domain =
            normalize_domain(&new.domain).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.domain(&domain)
            .map_err(|_| StoreError::Invalid(format!("domain: no domain {domain:?}")))?;
        let account = SmtpAccount {
            username: username.clone(),
            domain,
            created: now,
        };
        let stored = encode(&Stored {
            account: account.clone(),
            hash,
        });
        let inserted = self.accounts_tree()?.compare_and_swap(
            username.as_bytes(),
            None::<&[u8]>,
            Some(stored),
        )?;
        if inserted.is_err() {
            return Err(StoreError::Conflict(format!(
                "SMTP account {username:?} already exists"
            )));
        }
        self.flush()?;
        Ok(account)
    }

    /// Removes an account; flushed.
    pub fn delete_smtp_account(&self, username: &str) -> StoreResult<()> {
        let name = normalize_username(username)?;
        match self.accounts_tree()?.remove(name.as_bytes())? {
            Some(_) => self.flush(),
            None => Err(StoreError::NotFound(format!(
                "no SMTP account {username:?}"
            ))),
        }
    }

    /// The account and its password hash, for checking a login.
    pub fn smtp_account_hash(&self, username: &str) -> StoreResult<(SmtpAccount, String)> {
        let missing = || StoreError::NotFound(format!("no SMTP account {username:?}"));
        let name = normalize_username(username).map_err(|_| missing())?;
        let v = self
            .accounts_tree()?
            .get(name.as_bytes())?
            .ok_or_else(missing)?;
        let stored: Stored = decode(TREE, &v)?;
        Ok((stored.account, stored.hash))
    }
}

#[cfg(test)]
mod tests {
    use model::api::NewDomain;

    use super::*;
    use crate::store::test_util::temp_store;

    fn new(username: &str, domain: &str) -> NewSmtpAccount {
        NewSmtpAccount {
            username: username.into(),
            domain: domain.into(),
            password: "unused here".into(),
        }
    }

    #[test]
    fn accounts_belong_to_existing_domains_and_are_unique() {
        let (_dir, store) = temp_store();
        let domain = NewDomain {
            name: "example.test".into(),
            delivery: vec![model::api::DeliveryServer {
                host: "127.0.0.1".into(),
                port: 25,
                priority: 10,
            }],
            provisioning: Default::default(),
            tls: Default::default(),
            relay_networks: Default::default(),
        };
        store.create_domain(&domain, 1).unwrap();
        let err = store.create_smtp_account(&new("a@x.test", "x.test"), "h".into(), 1);
        assert!(matches!(err, Err(StoreError::Invalid(_))));
        let made = store
            .create_smtp_account(
                &new(" Roamer@Example.test ", "example.test"),
                "h1".into(),
                5,
            )
            .unwrap();
        assert_eq!(made.username, "roamer@example.test");
        let again =
            store.create_smtp_account(&new("roamer@example.test", "example.test"), "h2".into(), 6);
        assert!(matches!(again, Err(StoreError::Conflict(_))));
        let (account, hash) = store.smtp_account_hash("ROAMER@example.test").unwrap();
        assert_eq!((account, hash.as_str()), (made.clone(), "h1"));
        assert_eq!(store.smtp_accounts().unwrap(), vec![made]);
        store.delete_smtp_account("roamer@example.test").unwrap();
        assert!(matches!(
            store.delete_smtp_account("roamer@example.test"),
            Err(StoreError::NotFound(_))
        ));
        assert!(store.smtp_accounts().unwrap().is_empty());
    }
}
