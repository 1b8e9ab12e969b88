//! The certificate life cycle on real files: made, described, validated, reloaded.

use std::sync::Arc;

use model::config::TlsFiles;
use rcgen::{CertificateParams, KeyPair};
use time::{Duration, OffsetDateTime};

use crate::generate::self_signed;
use crate::{describe, ensure_certificate, install, validate, ReloadingCert, TlsError};

fn files(dir: &std::path::Path) -> TlsFiles {
    TlsFiles {
        cert: dir.join("tls/cert.pem"),
        key: dir.join("tls/key.pem"),
    }
}

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

#[test]
fn first_start_makes_a_group_private_self_signed_pair_once() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let f = files(dir.path());
    assert!(ensure_certificate(&f, "mx.example.test").unwrap());
    let pem = std::fs::read_to_string(&f.cert).unwrap();
    assert!(!ensure_certificate(&f, "other.test").unwrap());
    assert_eq!(std::fs::read_to_string(&f.cert).unwrap(), pem);
    let mode = std::fs::metadata(&f.key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640);
    let info = describe(&pem).unwrap();
    assert_eq!(info.names, vec!["mx.example.test".to_string()]);
    assert!(info.self_signed);
    assert!(info.subject.contains("mx.example.test"));
    assert!(info.not_before < info.not_after);
}

#[test]
fn an_upload_must_match_its_key_and_be_valid_now() {
    let (cert, key) = self_signed("a.test").unwrap();
    let (_, other_key) = self_signed("b.test").unwrap();
    assert!(validate(&cert, &key, now()).is_ok());
    assert!(matches!(
        validate(&cert, &other_key, now()),
        Err(TlsError::Mismatch)
    ));
    assert!(matches!(
        validate("garbage", &key, now()),
        Err(TlsError::Certificate(_))
    ));
    assert!(matches!(
        validate(&cert, "garbage", now()),
        Err(TlsError::Key(_))
    ));
    let key_pair = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["old.test".to_string()]).unwrap();
    params.not_before = OffsetDateTime::now_utc() - Duration::days(30);
    params.not_after = OffsetDateTime::now_utc() - Duration::days(1);
    let expired = params.self_signed(&key_pair).unwrap().pem();
    assert!(matches!(
        validate(&expired, &key_pair.serialize_pem(), now()),
        Err(TlsError::NotValidNow { .. })
    ));
}

#[test]
fn the_resolver_picks_up_an_installed_replacement() {
    let dir = tempfile::tempdir().unwrap();
    let f = files(dir.path());
    ensure_certificate(&f, "first.test").unwrap();
    let resolver = Arc::new(ReloadingCert::load(&f).unwrap());
    let before = resolver.current().cert[0].clone();
    let (cert, key) = self_signed("second.test").unwrap();
    // A refused upload changes nothing on disk.
    let (_, wrong) = self_signed("third.test").unwrap();
    assert!(install(&f, &cert, &wrong, now()).is_err());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(resolver.current().cert[0], before);
    let info = install(&f, &cert, &key, now()).unwrap();
    assert_eq!(info.names, vec!["second.test".to_string()]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let after = resolver.current().cert[0].clone();
    assert_ne!(after, before);
    assert_eq!(after, crate::inspect::chain(cert.as_bytes()).unwrap()[0]);
}
