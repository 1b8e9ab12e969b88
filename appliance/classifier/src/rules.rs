//! Named rules: facts about a message that spam shows more often than ham.
//! Each is a feature of the model with its own learned weight, so its score
//! comes from the training corpus, not from a guess, and shows by name in
//! the verdict's reasons.

use std::fmt;

macro_rules! rules {
    ($($(#[doc = $doc:literal])* $name:ident => $label:literal,)*) => {
        /// One rule; see each variant.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Rule {
            $($(#[doc = $doc])* $name,)*
        }

        impl Rule {
            /// Every rule, in the order of their weights in the model file.
            pub const ALL: &'static [Rule] = &[$(Rule::$name,)*];

            /// The name shown in reasons, SpamAssassin style.
            pub fn name(self) -> &'static str {
                match self {
                    $(Rule::$name => $label,)*
                }
            }
        }
    };
}

rules! {
    /// The subject has words and not one lowercase letter.
    SubjectAllCaps => "SUBJ_ALL_CAPS",
    /// The subject has an exclamation mark.
    SubjectExclamation => "SUBJ_EXCLAIM",
    /// The subject names an amount of money or a percentage.
    SubjectMoney => "SUBJ_MONEY",
    /// No subject, or a blank one.
    SubjectMissing => "SUBJ_MISSING",
    /// The From display name holds an address other than the sender's.
    FromNameHasAddress => "FROM_NAME_ADDR",
    /// The local part of the From address has four digits in a row.
    FromDigits => "FROM_DIGITS",
    /// Replies go to another domain than the sender's.
    ReplyToOtherDomain => "REPLYTO_OTHER_DOMAIN",
    /// No Date header.
    DateMissing => "DATE_MISSING",
    /// A Date header that does not parse.
    DateMalformed => "DATE_MALFORMED",
    /// No Message-ID header.
    MessageIdMissing => "MSGID_MISSING",
    /// A Message-ID without a domain that has a dot.
    MessageIdOdd => "MSGID_ODD",
    /// No To header, or an "undisclosed recipients" one.
    ToUndisclosed => "TO_UNDISCLOSED",
    /// Unencoded 8-bit bytes in the header.
    Header8Bit => "HEADER_8BIT",
    /// HTML and no plain text alternative.
    HtmlOnly => "HTML_ONLY",
    /// Images with hardly any text.
    HtmlImagesLittleText => "HTML_IMAGE_ONLY",
    /// Text made invisible: white or tiny fonts, `display:none`.
    HtmlHiddenText => "HTML_HIDDEN_TEXT",
    /// Letters written as numeric entities to hide words.
    HtmlNumericEntities => "HTML_OBFUSCATED",
    /// HTML forms or scripts in mail.
    HtmlFormOrScript => "HTML_FORM_SCRIPT",
    /// A link to a numeric IP address.
    UriNumericHost => "URI_NUMERIC_IP",
    /// Link text showing one domain, the link going to another.
    UriTextMismatch => "URI_TEXT_MISMATCH",
    /// A link with `user@` before the host, to hide where it goes.
    UriUserinfo => "URI_USERINFO",
    /// Twenty or more distinct links.
    UriMany => "URI_MANY",
    /// A text part sent base64 encoded.
    TextBase64 => "TEXT_BASE64",
    /// No text at all, only other parts.
    NoText => "MIME_NO_TEXT",
    /// A charset of East Asian scripts.
    CharsetAsian => "CHARSET_ASIAN",
    /// Over a third of the body's letters are capitals.
    BodyShouting => "BODY_SHOUTING",
    /// Several amounts of money in the body.
    BodyMoney => "BODY_MONEY",
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
