//! A real manager in a temporary data directory, and console sessions run
//! on a pty whose master side the test plays.
#![allow(dead_code)] // each test binary uses a different part

use std::thread::JoinHandle;
use std::time::Duration;

use console::{run_session, Effects, SessionEnd, Terminal};
use manager::{LockoutPolicy, Manager, ManagerOptions};
use model::client::ApiClient;
use model::config::SystemConfig;
use model::Endpoint;
use test_harness::pty::Expect;

/// Generous wait for one screen (argon2 hashing is slow in debug builds).
pub const WAIT: Duration = Duration::from_secs(30);

/// A manager serving a temporary data directory with a system.json.
pub struct TestBox {
    pub manager: Option<Manager>,
    pub config: SystemConfig,
    pub dir: tempfile::TempDir,
}

impl TestBox {
    /// A box whose manager locks password checks after `max_failures` for `lockout`.
    pub fn start(max_failures: u32, lockout: Duration) -> TestBox {
        let mut b = TestBox::unstarted();
        b.start_manager(max_failures, lockout);
        b
    }

    /// A box whose manager is not up yet (as the console finds a box that
    /// is still starting).
    pub fn unstarted() -> TestBox {
        let dir = tempfile::tempdir().unwrap();
        let mut config = SystemConfig {
            hostname: "box.example.test".into(),
            ..Default::default()
        };
        config.manager.http_listen = Some("127.0.0.1:0".into());
        config.manager.mta_inject = Endpoint::Unix("no-mta.sock".into());
        config.write(dir.path()).unwrap();
        TestBox {
            manager: None,
            config: config.resolve(dir.path()),
            dir,
        }
    }

    /// Starts the manager, locking password checks after `max_failures` for `lockout`.
    pub fn start_manager(&mut self, max_failures: u32, lockout: Duration) {
        let options = ManagerOptions {
            lockout: LockoutPolicy {
                max_failures,
                first_lockout: lockout,
                max_lockout: lockout,
            },
        };
        let config = SystemConfig::load(self.dir.path()).unwrap();
        self.manager = Some(Manager::start_with(&config, self.dir.path(), options).unwrap());
    }

    pub fn api(&self) -> ApiClient {
        ApiClient::new(Endpoint::Unix(self.config.manager.api_socket.clone()))
    }

    pub fn effects(&self) -> Effects {
        Effects::new(&self.config, self.dir.path())
    }

    /// Runs one console session on `pty`'s slave in a thread.
    pub fn session(&self, pty: &Expect, recovery: bool, idle: Duration) -> JoinHandle<SessionEnd> {
        let effects = self.effects();
        let path = pty.slave_path().to_path_buf();
        std::thread::spawn(move || {
            let mut term = Terminal::open(&path).unwrap();
            run_session(&mut term, &effects, recovery, idle)
        })
    }
}

/// Waits for a session thread to end.
pub fn ended(session: JoinHandle<SessionEnd>) -> SessionEnd {
    for _ in 0..300 {
        if session.is_finished() {
            return session.join().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the session did not end");
}

/// Sets the admin password over the API (the console's own path: no current one).
pub fn set_password(api: &ApiClient, password: &str) {
    api.set_admin_password(&model::api::SetPassword {
        password: password.into(),
        current: None,
    })
    .unwrap();
}
