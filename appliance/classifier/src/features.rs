//! A message as the model sees it: hashed tokens from the words, links and
//! the headers the sender wrote, and the [`Rule`]s it breaks.
//!
//! Of the headers added on the way only the hosts and software of
//! `Received` are read, never their dates; Delivered-To, Return-Path, any
//! `X-Spam-*` and the mailbox's own headers (Delivery-Date, X-Keywords,
//! Status) are not read: they describe the receiving site, and a model
//! that learned them would learn the site it was trained at. The headers
//! the sender's software wrote are read whole: their order, their values'
//! words and the shapes of their values (see `shape`).

use std::collections::HashSet;

use mail_parser::{
    Addr, Address, Encoding, HeaderName, Message, MessageParser, MimeHeaders, PartType,
};

use crate::html::{self, truncate};
use crate::rules::Rule;

/// Log2 of the number of token buckets in a model.
pub const TOKEN_BITS: u32 = 19;

/// Token buckets in a model.
pub const TOKEN_BUCKETS: usize = 1 << TOKEN_BITS;

/// Most text bytes read per message: spam says what it has to early.
const MAX_TEXT: usize = 128 * 1024;

/// Longest token kept as itself; longer ones count only by their length.
const MAX_TOKEN_CHARS: usize = 24;

/// Tokens that are artefacts of how the SpamAssassin corpus was published
/// (its addresses were rewritten to these), not of the mail itself.
const CORPUS_ARTEFACTS: &[&str] = &["yyyy", "zzzz", "taint", "netnoteinc", "jmason"];

/// What the model reads of one message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// Distinct token buckets, sorted.
    pub tokens: Vec<u32>,
    /// Rules broken, in [`Rule::ALL`] order.
    pub rules: Vec<Rule>,
}

/// Reads `message` (headers, empty line, body). An mbox `From ` line in
/// front is skipped. Never fails: what does not parse yields fewer tokens.
pub fn features(message: &[u8]) -> Features {
    let message = crate::corpus::strip_mbox_line(message);
    match MessageParser::new().parse(message) {
        Some(m) => features_of(&m, message),
        None => {
            let mut x = Extractor::default();
            x.text(
                &String::from_utf8_lossy(truncate_bytes(message, MAX_TEXT)),
                "w",
            );
            x.finish()
        }
    }
}

/// Reads a message already parsed from `raw`, so that a caller that
/// parsed it for other checks does not parse it twice.
pub fn features_of(parsed: &Message<'_>, raw: &[u8]) -> Features {
    let mut x = Extractor::default();
    x.message(parsed, raw);
    x.finish()
}

fn memchr(b: u8, s: &[u8]) -> Option<usize> {
    s.iter().position(|&c| c == b)
}

fn truncate_bytes(s: &[u8], max: usize) -> &[u8] {
    &s[..s.len().min(max)]
}

#[derive(Default)]
struct Extractor {
    tokens: HashSet<u32>,
    rules: HashSet<Rule>,
    text_bytes: usize,
    letters: usize,
    capitals: usize,
    money: usize,
    links: HashSet<String>,
}

impl Extractor {
    fn finish(mut self) -> Features {
        if self.letters >= 200 && self.capitals * 3 > self.letters {
            self.rules.insert(Rule::BodyShouting);
        }
        if self.money >= 3 {
            self.rules.insert(Rule::BodyMoney);
        }
        if self.links.len() >= 20 {
            self.rules.insert(Rule::UriMany);
        }
        let mut tokens: Vec<u32> = self.tokens.into_iter().collect();
        tokens.sort_unstable();
        let rules = Rule::ALL
            .iter()
            .copied()
            .filter(|r| self.rules.contains(r))
            .collect();
        Features { tokens, rules }
    }

    fn add(&mut self, prefix: &str, token: &str) {
        self.tokens.insert(bucket(prefix, token));
    }

    fn rule(&mut self, rule: Rule) {
        self.rules.insert(rule);
    }

