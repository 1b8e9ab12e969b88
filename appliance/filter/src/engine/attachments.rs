//! Attachments refused by name, per the domain's [`AttachmentPolicy`]: a
//! blocked extension (the classic carriers of malware on Windows) or a
//! double extension that disguises one type as another (`invoice.pdf.exe`,
//! `photo.jpg.scr`). Real types and archive contents are the
//! [`super::virus`] check's.

use model::policy::AttachmentPolicy;

use super::{parts::sanitize, Check, Class, Finding, Part};

/// Extensions people trust: a name that ends in one of these and then in
/// something else is a disguise.
const TRUSTED_INNER: &[&str] = &[
    "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "rtf", "txt", "csv", "jpg", "jpeg",
    "png", "gif", "mp3", "mp4", "htm", "html",
];

/// The name as Windows saves it: trailing dots and spaces dropped, lowercase.
fn saved_name(name: &str) -> String {
    name.trim_end_matches(|c: char| c == '.' || c.is_whitespace())
        .to_ascii_lowercase()
}

/// Why `name` is refused under `policy`, if it is.
pub fn refusal(name: &str, policy: &AttachmentPolicy) -> Option<&'static str> {
    let name = saved_name(name);
    let base = name.rsplit(['/', '\\']).next().unwrap_or(&name);
    let mut exts = base.rsplit('.');
    let last = exts.next().filter(|_| base.contains('.'))?;
    if policy.blocked_extensions.iter().any(|b| b == last) {
        return Some("blocked attachment");
    }
    let inner = exts.next().filter(|_| base.matches('.').count() >= 2)?;
    let disguised = TRUSTED_INNER.contains(&inner.trim()) && !TRUSTED_INNER.contains(&last);
    (policy.block_double_extensions && disguised).then_some("double extension")
}

/// Refuses parts named against the policy, in nested messages too.
pub struct BlockedAttachments {
    /// The rules applied.
    pub policy: AttachmentPolicy,
}

impl Check for BlockedAttachments {
    fn check_part(&self, part: &Part<'_>, findings: &mut Vec<Finding>) {
        let Some(name) = part.name else {
            return;
        };
        if let Some(why) = refusal(name, &self.policy) {
            findings.push(Finding::verdict(
                Class::Attachment,
                format!("{why} {}", sanitize(name)),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_extensions_case_insensitively() {
        let policy = AttachmentPolicy::default();
        for name in [
            "a.exe",
            "A.EXE",
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
            assert_eq!(refusal(name, &policy), Some("blocked attachment"), "{name}");
        }
        for name in [
            "a.txt",
            "a.pdf",
            "exe",
            "a.exe.txt",
            "notes.json",
            "x.jsx",
            "v1.2.zip",
        ] {
            assert_eq!(refusal(name, &policy), None, "{name}");
        }
    }

    #[test]
    fn double_extensions_disguise_one_type_as_another() {
        let policy = AttachmentPolicy::default();
        for name in ["invoice.pdf.iso", "photo.jpg.img", "a.pdf .iso"] {
            let got = refusal(name, &policy);
            assert!(got.is_some(), "{name}: {got:?}");
        }
        assert_eq!(
            refusal("invoice.pdf.iso", &policy),
            Some("double extension")
        );
        assert_eq!(refusal("scan.jpg.pdf", &policy), None, "both trusted");
        let lenient = AttachmentPolicy {
            block_double_extensions: false,
            ..AttachmentPolicy::default()
        };
        assert_eq!(refusal("invoice.pdf.iso", &lenient), None);
        assert_eq!(
            refusal("invoice.pdf.exe", &lenient),
            Some("blocked attachment")
        );
    }
}
