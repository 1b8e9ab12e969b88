//! The filter's policy (`GET /filter-policy`): per-domain thresholds, DMARC
//! enforcement, attachment rules and the delay queue switch; per-user
//! thresholds and allow and block lists; the senders and networks never
//! delayed. Changes bump their own generation, which the filter polls.
//!
//! Policies of a domain or user that no longer exists are not served (and
//! are dropped the next time that entry is written).

use model::address::{normalize_address, normalize_domain};
use model::policy::{DomainPolicy, FilterPolicy, Thresholds, UserPolicy};

use super::{decode, decode_u64, encode, Store, StoreError, StoreResult};

/// Key in `meta` of the filter policy's generation.
const POLICY_GENERATION: &[u8] = b"policy_generation";
/// Key in `filter_policy` of the delay exemptions.
const EXEMPT: &[u8] = b"exempt";

/// Most entries in one allow or block list, or one exemption list.
pub const MAX_LIST: usize = 1_000;

impl Store {
    /// The whole policy as the filter applies it.
    pub fn filter_policy(&self) -> StoreResult<FilterPolicy> {
        let mut policy = FilterPolicy {
            generation: self.policy_generation()?,
            ..FilterPolicy::default()
        };
        for entry in self.filter_policy.scan_prefix(b"d:") {
            let d: DomainPolicy = decode("filter_policy", &entry?.1)?;
            if self.domain(&d.domain).is_ok() {
                policy.domains.push(d);
            }
        }
        for entry in self.filter_policy.scan_prefix(b"u:") {
            let u: UserPolicy = decode("filter_policy", &entry?.1)?;
            if self.user(&u.address).is_ok() {
                policy.users.push(u);
            }
        }
        if let Some(v) = self.filter_policy.get(EXEMPT)? {
            let e: FilterPolicy = decode("filter_policy", &v)?;
            policy.delay_exempt_networks = e.delay_exempt_networks;
            policy.delay_exempt_senders = e.delay_exempt_senders;
        }
        Ok(policy)
    }

    /// Sets domain `name`'s policy (the domain must exist).
    pub fn set_domain_policy(&self, name: &str, mut p: DomainPolicy) -> StoreResult<DomainPolicy> {
        let name = normalize_domain(name).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.domain(&name)?;
        if !p.domain.is_empty()
            && normalize_domain(&p.domain).ok().as_deref() != Some(name.as_str())
        {
            return Err(StoreError::Invalid(format!(
                "the body names domain {:?}, the path {name:?}",
                p.domain
            )));
        }
        p.domain = name.clone();
        check_thresholds(&p.thresholds)?;
        for ext in &mut p.attachments.blocked_extensions {
            let e = ext.trim().trim_start_matches('.').to_ascii_lowercase();
            if e.is_empty() || e.len() > 16 || !e.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(StoreError::Invalid(format!(
                    "blocked extension {ext:?} must be letters and digits, like \"exe\""
                )));
            }
            *ext = e;
        }
        self.put_policy(format!("d:{name}").as_bytes(), &p)?;
        Ok(p)
    }

    /// Sets user `address`'s policy (the user must exist).
    pub fn set_user_policy(&self, address: &str, mut p: UserPolicy) -> StoreResult<UserPolicy> {
        let address = normalize_address(address).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.user(&address)?;
        if !p.address.is_empty()
            && normalize_address(&p.address).ok().as_deref() != Some(address.as_str())
        {
            return Err(StoreError::Invalid(format!(
                "the body names user {:?}, the path {address:?}",
                p.address
            )));
        }
        p.address = address.clone();
        if let Some(t) = &p.thresholds {
            check_thresholds(t)?;
        }
        p.allow = sender_list("allow", &p.allow)?;
        p.block = sender_list("block", &p.block)?;
        self.put_policy(format!("u:{address}").as_bytes(), &p)?;
        Ok(p)
    }

    /// Adds `sender` (an address or a domain) to user `address`'s block
    /// list, keeping the rest of its policy; returns the policy.
    pub fn block_sender(&self, address: &str, sender: &str) -> StoreResult<UserPolicy> {
        let address = normalize_address(address).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut p: UserPolicy = match self.filter_policy.get(format!("u:{address}"))? {
            Some(v) => decode("filter_policy", &v)?,
            None => UserPolicy::default(),
        };
        let sender = sender.trim().to_ascii_lowercase();
        if !p.block.contains(&sender) {
            p.block.push(sender);
        }
        self.set_user_policy(&address, p)
    }

    /// Sets the senders and networks never delayed.
    pub fn set_delay_exempt(
        &self,
        networks: &[String],
        senders: &[String],
    ) -> StoreResult<FilterPolicy> {
        if networks.len() > MAX_LIST {
            return Err(StoreError::Invalid(format!("at most {MAX_LIST} networks")));
        }
        let mut nets = Vec::new();
        for n in networks {
            let net: model::network::Cidr = n
                .parse()
                .map_err(|e| StoreError::Invalid(format!("delay_exempt_networks: {e}")))?;
            nets.push(net.to_string());
        }
        let exempt = FilterPolicy {
            delay_exempt_networks: nets,
            delay_exempt_senders: sender_list("delay_exempt_senders", senders)?,
            ..FilterPolicy::default()
        };
        self.put_policy(EXEMPT, &exempt)?;
        self.filter_policy()
    }

    fn policy_generation(&self) -> StoreResult<u64> {
        self.meta
            .get(POLICY_GENERATION)?
            .map_or(Ok(0), |v| decode_u64("meta", &v))
    }

    fn put_policy<T: serde::Serialize>(&self, key: &[u8], value: &T) -> StoreResult<()> {
        let _guard = self.lock_directory();
        let generation = self.policy_generation()? + 1;
        self.filter_policy.insert(key, encode(value))?;
        self.meta
            .insert(POLICY_GENERATION, &generation.to_be_bytes())?;
        self.flush()
    }
}