    fn message(&mut self, m: &Message<'_>, raw: &[u8]) {
        self.headers(m, raw);
        let mut has_plain = false;
        let mut has_html = false;
        for part in &m.parts {
            let charset = part
                .content_type()
                .and_then(|ct| ct.attribute("charset"))
                .map(|c| c.to_ascii_lowercase());
            if let Some(cs) = &charset {
                self.add("cs", cs);
                if [
                    "gb2312",
                    "gbk",
                    "big5",
                    "ks_c_5601",
                    "euc-kr",
                    "iso-2022-jp",
                    "shift_jis",
                    "euc-jp",
                ]
                .iter()
                .any(|a| cs.starts_with(a))
                {
                    self.rule(Rule::CharsetAsian);
                }
            }
            if let Some(ct) = part.content_type() {
                let t = format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or(""));
                self.add("ct", &t.to_ascii_lowercase());
            }
            let text_like = matches!(part.body, PartType::Text(_) | PartType::Html(_));
            if text_like && part.encoding == Encoding::Base64 {
                self.rule(Rule::TextBase64);
            }
            if let Some(name) = part.attachment_name() {
                if let Some((_, ext)) = name.rsplit_once('.') {
                    self.add("att", &ext.to_ascii_lowercase());
                }
            }
            match &part.body {
                PartType::Text(t) if part.attachment_name().is_none() => {
                    has_plain = true;
                    self.text(t, "w");
                }
                PartType::Html(h) => {
                    has_html = true;
                    self.html(h);
                }
                PartType::Message(inner) => self.text(inner.subject().unwrap_or(""), "s"),
                _ => {}
            }
        }
        if has_html && !has_plain {
            self.rule(Rule::HtmlOnly);
        }
        if !has_html && !has_plain {
            self.rule(Rule::NoText);
        }
    }

    fn headers(&mut self, m: &Message<'_>, raw: &[u8]) {
        let head = &raw[..find_head_end(raw).unwrap_or(raw.len())];
        if head.iter().any(|&b| b >= 0x80) {
            self.rule(Rule::Header8Bit);
        }
        // The hosts and software a message passed through, without the
        // date after the `;`: when a corpus was collected is no feature.
        for h in m
            .headers()
            .iter()
            .filter(|h| h.name == HeaderName::Received)
        {
            if let Some(v) = raw.get(h.offset_start as usize..h.offset_end as usize) {
                let t = String::from_utf8_lossy(v);
                let path = t.rsplit_once(';').map_or(&*t, |(p, _)| p).to_owned();
                self.text(&path, "r");
            }
        }
        let mut previous = String::from("(start)");
        for h in m.headers() {
            let name = h.name.as_str().to_ascii_lowercase();
            if ignored_header(&name) {
                continue;
            }
            self.add("h", &name);
            self.tokens.insert(bucket2("ho", &previous, &name));
            if !read_elsewhere(&name) {
                if let Some(v) = raw.get(h.offset_start as usize..h.offset_end as usize) {
                    let v = String::from_utf8_lossy(truncate_bytes(v, 512));
                    for w in words(&v).take(6) {
                        self.tokens.insert(bucket2("hv", &name, &w));
                    }
                }
            }
            previous = name;
        }
        self.header_shapes(m);
        match m.subject().map(str::trim) {
            None | Some("") => self.rule(Rule::SubjectMissing),
            Some(s) => {
                self.text(s, "s");
                let letters: Vec<char> = s.chars().filter(|c| c.is_alphabetic()).collect();
                if letters.len() >= 6 && letters.iter().all(|c| !c.is_lowercase()) {
                    self.rule(Rule::SubjectAllCaps);
                }
                if s.contains('!') {
                    self.rule(Rule::SubjectExclamation);
                }
                if has_money(s) || s.contains('%') {
                    self.rule(Rule::SubjectMoney);
                }
            }
        }
        let from = m.from().and_then(Address::first);
        let from_domain = from.and_then(addr_domain);
        if let Some(a) = from {
            if let Some(name) = &a.name {
                self.text(name, "fn");
                if name.contains('@') {
                    let same = a.address.as_deref().is_some_and(|addr| {
                        name.to_ascii_lowercase()
                            .contains(&addr.to_ascii_lowercase())
                    });
                    if !same {
                        self.rule(Rule::FromNameHasAddress);
                    }
                }
            } else {
                self.add("fn", "(none)");
            }
            if let Some(local) = a
                .address
                .as_deref()
                .and_then(|x| x.rsplit_once('@'))
                .map(|x| x.0)
            {
                if has_digit_run(local, 4) {
                    self.rule(Rule::FromDigits);
                }
            }
        }
        if let Some(d) = &from_domain {
            self.domain("fd", d);
        }
        if let Some(rd) = m.reply_to().and_then(Address::first).and_then(addr_domain) {
            self.domain("rd", &rd);
            if from_domain
                .as_deref()
                .is_some_and(|fd| base_domain(fd) != base_domain(&rd))
            {
                self.rule(Rule::ReplyToOtherDomain);
            }
        }
        match m.header(HeaderName::Date) {
            None => self.rule(Rule::DateMissing),
            Some(_) if m.date().is_none() => self.rule(Rule::DateMalformed),
            Some(_) => {}
        }
        match m.message_id() {
            None => self.rule(Rule::MessageIdMissing),
            Some(id) => match id.rsplit_once('@') {
                Some((_, d)) if d.contains('.') => self.domain("mid", &d.to_ascii_lowercase()),
                _ => self.rule(Rule::MessageIdOdd),
            },
        }
        let to_undisclosed = match m.to() {
            None => true,
            Some(to) => {
                let first = to.first();
                first.is_none_or(|a| a.address.is_none())
                    || first
                        .and_then(|a| a.name.as_deref())
                        .is_some_and(|n| n.to_ascii_lowercase().contains("undisclosed"))
            }
        };
        if to_undisclosed {
            self.rule(Rule::ToUndisclosed);
        }
        for name in ["X-Mailer", "User-Agent"] {
            if let Some(v) = m.header_raw(name) {
                for w in words(v).take(3) {
                    self.add("xm", &w);
                }
            }
        }
        if let Some(p) = m.header_raw("Precedence") {
            self.add("prec", &p.trim().to_ascii_lowercase());
        }
    }

    /// How the sender's software writes its headers: the shapes of the
    /// Message-ID, Date and MIME boundary, and the values of a few headers
    /// that mail programs set. Each program has its habits; spamware
    /// imitates them badly.
    fn header_shapes(&mut self, m: &Message<'_>) {
        if let Some(id) = m.header_raw("Message-ID") {
            let id = id.trim().trim_start_matches('<').trim_end_matches('>');
            let (local, domain) = id.rsplit_once('@').unwrap_or((id, ""));
            self.add("mids", &shape(local));
            let from = m.from().and_then(Address::first).and_then(addr_domain);
            let same = from.is_some_and(|f| {
                base_domain(&f).eq_ignore_ascii_case(base_domain(domain.trim_end_matches('>')))
            });
            self.add("midfrom", if same { "same" } else { "other" });
        }
        if let Some(date) = m.header_raw("Date") {
            self.add("dates", &shape(date.trim()));
            if let Some(zone) = date.split_whitespace().nth(5) {
                self.add("tz", &zone.to_ascii_lowercase());
            }
        }
        if let Some(ct) = m.header_raw("Content-Type") {
            let lower = ct.to_ascii_lowercase();
            if let Some(i) = lower.find("boundary=") {
                let b = ct[i + 9..].trim_start_matches('"');
                let end = b.find(['"', ';', '\r', '\n']).unwrap_or(b.len());
                self.add("bds", &shape(&b[..end]));
            }
        }
        for name in [
            "X-Priority",
            "X-MSMail-Priority",
            "Importance",
            "MIME-Version",
            "Content-Transfer-Encoding",
            "X-MimeOLE",
        ] {
            if let Some(v) = m.header_raw(name) {
                self.add(name, &shape(v.trim()));
            }
        }
        for name in ["X-Mailer", "User-Agent"] {
            if let Some(v) = m.header_raw(name) {
                self.add("xms", &shape(v.trim()));
            }
        }
    }

    fn domain(&mut self, prefix: &str, domain: &str) {
        if CORPUS_ARTEFACTS.iter().any(|a| domain.contains(a)) {
            return;
        }
        self.add(prefix, domain);
        self.add(prefix, base_domain(domain));
    }

    fn html(&mut self, source: &str) {
        let h = html::read(source);
        for tag in &h.tags {
            self.add("tag", tag);
        }
        if h.hidden_text {
            self.rule(Rule::HtmlHiddenText);
        }
        if h.numeric_entities >= 10 {
            self.rule(Rule::HtmlNumericEntities);
        }
        if h.active_content {
            self.rule(Rule::HtmlFormOrScript);
        }
        let visible = h.text.chars().filter(|c| c.is_alphanumeric()).count();
        if h.images > 0 && visible < 200 {
            self.rule(Rule::HtmlImagesLittleText);
        }
        for link in &h.links {
            if let Some(host) = url_host(&link.href) {
                let shown = link.text.trim().to_ascii_lowercase();
                if let Some(shown_host) = shown_url_host(&shown) {
                    if base_domain(&shown_host) != base_domain(&host) {
                        self.rule(Rule::UriTextMismatch);
                    }
                }
            }
            self.link(&link.href);
        }
        self.text(&h.text, "w");
    }

    fn link(&mut self, url: &str) {
        let lower = url.trim().to_ascii_lowercase();
        if let Some(scheme) = lower
            .split(':')
            .next()
            .filter(|s| s.len() < 8 && lower.contains(':'))
        {
            self.add("us", scheme);
        }
        let Some(host) = url_host(&lower) else { return };
        if authority(&lower).is_some_and(|a| a.contains('@')) {
            self.rule(Rule::UriUserinfo);
        }
        if host.parse::<std::net::Ipv4Addr>().is_ok() || host.chars().all(|c| c.is_ascii_digit()) {
            self.rule(Rule::UriNumericHost);
        } else {
            self.domain("u", &host);
        }
        if self.links.len() < 64 {
            self.links.insert(host);
        }
    }

    /// Word tokens of `text` under `prefix` (and word pairs but in the
    /// body), plus links in plain text and the counts behind the body
    /// rules.
    fn text(&mut self, text: &str, prefix: &str) {
        let room = MAX_TEXT.saturating_sub(self.text_bytes);
        let text = truncate(text, room);
        self.text_bytes += text.len();
        if prefix == "w" {
            for c in text.chars().filter(|c| c.is_alphabetic()) {
                self.letters += 1;
                if c.is_uppercase() {
                    self.capitals += 1;
                }
            }
            self.money += money_count(text);
            for word in text.split_whitespace() {
                let w = word
                    .trim_matches(|c: char| matches!(c, '<' | '>' | '"' | '(' | ')' | ',' | '\''));
                let lw = w.to_ascii_lowercase();
                if lw.starts_with("http://") || lw.starts_with("https://") || lw.starts_with("www.")
                {
                    let url = if lw.starts_with("www.") {
                        format!("http://{lw}")
                    } else {
                        lw
                    };
                    self.link(&url);
                }
            }
            if text.contains("!!!") {
                self.add("p", "!!!");
            }
        }
        // Word pairs of the body are mostly seen once: with a few thousand
        // messages to learn from they add noise, not evidence (spam caught
        // at 0.1% of ham flagged, cross-validated: 97.7% with them, 98.6%
        // without). In the short fields they name things.
        let pairs = prefix != "w";
        let bigram = format!("{prefix}2");
        let mut previous: Option<String> = None;
        for w in words(text) {
            if let Some(p) = previous.as_deref().filter(|_| pairs) {
                self.tokens.insert(bucket2(&bigram, p, &w));
            }
            self.add(prefix, &w);
            previous = Some(w);
        }
    }
}

