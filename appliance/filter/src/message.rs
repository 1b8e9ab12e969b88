//! What one milter connection learns, as a plain type fed the client's
//! events: connection facts, then per message the envelope, headers and body.
//!
//! No I/O here: [`crate::milter`] feeds it and turns its answers into milter
//! replies. Every buffer is capped; over a cap the answer says so and
//! nothing more is stored.

/// Largest message kept for scanning (headers plus body); a generous multiple
/// of any sane message size limit. Over it the message is tempfailed.
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// Most recipients kept per message; further ones are tempfailed (452).
pub const MAX_RECIPIENTS: usize = 1000;

/// Longest macro value kept (queue ids, host names, addresses).
const MAX_MACRO_VALUE: usize = 512;

/// Whether an event may go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Stored; carry on.
    Continue,
    /// [`MAX_MESSAGE_SIZE`] exceeded: tempfail the message.
    TooBig,
    /// [`MAX_RECIPIENTS`] exceeded: tempfail this recipient.
    TooManyRecipients,
}

/// One header field as the client sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderField {
    /// The field name, without the colon.
    pub name: Vec<u8>,
    /// The value after the colon: with its leading space when the client
    /// sends it (`SMFIP_HDR_LEADSPC`), folded lines joined by LF or CRLF.
    pub value: Vec<u8>,
}

/// A complete message, ready to scan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// The client's queue id (macro `i`).
    pub queue_id: Option<String>,
    /// The SMTP client's IP address.
    pub client_ip: Option<String>,
    /// The client's HELO/EHLO name.
    pub helo: Option<String>,
    /// Envelope sender without angle brackets; empty for the null sender.
    pub sender: String,
    /// Envelope recipients without angle brackets.
    pub recipients: Vec<String>,
    /// Header fields in the order received.
    pub headers: Vec<HeaderField>,
    /// The body as received (CRLF line ends).
    pub body: Vec<u8>,
    /// Whether header values carry the space after the colon.
    pub leading_space: bool,
    /// A customer's outbound mail (see [`crate::outbound`]).
    pub outbound: bool,
}

impl Message {
    /// The message as it arrived: `Name:value` lines (a space added after
    /// the colon when the client stripped it), folds and line ends as CRLF,
    /// the empty line, then the body.
    pub fn reconstruct(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size() + self.headers.len() * 4 + 2);
        for h in &self.headers {
            out.extend_from_slice(&h.name);
            out.push(b':');
            if !self.leading_space {
                out.push(b' ');
            }
            push_crlf(&mut out, &h.value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    /// The first value of header `name` (case-insensitive), unfolded and trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        let h = self
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name.as_bytes()))?;
        let text = String::from_utf8_lossy(&h.value);
        Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    /// The `X-Spam-*` fields that came from outside, as milter change-header
    /// deletions: (1-based index among fields of that name, name). Within a
    /// name the highest index comes first, so each deletion leaves the
    /// indexes still to delete unchanged whatever the client's semantics.
    pub fn foreign_spam_headers(&self) -> Vec<(u32, Vec<u8>)> {
        let mut seen: Vec<(Vec<u8>, u32)> = Vec::new();
        let mut out = Vec::new();
        for h in &self.headers {
            let lower = h.name.to_ascii_lowercase();
            let count = match seen.iter_mut().find(|(n, _)| *n == lower) {
                Some((_, c)) => {
                    *c += 1;
                    *c
                }
                None => {
                    seen.push((lower.clone(), 1));
                    1
                }
            };
            if lower.starts_with(b"x-spam-") {
                out.push((count, h.name.clone()));
            }
        }
        out.sort_by(|a, b| {
            let key = |x: &(u32, Vec<u8>)| x.1.to_ascii_lowercase();
            key(a).cmp(&key(b)).then(b.0.cmp(&a.0))
        });
        out
    }

    fn size(&self) -> usize {
        self.body.len()
            + self
                .headers
                .iter()
                .map(|h| h.name.len() + h.value.len() + 3)
                .sum::<usize>()
    }
}

