//! TLS through `filterbox up`: the supervisor makes the box's certificate on
//! first start, `filterbox ctl tls show` shows it, swaks reaches the mta with
//! STARTTLS on the SMTP port and with implicit TLS plus AUTH on the smtps port.

mod common;

use std::time::Duration;

use common::{swaks, Recorder, TestBox};
use model::api::NewSmtpAccount;

#[test]
fn first_start_certificate_starttls_and_implicit_tls_with_auth() {
    let downstream = Recorder::start();
    let config = TestBox::config(downstream.port);
    let smtps = config.mta.smtps_listen.clone().unwrap();
    let b = TestBox::start_with(config);

    let shown = b.ctl_ok(&["tls", "show"]);
    assert!(shown.contains("filterbox.example.test"), "{shown}");
    assert!(
        shown.contains("self-signed") && shown.contains("true"),
        "{shown}"
    );

    let out = swaks(&["--server", b.smtp(), "--tls", "--to", "user@example.test"]);
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("=== TLS started with cipher"), "{log}");

    b.api()
        .create_smtp_account(&NewSmtpAccount {
            username: "roamer@example.test".into(),
            domain: "example.test".into(),
            password: "a long password".into(),
        })
        .unwrap();
    let login = [
        "--auth-user",
        "roamer@example.test",
        "--auth-password",
        "a long password",
    ];
    let mut args = vec!["--server", &smtps, "--tls-on-connect", "--auth", "PLAIN"];
    args.extend(login);
    args.extend(["--to", "user@example.test"]);
    let out = swaks(&args);
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("<~  235 2.7.0 Authentication successful"),
        "{log}"
    );
    downstream.wait_for(2, Duration::from_secs(30));
}
