//! Attachments whose file name says "executable" on Windows are blocked,
//! whatever their content: they are the classic carriers of malware.

use super::{parts::sanitize, Check, Class, Finding, Part};

/// Blocked file name endings, compared case-insensitively.
pub const BLOCKED_EXTENSIONS: &[&str] = &[
    ".exe", ".scr", ".js", ".vbs", ".bat", ".com", ".pif", ".cmd", ".jar",
];

/// True when `name` ends in a blocked extension. Trailing dots and spaces are
/// ignored because Windows drops them when it saves the file.
pub fn is_blocked(name: &str) -> bool {
    let name = name
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
        .to_ascii_lowercase();
    BLOCKED_EXTENSIONS.iter().any(|ext| name.ends_with(ext))
}

/// Blocks parts named with a [`BLOCKED_EXTENSIONS`] ending, in nested messages too.
pub struct BlockedAttachments;

impl Check for BlockedAttachments {
    fn check_part(&self, part: &Part<'_>, findings: &mut Vec<Finding>) {
        if let Some(name) = part.name.filter(|n| is_blocked(n)) {
            findings.push(Finding::verdict(
                Class::Attachment,
                format!("blocked attachment {}", sanitize(name)),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_endings_case_insensitively() {
        for name in [
            "a.exe",
            "A.EXE",
            "report.pdf.scr",
            "x.Js",
            "x.vbs",
            "run.bat",
            "c.com",
            "p.pif",
            "q.cmd",
            "lib.jar",
            "evil.exe. ",
            "C:\\dir\\evil.exe",
        ] {
            assert!(is_blocked(name), "{name}");
        }
        for name in ["a.txt", "a.pdf", "exe", "a.exe.txt", "notes.json", "x.jsx"] {
            assert!(!is_blocked(name), "{name}");
        }
    }
}
