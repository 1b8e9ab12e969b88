//! The scanner over real zip files built here (stored and deflated
//! entries, nested, encrypted, bombs) and over signature directories.

use std::io::Write;

use super::*;

const EICAR_FILE: &[u8] = EICAR;

/// A zip file of `(name, content, deflate, encrypted)` entries.
fn zip(entries: &[(&str, &[u8], bool, bool)]) -> Vec<u8> {
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, content, deflate, encrypted) in entries {
        let data = if *deflate {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(content).unwrap();
            e.finish().unwrap()
        } else {
            content.to_vec()
        };
        let (method, flags) = (if *deflate { 8u16 } else { 0 }, u16::from(*encrypted));
        let offset = out.len() as u32;
        let header = |sig: u32, central: bool| {
            let mut h = sig.to_le_bytes().to_vec();
            if central {
                h.extend_from_slice(&20u16.to_le_bytes());
            }
            h.extend_from_slice(&20u16.to_le_bytes());
            h.extend_from_slice(&flags.to_le_bytes());
            h.extend_from_slice(&method.to_le_bytes());
            h.extend_from_slice(&[0; 8]); // time, date, crc (not checked)
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(content.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            if central {
                h.extend_from_slice(&[0; 10]); // comment len, disk, attributes
                h.extend_from_slice(&offset.to_le_bytes());
            }
            h.extend_from_slice(name.as_bytes());
            h
        };
        out.extend(header(0x0403_4b50, false));
        out.extend_from_slice(&data);
        central.extend(header(0x0201_4b50, true));
    }
    let (at, len) = (out.len() as u32, central.len() as u32);
    out.extend(central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    let n = (entries.len() as u16).to_le_bytes();
    out.extend_from_slice(&n);
    out.extend_from_slice(&n);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&at.to_le_bytes());
    out.extend_from_slice(&[0; 2]);
    out
}

fn scanner() -> Scanner {
    Scanner::new(Database::builtin(), Limits::default())
}

fn virus(path: &str) -> Detection {
    Detection::Virus {
        signature: "EICAR-Test-File".into(),
        path: path.into(),
    }
}

#[test]
fn eicar_is_found_alone_zipped_and_nested() {
    assert_eq!(scanner().scan(EICAR_FILE), [virus("")]);
    assert!(scanner().scan(b"just text").is_empty());
    let inner = zip(&[("eicar.com", EICAR_FILE, true, false)]);
    let outer = zip(&[
        ("readme.txt", b"hello", false, false),
        ("in.zip", &inner, false, false),
    ]);
    let found = scanner().scan(&outer);
    assert!(found.contains(&virus("in.zip/eicar.com")), "{found:?}");
    assert!(found.contains(&Detection::Named {
        path: "readme.txt".into()
    }));
}

#[test]
fn real_types_encryption_and_macros_inside_archives() {
    let mut pe = vec![0u8; 0x80];
    pe[..2].copy_from_slice(b"MZ");
    pe[0x3c] = 0x40;
    pe[0x40..0x44].copy_from_slice(b"PE\0\0");
    let archive = zip(&[
        ("invoice.pdf", &pe, true, false),
        ("secret.doc", b"ciphertext", false, true),
        ("word/vbaProject.bin", b"vba", false, false),
    ]);
    let found = scanner().scan(&archive);
    for want in [
        Detection::Executable {
            path: "invoice.pdf".into(),
        },
        Detection::Encrypted {
            path: "secret.doc".into(),
        },
        Detection::Macros { path: "".into() },
    ] {
        assert!(found.contains(&want), "{want:?} in {found:?}");
    }
}

#[test]
fn bombs_depth_and_damage_are_unscannable_not_fatal() {
    let zeros = vec![0u8; 4 * 1024 * 1024];
    let bomb = zip(&[("zeros.bin", &zeros, true, false)]);
    assert!(bomb.len() < 20_000, "a real bomb: {} bytes", bomb.len());
    let found = scanner().scan(&bomb);
    assert!(
        matches!(&found[1], Detection::Unscannable { path, why }
            if path == "zeros.bin" && why.contains("compression ratio")),
        "{found:?}"
    );
    let mut nested = zip(&[("x.txt", b"x", false, false)]);
    for n in 0..5 {
        nested = zip(&[(&format!("level{n}.zip"), &nested, false, false)]);
    }
    let found = scanner().scan(&nested);
    assert!(
        found
            .iter()
            .any(|d| matches!(d, Detection::Unscannable { why, .. } if why.contains("too deep"))),
        "{found:?}"
    );
    let mut cut = zip(&[("a.txt", b"aaaa", false, false)]);
    cut.truncate(cut.len() - 30);
    let found = scanner().scan(&cut);
    assert!(
        matches!(&found[..], [Detection::Unscannable { why, .. }] if why.starts_with("damaged zip archive")),
        "{found:?}"
    );
}

#[test]
fn a_signature_directory_loads_what_it_can() {
    use md5::Digest;
    let dir = tempfile::tempdir().unwrap();
    let bad = b"payload of a known bad file";
    let md5 = format!("{:x}", md5::Md5::digest(bad));
    std::fs::write(
        dir.path().join("local.hdb"),
        format!("{md5}:{}:Local.Known.Bad\nnot a signature\n", bad.len()),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("local.ndb"),
        "Local.Body:0:*:6576696c{-4}636f6465\nLocal.EP:1:EP+0:4142\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
    let (db, report) = Database::load(dir.path()).unwrap();
    assert_eq!(report.loaded, 3, "two of the files' and EICAR: {report:?}");
    assert_eq!(report.refused.len(), 2, "{report:?}");
    assert!(report.refused[0].starts_with("local.hdb:2: bad signature"));
    assert!(report.refused[1].starts_with("local.ndb:2: unsupported signature"));
    assert_eq!(db.find(bad), Some("Local.Known.Bad"));
    assert_eq!(db.find(b"some evil..code here"), Some("Local.Body"));
    assert_eq!(db.find(b"some evil.....code here"), None);
    let (missing, _) = Database::load(&dir.path().join("none")).unwrap();
    assert_eq!(missing.find(EICAR_FILE), Some("EICAR-Test-File"));
}
