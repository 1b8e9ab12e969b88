//! The filterbox mta role: SMTP server, durable queue, milter client and delivery.
//!
//! [`run`] is the role's entry point (`filterbox mta`); [`Mta`] is the same
//! role as a value, so tests can start it on ephemeral ports, feed its
//! directory, and stop it. The parts:
//!
//! - [`session`]: the SMTP server session as a sans-I/O state machine;
//!   `server` is the I/O around it (listeners, permits, timeouts).
//! - [`policy`] and [`directory`]: relay and recipient control from the
//!   manager's directory, polled for changes; [`callout`] verifies unknown
//!   mailboxes of our domains with their own servers.
//! - [`control`]: the control socket for queue listing, flush, delete,
//!   hold and release; [`dsn`]: the sender's RFC 3461 requests.
//! - [`relay`] and [`dkim`]: who may send outbound mail through the box,
//!   and the DKIM signature of what leaves for our domains.
//! - [`milter`]: the client of the filter (milter protocol 6).
//! - [`queue`]: the sled queue with group commit; a 250 means fsynced.
//! - [`delivery`]: scheduling, delivery with retry, bounces.
//! - [`tracking`]: events for the manager's message tracking.

// `deny`, not `forbid`: the one `unsafe` block takes over the listeners the
// supervisor passes (server/inherited.rs), where it is allowed explicitly.
#![deny(unsafe_code)]

pub mod callout;
pub mod control;
pub mod delivery;
pub mod directory;
pub mod dkim;
pub mod dsn;
mod error;
pub mod message;
pub mod milter;
pub mod policy;
pub mod queue;
pub mod relay;
mod server;
pub mod session;
pub mod tracking;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use model::client::ApiClient;
use model::config::{SystemConfig, API_TOKEN_FILE};
use model::Endpoint;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use error::MtaError;

use delivery::DeliveryContext;
use directory::Directory;
use queue::{Committer, Store};
use server::{Permits, Shared};
use session::SessionConfig;
use tracking::Tracker;

/// File name of the queue database inside the data directory.
pub const QUEUE_DB: &str = "queue.db";

/// sled's own periodic flush: bounds how many delivery-state updates a
/// crash can lose (new messages are fsynced before their 250 regardless).
const BACKGROUND_FLUSH: Duration = Duration::from_secs(1);
/// Time limit of each call to the manager's API.
const API_TIMEOUT: Duration = Duration::from_secs(5);
/// How long shutdown waits for the committer and the tracker to finish.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs the mta until `shutdown` completes, then stops gracefully.
pub async fn run(
    config: Arc<SystemConfig>,
    data_dir: PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), MtaError> {
    let mta = Mta::start(config, data_dir).await?;
    shutdown.await;
    log::info!("shutting down");
    mta.shutdown().await
}

/// A running mta.
#[derive(Debug)]
pub struct Mta {
    smtp_addr: SocketAddr,
    submission_addr: Option<SocketAddr>,
    smtps_addr: Option<SocketAddr>,
    inject_socket: PathBuf,
    directory: Arc<Directory>,
    store: Store,
    shared: Arc<Shared>,
    permits: Arc<Permits>,
    stop: watch::Sender<bool>,
    stop_tracker: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    scheduler: JoinHandle<()>,
    committer: JoinHandle<()>,
    tracker: JoinHandle<()>,
}