/// The end of the header block: the offset of its empty line.
fn find_head_end(raw: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(nl) = memchr(b'\n', &raw[i..]) {
        let next = i + nl + 1;
        match raw.get(next) {
            Some(b'\n') => return Some(next),
            Some(b'\r') if raw.get(next + 1) == Some(&b'\n') => return Some(next),
            None => return None,
            _ => i = next,
        }
    }
    None
}

/// Headers the receiving side adds: its MTA, scanners and mailbox (the
/// delivery date, a client's status flags and keywords). They describe
/// where a message was collected, not what was sent.
fn ignored_header(name: &str) -> bool {
    name.starts_with("x-spam")
        || matches!(
            name,
            "received"
                | "delivered-to"
                | "return-path"
                | "x-original-to"
                | "envelope-to"
                | "x-loop"
                | "delivery-date"
                | "x-keywords"
                | "status"
                | "x-status"
                | "x-uid"
                | "x-mailscanner"
                | "x-virus-scanned"
                | "x-apparently-to"
                | "x-authentication-warning"
        )
}

/// Headers whose values are read on their own, or that name the
/// recipient or the receiving site rather than the sender.
fn read_elsewhere(name: &str) -> bool {
    matches!(
        name,
        "subject"
            | "from"
            | "to"
            | "cc"
            | "bcc"
            | "reply-to"
            | "date"
            | "message-id"
            | "x-mailer"
            | "user-agent"
            | "lines"
            | "content-length"
    )
}