/// Appends `value`, turning every LF not preceded by CR into CRLF.
fn push_crlf(out: &mut Vec<u8>, value: &[u8]) {
    let mut prev = 0u8;
    for &b in value {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
}

/// Per-connection state: facts about the SMTP client and the message in progress.
#[derive(Debug, Default)]
pub struct Connection {
    client_ip: Option<String>,
    helo: Option<String>,
    mta_name: Option<String>,
    leading_space: bool,
    current: Message,
    size: usize,
    too_big: bool,
}

impl Connection {
    /// A connection whose client sends header values with (`true`) or
    /// without their leading space, as negotiated.
    pub fn new(leading_space: bool) -> Connection {
        Connection {
            leading_space,
            ..Connection::default()
        }
    }

    /// Records what was negotiated about header values.
    pub fn set_leading_space(&mut self, leading_space: bool) {
        self.leading_space = leading_space;
    }

    /// The SMTP client's address from the connect event (IPv4/IPv6 only).
    pub fn on_connect(&mut self, ip: Option<String>) {
        if ip.is_some() {
            self.client_ip = ip;
        }
    }

    /// Macros: `i` queue id, `j` the client MTA's name, `{client_addr}`.
    pub fn on_macros<'a>(&mut self, macros: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) {
        for (name, value) in macros {
            let value = String::from_utf8_lossy(&value[..value.len().min(MAX_MACRO_VALUE)])
                .trim()
                .to_string();
            if value.is_empty() {
                continue;
            }
            match name {
                b"i" | b"{i}" => self.current.queue_id = Some(value),
                b"j" | b"{j}" => self.mta_name = Some(value),
                b"{client_addr}" if self.client_ip.is_none() => self.client_ip = Some(value),
                name if crate::outbound::is_outbound_macro(name) => self.current.outbound = true,
                _ => {}
            }
        }
    }

    /// `HELO`/`EHLO`: the name the SMTP client gave (capped like a macro).
    pub fn on_helo(&mut self, name: &str) {
        let mut cut = name.len().min(MAX_MACRO_VALUE);
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        self.helo = Some(name[..cut].trim().to_string()).filter(|n| !n.is_empty());
    }

    /// The SMTP client's HELO name, when it sent one.
    pub fn helo(&self) -> Option<&str> {
        self.helo.as_deref()
    }

    /// The envelope sender of the message in progress (empty: null sender).
    pub fn sender(&self) -> &str {
        &self.current.sender
    }

    /// Whether the message in progress is a customer's outbound mail.
    pub fn is_outbound(&self) -> bool {
        self.current.outbound
    }

    /// The client MTA's name (macro `j`), for logs.
    pub fn mta_name(&self) -> Option<&str> {
        self.mta_name.as_deref()
    }

    /// The SMTP client's IP address.
    pub fn client_ip(&self) -> Option<&str> {
        self.client_ip.as_deref()
    }

    /// The queue id of the message in progress, when known.
    pub fn queue_id(&self) -> Option<&str> {
        self.current.queue_id.as_deref()
    }

    /// `MAIL FROM`: the sender, with or without angle brackets.
    pub fn on_mail(&mut self, sender: &str) {
        self.current.sender = strip_brackets(sender);
    }

    /// `RCPT TO`.
    pub fn on_rcpt(&mut self, recipient: &str) -> Flow {
        if self.current.recipients.len() >= MAX_RECIPIENTS {
            return Flow::TooManyRecipients;
        }
        self.current.recipients.push(strip_brackets(recipient));
        Flow::Continue
    }

    /// One header field.
    pub fn on_header(&mut self, name: &[u8], value: &[u8]) -> Flow {
        if !self.reserve(name.len() + value.len() + 3) {
            return Flow::TooBig;
        }
        self.current.headers.push(HeaderField {
            name: name.to_vec(),
            value: value.to_vec(),
        });
        Flow::Continue
    }

    /// One body chunk.
    pub fn on_body(&mut self, chunk: &[u8]) -> Flow {
        if !self.reserve(chunk.len()) {
            return Flow::TooBig;
        }
        self.current.body.extend_from_slice(chunk);
        Flow::Continue
    }

    /// End of message: hands over the message and starts afresh.
    pub fn finish(&mut self) -> Result<Message, Flow> {
        let too_big = self.too_big;
        let mut message = self.take();
        if too_big {
            return Err(Flow::TooBig);
        }
        message.client_ip = self.client_ip.clone();
        message.helo = self.helo.clone();
        message.leading_space = self.leading_space;
        Ok(message)
    }

    /// Abort: forgets the message in progress, keeps the connection facts.
    pub fn reset(&mut self) {
        self.take();
    }

    fn take(&mut self) -> Message {
        self.size = 0;
        self.too_big = false;
        std::mem::take(&mut self.current)
    }

    fn reserve(&mut self, n: usize) -> bool {
        if self.too_big || self.size.saturating_add(n) > MAX_MESSAGE_SIZE {
            self.too_big = true;
            self.current.headers = Vec::new();
            self.current.body = Vec::new();
            return false;
        }
        self.size += n;
        true
    }
}

