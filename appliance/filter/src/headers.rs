//! The `X-Spam-*` headers the filter writes on clean mail.
//!
//! Values are written as milter header values: folded lines separated by LF
//! (the client turns them into CRLF), with a leading space only when the
//! client sends and expects one (`SMFIP_HDR_LEADSPC`).

use crate::engine::Verdict;

/// Name of the score header.
pub const SCORE_HEADER: &str = "X-Spam-Score";

/// Name of the status header.
pub const STATUS_HEADER: &str = "X-Spam-Status";

/// Name of the header that marks tagged spam (`YES`).
pub const FLAG_HEADER: &str = "X-Spam-Flag";

/// What tagged spam's subject starts with.
pub const SUBJECT_TAG: &str = "[SPAM]";

/// Prefix of every header the filter owns; incoming ones are removed.
pub const OWN_PREFIX: &str = "X-Spam-";

/// Column at which `X-Spam-Status` is folded (RFC 5322 recommends 78).
pub const FOLD_AT: usize = 78;

/// `X-Spam-Score` value, e.g. `0.0`.
pub fn score_value(verdict: &Verdict, leading_space: bool) -> String {
    with_space(format!("{:.1}", verdict.score), leading_space)
}

/// A subject tagged as spam, once.
pub fn tagged_subject(subject: &str, leading_space: bool) -> String {
    let s = subject.trim_start();
    let tagged = if s.starts_with(SUBJECT_TAG) {
        s.to_string()
    } else {
        format!("{SUBJECT_TAG} {s}").trim_end().to_string()
    };
    with_space(tagged, leading_space)
}

/// `X-Spam-Status` value, e.g. `No, score=0.0 required=5.0 tests=NONE`;
/// `spam` says Yes; tests are the comma-separated reasons, folded before a
/// line passes [`FOLD_AT`] columns.
pub fn status_value(verdict: &Verdict, spam: bool, threshold: f64, leading_space: bool) -> String {
    let yes = if spam { "Yes" } else { "No" };
    let mut out = format!(
        "{yes}, score={:.1} required={threshold:.1} tests=",
        verdict.score
    );
    let mut column = STATUS_HEADER.len() + 2 + out.len();
    let none = ["NONE".to_string()];
    let tests = if verdict.reasons.is_empty() {
        &none[..]
    } else {
        &verdict.reasons[..]
    };
    for (i, test) in tests.iter().enumerate() {
        let piece = if i + 1 < tests.len() {
            format!("{test},")
        } else {
            test.clone()
        };
        if i > 0 && column + piece.len() > FOLD_AT {
            out.push_str("\n\t");
            column = 1;
        }
        column += piece.len();
        out.push_str(&piece);
    }
    with_space(out, leading_space)
}

fn with_space(value: String, leading_space: bool) -> String {
    if leading_space {
        format!(" {value}")
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Class;

    fn verdict(reasons: &[&str], score: f64) -> Verdict {
        Verdict {
            class: Class::Clean,
            score,
            reasons: reasons.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn clean_values() {
        let v = verdict(&[], 0.0);
        assert_eq!(score_value(&v, true), " 0.0");
        assert_eq!(score_value(&v, false), "0.0");
        assert_eq!(
            status_value(&v, false, 5.0, false),
            "No, score=0.0 required=5.0 tests=NONE"
        );
        assert!(status_value(&v, true, 5.0, false).starts_with("Yes, "));
    }

    #[test]
    fn subjects_are_tagged_once() {
        assert_eq!(tagged_subject("Hello", false), "[SPAM] Hello");
        assert_eq!(tagged_subject("[SPAM] Hello", true), " [SPAM] Hello");
        assert_eq!(tagged_subject("", false), "[SPAM]");
    }

    #[test]
    fn long_test_lists_fold_before_78_columns() {
        let reasons: Vec<String> = (0..12).map(|i| format!("SOME_LONG_TEST_{i}")).collect();
        let refs: Vec<&str> = reasons.iter().map(String::as_str).collect();
        let v = verdict(&refs, 4.2);
        let value = status_value(&v, false, 5.0, true);
        let full = format!("{STATUS_HEADER}:{value}");
        let lines: Vec<&str> = full.split('\n').collect();
        assert!(lines.len() > 2, "{full}");
        for l in &lines {
            assert!(l.len() <= FOLD_AT, "{l:?} is {} long", l.len());
        }
        for l in &lines[1..] {
            assert!(l.starts_with('\t'));
        }
        let joined: String = full.replace("\n\t", "");
        assert!(joined.ends_with(&reasons.join(",")), "{joined}");
        assert!(joined.starts_with("X-Spam-Status: No, score=4.2 required=5.0 tests="));
    }
}