impl Mta {
    /// Opens the queue, starts delivery, tracking and the directory poller,
    /// and binds the listeners (last, so a connection is served at once).
    pub async fn start(config: Arc<SystemConfig>, data_dir: PathBuf) -> Result<Mta, MtaError> {
        let mta = &config.mta;
        let path = data_dir.join(QUEUE_DB);
        let store = tokio::task::spawn_blocking(move || Store::open(&path, Some(BACKGROUND_FLUSH)))
            .await
            .expect("queue open task")?;
        let (committer, committer_task) = Committer::start(store.clone());
        let holds = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || queue::Holds::open(&store))
                .await
                .expect("queue holds task")?
        };
        let api = manager_client(&mta.manager, &data_dir);
        let (stop, stop_rx) = watch::channel(false);
        let (stop_tracker, stop_tracker_rx) = watch::channel(false);
        let (tracker, tracker_task) = Tracker::start(api.clone(), stop_tracker_rx);
        let callout = callout::Callout::new(api.clone(), &config.hostname, mta);
        let security = server::tls::Security::load(&config, api.clone());

        let directory = Arc::new(Directory::default());
        if let Err(e) = directory::refresh(&directory, &api).await {
            log::warn!("no directory yet (recipients get 451 until it arrives): {e}");
        }
        let mut tasks = vec![tokio::spawn(directory::poll(
            directory.clone(),
            api,
            stop_rx.clone(),
        ))];

        // Unbounded on purpose: one id per message that is already on disk;
        // a full channel would have to drop one and leave it undelivered.
        let (queued_tx, queued_rx) = mpsc::unbounded_channel();
        let ctx = Arc::new(delivery_context(
            &config, &store, &committer, &directory, &tracker, &queued_tx, &holds,
        ));
        let scheduler = tokio::spawn(delivery::scheduler::run(
            ctx,
            mta.delivery_workers,
            queued_rx,
            stop_rx.clone(),
        ));

        let control = Arc::new(control::Control {
            store: store.clone(),
            holds,
            queued: queued_tx.clone(),
            tracker: tracker.clone(),
        });
        let control_listener =
            control::bind(&mta.control_socket).map_err(|source| MtaError::Listen {
                address: format!("unix:{}", mta.control_socket.display()),
                source,
            })?;
        tasks.push(tokio::spawn(control::serve(
            control_listener,
            control,
            stop_rx.clone(),
        )));
        let shared = Arc::new(Shared {
            session: SessionConfig {
                hostname: config.hostname.clone(),
                max_message_size: usize::try_from(mta.max_message_size).unwrap_or(usize::MAX),
                max_recipients: mta.max_recipients,
            },
            milter: mta.milter.clone(),
            directory: directory.clone(),
            committer,
            tracker,
            queued: queued_tx,
            limits: Arc::new(server::limits::Limits::new(mta)),
            callout,
            security,
        });
        let listeners = server::bind(mta).await?;
        let smtp_addr = local_addr(&listeners.smtp, &mta.smtp_listen)?;
        let submission_addr = match &listeners.submission {
            Some(l) => Some(local_addr(l, "submission")?),
            None => None,
        };
        let permits = Permits::new(mta.max_connections);
        let smtps_addr = match &listeners.smtps {
            Some(l) => Some(local_addr(l, "smtps")?),
            None => None,
        };
        use server::tls::Listener as Kind;
        let smtp = std::iter::once((listeners.smtp, Kind::Smtp));
        let submission = listeners.submission.map(|l| (l, Kind::Submission));
        let implicit = listeners.smtps.map(|l| (l, Kind::Implicit));
        for (l, kind) in smtp.chain(submission).chain(implicit) {
            tasks.push(tokio::spawn(server::accept_tcp(
                l,
                kind,
                shared.clone(),
                permits.clone(),
                stop_rx.clone(),
            )));
        }
        tasks.push(tokio::spawn(server::accept_inject(
            listeners.inject,
            shared.clone(),
            permits.clone(),
            stop_rx,
        )));
        log::info!(
            "listening: smtp {smtp_addr}, submission {}, smtps {}, inject unix:{}",
            submission_addr.map_or("off".to_string(), |a| a.to_string()),
            smtps_addr.map_or("off".to_string(), |a| a.to_string()),
            mta.inject_socket.display()
        );
        Ok(Mta {
            smtp_addr,
            submission_addr,
            smtps_addr,
            inject_socket: mta.inject_socket.clone(),
            directory,
            store,
            shared,
            permits,
            stop,
            stop_tracker,
            tasks,
            scheduler,
            committer: committer_task,
            tracker: tracker_task,
        })
    }

    /// Where inbound SMTP listens (the bound port when configured as `:0`).
    pub fn smtp_addr(&self) -> SocketAddr {
        self.smtp_addr
    }

    /// Where submission listens, if enabled.
    pub fn submission_addr(&self) -> Option<SocketAddr> {
        self.submission_addr
    }

    /// Where implicit TLS (465) listens, if enabled.
    pub fn smtps_addr(&self) -> Option<SocketAddr> {
        self.smtps_addr
    }

    /// The directory in use; [`Directory::apply`] is how the poller updates it.
    pub fn directory(&self) -> &Arc<Directory> {
        &self.directory
    }

    /// Stops accepting, lets sessions finish their message and delivery
    /// attempts end (each within a few seconds), then flushes the queue.
    pub async fn shutdown(self) -> Result<(), MtaError> {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        let grace = server::SHUTDOWN_GRACE + Duration::from_secs(2);
        if tokio::time::timeout(grace, self.permits.drained())
            .await
            .is_err()
        {
            log::warn!("sessions still open at shutdown; they are cut off");
        }
        let _ = self.scheduler.await;
        // Sessions and workers are gone: the last committer handle goes with `shared`.
        drop(self.shared);
        if tokio::time::timeout(STOP_TIMEOUT, self.committer)
            .await
            .is_err()
        {
            log::warn!("queue committer still busy at shutdown");
        }
        let _ = self.stop_tracker.send(true);
        if tokio::time::timeout(STOP_TIMEOUT, self.tracker)
            .await
            .is_err()
        {
            log::warn!("tracking events still unsent at shutdown");
        }
        let store = self.store;
        tokio::task::spawn_blocking(move || store.flush())
            .await
            .expect("queue flush task")?;
        let _ = std::fs::remove_file(&self.inject_socket);
        log::info!("stopped");
        Ok(())
    }
}