/// Lowercase words of `text`: runs of letters and digits, with `$` kept
/// in front of amounts; numbers count by their length only, long runs
/// (hashes, base64) by their length only, corpus artefacts dropped.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || c == '$' || c == '\''))
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty() && *w != "$")
        .filter_map(|w| {
            let n = w.chars().count();
            if w.chars().all(|c| c.is_ascii_digit() || c == '$') {
                let money = if w.starts_with('$') { "$" } else { "" };
                return Some(format!("{money}#{}", n.min(12)));
            }
            if n == 1 {
                return None;
            }
            if n > MAX_TOKEN_CHARS {
                return Some(format!("long{}", (n / 8).min(10)));
            }
            let lower = w.to_lowercase();
            if CORPUS_ARTEFACTS.iter().any(|a| lower.contains(a)) {
                return None;
            }
            Some(lower)
        })
}

fn has_money(s: &str) -> bool {
    money_count(s) > 0
}

fn money_count(s: &str) -> usize {
    let b = s.as_bytes();
    b.windows(2)
        .filter(|w| matches!(w[0], b'$' | 0xa3) && w[1].is_ascii_digit())
        .count()
}

fn has_digit_run(s: &str, n: usize) -> bool {
    let mut run = 0;
    for c in s.chars() {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        if run >= n {
            return true;
        }
    }
    false
}

