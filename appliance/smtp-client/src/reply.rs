//! One SMTP reply, as the caller sees it.

use std::fmt;

/// A server reply (or a reply this client synthesised locally, whose text
/// then contains `(local`), kept whole so tracking can show exactly what the
/// remote said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code, 200..=599.
    pub code: u16,
    /// The text of all lines joined by `"\n"`, without the reply codes; the
    /// enhanced status code (e.g. `5.1.1`), when the server sent one, leads
    /// the first line.
    pub text: String,
}

impl Reply {
    /// Builds a reply; used for locally synthesised answers and in tests.
    pub fn new(code: u16, text: impl Into<String>) -> Self {
        Reply {
            code,
            text: text.into(),
        }
    }

    /// Builds a reply from smtp-proto's parsed form, putting the enhanced
    /// status code back in front of the text.
    pub(crate) fn from_response(response: smtp_proto::Response<String>) -> Self {
        let [class, subject, detail] = response.esc;
        let text = if class == 0 {
            response.message
        } else {
            format!("{class}.{subject}.{detail} {}", response.message)
        };
        Reply::new(response.code, text)
    }

    /// 2xx: the command succeeded.
    pub fn is_positive(&self) -> bool {
        self.code / 100 == 2
    }

    /// 4xx: refused for now; the same command may succeed later.
    pub fn is_transient(&self) -> bool {
        self.code / 100 == 4
    }

    /// 5xx: refused for good; retrying the same command is pointless.
    pub fn is_permanent(&self) -> bool {
        self.code / 100 == 5
    }
}

/// `250 2.0.0 Ok: queued as X`; the lines of a multi-line reply are joined
/// with `" / "` so the reply fits on one log or tracking line.
impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if self.text.is_empty() {
            return Ok(());
        }
        for (index, line) in self.text.split('\n').enumerate() {
            let separator = if index == 0 { " " } else { " / " };
            write!(f, "{separator}{line}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        let ok = Reply::new(250, "ok");
        let temp = Reply::new(451, "later");
        let perm = Reply::new(550, "no");
        assert!(ok.is_positive() && !ok.is_transient() && !ok.is_permanent());
        assert!(!temp.is_positive() && temp.is_transient() && !temp.is_permanent());
        assert!(!perm.is_positive() && !perm.is_transient() && perm.is_permanent());
        assert!(!Reply::new(354, "go").is_positive());
    }

    #[test]
    fn display_single_and_multi_line() {
        let single = Reply::new(250, "2.0.0 Ok: queued as X");
        assert_eq!(single.to_string(), "250 2.0.0 Ok: queued as X");
        let multi = Reply::new(550, "5.1.1 no such user\nsee the docs");
        assert_eq!(multi.to_string(), "550 5.1.1 no such user / see the docs");
        assert_eq!(Reply::new(250, "").to_string(), "250");
    }

    #[test]
    fn enhanced_code_leads_the_text() {
        let response = smtp_proto::Response {
            code: 550,
            esc: [5, 1, 1],
            message: "unknown\nreally".to_string(),
        };
        assert_eq!(
            Reply::from_response(response),
            Reply::new(550, "5.1.1 unknown\nreally")
        );
    }
}