fn strip_brackets(addr: &str) -> String {
    let a = addr.trim();
    a.strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(a)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn_with(headers: &[(&str, &str)], leading_space: bool) -> Connection {
        let mut c = Connection::new(leading_space);
        c.on_mail("<a@example.test>");
        assert_eq!(c.on_rcpt("<b@example.test>"), Flow::Continue);
        for (n, v) in headers {
            assert_eq!(c.on_header(n.as_bytes(), v.as_bytes()), Flow::Continue);
        }
        c
    }

    #[test]
    fn reconstructs_with_and_without_leading_space() {
        let mut c = conn_with(
            &[("Subject", " hi"), ("X-Folded", " a\n\tb"), ("Empty", "")],
            true,
        );
        c.on_body(b"body\r\n");
        let m = c.finish().unwrap();
        assert_eq!(
            m.reconstruct(),
            b"Subject: hi\r\nX-Folded: a\r\n\tb\r\nEmpty:\r\n\r\nbody\r\n"
        );
        assert_eq!(
            (m.sender.as_str(), m.recipients[0].as_str()),
            ("a@example.test", "b@example.test")
        );

        let mut c = conn_with(&[("Subject", "hi"), ("X-Crlf", "a\r\n b")], false);
        let m = c.finish().unwrap();
        assert_eq!(m.reconstruct(), b"Subject: hi\r\nX-Crlf: a\r\n b\r\n\r\n");
    }

    #[test]
    fn macros_and_connect_facts() {
        let mut c = Connection::new(true);
        c.on_macros([
            (&b"j"[..], &b"mx.example.test"[..]),
            (b"{client_addr}", b"192.0.2.7"),
        ]);
        assert_eq!(c.client_ip(), Some("192.0.2.7"));
        c.on_connect(Some("192.0.2.8".into()));
        c.on_macros([(&b"i"[..], &b"4ABC"[..])]);
        let m = c.finish().unwrap();
        assert_eq!(m.queue_id.as_deref(), Some("4ABC"));
        assert_eq!(m.client_ip.as_deref(), Some("192.0.2.8"));
        assert_eq!(c.mta_name(), Some("mx.example.test"));
        assert_eq!(c.queue_id(), None, "the queue id belongs to one message");
    }

    #[test]
    fn foreign_spam_headers_are_indexed_per_name_highest_first() {
        let c = conn_with(
            &[
                ("X-Spam-Status", " Yes"),
                ("Subject", " s"),
                ("x-spam-status", " No"),
                ("X-Spam-Score", " 9"),
                ("X-Spamish", " keep"),
            ],
            true,
        );
        let m = c.current.clone();
        assert_eq!(
            m.foreign_spam_headers(),
            vec![
                (1, b"X-Spam-Score".to_vec()),
                (2, b"x-spam-status".to_vec()),
                (1, b"X-Spam-Status".to_vec()),
            ]
        );
    }

    #[test]
    fn header_lookup_unfolds() {
        let c = conn_with(&[("DATE", " Mon, 1 Jan\n\t2024 00:00 +0000 ")], true);
        assert_eq!(
            c.current.header("date").as_deref(),
            Some("Mon, 1 Jan 2024 00:00 +0000")
        );
    }

    #[test]
    fn oversize_messages_are_refused_then_forgotten() {
        let mut c = conn_with(&[], true);
        let chunk = vec![b'x'; 65535];
        let mut flow = Flow::Continue;
        while flow == Flow::Continue {
            flow = c.on_body(&chunk);
        }
        assert_eq!(flow, Flow::TooBig);
        assert!(c.current.body.is_empty(), "nothing more is kept");
        assert_eq!(c.on_header(b"a", b"b"), Flow::TooBig);
        assert_eq!(c.finish(), Err(Flow::TooBig));
        c.on_mail("<>");
        assert_eq!(
            c.on_body(b"ok"),
            Flow::Continue,
            "the next message starts afresh"
        );
        assert_eq!(c.finish().unwrap().sender, "");
    }

    #[test]
    fn recipients_are_capped() {
        let mut c = Connection::new(true);
        for i in 0..MAX_RECIPIENTS {
            assert_eq!(c.on_rcpt(&format!("<r{i}@x.test>")), Flow::Continue);
        }
        assert_eq!(c.on_rcpt("<one@too.many>"), Flow::TooManyRecipients);
        c.reset();
        assert_eq!(c.on_rcpt("<r@x.test>"), Flow::Continue);
    }
}