fn addr_domain(a: &Addr<'_>) -> Option<String> {
    a.address
        .as_deref()
        .and_then(|x| x.rsplit_once('@'))
        .map(|(_, d)| d.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
}

/// The shape of a header value: each run of letters and digits as a class
/// (`9` digits, `x` hex mixing both, `a`/`A`/`Aa` by case, `m` other
/// mixes, `w` a word of a known mail vocabulary kept as itself), other
/// characters as themselves; at most 32 classes.
fn shape(value: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let mut classes = 0;
    let flush = |run: &mut String, out: &mut String| {
        if !run.is_empty() {
            out.push_str(run_class(run));
            run.clear();
        }
    };
    for c in value.chars() {
        if classes >= 32 {
            break;
        }
        if c.is_alphanumeric() {
            run.push(c);
            continue;
        }
        flush(&mut run, &mut out);
        classes += 1;
        if !c.is_whitespace() || !out.ends_with(' ') {
            out.push(if c.is_whitespace() { ' ' } else { c });
        }
    }
    flush(&mut run, &mut out);
    out
}

fn run_class(run: &str) -> &'static str {
    let digits = run.chars().filter(char::is_ascii_digit).count();
    let n = run.chars().count();
    if digits == n {
        return "9";
    }
    if digits > 0 && run.chars().all(|c| c.is_ascii_hexdigit()) {
        return "x";
    }
    if digits > 0 {
        return "m";
    }
    let upper = run.chars().filter(|c| c.is_uppercase()).count();
    match upper {
        0 => "a",
        u if u == n => "A",
        1 if run.chars().next().is_some_and(char::is_uppercase) => "Aa",
        _ => "m",
    }
}

/// The last two labels of a domain name (`mail.example.com` → `example.com`).
pub fn base_domain(domain: &str) -> &str {
    let mut dots = domain.rmatch_indices('.');
    dots.next();
    match dots.next() {
        Some((i, _)) => &domain[i + 1..],
        None => domain,
    }
}

fn authority(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    Some(&rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())])
}

/// The lowercase host of an absolute URL.
fn url_host(url: &str) -> Option<String> {
    let auth = authority(url)?;
    let host = auth.rsplit('@').next()?;
    let host = host.split(':').next()?.trim_end_matches('.');
    (!host.is_empty() && host.len() <= 253).then(|| host.to_ascii_lowercase())
}

/// The host a link's text shows, when it shows a URL or a bare domain.
fn shown_url_host(shown: &str) -> Option<String> {
    if shown.contains(char::is_whitespace) {
        return None;
    }
    if shown.contains("://") {
        return url_host(shown);
    }
    let host = shown.split('/').next()?;
    (host.starts_with("www.") && host.matches('.').count() >= 2).then(|| host.to_string())
}

/// The bucket of `token` under `prefix`: FNV-1a, then mixed.
pub fn bucket(prefix: &str, token: &str) -> u32 {
    let mut h = fnv(FNV_OFFSET, prefix.as_bytes());
    h = fnv(h, b":");
    h = fnv(h, token.as_bytes());
    fold(h)
}

