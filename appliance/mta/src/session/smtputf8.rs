//! SMTPUTF8 (RFC 6531): internationalized addresses.
//!
//! The extension is announced in EHLO. A transaction whose MAIL carries the
//! `SMTPUTF8` parameter may use UTF-8 in its reverse-path and forward-paths;
//! without it, a non-ASCII address is refused with `553 5.6.7` (RFC 6531
//! section 3.7.4.2 and RFC 6533), never mangled. ASCII addresses keep the
//! one normal form of [`model::address`]; UTF-8 ones are checked the same
//! way with non-ASCII characters allowed and lowercased as a whole, so the
//! directory compares them like any other address.

use super::Reply;

/// The EHLO keyword.
pub(super) const KEYWORD: &str = "SMTPUTF8";

/// Longest local part in octets (RFC 5321 section 4.5.3.1.1 holds for UTF-8 too).
const MAX_LOCAL_PART: usize = 64;
/// Longest domain in octets.
const MAX_DOMAIN: usize = 253;

/// The reply refusing a non-ASCII address in a transaction without SMTPUTF8.
fn needs_smtputf8() -> Reply {
    Reply::new(
        553,
        "5.6.7",
        "non-ASCII address requires the SMTPUTF8 parameter on MAIL",
    )
}

/// Checks a reverse-path (`<>` is fine): `None` when it may be used.
pub(super) fn sender_refusal(address: &str, smtputf8: bool) -> Option<Reply> {
    if address.is_empty() {
        return None;
    }
    match normalize(address, smtputf8) {
        Ok(_) => None,
        Err(Refusal::NeedsSmtpUtf8) => Some(needs_smtputf8()),
        Err(Refusal::Syntax) => Some(Reply::new(501, "5.1.7", "bad sender address syntax")),
    }
}

/// A forward-path in normal form, or the reply refusing it.
pub(super) fn recipient(address: &str, smtputf8: bool) -> Result<String, Reply> {
    normalize(address, smtputf8).map_err(|e| match e {
        Refusal::NeedsSmtpUtf8 => needs_smtputf8(),
        Refusal::Syntax => Reply::new(501, "5.1.3", "bad recipient address syntax"),
    })
}

/// Why an address is refused.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    NeedsSmtpUtf8,
    Syntax,
}

/// The normal form of `address`; UTF-8 only when the transaction allows it.
fn normalize(address: &str, smtputf8: bool) -> Result<String, Refusal> {
    if address.is_ascii() {
        return model::address::normalize_address(address).map_err(|_| Refusal::Syntax);
    }
    if !smtputf8 {
        return Err(Refusal::NeedsSmtpUtf8);
    }
    let (local, domain) = address.trim().rsplit_once('@').ok_or(Refusal::Syntax)?;
    let local_ok = !local.is_empty()
        && local.len() <= MAX_LOCAL_PART
        && local
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && !"<>@,\"\\".contains(c))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    if !local_ok {
        return Err(Refusal::Syntax);
    }
    Ok(format!("{}@{}", local.to_lowercase(), utf8_domain(domain)?))
}

/// A domain of ASCII or UTF-8 labels (U-labels), lowercased, without a trailing dot.
fn utf8_domain(domain: &str) -> Result<String, Refusal> {
    if domain.is_ascii() {
        return model::address::normalize_domain(domain).map_err(|_| Refusal::Syntax);
    }
    let d = domain.trim_end_matches('.').to_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    if d.len() > MAX_DOMAIN || !d.split('.').all(label_ok) {
        return Err(Refusal::Syntax);
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_addresses_keep_the_model_normal_form() {
        assert_eq!(
            normalize("User@Example.TEST", false).unwrap(),
            "user@example.test"
        );
        assert_eq!(
            normalize("User@Example.TEST", true).unwrap(),
            "user@example.test"
        );
        assert_eq!(normalize("no-at-sign", true), Err(Refusal::Syntax));
    }

    #[test]
    fn utf8_needs_the_parameter_and_valid_syntax() {
        assert_eq!(
            normalize("Jörg@example.test", false),
            Err(Refusal::NeedsSmtpUtf8)
        );
        assert_eq!(
            normalize("Jörg@example.test", true).unwrap(),
            "jörg@example.test"
        );
        assert_eq!(normalize("用户@例子.测试", true).unwrap(), "用户@例子.测试");
        assert_eq!(normalize("a@Bücher.Test.", true).unwrap(), "a@bücher.test");
        for bad in [
            "jö rg@example.test",
            "jö..rg@example.test",
            "ö@-bad.test",
            "ö@a..test",
            "ö@",
        ] {
            assert_eq!(normalize(bad, true), Err(Refusal::Syntax), "{bad}");
        }
        let long = format!("{}@example.test", "ö".repeat(33));
        assert_eq!(normalize(&long, true), Err(Refusal::Syntax), "66 octets");
    }

    #[test]
    fn replies() {
        assert_eq!(sender_refusal("", false), None);
        assert_eq!(sender_refusal("jörg@example.test", true), None);
        assert_eq!(
            sender_refusal("jörg@example.test", false).unwrap().code,
            553
        );
        assert_eq!(
            recipient("jörg@example.test", false)
                .unwrap_err()
                .to_string(),
            "553 5.6.7 non-ASCII address requires the SMTPUTF8 parameter on MAIL"
        );
        assert_eq!(recipient("x y@example.test", false).unwrap_err().code, 501);
    }
}