fn check_thresholds(t: &Thresholds) -> StoreResult<()> {
    let all = [Some(t.tag), Some(t.quarantine), t.reject];
    if all.iter().flatten().any(|v| !v.is_finite()) {
        return Err(StoreError::Invalid("thresholds must be numbers".into()));
    }
    if t.tag > t.quarantine || t.reject.is_some_and(|r| r < t.quarantine) {
        return Err(StoreError::Invalid(format!(
            "thresholds must rise: tag {} <= quarantine {} <= reject {}",
            t.tag,
            t.quarantine,
            t.reject.map_or("none".into(), |r| r.to_string())
        )));
    }
    Ok(())
}

/// A list of sender addresses or domains in normal form, without repeats.
fn sender_list(what: &str, list: &[String]) -> StoreResult<Vec<String>> {
    if list.len() > MAX_LIST {
        return Err(StoreError::Invalid(format!(
            "{what}: at most {MAX_LIST} entries"
        )));
    }
    let mut out: Vec<String> = Vec::new();
    for entry in list {
        let e = entry.trim();
        let normal = if e.contains('@') {
            normalize_address(e)
        } else {
            normalize_domain(e)
        }
        .map_err(|_| {
            StoreError::Invalid(format!(
                "{what}: {entry:?} is neither an address nor a domain"
            ))
        })?;
        if !out.contains(&normal) {
            out.push(normal);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use model::api::{NewDomain, NewUser};
    use model::policy::{DomainPolicy, Thresholds, UserPolicy};

    use crate::store::test_util::temp_store;
    use crate::store::{Store, StoreError};

    fn directory(s: &Store) {
        let d: NewDomain = serde_json::from_value(serde_json::json!({
            "name": "example.test", "delivery": [{"host": "127.0.0.1"}]
        }))
        .unwrap();
        s.create_domain(&d, 1).unwrap();
        let u: NewUser =
            serde_json::from_value(serde_json::json!({"address": "u@example.test"})).unwrap();
        s.create_user(&u, 1).unwrap();
    }

    fn domain(tag: f64, quarantine: f64, reject: Option<f64>) -> DomainPolicy {
        serde_json::from_value(serde_json::json!({
            "thresholds": {"tag": tag, "quarantine": quarantine, "reject": reject}
        }))
        .unwrap()
    }

    #[test]
    fn policies_are_checked_stored_and_bump_the_generation() {
        let (_dir, s) = temp_store();
        directory(&s);
        assert_eq!(s.filter_policy().unwrap().generation, 0);
        let p = s
            .set_domain_policy("Example.TEST", domain(3.0, 6.0, Some(12.0)))
            .unwrap();
        assert_eq!(p.domain, "example.test");
        let bad = s.set_domain_policy("example.test", domain(7.0, 6.0, None));
        assert!(matches!(bad, Err(StoreError::Invalid(m)) if m.contains("must rise")));
        assert!(matches!(
            s.set_domain_policy("other.test", domain(1.0, 2.0, None)),
            Err(StoreError::NotFound(_))
        ));
        let u = UserPolicy {
            address: String::new(),
            thresholds: Some(Thresholds {
                tag: 1.0,
                quarantine: 2.0,
                reject: None,
            }),
            allow: vec![
                "Friend@Partner.test".into(),
                "partner.test".into(),
                "partner.test".into(),
            ],
            block: vec![],
        };
        let u = s.set_user_policy("u@example.test", u).unwrap();
        assert_eq!(u.allow, ["friend@partner.test", "partner.test"]);
        let mut wrong = u.clone();
        wrong.block = vec!["not an address".into()];
        assert!(matches!(
            s.set_user_policy("u@example.test", wrong),
            Err(StoreError::Invalid(_))
        ));
        let exempt = s
            .set_delay_exempt(&["192.0.2.0/24".into()], &["backup.test".into()])
            .unwrap();
        assert!(
            s.set_delay_exempt(&["192.0.2.1".into()], &[]).is_err(),
            "a network needs its prefix"
        );
        assert_eq!(exempt.delay_exempt_networks, ["192.0.2.0/24"]);
        let all = s.filter_policy().unwrap();
        assert_eq!(all.generation, 3, "three accepted changes");
        assert_eq!((all.domains.len(), all.users.len()), (1, 1));
        s.delete_user("u@example.test").unwrap();
        assert!(
            s.filter_policy().unwrap().users.is_empty(),
            "a deleted user's policy is not served"
        );
    }
}