fn bucket2(prefix: &str, a: &str, b: &str) -> u32 {
    let mut h = fnv(FNV_OFFSET, prefix.as_bytes());
    h = fnv(h, b":");
    h = fnv(h, a.as_bytes());
    h = fnv(h, b" ");
    h = fnv(h, b.as_bytes());
    fold(h)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn fold(mut h: u64) -> u32 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    (h >> (64 - TOKEN_BITS)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(m: &str) -> Vec<Rule> {
        features(m.as_bytes()).rules
    }

    #[test]
    fn header_rules() {
        let r = rules("From: \"paypal@bank.test\" <x1234@spam.test>\nReply-To: a@other.test\nSubject: FREE MONEY NOW!\n\nhello\n");
        for want in [
            Rule::FromNameHasAddress,
            Rule::FromDigits,
            Rule::ReplyToOtherDomain,
            Rule::SubjectAllCaps,
            Rule::SubjectExclamation,
            Rule::DateMissing,
            Rule::MessageIdMissing,
            Rule::ToUndisclosed,
        ] {
            assert!(r.contains(&want), "{want} missing from {r:?}");
        }
        let r = rules("From: Ann <ann@a.test>\nTo: bob@b.test\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <1@a.test>\nSubject: lunch?\n\nsee you\n");
        assert!(r.is_empty(), "{r:?}");
    }

    #[test]
    fn html_rules() {
        let m = "Subject: x\nContent-Type: text/html\n\n<a href=\"http://10.1.2.3/\">http://www.bank.test/</a><img src=a>";
        let r = rules(m);
        for want in [
            Rule::HtmlOnly,
            Rule::UriNumericHost,
            Rule::UriTextMismatch,
            Rule::HtmlImagesLittleText,
        ] {
            assert!(r.contains(&want), "{want} missing from {r:?}");
        }
    }

    #[test]
    fn tokens_are_stable_and_skip_dates_and_the_site() {
        let a = features(b"Received: from relay.example by mx.example; Mon, 1 Jan 2024\nDelivered-To: a@site\nSubject: Hello\n\nhello world\n");
        let b = features(b"From x@y Tue Feb 2\nReceived: from relay.example by mx.example; Tue, 2 Feb 2021\nDelivered-To: b@other\nSubject: Hello\n\nhello world\n");
        assert_eq!(a, b);
        assert!(a.tokens.contains(&bucket("w", "hello")));
        assert!(a.tokens.contains(&bucket("s", "hello")));
        assert!(a.tokens.contains(&bucket("r", "relay")));
        assert!(!a.tokens.contains(&bucket("h", "received")));
        assert!(!a.tokens.contains(&bucket("r", "jan")));
    }

    #[test]
    fn shapes_describe_how_software_writes() {
        assert_eq!(shape("00c701c200d9$a14bd540$5db8869f"), "x$x$x");
        assert_eq!(
            shape("Wed, 24 Jul 2002 11:09:22 -0700"),
            "Aa, 9 Aa 9 9:9:9 -9"
        );
        assert_eq!(shape("Microsoft Outlook, Build 10"), "Aa Aa, Aa 9");
        assert_eq!(shape("ab3Zq"), "m");
    }

    #[test]
    fn sender_headers_count_the_receiving_site_does_not() {
        let f = features(b"From: a@b.test\nX-Priority: 3 (Normal)\nList-Id: <users.b.test>\nX-Keywords: junk\nDelivery-Date: Mon, 1 Jan 2024\nSubject: x\n\nhi\n");
        assert!(f.tokens.contains(&bucket("X-Priority", "9 (Aa)")));
        assert!(f.tokens.contains(&bucket2("hv", "list-id", "users")));
        assert!(f.tokens.contains(&bucket2("ho", "x-priority", "list-id")));
        assert!(!f.tokens.contains(&bucket("h", "x-keywords")));
        assert!(!f.tokens.contains(&bucket2("hv", "x-keywords", "junk")));
        assert!(!f.tokens.contains(&bucket("h", "delivery-date")));
    }

    #[test]
    fn garbage_never_panics() {
        for m in [
            &b""[..],
            b"\xff\xfe",
            b"Content-Type: multipart/mixed; boundary=x\n\n--x\n--x--",
            b"<a href=",
            b"\n\n\n",
        ] {
            features(m);
        }
    }
}
