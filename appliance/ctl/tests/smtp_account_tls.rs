//! `filterbox ctl smtp-account …` and `ctl tls …` against a real manager on
//! a temporary data directory (the mta's AUTH check goes through the same
//! `POST /smtp-accounts/verify`).

use std::path::Path;

use clap::Parser;
use model::api::SmtpAuthCheck;
use model::client::ApiClient;
use model::config::SystemConfig;
use model::Endpoint;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ctl::CtlArgs,
}

fn ctl(dir: &Path, input: &str, argv: &[&str]) -> Result<String, String> {
    let full = ["ctl", "--data-dir", dir.to_str().unwrap()]
        .into_iter()
        .chain(argv.iter().copied());
    let args = Cli::try_parse_from(full).map_err(|e| e.to_string())?.args;
    let mut lines = input.as_bytes();
    let mut out = Vec::new();
    ctl::run_with(args, &mut ctl::Passwords::lines(&mut lines), &mut out)
        .map_err(|e| format!("{e:#}"))?;
    Ok(String::from_utf8(out).unwrap())
}

fn ok(dir: &Path, input: &str, argv: &[&str]) -> String {
    ctl(dir, input, argv).unwrap_or_else(|e| panic!("ctl {argv:?}: {e}"))
}

/// A manager on `dir` (its socket there; the default initial data gives
/// the domain `example.test`), and the box's first-start certificate.
fn start(dir: &Path) -> manager::Manager {
    let mut c = SystemConfig {
        hostname: "mx.ctl.test".into(),
        ..SystemConfig::default()
    };
    c.manager.api_socket = dir.join("manager.sock");
    c.manager.http_listen = None;
    c.manager.mta_inject = Endpoint::Unix(dir.join("mta.sock"));
    c.write(dir).unwrap();
    let resolved = c.clone().resolve(dir);
    tls::ensure_certificate(&resolved.tls, &resolved.hostname).unwrap();
    manager::Manager::start(&c, dir).unwrap()
}

fn verify(dir: &Path, username: &str, password: &str) -> Option<u16> {
    let api = ApiClient::new(Endpoint::Unix(dir.join("manager.sock")));
    let check = SmtpAuthCheck {
        username: username.into(),
        password: password.into(),
        client_ip: Some("192.0.2.7".into()),
    };
    api.verify_smtp_account(&check)
        .err()
        .map(|e| e.status().unwrap_or(0))
}

#[test]
fn smtp_accounts_are_added_checked_listed_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let _m = start(d);
    let e = ctl(
        d,
        "short\n",
        &[
            "smtp-account",
            "add",
            "r@example.test",
            "--domain",
            "example.test",
        ],
    );
    assert!(e.unwrap_err().contains("8 to 128 characters"));
    let e = ctl(
        d,
        "long enough pw\n",
        &["smtp-account", "add", "r@x.test", "--domain", "x.test"],
    );
    assert!(e.unwrap_err().contains("no domain"));
    let added = ok(
        d,
        "long enough pw\n",
        &[
            "smtp-account",
            "add",
            "R@example.test",
            "--domain",
            "example.test",
        ],
    );
    assert!(added.contains("r@example.test"), "{added}");
    let list = ok(d, "", &["smtp-account", "list"]);
    assert!(
        list.contains("USERNAME") && list.contains("r@example.test"),
        "{list}"
    );
    let json = ok(d, "", &["--json", "smtp-account", "list"]);
    assert!(
        !json.contains("long enough pw") && !json.contains("argon2"),
        "{json}"
    );

    assert_eq!(verify(d, "r@example.test", "long enough pw"), None);
    assert_eq!(verify(d, "R@Example.test", "long enough pw"), None);
    assert_eq!(verify(d, "r@example.test", "wrong"), Some(401));
    assert_eq!(
        verify(d, "nobody@example.test", "long enough pw"),
        Some(401)
    );
    // Five failures in a row lock the client out, even with the right password.
    for _ in 0..3 {
        assert_eq!(verify(d, "r@example.test", "wrong"), Some(401));
    }
    assert_eq!(verify(d, "r@example.test", "long enough pw"), Some(429));

    assert!(ok(d, "", &["smtp-account", "remove", "r@example.test"]).contains("removed"));
    let e = ctl(d, "", &["smtp-account", "remove", "r@example.test"]).unwrap_err();
    assert!(e.contains("no SMTP account"), "{e}");
}

#[test]
fn the_certificate_is_shown_and_replaced_only_by_a_valid_pair() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let _m = start(d);
    let shown = ok(d, "", &["tls", "show"]);
    assert!(
        shown.contains("mx.ctl.test") && shown.contains("self-signed"),
        "{shown}"
    );
    assert!(shown.contains("true"), "{shown}");

    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["mail.customer.test".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let other = rcgen::KeyPair::generate().unwrap();
    std::fs::write(d.join("new.pem"), cert.pem()).unwrap();
    std::fs::write(d.join("new.key"), key.serialize_pem()).unwrap();
    std::fs::write(d.join("other.key"), other.serialize_pem()).unwrap();
    let before = std::fs::read(d.join("tls/cert.pem")).unwrap();
    let args = |k: &str| {
        let (c, k) = (d.join("new.pem"), d.join(k));
        vec![
            "tls".to_string(),
            "set".into(),
            "--cert".into(),
            c.display().to_string(),
            "--key".into(),
            k.display().to_string(),
        ]
    };
    let bad = args("other.key");
    let bad: Vec<&str> = bad.iter().map(String::as_str).collect();
    let e = ctl(d, "", &bad).unwrap_err();
    assert!(e.contains("does not match") && e.contains("422"), "{e}");
    assert_eq!(std::fs::read(d.join("tls/cert.pem")).unwrap(), before);
    let good = args("new.key");
    let good: Vec<&str> = good.iter().map(String::as_str).collect();
    let set = ok(d, "", &good);
    assert!(set.contains("mail.customer.test"), "{set}");
    assert_eq!(
        std::fs::read_to_string(d.join("tls/cert.pem")).unwrap(),
        cert.pem()
    );
    assert!(ok(d, "", &["tls", "show"]).contains("mail.customer.test"));
}
