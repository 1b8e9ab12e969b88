//! The engine over fixture messages in `tests/fixtures`: each one with the
//! verdict and reasons it must get. The zip fixtures were written by
//! Python's `zipfile` (deflated), not by the reader under test.

use std::path::PathBuf;

use filter::engine::{scan, Class, Engine};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The reasons of `v` but the spam classifier's (which read `NAME=score`).
fn own_reasons(v: &filter::Verdict) -> Vec<&str> {
    v.reasons
        .iter()
        .map(String::as_str)
        .filter(|r| {
            r.rsplit_once('=')
                .is_none_or(|(_, s)| s.parse::<f64>().is_err())
        })
        .collect()
}

/// Checks the verdict on fixture `name`, leaving out what the spam
/// classifier added (its findings read `NAME=score`; its own tests are in
/// `engine::spam` and the accuracy bench).
fn check(name: &str, class: Class, score: f64, reasons: &[&str]) {
    let v = scan(&fixture(name));
    assert_eq!(v.class, class, "{name}: {v:?}");
    let (mut classifier, mut others) = (0.0, Vec::new());
    for r in &v.reasons {
        match r.rsplit_once('=').and_then(|(_, s)| s.parse::<f64>().ok()) {
            Some(s) => classifier += s,
            None => others.push(r.as_str()),
        }
    }
    assert!((v.score - classifier - score).abs() < 1e-9, "{name}: {v:?}");
    assert_eq!(others, reasons, "{name}");
    if class == Class::Clean {
        assert!(v.score < filter::engine::SPAM_THRESHOLD, "{name}: {v:?}");
    }
}

#[test]
fn clean_text_is_clean() {
    check("clean-text.eml", Class::Clean, 0.0, &[]);
}

#[test]
fn harmless_txt_and_pdf_attachments_are_clean() {
    check("txt-and-pdf.eml", Class::Clean, 0.0, &[]);
}

#[test]
fn gtube_in_a_plain_body_is_spam() {
    check("gtube-plain.eml", Class::Spam, 1000.0, &["GTUBE"]);
}

#[test]
fn gtube_in_a_base64_html_part_is_spam() {
    let raw = fixture("gtube-base64-html.eml");
    assert!(
        memchr::memmem::find(&raw, filter::engine::gtube::GTUBE).is_none(),
        "the fixture must hide GTUBE behind base64"
    );
    check("gtube-base64-html.eml", Class::Spam, 1000.0, &["GTUBE"]);
}

#[test]
fn eicar_as_a_base64_attachment_is_a_virus() {
    check(
        "eicar-base64-attachment.eml",
        Class::Virus,
        0.0,
        &["EICAR-Test-File in eicar.com.txt"],
    );
}

#[test]
fn eicar_quoted_printable_inline_is_a_virus() {
    let raw = fixture("eicar-qp-inline.eml");
    assert!(memchr::memmem::find(&raw, filter::engine::eicar::EICAR).is_none());
    check(
        "eicar-qp-inline.eml",
        Class::Virus,
        0.0,
        &["EICAR-Test-File in part 2"],
    );
}

#[test]
fn eicar_in_a_nested_message_is_a_virus() {
    check(
        "eicar-nested-rfc822.eml",
        Class::Virus,
        0.0,
        &["EICAR-Test-File in notes.bin"],
    );
    check(
        "eicar-base64-rfc822.eml",
        Class::Virus,
        0.0,
        &["EICAR-Test-File in notes.bin"],
    );
}

#[test]
fn executable_attachments_are_blocked() {
    check(
        "exe-attachment.eml",
        Class::Attachment,
        0.0,
        &["blocked attachment setup.exe"],
    );
    check(
        "exe-uppercase.eml",
        Class::Attachment,
        0.0,
        &["blocked attachment INVOICE.EXE"],
    );
    check(
        "exe-in-nested-message.eml",
        Class::Attachment,
        0.0,
        &["blocked attachment tool.scr"],
    );
}

#[test]
fn rfc2231_encoded_names_are_decoded_before_matching() {
    check(
        "js-rfc2231.eml",
        Class::Attachment,
        0.0,
        &["blocked attachment Rechnung März.js"],
    );
}

#[test]
fn malformed_mime_is_handled() {
    check("malformed-mime.eml", Class::Clean, 0.0, &[]);
}

#[test]
fn garbage_and_truncated_input_never_panics() {
    let engine = Engine::standard();
    let samples: Vec<Vec<u8>> = vec![
        vec![],
        b"\r\n\r\n".to_vec(),
        b"no headers at all".to_vec(),
        vec![0xff; 4096],
        b"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n--\r\n".to_vec(),
    ];
    for s in samples {
        assert_eq!(engine.scan(&s).class, Class::Clean);
    }
    let whole = fixture("eicar-nested-rfc822.eml");
    for cut in (0..whole.len()).step_by(7) {
        engine.scan(&whole[..cut]);
    }
}

#[test]
fn eicar_outside_any_part_is_still_found_once() {
    use filter::engine::eicar::{EICAR, EICAR_IN_MESSAGE};
    let v = scan(EICAR);
    assert_eq!(v.class, Class::Virus, "{v:?}");
    let mut in_header = b"Subject: ".to_vec();
    in_header.extend_from_slice(EICAR);
    in_header.extend_from_slice(b"\r\n\r\nhello\r\n");
    assert_eq!(own_reasons(&scan(&in_header)), [EICAR_IN_MESSAGE]);
    let mut in_body = b"Subject: x\r\n\r\n".to_vec();
    in_body.extend_from_slice(EICAR);
    assert_eq!(own_reasons(&scan(&in_body)), ["EICAR-Test-File in part 1"]);
}

#[test]
fn eicar_inside_a_zip_inside_a_zip_is_a_virus() {
    check(
        "eicar-in-nested-zip.eml",
        Class::Virus,
        0.0,
        &[
            "blocked attachment docs.zip/more.zip/tools/eicar.com",
            "EICAR-Test-File in docs.zip/more.zip/tools/eicar.com",
        ],
    );
}

#[test]
fn an_executable_named_pdf_is_blocked_by_its_real_type() {
    check(
        "exe-named-pdf.eml",
        Class::Attachment,
        0.0,
        &["executable invoice.pdf"],
    );
}

#[test]
fn a_zip_bomb_is_held_as_unscannable() {
    let v = scan(&fixture("zip-bomb.eml"));
    assert_eq!(v.class, Class::Attachment, "{v:?}");
    assert_eq!(
        own_reasons(&v),
        ["unscannable report.zip/zeros.bin: zip entry \"zeros.bin\" expands past the compression ratio limit"]
    );
}

#[test]
fn signatures_from_a_directory_are_used() {
    let dir = tempfile::tempdir().unwrap();
    // "see attached" in the text part of every zip fixture.
    std::fs::write(
        dir.path().join("local.ndb"),
        "Local.Test:0:*:73656520{-2}61747461636865\n",
    )
    .unwrap();
    let (db, report) = antivirus::Database::load(dir.path()).unwrap();
    assert!(report.refused.is_empty(), "{report:?}");
    let v = Engine::with_signatures(db).scan(&fixture("exe-named-pdf.eml"));
    assert_eq!(v.class, Class::Virus, "{v:?}");
    assert!(
        v.reasons.contains(&"Local.Test in part 2".to_string()),
        "{v:?}"
    );
}
