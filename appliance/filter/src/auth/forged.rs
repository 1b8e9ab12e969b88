//! Incoming `Authentication-Results` fields that claim to come from this
//! box (RFC 8601 section 5): they are forgeries, or stale results of an
//! earlier pass, and are removed before ours is added.

use crate::message::HeaderField;

/// The field name of RFC 8601.
pub const HEADER: &str = "Authentication-Results";

/// The `Authentication-Results` fields whose authserv-id is `authserv_id`,
/// as milter change-header deletions: (1-based index among the fields of
/// that name, name as received), highest index first so that each
/// deletion leaves the others' indexes unchanged.
pub fn forged(headers: &[HeaderField], authserv_id: &str) -> Vec<(u32, Vec<u8>)> {
    let mut out: Vec<(u32, Vec<u8>)> = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(HEADER.as_bytes()))
        .zip(1u32..)
        .filter(|(h, _)| authserv(&h.value).is_some_and(|id| id.eq_ignore_ascii_case(authserv_id)))
        .map(|(h, index)| (index, h.name.clone()))
        .collect();
    out.reverse();
    out
}

/// The authserv-id of a field value: the first token, after any leading
/// comments, up to `;`, a space or a comment (RFC 8601 section 2.2).
fn authserv(value: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(value);
    let mut rest = text.trim_start();
    while let Some(after) = rest.strip_prefix('(') {
        rest = after.split_once(')').map(|(_, r)| r)?.trim_start();
    }
    let end = rest
        .find(|c: char| c == ';' || c == '(' || c.is_whitespace())
        .unwrap_or(rest.len());
    let id = rest[..end].trim_end_matches('.');
    (!id.is_empty()).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, value: &str) -> HeaderField {
        HeaderField {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn only_ours_are_removed_highest_index_first() {
        let headers = [
            field("Authentication-Results", " MX.Example.Test; spf=pass"),
            field("Subject", " hi"),
            field("authentication-results", " other.test; dkim=pass"),
            field(
                "Authentication-Results",
                " (forged)\n\tmx.example.test.;\n\tdmarc=pass",
            ),
            field("Authentication-Results", "mx.example.test 1; none"),
            field("Authentication-Results", " mx.example.test.evil; none"),
        ];
        assert_eq!(
            forged(&headers, "mx.example.test"),
            vec![
                (4, b"Authentication-Results".to_vec()),
                (3, b"Authentication-Results".to_vec()),
                (1, b"Authentication-Results".to_vec()),
            ]
        );
        assert!(forged(&headers, "elsewhere.test").is_empty());
    }

    #[test]
    fn unparsable_values_are_not_ours() {
        assert_eq!(authserv(b" (never closed"), None);
        assert_eq!(authserv(b"  ;"), None);
        assert_eq!(authserv(b"(c) id;x").as_deref(), Some("id"));
    }
}
