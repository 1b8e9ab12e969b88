//! The MIME parts of a parsed message, nested messages included, in
//! document order and after transfer decoding.
//!
//! The walk is iterative so that a message nested a thousand levels deep
//! costs heap, not stack.

use mail_parser::{Message, MessagePart, MimeHeaders, PartType};

/// Longest part label shown in reasons; file names come from the sender.
const MAX_LABEL_CHARS: usize = 100;

/// What a part holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartKind {
    /// `text/*`, decoded to UTF-8 from its charset.
    Text,
    /// Anything else, as decoded bytes.
    Binary,
    /// A multipart or a nested message: its children follow it.
    Container,
}

/// One MIME part as checks see it.
#[derive(Clone, Debug)]
pub struct Part<'a> {
    /// 1-based position in document order over all parts.
    pub index: usize,
    /// Content-Disposition `filename` or Content-Type `name`, RFC 2231 and
    /// RFC 2047 decoded.
    pub name: Option<&'a str>,
    /// What [`Part::content`] holds.
    pub kind: PartKind,
    /// The decoded content; empty for containers.
    pub content: &'a [u8],
}

impl Part<'_> {
    /// How reasons name this part: its file name (control characters
    /// replaced, shortened), else `part N`.
    pub fn label(&self) -> String {
        match self.name {
            Some(n) if !n.trim().is_empty() => sanitize(n),
            _ => format!("part {}", self.index),
        }
    }
}

/// Makes a sender-chosen name safe for logs and headers.
pub fn sanitize(name: &str) -> String {
    name.chars()
        .take(MAX_LABEL_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Every part of `message`, depth first in document order.
pub fn parts<'m>(message: &'m Message<'m>) -> impl Iterator<Item = Part<'m>> {
    let mut stack = vec![message.parts.iter()];
    let mut index = 0;
    std::iter::from_fn(move || loop {
        let iter = stack.last_mut()?;
        let Some(part) = iter.next() else {
            stack.pop();
            continue;
        };
        if let PartType::Message(nested) = &part.body {
            stack.push(nested.parts.iter());
        }
        index += 1;
        return Some(describe(part, index));
    })
}

fn describe<'m>(part: &'m MessagePart<'m>, index: usize) -> Part<'m> {
    let (kind, content): (PartKind, &[u8]) = match &part.body {
        PartType::Text(t) | PartType::Html(t) => (PartKind::Text, t.as_bytes()),
        PartType::Binary(b) | PartType::InlineBinary(b) => (PartKind::Binary, b),
        PartType::Message(_) | PartType::Multipart(_) => (PartKind::Container, b""),
    };
    Part {
        index,
        name: part.attachment_name(),
        kind,
        content,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    #[test]
    fn walks_nested_messages_in_order() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nouter\r\n\
--b\r\nContent-Type: message/rfc822\r\n\r\n\
Subject: inner\r\nContent-Type: application/octet-stream; name=\"in.bin\"\r\n\r\ninner\r\n\
--b--\r\n";
        let m = MessageParser::new().parse(raw).unwrap();
        let got: Vec<_> = parts(&m)
            .map(|p| (p.index, p.kind, p.label(), p.content.to_vec()))
            .collect();
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[1].2, "part 2");
        assert_eq!(got[1].3, b"outer");
        assert_eq!(got[2].1, PartKind::Container);
        assert_eq!(got[3].2, "in.bin");
        assert!(got[3].3.starts_with(b"inner"));
    }

    #[test]
    fn labels_are_sanitized() {
        assert_eq!(sanitize("a\r\nb.exe"), "a??b.exe");
        assert_eq!(sanitize(&"x".repeat(500)).len(), MAX_LABEL_CHARS);
    }
}
