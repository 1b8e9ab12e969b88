//! The filterbox manager role: data.db, the JSON API, quarantine, tracking,
//! mail counters and the admin account.
//!
//! The manager is the source of truth of the box (ARCHITECTURE.md): it owns
//! `data.db` and serves the JSON API of [`model::api`] on a trusted unix
//! socket and, with a token, on TCP. The mta and the filter read the
//! directory and write quarantine and tracking through it; `filterbox ctl`,
//! the console and the web UI administer the box through it. The admin
//! password (argon2id hash in data.db) can always be reset over the unix
//! socket by root, i.e. by someone at the box: the recovery path for a lost
//! one (see `admin` for who else may change it).
//!
//! [`run`] is the role's entry point; [`Manager`] is the same service with a
//! handle, for callers (tests) that need the bound TCP address.

#![forbid(unsafe_code)]

mod admin;
mod caller;
mod digest;
mod error;
mod http;
pub mod links;
mod release;
mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use model::config::{InitialData, SystemConfig, API_TOKEN_FILE};

pub use admin::throttle::LockoutPolicy;
pub use error::ManagerError;
use http::router::Router;
pub use http::router::MAX_BODY;
use http::server::HttpServer;
use release::Releaser;
use store::{Store, StoreError};

/// Name of the database directory inside the data directory.
pub const DATA_DB: &str = "data.db";

/// Settings of a manager that are not in `system.json`: test hooks.
#[derive(Debug, Clone, Default)]
pub struct ManagerOptions {
    /// How admin password guesses are limited (tests shorten the lockout).
    pub lockout: LockoutPolicy,
}

/// A running manager: database open, listeners serving.
pub struct Manager {
    server: Option<HttpServer>,
    store: Arc<Store>,
    /// Stops the digest thread when dropped or sent to.
    digest_stop: Option<std::sync::mpsc::Sender<()>>,
    digest_thread: Option<std::thread::JoinHandle<()>>,
}

impl Manager {
    /// Opens (or creates) `DIR/data.db`, imports `initial_data` into a new
    /// database, makes sure the API token exists and starts the listeners.
    /// Blocking: call it outside async code (as [`run`] does).
    pub fn start(config: &SystemConfig, data_dir: &Path) -> Result<Manager, ManagerError> {
        Manager::start_with(config, data_dir, ManagerOptions::default())
    }

    /// [`Manager::start`] with `options`.
    pub fn start_with(
        config: &SystemConfig,
        data_dir: &Path,
        options: ManagerOptions,
    ) -> Result<Manager, ManagerError> {
        let config = config.clone().resolve(data_dir);
        let path = data_dir.join(DATA_DB);
        let store = Store::open(&path).map_err(|source| ManagerError::Open { path, source })?;
        import_initial_data(&store, &config.initial_data)?;
        store.ensure_dkim_keys(model::time::now_ms())?;
        // Used digest links past their expiry are refused as expired anyway.
        let purged = store.purge_used_links(model::time::now_ms() / 1000)?;
        if purged > 0 {
            log::info!("forgot {purged} used digest links that have expired");
        }
        let token_path = data_dir.join(API_TOKEN_FILE);
        let token = http::auth::load_or_create_token(&token_path).map_err(|source| {
            ManagerError::Token {
                path: token_path,
                source,
            }
        })?;
        let releaser = Releaser::new(config.manager.mta_inject.clone(), &config.hostname)
            .map_err(ManagerError::Runtime)?
            .with_admin(config.manager.notify_admin.clone());
        let store = Arc::new(store);
        let router = Arc::new(
            Router::new(store.clone(), releaser, token)
                .with_lockout(options.lockout)
                .with_control_socket(config.control_socket.clone())
                .with_mta_control(config.mta.control_socket.clone())
                .with_tls(config.tls.clone())
                .with_public_url(
                    config
                        .manager
                        .public_url
                        .clone()
                        .unwrap_or_else(|| format!("https://{}", config.hostname)),
                ),
        );
        let (digest_stop, stopped) = std::sync::mpsc::channel::<()>();
        let digests = Arc::clone(&router);
        let digest_thread = std::thread::Builder::new()
            .name("digests".into())
            .spawn(move || {
                // Until told to stop (or the manager is gone).
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(digest::CHECK_EVERY)
                {
                    if let Err(e) = digests.send_digests(false) {
                        log::warn!("quarantine digests: {e}");
                    }
                }
            })
            .map_err(ManagerError::Runtime)?;
        let server = HttpServer::start(
            router,
            &config.manager.api_socket,
            config.manager.http_listen.as_deref(),
        )?;
        Ok(Manager {
            server: Some(server),
            store,
            digest_stop: Some(digest_stop),
            digest_thread: Some(digest_thread),
        })
    }

    /// The bound TCP address of the API, when it listens on TCP.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().and_then(HttpServer::tcp_addr)
    }

    /// Stops the listeners (requests in flight finish), flushes the
    /// database and removes the unix socket.
    pub fn stop(mut self) -> Result<(), ManagerError> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Result<(), ManagerError> {
        if let Some(stop) = self.digest_stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.digest_thread.take() {
            let _ = t.join();
        }
        if let Some(server) = self.server.take() {
            server.stop();
            self.store.flush()?;
            log::info!("manager stopped");
        }
        Ok(())
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        if let Err(e) = self.shut_down() {
            log::error!("stopping the manager: {e}");
        }
    }
}

/// The manager role: serves until `shutdown` completes, then stops cleanly.
pub async fn run(
    config: Arc<SystemConfig>,
    data_dir: PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ManagerError> {
    let manager = tokio::task::spawn_blocking(move || Manager::start(&config, &data_dir))
        .await
        .map_err(|e| ManagerError::Task(e.to_string()))??;
    shutdown.await;
    log::info!("manager shutting down");
    tokio::task::spawn_blocking(move || manager.stop())
        .await
        .map_err(|e| ManagerError::Task(e.to_string()))?
}

/// Creates the configured domains and users in a new database, through the
/// same validation as the API; a database that was initialised once is left
/// alone (it is the source of truth from then on).
fn import_initial_data(store: &Store, data: &InitialData) -> Result<(), ManagerError> {
    if !store.is_new()? {
        return Ok(());
    }
    let now = model::time::now_ms();
    let results = data
        .domains
        .iter()
        .map(|d| {
            (
                format!("domain {:?}", d.name),
                store.create_domain(d, now).map(drop),
            )
        })
        .chain(data.users.iter().map(|u| {
            (
                format!("user {:?}", u.address),
                store.create_user(u, now).map(drop),
            )
        }));
    for (what, result) in results {
        match result {
            Ok(()) => {}
            // Already there: an import interrupted by a crash, now resumed.
            Err(StoreError::Conflict(m)) => log::warn!("initial data: {m}"),
            Err(StoreError::Invalid(m)) => {
                return Err(ManagerError::InitialData(format!("{what}: {m}")))
            }
            Err(e) => return Err(e.into()),
        }
    }
    store.mark_initialized()?;
    log::info!(
        "new database: imported {} domains and {} users from initial_data",
        data.domains.len(),
        data.users.len()
    );
    Ok(())
}
