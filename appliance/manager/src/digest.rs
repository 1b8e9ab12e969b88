//! The quarantine digest: to each mailbox whose schedule is due, the mail
//! held for it since its last digest, as text and HTML, each message with
//! a one-click release link and a block-sender link ([`crate::links`]),
//! sent through the mta from the postmaster with the null sender.
//!
//! Sent by the manager's digest thread every [`CHECK_EVERY`], and at once
//! by `POST /digest/run`.

use std::time::Duration;

use model::api::QuarantineItem;

use crate::links::{Link, LinkAction};
use crate::release::Releaser;
use crate::store::{DueDigest, Store, StoreError};

/// How often the digest thread looks for due digests.
pub const CHECK_EVERY: Duration = Duration::from_secs(60);

/// How long a digest's links work.
pub const LINK_LIFETIME_SECS: u64 = 14 * 86_400;

/// Most messages listed in one digest (the newest); the rest are in the
/// quarantine.
pub const MAX_ITEMS: usize = 200;

/// Sends every due digest (`force`: every mailbox with new mail whose
/// schedule is not `never`) at `now` (unix ms); returns how many were
/// sent. `base_url` prefixes the links. A digest the mta refuses is tried
/// again at the next check.
pub fn send_due(
    store: &Store,
    releaser: &Releaser,
    base_url: &str,
    now: u64,
    force: bool,
) -> Result<usize, StoreError> {
    let key = store.link_key()?;
    let mut sent = 0;
    for due in store.due_digests(now, force)? {
        let through = due.items.iter().map(|i| i.quarantined).max().unwrap_or(0);
        let message = build(&due, releaser.hostname(), base_url, &key, now);
        let to = [due.recipient.clone()];
        let log_id = format!("digest for {}", due.recipient);
        match releaser.send_notice(&to, &message, &log_id) {
            Ok(reply) => {
                store.digest_sent(&due.recipient, through, now)?;
                log::info!("{log_id}: {} message(s): {reply}", due.items.len());
                sent += 1;
            }
            Err(why) => log::warn!("{log_id} not sent, next check retries: {why}"),
        }
    }
    Ok(sent)
}

/// The digest message for `due`.
fn build(due: &DueDigest, hostname: &str, base_url: &str, key: &[u8; 32], now: u64) -> Vec<u8> {
    let expires = now / 1000 + LINK_LIFETIME_SECS;
    let base = base_url.trim_end_matches('/');
    let link = |action, item: &QuarantineItem| {
        let token = Link::new(action, &item.id, &due.recipient, expires).sign(key);
        format!("{base}/api/v1/links/{token}")
    };
    let shown = &due.items[..due.items.len().min(MAX_ITEMS)];
    let mut text = format!(
        "{} message(s) for {} are held in the quarantine of {hostname}.\n\
         Each link below works once, for {} days.\n\n",
        due.items.len(),
        due.recipient,
        LINK_LIFETIME_SECS / 86_400
    );
    let mut html = format!(
        "<html><body><p>{} message(s) for {} are held in the quarantine of {}. \
         Each link works once, for {} days.</p>\n<table>\n\
         <tr><th>From</th><th>Subject</th><th>Why</th><th></th></tr>\n",
        due.items.len(),
        escape(&due.recipient),
        escape(hostname),
        LINK_LIFETIME_SECS / 86_400
    );
    for item in shown {
        let (release, block) = (
            link(LinkAction::Release, item),
            link(LinkAction::BlockSender, item),
        );
        let why = why(item);
        text.push_str(&format!(
            "From:    {}\nSubject: {}\nWhy:     {why}\nRelease: {release}\nBlock the sender: {block}\n\n",
            clean(&item.sender),
            clean(&item.subject),
        ));
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td>\
             <td><a href=\"{}\">Release</a> <a href=\"{}\">Block sender</a></td></tr>\n",
            escape(&item.sender),
            escape(&item.subject),
            escape(&why),
            escape(&release),
            escape(&block)
        ));
    }
    if due.items.len() > shown.len() {
        let more = due.items.len() - shown.len();
        text.push_str(&format!("... and {more} more in the quarantine.\n"));
        html.push_str(&format!(
            "<tr><td colspan=\"4\">... and {more} more in the quarantine.</td></tr>\n"
        ));
    }
    html.push_str("</table></body></html>\n");
    let postmaster = format!("postmaster@{hostname}");
    mail_builder::MessageBuilder::new()
        .from(("Mail filter", postmaster.as_str()))
        .to(due.recipient.as_str())
        .subject(format!(
            "Quarantine digest: {} new message(s)",
            due.items.len()
        ))
        .header(
            "Auto-Submitted",
            mail_builder::headers::raw::Raw::new("auto-generated"),
        )
        .text_body(text)
        .html_body(html)
        .write_to_vec()
        .unwrap_or_default()
}

/// The reasons a user understands, without scores.
fn why(item: &QuarantineItem) -> String {
    let kind = match item.kind {
        model::api::QuarantineKind::Spam => "spam",
        model::api::QuarantineKind::Virus => "virus",
        model::api::QuarantineKind::Attachment => "attachment",
    };
    let reasons: Vec<&str> = item
        .reasons
        .iter()
        .take(3)
        .map(|r| r.split(" (").next().unwrap_or(r))
        .collect();
    clean(&format!("{kind}: {}", reasons.join(", ")))
}

/// A value for a text line: no control characters, bounded.
fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// A value for HTML text or an attribute.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in clean(s).chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::api::QuarantineKind;

    fn item(id: &str, subject: &str) -> QuarantineItem {
        QuarantineItem {
            id: id.into(),
            queue_id: None,
            message_id: None,
            client_ip: None,
            recipient: "user@y.test".into(),
            sender: "pest@nuisance.test".into(),
            subject: subject.into(),
            date: None,
            quarantined: 1_000,
            outbound: false,
            kind: QuarantineKind::Spam,
            score: 9.0,
            reasons: vec!["CLASSIFIER (+4.0)".into(), "URI_NUMERIC_IP (+1.0)".into()],
            size: 10,
        }
    }

    #[test]
    fn the_digest_lists_each_message_with_working_links_and_escapes_html() {
        let key = [3u8; 32];
        let due = DueDigest {
            recipient: "user@y.test".into(),
            items: vec![item("q1", "<script>x</script> offer"), item("q2", "Hello")],
        };
        let raw = build(&due, "box.test", "https://box.test:8443/", &key, 1_000_000);
        let text = String::from_utf8_lossy(&raw);
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(
            parsed.subject(),
            Some("Quarantine digest: 2 new message(s)")
        );
        let html = parsed.body_html(0).unwrap();
        assert!(
            html.contains("&lt;script&gt;x&lt;/script&gt; offer"),
            "{html}"
        );
        assert!(!html.contains("<script>"));
        let body = parsed.body_text(0).unwrap();
        assert!(
            body.contains("Why:     spam: CLASSIFIER, URI_NUMERIC_IP"),
            "{body}"
        );
        let tokens: Vec<&str> = body
            .lines()
            .filter_map(|l| l.split("https://box.test:8443/api/v1/links/").nth(1))
            .collect();
        assert_eq!(tokens.len(), 4, "{body}");
        let first = Link::verify(&key, tokens[0], 1_000).unwrap();
        assert_eq!(
            (first.action, first.id.as_str(), first.recipient.as_str()),
            (LinkAction::Release, "q1", "user@y.test")
        );
        assert_eq!(
            Link::verify(&key, tokens[3], 1_000).unwrap().action,
            LinkAction::BlockSender
        );
        assert!(text.contains("Auto-Submitted: auto-generated"));
    }
}
