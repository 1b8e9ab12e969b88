//! Virus signatures dropped into `filter.signatures_dir` while the filter
//! runs take effect without a restart.

mod roles;

use std::time::{Duration, Instant};

use roles::{message, Outcome, Roles};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_signatures_are_loaded_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let sigs = dir.path().join("signatures");
    std::fs::create_dir_all(&sigs).unwrap();
    let s = sigs.clone();
    let roles = Roles::start_with(dir.path(), move |c| c.filter.signatures_dir = s).await;
    let marked = message(
        "the quarterly figures",
        false,
        "Here they are: filterbox-reload-marker-7f3a, as promised.\r\n",
    );
    let to = ["<user@example.test>"];
    assert!(matches!(
        roles.send(&marked, &to).await,
        Outcome::Delivered { .. }
    ));

    let hex: String = b"filterbox-reload-marker-7f3a"
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(
        sigs.join("local.ndb"),
        format!("Filterbox.Test.Reload:0:*:{hex}\n"),
    )
    .unwrap();
    let started = Instant::now();
    loop {
        match roles.send(&marked, &to).await {
            Outcome::Discarded => break,
            other => assert!(
                started.elapsed() < Duration::from_secs(15),
                "not reloaded after 15 s: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let held = roles.quarantined().await;
    assert!(
        held.iter()
            .any(|q| q.kind == model::api::QuarantineKind::Virus
                && q.reasons
                    .iter()
                    .any(|r| r.starts_with("Filterbox.Test.Reload in "))),
        "{held:#?}"
    );
    roles.stop().await;
}
