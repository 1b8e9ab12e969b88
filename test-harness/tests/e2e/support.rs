//! What the end-to-end tests share: mail through swaks, the test domain,
//! the firmware's state through the API.

use std::process::Command;
use std::time::Duration;

use model::api::{DeliveryServer, NewDomain, NewUser};
use model::control::FirmwareStatus;
use test_harness::error::run;
use test_harness::testbox::{TestBox, DELIVERY_HOST};

/// The test domain, delivered to the test's recorder.
pub const DOMAIN: &str = "e2e.test";
/// Its one user.
pub const USER: &str = "alice@e2e.test";
/// The spam test string every filter knows.
pub const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// Creates [`DOMAIN`] (delivered to the recorder behind [`DELIVERY_HOST`])
/// and [`USER`] through the API.
pub fn add_test_domain(b: &TestBox) -> anyhow::Result<()> {
    let api = b.api();
    api.create_domain(&NewDomain {
        provisioning: Default::default(),
        relay_networks: Default::default(),
        tls: Default::default(),
        name: DOMAIN.into(),
        delivery: vec![DeliveryServer {
            host: DELIVERY_HOST.to_string(),
            port: 25,
            priority: 10,
        }],
    })?;
    api.create_user(&NewUser {
        source: Default::default(),
        address: USER.into(),
    })?;
    Ok(())
}

/// Sends one message with swaks to the box's forwarded SMTP port; returns
/// swaks's transcript (it fails unless the message was accepted).
pub fn send_mail(b: &TestBox, subject: &str, body: &str) -> anyhow::Result<String> {
    Ok(run(Command::new("swaks")
        .args(["--server", &b.smtp_address()])
        .args(["--from", "sender@example.org", "--to", USER])
        .args(["--header", &format!("Subject: {subject}")])
        .args(["--body", body])
        .args(["--timeout", "120"]))?)
}

/// [`send_mail`] once the mta has picked up [`add_test_domain`]'s domain
/// (it polls the manager's directory every second): until then the box
/// refuses the recipient, and that refusal is retried for a while.
pub fn send_first_mail(b: &TestBox, subject: &str, body: &str) -> anyhow::Result<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match send_mail(b, subject, body) {
            Err(e)
                if e.to_string().contains("relay access denied")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_secs(1));
            }
            other => return other,
        }
    }
}

/// The firmware's state as the API reports it.
pub fn firmware(b: &TestBox) -> anyhow::Result<FirmwareStatus> {
    Ok(b.api().firmware_status()?)
}

/// How long mail may take through an emulated box.
pub const MAIL_TIMEOUT: Duration = Duration::from_secs(120);
