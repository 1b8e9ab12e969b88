//! A quarantined message acknowledged with 201 survives SIGKILL of the
//! manager right after the answer (the mta tells the sender 250 on it).
//!
//! The manager runs in a child process: this test binary, re-executed with
//! `MANAGER_CHILD_DIR` set, starts it and waits to be killed.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{new_quarantine, TestManager, GTUBE};
use model::client::ApiClient;
use model::Endpoint;

const CHILD_ENV: &str = "MANAGER_CHILD_DIR";
const TEST_NAME: &str = "quarantine_acknowledged_survives_sigkill";

#[test]
fn quarantine_acknowledged_survives_sigkill() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        let dir = std::path::PathBuf::from(dir);
        let config = common::config(&dir, Endpoint::Unix(dir.join("mta.sock")));
        let _manager = manager::Manager::start(&config, &dir).unwrap();
        loop {
            std::thread::sleep(Duration::from_secs(60)); // until killed
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture"])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let api = ApiClient::new(Endpoint::Unix(dir.path().join("manager.sock")));
    let deadline = Instant::now() + Duration::from_secs(10);
    while api.health().is_err() {
        assert!(
            Instant::now() < deadline,
            "the child manager did not come up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut ids = Vec::new();
    for i in 0..20 {
        let message = [GTUBE, format!("message {i}\r\n").as_bytes()].concat();
        let created = api
            .quarantine_create(&new_quarantine(&["user@example.test"], &message))
            .unwrap();
        ids.push((created.ids[0].clone(), message));
    }
    child.kill().unwrap(); // SIGKILL, right after the last 201
    child.wait().unwrap();

    let dir_path = dir.path().to_path_buf();
    let config = common::config(&dir_path, Endpoint::Unix(dir_path.join("mta.sock")));
    let m = TestManager {
        manager: Some(manager::Manager::start(&config, &dir_path).unwrap()),
        config,
        dir,
    };
    for (id, message) in &ids {
        assert_eq!(
            &m.unix().quarantine_message(id).unwrap(),
            message,
            "{id} was lost"
        );
    }
}
