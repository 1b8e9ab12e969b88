//! Ordering firmware versions, semver-style, without failing on odd ones.
//!
//! `MAJOR.MINOR.PATCH[-PRE][+BUILD]`: build metadata (`+g1a2b3c4`, the
//! commit) is ignored, so two builds of one version are equal and a
//! re-install needs `force`; a pre-release sorts before its release
//! (`0.2.0-rc1 < 0.2.0`); missing numbers count as 0 (`1.2 == 1.2.0`).
//! Components are compared as numbers when both are numeric, else as text,
//! numbers first, so any two strings have an order.

use std::cmp::Ordering;

/// Compares two version strings (see the module docs).
pub fn compare(a: &str, b: &str) -> Ordering {
    let (a_core, a_pre) = split(a);
    let (b_core, b_pre) = split(b);
    compare_dotted(a_core, b_core, true).then_with(|| match (a_pre, b_pre) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(x), Some(y)) => compare_dotted(x, y, false),
    })
}

/// True when `candidate` is newer than `running`.
pub fn is_newer(candidate: &str, running: &str) -> bool {
    compare(candidate, running) == Ordering::Greater
}

/// The version without build metadata, split at the first `-` into the
/// core and the pre-release.
fn split(v: &str) -> (&str, Option<&str>) {
    let v = v.split('+').next().unwrap_or_default();
    match v.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (v, None),
    }
}

/// Compares dot-separated components; with `pad`, missing ones are 0
/// (the core), else fewer components sort first (pre-releases).
fn compare_dotted(a: &str, b: &str, pad: bool) -> Ordering {
    let mut x = a.split('.');
    let mut y = b.split('.');
    loop {
        let (p, q) = match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (Some(p), None) if pad => (p, "0"),
            (None, Some(q)) if pad => ("0", q),
            (Some(_), None) => return Ordering::Greater,
            (None, Some(_)) => return Ordering::Less,
            (Some(p), Some(q)) => (p, q),
        };
        match compare_part(p, q) {
            Ordering::Equal => {}
            other => return other,
        }
    }
}

fn compare_part(p: &str, q: &str) -> Ordering {
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match (numeric(p), numeric(q)) {
        (true, true) => {
            let (p, q) = (p.trim_start_matches('0'), q.trim_start_matches('0'));
            p.len().cmp(&q.len()).then_with(|| p.cmp(q))
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => p.cmp(q),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver_order() {
        let ordered = [
            "0.0.9",
            "0.1.0-alpha",
            "0.1.0-alpha.1",
            "0.1.0-alpha.beta",
            "0.1.0-beta.2",
            "0.1.0-beta.11",
            "0.1.0-rc.1",
            "0.1.0",
            "0.1.1",
            "0.2.0",
            "0.10.0",
            "1.0.0",
            "18446744073709551616.0.0",
        ];
        for (i, a) in ordered.iter().enumerate() {
            for (j, b) in ordered.iter().enumerate() {
                assert_eq!(compare(a, b), i.cmp(&j), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn build_metadata_and_padding_are_ignored() {
        assert_eq!(compare("0.1.0+g1a2b3c4", "0.1.0+gffffff"), Ordering::Equal);
        assert_eq!(compare("0.1.0+g1", "0.1.0"), Ordering::Equal);
        assert_eq!(compare("1.2", "1.2.0"), Ordering::Equal);
        assert_eq!(compare("1.2.0.1", "1.2"), Ordering::Greater);
        assert_eq!(compare("01.2", "1.2"), Ordering::Equal);
        assert!(is_newer("0.2.0+gabc", "0.1.9"));
        assert!(!is_newer("0.1.0", "0.1.0+gabc"));
        assert!(!is_newer("0.1.0-rc1", "0.1.0"));
    }

    #[test]
    fn odd_versions_still_have_an_order() {
        assert_eq!(compare("dev", "dev"), Ordering::Equal);
        assert_eq!(compare("1.0", "dev"), Ordering::Less, "numbers first");
        assert_eq!(compare("", "0"), Ordering::Greater, "empty is text");
    }
}
