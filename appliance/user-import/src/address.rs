//! Mailbox addresses as administrators type them, checked one rule at a time
//! so each refusal says exactly what is wrong.
//!
//! `model::address` holds the normal form every role compares; its errors
//! only say "invalid", which is useless to someone fixing row 48,213 of a
//! spreadsheet. This module gives the precise reason, then hands the result
//! to `model` so the two can never disagree on what is stored.

/// RFC 5321 4.5.3.1.1: longest local part, in octets.
const MAX_LOCAL: usize = 64;
/// RFC 5321 4.5.3.1.2 and its erratum 1690: a path is at most 256 octets
/// including the angle brackets, so an address is at most 254.
const MAX_ADDRESS: usize = 254;
/// RFC 1035 2.3.4: longest label and longest name (without the final dot).
const MAX_LABEL: usize = 63;
const MAX_DOMAIN: usize = 253;

/// Returns `raw` in the manager's normal form, or why it is not an address
/// the box can serve. Public so the manager's single-user form gives the
/// same answers as a bulk import.
pub fn normalise(raw: &str) -> Result<String, String> {
    let a = raw.trim();
    if a.is_empty() {
        return Err("the address is empty".into());
    }
    if let Some(c) = a.chars().find(|c| c.is_control()) {
        return Err(format!(
            "address {a:?} contains the control character U+{:04X}",
            u32::from(c)
        ));
    }
    if a.chars().any(char::is_whitespace) {
        return Err(format!("address {a:?} contains a space"));
    }
    let Some((local, domain)) = a.rsplit_once('@') else {
        return Err(format!("{a:?} is not an address: it has no @"));
    };
    check_local(a, local)?;
    let domain = check_domain(a, domain)?;
    let address = format!("{}@{domain}", local.to_ascii_lowercase());
    if address.len() > MAX_ADDRESS {
        return Err(format!(
            "address {a:?} is {} characters long; at most {MAX_ADDRESS} are allowed",
            address.len()
        ));
    }
    // The stricter rules above should make this unreachable; if `model`
    // ever tightens, the row is refused here rather than by the manager.
    match model::address::normalize_address(&address) {
        Ok(n) if n == address => Ok(address),
        _ => Err(format!("address {a:?} is not accepted by the manager")),
    }
}

/// Unquoted dot-atom only (RFC 5322 3.2.3): quoted local parts and UTF-8
/// local parts are legal but no customer mail server we front uses them,
/// and they would make the directory's exact-match lookups ambiguous.
fn check_local(a: &str, local: &str) -> Result<(), String> {
    if local.is_empty() {
        return Err(format!("address {a:?} has nothing before the @"));
    }
    if local.len() > MAX_LOCAL {
        return Err(format!(
            "the part before the @ of {a:?} is {} characters long; at most {MAX_LOCAL} are allowed",
            local.len()
        ));
    }
    if local.starts_with('"') {
        return Err(format!(
            "address {a:?}: quoted local parts are not supported"
        ));
    }
    if !local.is_ascii() {
        return Err(format!(
            "address {a:?}: letters outside ASCII are not supported before the @"
        ));
    }
    if let Some(c) = local.chars().find(|&c| !is_atext(c) && c != '.') {
        return Err(format!("address {a:?} contains {c:?} before the @"));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(format!(
            "address {a:?}: a dot may not start or end the part before the @, nor follow another dot"
        ));
    }
    Ok(())
}