fn local_addr(listener: &tokio::net::TcpListener, name: &str) -> Result<SocketAddr, MtaError> {
    listener.local_addr().map_err(|source| MtaError::Listen {
        address: name.to_string(),
        source,
    })
}

/// The manager's API client; over TCP it needs the token from the data directory.
fn manager_client(endpoint: &Endpoint, data_dir: &Path) -> ApiClient {
    let token = match endpoint {
        Endpoint::Tcp(_) => std::fs::read_to_string(data_dir.join(API_TOKEN_FILE))
            .ok()
            .map(|t| t.trim().to_string()),
        Endpoint::Unix(_) => None,
    };
    ApiClient::new(endpoint.clone())
        .with_token(token)
        .with_timeout(API_TIMEOUT)
}

fn delivery_context(
    config: &SystemConfig,
    store: &Store,
    committer: &Committer,
    directory: &Arc<Directory>,
    tracker: &Tracker,
    queued: &mpsc::UnboundedSender<String>,
    holds: &queue::Holds,
) -> DeliveryContext {
    let mta = &config.mta;
    DeliveryContext {
        store: store.clone(),
        committer: committer.clone(),
        directory: directory.clone(),
        tracker: tracker.clone(),
        hostname: config.hostname.clone(),
        client: smtp_client::ClientConfig {
            helo_name: config.hostname.clone(),
            ..smtp_client::ClientConfig::default()
        },
        retry_initial: Duration::from_secs(mta.retry_initial_secs),
        retry_max: Duration::from_secs(mta.retry_max_secs),
        give_up_after: Duration::from_secs(mta.give_up_after_secs),
        queued: queued.clone(),
        dns: delivery::dns::Dns::new(&mta.dns),
        limits: delivery::limit::DestinationLimits::new(mta.per_destination_concurrency),
        holds: holds.clone(),
        delay_notice_after: Duration::from_secs(mta.delay_notice_after_secs),
    }
}
