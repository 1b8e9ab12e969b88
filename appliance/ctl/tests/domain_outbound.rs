//! `filterbox ctl domain set|dkim` against a real manager started
//! in-process on a temporary data directory.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use model::client::ApiClient;
use model::config::SystemConfig;
use model::Endpoint;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ctl::CtlArgs,
}

/// Runs `filterbox ctl ARGS`; stdout on success, the `{:#}` message on error.
fn ctl(dir: &Path, argv: &[&str]) -> Result<String, String> {
    let full = ["ctl", "--data-dir", dir.to_str().unwrap()]
        .into_iter()
        .chain(argv.iter().copied());
    let args = Cli::try_parse_from(full).map_err(|e| e.to_string())?.args;
    let mut out = Vec::new();
    ctl::run_to(args, &mut out).map_err(|e| format!("{e:#}"))?;
    Ok(String::from_utf8(out).unwrap())
}

/// The manager role with the default data (domain `example.test`) in `dir`.
fn start(dir: &Path) -> (tokio::runtime::Runtime, tokio::sync::oneshot::Sender<()>) {
    let mut c = SystemConfig::default();
    c.manager.http_listen = None;
    c.manager.mta_inject = Endpoint::Unix(dir.join("mta.sock"));
    c.manager.api_socket = dir.join("api.sock");
    c.write(dir).unwrap();
    let config = SystemConfig::load(dir).unwrap().resolve(dir);
    let client = ApiClient::new(Endpoint::Unix(config.manager.api_socket.clone()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    rt.spawn(manager::run(Arc::new(config), dir.to_path_buf(), async {
        let _ = rx.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.health().is_err() {
        assert!(Instant::now() < deadline, "the manager did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    (rt, tx)
}

#[test]
fn domain_set_changes_outbound_settings_and_dkim_prints_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let _manager = start(d);

    let out = ctl(
        d,
        &[
            "domain",
            "set",
            "example.test",
            "--relay-network",
            "192.0.2.0/24",
            "--relay-network",
            "2001:db8::/32",
            "--tls",
            "required",
        ],
    )
    .unwrap();
    assert!(
        out.contains("relay networks: 192.0.2.0/24, 2001:db8::/32\n"),
        "{out}"
    );
    assert!(out.contains("tls:            required\n"), "{out}");
    assert!(out.contains("provisioning:   manual\n"), "{out}");

    let e = ctl(
        d,
        &[
            "domain",
            "set",
            "example.test",
            "--relay-network",
            "300.0.0.0/8",
        ],
    )
    .unwrap_err();
    assert!(e.contains("422") && e.contains("relay network"), "{e}");
    let e = ctl(d, &["domain", "set", "nowhere.test", "--tls", "required"]).unwrap_err();
    assert!(e.contains("404"), "{e}");
    let json = ctl(
        d,
        &[
            "--json",
            "domain",
            "set",
            "example.test",
            "--no-relay-networks",
        ],
    )
    .unwrap();
    let domain: model::api::Domain = serde_json::from_str(&json).unwrap();
    assert!(domain.relay_networks.is_empty());
    assert_eq!(domain.tls, model::api::TlsPolicy::Required, "kept");

    let record = ctl(d, &["domain", "dkim", "example.test"]).unwrap();
    let selector = record
        .lines()
        .find_map(|l| l.strip_prefix("selector: "))
        .expect("a selector line")
        .trim()
        .to_string();
    assert!(
        record.contains(&format!(
            "publish:  {selector}._domainkey.example.test TXT\n"
        )),
        "{record}"
    );
    assert!(record.contains("value:    v=DKIM1; k=rsa; p="), "{record}");
    let e = ctl(d, &["domain", "dkim", "nowhere.test"]).unwrap_err();
    assert!(e.contains("404"), "{e}");
}
