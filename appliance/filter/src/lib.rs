//! The filterbox filter role: a milter server that scores, scans and quarantines.
//!
//! The mta (or any Postfix or sendmail) connects over the Sendmail milter
//! protocol, version 6, on the unix sockets and TCP addresses of
//! `filter.listen`. At end of message the network checks ([`auth`]) and
//! the [`engine`] give a verdict, and the administrators' [`policy`]
//! decides per recipient: delivered with `X-Spam-Score`, `X-Spam-Status`
//! and `Authentication-Results` (forged incoming ones removed), tagged,
//! held in the manager's quarantine, or refused. If the manager cannot
//! take a message the client is told to retry later.
//!
//! Layout: [`server`] (listeners, connections, shutdown), [`milter`] (the
//! milter callbacks), [`message`] (what a connection collects, sans I/O),
//! [`negotiate`], [`headers`], [`quarantine`], [`outbound`] (a customer's
//! own mail: viruses, blocked attachments and spam held, the sender told),
//! [`scanner`] (runs the [`engine`] on its own threads), [`clamd`] (an
//! installed clamd, asked too), [`auth`] (SPF, DKIM, DMARC, ARC and the
//! [`dnsbl`] block lists), [`history`] (the sender history, delay queue
//! and snowshoe detection, crate `sender-history`), [`learn`] (what the
//! quarantine teaches the model), [`signatures`] (virus signatures,
//! reloaded when they change).

#![forbid(unsafe_code)]

pub mod auth;
pub mod clamd;
pub mod dnsbl;
pub mod engine;
pub mod error;
pub mod headers;
pub mod history;
pub mod learn;
pub mod message;
pub mod milter;
pub mod negotiate;
pub mod outbound;
pub mod policy;
pub mod quarantine;
pub mod scanner;
pub mod server;
pub mod signatures;
pub mod timeout;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use log::{info, warn};
use model::config::SystemConfig;
use model::Endpoint;
use tokio::sync::{watch, Semaphore};

pub use engine::{scan, Class, Verdict};
pub use error::FilterError;

use milter::Context;
use server::{Listener, Phase, MAX_CONNECTIONS, SHUTDOWN_GRACE};

/// Runs the filter until `shutdown` completes: binds every `filter.listen`
/// endpoint (only then is the role healthy), serves milter connections, and
/// on shutdown stops accepting, lets connections finish for
/// [`SHUTDOWN_GRACE`], then cuts the rest.
pub async fn run(
    config: Arc<SystemConfig>,
    data_dir: PathBuf,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), FilterError> {
    let filter = &config.filter;
    if filter.listen.is_empty() {
        return Err(FilterError::NoListeners);
    }
    let auth = auth::Auth::new(filter, &config.hostname)?;
    // Bound first: a second filter on the same data directory is refused
    // for its socket before it could contend for history.db.
    let listeners = bind_all(&filter.listen).await?;
    let history = history::SenderHistory::open(filter, &data_dir).inspect_err(|_| {
        remove_unix_sockets(&listeners);
    })?;
    let classifier = learn::load(&data_dir);
    let learner = tokio::spawn(
        learn::Learner::new(filter.manager.clone(), classifier.clone(), &data_dir).run(
            std::time::Duration::from_secs(filter.policy_refresh_secs.max(1)),
        ),
    );
    let policy = Arc::new(policy::PolicyCache::default());
    let policy_poll = tokio::spawn(policy::poll(
        filter.manager.clone(),
        Arc::clone(&policy),
        data_dir.clone(),
        std::time::Duration::from_secs(filter.policy_refresh_secs.max(1)),
    ));
    let sig_dir = filter.signatures_dir.clone();
    let seen = signatures::fingerprint(&sig_dir);
    let virus_signatures = engine::virus::Signatures::new(signatures::load(&sig_dir));
    let signature_watch = tokio::spawn(signatures::watch(
        sig_dir,
        virus_signatures.clone(),
        seen,
        std::time::Duration::from_secs(filter.policy_refresh_secs.max(1)),
    ));
    let ctx = Arc::new(Context {
        policy,
        engines: engine::Engines::new(virus_signatures.clone(), classifier.clone()),
        scanner: scanner::Scanner::new(engine::Engine::with(virus_signatures, classifier)),
        quarantine: quarantine::Quarantine::new(filter.manager.clone(), &data_dir),
        clamd: filter.clamd.clone(),
        scan_timeout: std::time::Duration::from_millis(filter.scan_timeout_ms),
        on_failure: filter.on_engine_failure,
        auth,
        history,
    });
    let names: Vec<String> = listeners.iter().map(Listener::describe).collect();
    info!(
        "filter listening on {}; quarantine via manager at {}",
        names.join(", "),
        filter.manager
    );

    let (phase_tx, phase_rx) = watch::channel(Phase::Running);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let loops: Vec<_> = listeners
        .into_iter()
        .map(|l| {
            let (ctx, permits, phase) = (Arc::clone(&ctx), Arc::clone(&permits), phase_rx.clone());
            tokio::spawn(server::accept_loop(l, ctx, permits, phase))
        })
        .collect();

    shutdown.await;
    info!("filter stopping: no new connections");
    let _ = phase_tx.send(Phase::Draining);
    for l in loops {
        let _ = l.await;
    }
    drain(&phase_tx, &permits).await;
    learner.abort();
    policy_poll.abort();
    signature_watch.abort();
    if let Err(e) = ctx.history.flush() {
        warn!("filter: cannot flush the sender history: {e}");
    }
    info!("filter stopped");
    Ok(())
}

/// Binds every endpoint, or none: on an error the sockets bound so far are removed.
async fn bind_all(endpoints: &[Endpoint]) -> Result<Vec<Listener>, FilterError> {
    let mut listeners = Vec::new();
    for endpoint in endpoints {
        match Listener::bind(endpoint).await {
            Ok(l) => listeners.push(l),
            Err(e) => {
                remove_unix_sockets(&listeners);
                return Err(e);
            }
        }
    }
    Ok(listeners)
}

/// Waits for the connections to end (each holds a permit), cutting those
/// still open after [`SHUTDOWN_GRACE`].
async fn drain(phase: &watch::Sender<Phase>, permits: &Semaphore) {
    let all = MAX_CONNECTIONS as u32;
    if tokio::time::timeout(SHUTDOWN_GRACE, permits.acquire_many(all))
        .await
        .is_ok()
    {
        return;
    }
    warn!(
        "filter: {} connection(s) still open after {} s, closing them",
        MAX_CONNECTIONS - permits.available_permits(),
        SHUTDOWN_GRACE.as_secs()
    );
    let _ = phase.send(Phase::Aborting);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, permits.acquire_many(all)).await;
}

fn remove_unix_sockets(listeners: &[Listener]) {
    for l in listeners {
        if let Listener::Unix(_, path) = l {
            let _ = std::fs::remove_file(path);
        }
    }
}
