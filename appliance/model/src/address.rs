//! Mail domains and addresses in the one normal form every role compares.
//!
//! The mta checks recipients against the manager's directory and the manager
//! stores users; both must agree on spelling, so normalisation lives here:
//! domains are lowercased without a trailing dot, addresses are
//! `local@domain` lowercased as a whole (mailbox local parts are treated as
//! case-insensitive, as every mail server this box fronts does in practice).

/// Why a domain or address was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddressError {
    /// The domain is not a valid DNS host name.
    #[error("invalid domain {0:?}: use letters, digits and hyphens in dot-separated labels of 1 to 63 characters")]
    Domain(String),
    /// The address is not `local@domain`.
    #[error("invalid address {0:?}: expected local-part@domain")]
    Address(String),
}

/// Returns `domain` in normal form, or why it is not a domain.
pub fn normalize_domain(domain: &str) -> Result<String, AddressError> {
    let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let bad = || AddressError::Domain(domain.to_string());
    if d.is_empty() || d.len() > 253 {
        return Err(bad());
    }
    for label in d.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err(bad());
        }
    }
    Ok(d)
}

/// Returns `address` in normal form, or why it is not a mailbox address.
pub fn normalize_address(address: &str) -> Result<String, AddressError> {
    let a = address.trim();
    let bad = || AddressError::Address(address.to_string());
    let (local, domain) = a.rsplit_once('@').ok_or_else(bad)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'@' | b',' | b'"'))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    if !local_ok {
        return Err(bad());
    }
    let domain = normalize_domain(domain).map_err(|_| bad())?;
    Ok(format!("{}@{domain}", local.to_ascii_lowercase()))
}

/// The domain part of an address already in normal form.
pub fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_domains() {
        assert_eq!(normalize_domain("Example.TEST.").unwrap(), "example.test");
        for bad in [
            "",
            "-a.test",
            "a..test",
            "a_b.test",
            "a b.test",
            &"x".repeat(64),
        ] {
            assert!(normalize_domain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn normalises_addresses() {
        assert_eq!(
            normalize_address(" User.Name+tag@Example.Test ").unwrap(),
            "user.name+tag@example.test"
        );
        for bad in [
            "user",
            "@example.test",
            "user@",
            "a<b@x.test",
            ".a@x.test",
            "a..b@x.test",
        ] {
            assert!(normalize_address(bad).is_err(), "{bad}");
        }
        assert_eq!(domain_of("a@b.test"), "b.test");
    }
}
