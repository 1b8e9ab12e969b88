//! The EHLO keywords this client acts on.

/// What the server advertised in its EHLO reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Capabilities {
    /// PIPELINING (RFC 2920): MAIL, RCPT and DATA may be sent in one write.
    pub(crate) pipelining: bool,
    /// 8BITMIME (RFC 6152): `BODY=8BITMIME` may be declared.
    pub(crate) eight_bit_mime: bool,
    /// SIZE (RFC 1870): `Some(0)` when advertised without a fixed limit.
    pub(crate) size: Option<u64>,
    /// STARTTLS (RFC 3207): the connection can be encrypted.
    pub(crate) starttls: bool,
    /// SMTPUTF8 (RFC 6531): UTF-8 addresses and headers may be sent.
    pub(crate) smtputf8: bool,
    /// DSN (RFC 3461): RET, ENVID, NOTIFY and ORCPT may be given.
    pub(crate) dsn: bool,
}

impl Capabilities {
    /// Reads the keywords from the text of a positive EHLO reply; the first
    /// line is the server's greeting and is skipped.
    pub(crate) fn from_ehlo_text(text: &str) -> Self {
        let mut caps = Capabilities::default();
        for line in text.split('\n').skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            if keyword.eq_ignore_ascii_case("PIPELINING") {
                caps.pipelining = true;
            } else if keyword.eq_ignore_ascii_case("8BITMIME") {
                caps.eight_bit_mime = true;
            } else if keyword.eq_ignore_ascii_case("STARTTLS") {
                caps.starttls = true;
            } else if keyword.eq_ignore_ascii_case("SMTPUTF8") {
                caps.smtputf8 = true;
            } else if keyword.eq_ignore_ascii_case("DSN") {
                caps.dsn = true;
            } else if keyword.eq_ignore_ascii_case("SIZE") {
                let limit = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
                caps.size = Some(limit);
            }
        }
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_recognised_case_insensitively() {
        let caps = Capabilities::from_ehlo_text(
            "mx.test hello\npipelining\nSIZE 10240000\n8BITMIME\nDSN\nstarttls\nsmtputf8",
        );
        assert_eq!(
            caps,
            Capabilities {
                pipelining: true,
                eight_bit_mime: true,
                size: Some(10_240_000),
                starttls: true,
                smtputf8: true,
                dsn: true,
            }
        );
    }

    #[test]
    fn size_without_a_number_means_no_fixed_limit() {
        assert_eq!(Capabilities::from_ehlo_text("mx\nSIZE").size, Some(0));
    }

    #[test]
    fn the_greeting_line_is_not_a_keyword() {
        assert_eq!(
            Capabilities::from_ehlo_text("PIPELINING host says hi"),
            Capabilities::default()
        );
    }
}