/// RFC 5322 atext.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// Host names only: an address literal (`user@[192.0.2.1]`) names no domain
/// the box could be responsible for. Unicode domains become punycode, the
/// form DNS and the manager use.
fn check_domain(a: &str, domain: &str) -> Result<String, String> {
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    if domain.is_empty() {
        return Err(format!("address {a:?} has no domain after the @"));
    }
    if domain.starts_with('[') {
        return Err(format!(
            "address {a:?}: IP address literals are not supported, use a domain name"
        ));
    }
    let ascii = if domain.is_ascii() {
        domain.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii(domain).map_err(|_| {
            format!("the domain of {a:?} is not a valid internationalised domain name")
        })?
    };
    if ascii.len() > MAX_DOMAIN {
        return Err(format!(
            "the domain of {a:?} is {} characters long; at most {MAX_DOMAIN} are allowed",
            ascii.len()
        ));
    }
    for label in ascii.split('.') {
        if label.is_empty() {
            return Err(format!(
                "the domain of {a:?} has an empty part (two dots in a row?)"
            ));
        }
        if label.len() > MAX_LABEL {
            return Err(format!(
                "the domain of {a:?} has a part of {} characters; at most {MAX_LABEL} are allowed",
                label.len()
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|&c| !c.is_ascii_alphanumeric() && c != '-')
        {
            return Err(format!("the domain of {a:?} contains {c:?}"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "the domain of {a:?} has a part that starts or ends with a hyphen"
            ));
        }
    }
    Ok(ascii)
}

/// The domain of a normalised address, for the `domain` column's check.
pub(crate) fn domain_of(address: &str) -> &str {
    model::address::domain_of(address)
}

/// Normalises a value of the `domain` column the same way as an address's
/// domain, so `Example.COM` and `bücher.example` compare as the admin means.
pub(crate) fn normalise_domain(raw: &str) -> Result<String, String> {
    let d = raw.trim();
    check_domain(d, d).map_err(|_| format!("{d:?} in the domain column is not a domain name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(a: &str) -> String {
        normalise(a).unwrap_err()
    }

    #[test]
    fn normalises() {
        assert_eq!(
            normalise(" Jane.Doe+tag@Example.COM. ").unwrap(),
            "jane.doe+tag@example.com"
        );
        assert_eq!(
            normalise("a@bücher.example").unwrap(),
            "a@xn--bcher-kva.example"
        );
        assert_eq!(
            normalise("a@BÜCHER.example").unwrap(),
            "a@xn--bcher-kva.example"
        );
        assert_eq!(normalise("o'brien@x.test").unwrap(), "o'brien@x.test");
    }

    #[test]
    fn agrees_with_the_manager() {
        for a in ["A@B.test", "x_y-z@sub.b.test", "a@bücher.example"] {
            let n = normalise(a).unwrap();
            assert_eq!(model::address::normalize_address(&n).unwrap(), n);
        }
    }

    #[test]
    fn refuses_with_reasons() {
        assert!(reason("").contains("empty"));
        assert!(reason("jane.example.com").contains("no @"));
        assert!(reason("jane doe@x.test").contains("space"));
        assert!(reason("jane\u{7}@x.test").contains("control character U+0007"));
        assert!(reason("@x.test").contains("nothing before"));
        assert!(reason("a@").contains("no domain"));
        assert!(reason(".a@x.test").contains("dot"));
        assert!(reason("a..b@x.test").contains("dot"));
        assert!(reason("a.@x.test").contains("dot"));
        assert!(reason("a<b@x.test").contains("'<'"));
        assert!(reason("\"a b\"@x.test").contains("space"));
        assert!(reason("\"ab\"@x.test").contains("quoted"));
        assert!(reason("jöhn@x.test").contains("ASCII"));
        assert!(reason("a@[192.0.2.1]").contains("literal"));
        assert!(reason("a@x..test").contains("empty part"));
        assert!(reason("a@-x.test").contains("hyphen"));
        assert!(reason("a@x_y.test").contains("'_'"));
        assert!(reason("a@x.test@y.test").contains("'@'"));
    }

    #[test]
    fn length_limits() {
        let l64 = "l".repeat(64);
        assert!(normalise(&format!("{l64}@x.test")).is_ok());
        assert!(reason(&format!("{l64}l@x.test")).contains("at most 64"));
        let label = "d".repeat(63);
        assert!(normalise(&format!("a@{label}.test")).is_ok());
        assert!(reason(&format!("a@{label}d.test")).contains("at most 63"));
        // 64 + 1 + 189 = 254 is the longest address.
        let domain = format!(
            "{}.{}.{}.test",
            "a".repeat(60),
            "b".repeat(60),
            "c".repeat(62)
        );
        assert_eq!(domain.len(), 189);
        assert!(normalise(&format!("{l64}@{domain}")).is_ok());
        assert!(reason(&format!("{l64}@x{domain}")).contains("at most 254"));
        let long = format!("{}.test", vec!["a".repeat(63); 4].join("."));
        assert!(reason(&format!("a@{long}")).contains("at most 253"));
    }

    #[test]
    fn domains() {
        assert_eq!(normalise_domain(" Example.COM ").unwrap(), "example.com");
        assert_eq!(
            normalise_domain("bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert!(normalise_domain("not a domain").is_err());
        assert_eq!(domain_of("a@b.test"), "b.test");
    }
}
