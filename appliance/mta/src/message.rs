//! The header section of a stored message, edited without touching the body.
//!
//! The mta prepends its `Received:` field, the milter adds, inserts, changes
//! and deletes fields, tracking reads `Message-ID` and `X-Spam-Status`, and
//! bounces quote the original header. All of that works on raw bytes: every
//! field keeps its exact spelling and folding, the body is never parsed, so
//! what is delivered is byte for byte what was received plus the edits.
//!
//! Messages reaching this module use CRLF line ends only (the session
//! normalises bare CR and LF).

/// One header field as it appears on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The field name as written.
    pub name: String,
    /// The whole field: name, colon, value, folded lines, final CRLF.
    pub raw: Vec<u8>,
}

impl Field {
    /// A field from a name and a value that may be folded with LF or CRLF
    /// (as milters send them); continuation lines always start with
    /// whitespace so a value can never smuggle in a second field.
    pub fn new(name: &str, value: &str) -> Field {
        let mut raw = format!("{name}:").into_bytes();
        let value = value.replace("\r\n", "\n").replace('\r', "\n");
        for (i, line) in value.split('\n').enumerate() {
            if i > 0 {
                raw.extend_from_slice(b"\r\n");
                if !line.starts_with([' ', '\t']) {
                    raw.push(b'\t');
                }
            } else if !line.is_empty() && !line.starts_with([' ', '\t']) {
                raw.push(b' ');
            }
            raw.extend_from_slice(line.as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        Field {
            name: name.to_string(),
            raw,
        }
    }

    /// The value as a milter sees it: folding kept as LF, no final line
    /// end, and leading whitespace removed unless the milter asked for it
    /// (SMFIP_HDR_LEADSPC, to rebuild the field byte for byte).
    pub fn milter_value(&self, leading_space: bool) -> String {
        let value = &self.raw[self.name.len() + 1..];
        let value = value.strip_suffix(b"\r\n").unwrap_or(value);
        let value = String::from_utf8_lossy(value).replace("\r\n", "\n");
        if leading_space {
            value
        } else {
            value.trim_start_matches([' ', '\t']).to_string()
        }
    }

    /// The value unfolded and trimmed, for reading (`Message-ID`, `Subject`).
    pub fn unfolded(&self) -> String {
        self.milter_value(false)
            .split('\n')
            .map(|l| l.trim_matches([' ', '\t']))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A message split into its header fields and its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The header fields in order.
    pub fields: Vec<Field>,
    /// Everything after the empty line that ends the header section.
    pub body: Vec<u8>,
}

impl Message {
    /// Splits `bytes`; a line that is neither a field nor a continuation
    /// ends the header section (it then starts the body).
    pub fn parse(bytes: &[u8]) -> Message {
        let mut fields: Vec<Field> = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            let end = find_crlf(&bytes[pos..]).map_or(bytes.len(), |i| pos + i + 2);
            let line = &bytes[pos..end];
            if line == b"\r\n" {
                pos = end;
                break;
            }
            if line[0] == b' ' || line[0] == b'\t' {
                match fields.last_mut() {
                    Some(f) => f.raw.extend_from_slice(line),
                    None => break,
                }
            } else if let Some(name) = field_name(line) {
                fields.push(Field {
                    name,
                    raw: line.to_vec(),
                });
            } else {
                break;
            }
            pos = end;
        }
        Message {
            fields,
            body: bytes[pos..].to_vec(),
        }
    }

    /// The message as bytes: fields, the empty separator line, the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 4096);
        for f in &self.fields {
            out.extend_from_slice(&f.raw);
            if !f.raw.ends_with(b"\r\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    /// The first field called `name` (case-insensitive), unfolded.
    pub fn first(&self, name: &str) -> Option<String> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .map(Field::unfolded)
    }

    /// `Message-ID` without angle brackets.
    pub fn message_id(&self) -> Option<String> {
        self.first("Message-ID")
            .map(|v| {
                v.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
            .filter(|v| !v.is_empty())
    }

    /// Changes the `index`-th (1-based) field called `name`; an empty value
    /// deletes it. Returns false when there is no such field.
    pub fn change(&mut self, name: &str, index: u32, value: &str) -> bool {
        let position = self
            .fields
            .iter()
            .enumerate()
            .filter(|(_, f)| f.name.eq_ignore_ascii_case(name))
            .nth(index.saturating_sub(1) as usize)
            .map(|(i, _)| i);
        match position {
            Some(i) if value.is_empty() => {
                self.fields.remove(i);
                true
            }
            Some(i) => {
                let name = self.fields[i].name.clone();
                self.fields[i] = Field::new(&name, value);
                true
            }
            None => false,
        }
    }

    /// Inserts a field at `index` (0 = first), or appends past the end.
    pub fn insert(&mut self, index: usize, field: Field) {
        let index = index.min(self.fields.len());
        self.fields.insert(index, field);
    }
}

fn find_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

/// The field name of a header line, if it is one (RFC 5322 ftext before `:`).
fn field_name(line: &[u8]) -> Option<String> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = &line[..colon];
    let valid = !name.is_empty() && name.iter().all(|&b| (33..=126).contains(&b));
    valid.then(|| String::from_utf8_lossy(name).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &[u8] = b"Subject: hello\r\n  world\r\nX-A: 1\r\nx-a: 2\r\nMessage-ID: <m1@x.test>\r\n\r\nbody\r\n\r\nmore\r\n";

    #[test]
    fn round_trips_byte_for_byte() {
        let m = Message::parse(RAW);
        assert_eq!(m.fields.len(), 4);
        assert_eq!(m.body, b"body\r\n\r\nmore\r\n");
        assert_eq!(m.to_bytes(), RAW);
        assert_eq!(m.first("subject").unwrap(), "hello world");
        assert_eq!(m.message_id().unwrap(), "m1@x.test");
        assert_eq!(m.fields[0].milter_value(false), "hello\n  world");
        assert_eq!(m.fields[0].milter_value(true), " hello\n  world");
    }

    #[test]
    fn change_and_delete_by_per_name_index() {
        let mut m = Message::parse(RAW);
        assert!(m.change("X-A", 2, "two"));
        assert!(m.change("x-a", 1, ""));
        assert!(!m.change("X-A", 2, "none"));
        let text = String::from_utf8(m.to_bytes()).unwrap();
        assert!(
            text.contains("x-a: two\r\n") && !text.contains("X-A: 1"),
            "{text}"
        );
    }

    #[test]
    fn folded_values_cannot_inject_fields() {
        let f = Field::new("X-Spam-Status", "No, score=1\nX-Evil: yes");
        assert_eq!(f.raw, b"X-Spam-Status: No, score=1\r\n\tX-Evil: yes\r\n");
        let mut m = Message::parse(b"A: 1\r\n\r\nb\r\n");
        m.insert(0, Field::new("First", " kept space"));
        m.insert(99, f);
        assert_eq!(
            m.to_bytes(),
            b"First: kept space\r\nA: 1\r\nX-Spam-Status: No, score=1\r\n\tX-Evil: yes\r\n\r\nb\r\n"
        );
    }

    #[test]
    fn a_message_without_header_gets_a_separator() {
        let mut m = Message::parse(b"just text\r\n");
        assert!(m.fields.is_empty());
        m.insert(0, Field::new("Received", "from x"));
        assert_eq!(m.to_bytes(), b"Received: from x\r\n\r\njust text\r\n");
    }
}
