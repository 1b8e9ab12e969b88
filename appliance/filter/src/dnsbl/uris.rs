//! The host names of the links in a message's text, for the URI block
//! lists: found in every decoded text part (HTML included: links sit in
//! `href="https://..."`), deduplicated, capped.

use mail_parser::MessageParser;

use crate::engine::parts::{self, PartKind};

/// Most host names looked up per message: a list of a thousand links must
/// not turn into a thousand queries per block list.
pub const MAX_URI_DOMAINS: usize = 20;

/// Longest host name kept (RFC 1035: 253 characters).
const MAX_HOST: usize = 253;

/// The link hosts of `raw`, in order of first appearance. Parsing
/// recurses per nested message: run it where the engine runs (a thread
/// of [`crate::scanner::SCAN_STACK_SIZE`]). A message too complex for the
/// engine is searched as raw text.
pub fn domains(raw: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let parsed = (!crate::engine::content_types_over_limit(raw))
        .then(|| MessageParser::new().parse(raw))
        .flatten();
    match &parsed {
        Some(message) => {
            for part in parts::parts(message).filter(|p| p.kind == PartKind::Text) {
                hosts_in(&String::from_utf8_lossy(part.content), &mut out);
            }
        }
        None => hosts_in(&String::from_utf8_lossy(raw), &mut out),
    }
    out
}

/// Adds the hosts of `http(s)://` and bare `www.` links in `text` to `out`.
fn hosts_in(text: &str, out: &mut Vec<String>) {
    let lower = text.to_ascii_lowercase();
    let starts = lower
        .match_indices("://")
        .filter(|(i, _)| lower[..*i].ends_with("http") || lower[..*i].ends_with("https"))
        .map(|(i, _)| i + 3)
        .chain(lower.match_indices("www.").filter_map(|(i, _)| {
            let before = lower[..i].chars().next_back();
            let bare = before.is_none_or(|c| !(c.is_ascii_alphanumeric() || "/.-@".contains(c)));
            bare.then_some(i)
        }));
    let mut found: Vec<(usize, String)> = starts
        .filter_map(|s| host_at(&lower[s..]).map(|h| (s, h)))
        .collect();
    found.sort();
    for (_, host) in found {
        if out.len() >= MAX_URI_DOMAINS {
            return;
        }
        if !out.contains(&host) {
            out.push(host);
        }
    }
}

/// The host name at the start of `s` (after `scheme://`): user info and
/// port dropped; `None` for address literals and dotless names.
fn host_at(s: &str) -> Option<String> {
    let authority_end = s
        .find(|c: char| matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>') || c.is_whitespace())
        .unwrap_or(s.len());
    let authority = &s[..authority_end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let end = host
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
        .unwrap_or(host.len());
    let host = host[..end].trim_matches('.');
    let valid = host.contains('.')
        && host.len() <= MAX_HOST
        && host.parse::<std::net::Ipv4Addr>().is_err()
        && host.split('.').all(|l| !l.is_empty() && l.len() <= 63);
    valid.then(|| host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_links_in_decoded_text_and_html() {
        let raw = b"Subject: x\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
Visit HTTPS://Shop.Spam.Test/buy?x=3D1 or www.other.test, mail me@www.no.test=\r\n now\r\n\
--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n\
PGEgaHJlZj0iaHR0cDovL3VzZXJAbGluay5odG1sLnRlc3Q6ODAvIj5hPC9hPg==\r\n--b--\r\n";
        assert_eq!(
            domains(raw),
            ["shop.spam.test", "www.other.test", "link.html.test"]
        );
    }

    #[test]
    fn literals_and_junk_are_skipped_and_the_list_is_capped() {
        let mut out = Vec::new();
        hosts_in(
            "http://192.0.2.1/ http://localhost/ http://a..b/ ftp://f.test",
            &mut out,
        );
        assert!(out.is_empty(), "{out:?}");
        let many: String = (0..50).map(|i| format!("http://h{i}.test/ ")).collect();
        hosts_in(&many, &mut out);
        assert_eq!(out.len(), MAX_URI_DOMAINS);
        assert_eq!(out[0], "h0.test");
    }
}
