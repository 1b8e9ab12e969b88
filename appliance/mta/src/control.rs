//! The mta's control socket: queue listing, flush, delete, and per-domain
//! hold and release ([`model::queue`], one JSON request per line, one
//! answer per line). The manager's `/queue` routes forward here; the mta
//! alone opens `queue.db`.
//!
//! Requests are handled off the async runtime (sled blocks). A flushed or
//! released message is due now and announced to the delivery scheduler.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use model::api::EventKind;
use model::queue::{QueueDone, QueueItem, QueueRecipient, QueueRequest, QueueResponse};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};

use crate::queue::{Entry, Holds, QueueError, Status, Store};
use crate::tracking::{event, Tracker};

/// Longest request line.
pub const MAX_REQUEST: u64 = 64 * 1024;
/// Waiting for a request line, and writing the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Default and largest number of messages listed.
const LIST_DEFAULT: usize = 100;
const LIST_MAX: usize = 10_000;

/// What queue operations need.
#[derive(Clone, Debug)]
pub struct Control {
    /// The queue.
    pub store: Store,
    /// Held domains.
    pub holds: Holds,
    /// Announces messages due now to the delivery scheduler.
    pub queued: mpsc::UnboundedSender<String>,
    /// For the `deleted` tracking event.
    pub tracker: Tracker,
}

impl Control {
    /// Carries out one request. Blocking (sled).
    pub fn handle(&self, request: QueueRequest) -> QueueResponse {
        let result = match request {
            QueueRequest::List { domain, limit } => self.list(domain.as_deref(), limit),
            QueueRequest::Show { id } => self.show(&id),
            QueueRequest::Flush { id, domain } => self.flush(id.as_deref(), domain.as_deref()),
            QueueRequest::Delete { id } => self.delete(&id),
            QueueRequest::Holds => Ok(QueueResponse::Holds {
                domains: self.holds.list(),
            }),
            QueueRequest::Hold { domain } => self.hold(&domain),
            QueueRequest::Release { domain } => self.release(&domain),
        };
        result.unwrap_or_else(|e| error("storage", e.to_string()))
    }

    fn list(
        &self,
        domain: Option<&str>,
        limit: Option<usize>,
    ) -> Result<QueueResponse, QueueError> {
        let limit = limit.unwrap_or(LIST_DEFAULT).min(LIST_MAX);
        let mut entries = self.matching(None, domain)?;
        entries.sort_by_key(|e| e.arrived);
        let items = entries
            .iter()
            .take(limit)
            .map(|e| self.item(e))
            .collect::<Result<_, _>>()?;
        Ok(QueueResponse::Items { items })
    }

    fn show(&self, id: &str) -> Result<QueueResponse, QueueError> {
        Ok(match self.store.entry(id)? {
            Some(e) => QueueResponse::Item {
                item: self.item(&e)?,
            },
            None => not_found(id),
        })
    }

    fn flush(&self, id: Option<&str>, domain: Option<&str>) -> Result<QueueResponse, QueueError> {
        let entries = self.matching(id, domain)?;
        if let (Some(id), true) = (id, entries.is_empty()) {
            return Ok(not_found(id));
        }
        let now = model::time::now_ms();
        for mut e in entries.iter().cloned() {
            e.next_attempt = now;
            self.store.update(&e)?;
            // The scheduler is gone only during shutdown; the entry is due anyway.
            let _ = self.queued.send(e.id);
        }
        log::info!("control: flushed {} message(s)", entries.len());
        Ok(done(entries.len()))
    }

    fn delete(&self, id: &str) -> Result<QueueResponse, QueueError> {
        let Some(entry) = self.store.entry(id)? else {
            return Ok(not_found(id));
        };
        self.store.remove(id)?;
        self.store.flush()?;
        log::info!("control: {id} deleted from the queue");
        let pending: Vec<String> = entry.pending().map(|r| r.address.clone()).collect();
        let mut e = event(EventKind::Deleted, id, &entry.sender, &pending);
        e.message_id = entry.message_id.clone();
        e.detail = "deleted from the queue by an administrator".into();
        self.tracker.emit(e);
        Ok(done(1))
    }

    fn hold(&self, domain: &str) -> Result<QueueResponse, QueueError> {
        let Ok(domain) = model::address::normalize_domain(domain) else {
            return Ok(error("invalid", format!("{domain:?} is not a domain name")));
        };
        self.holds.hold(&domain)?;
        log::info!("control: mail for {domain} held");
        Ok(done(self.matching(None, Some(&domain))?.len()))
    }

    fn release(&self, domain: &str) -> Result<QueueResponse, QueueError> {
        let Ok(domain) = model::address::normalize_domain(domain) else {
            return Ok(error("invalid", format!("{domain:?} is not a domain name")));
        };
        if !self.holds.release(&domain)? {
            return Ok(error("not_found", format!("mail for {domain} is not held")));
        }
        log::info!("control: mail for {domain} released");
        self.flush(None, Some(&domain))
    }

    /// Entries with `id`, or with a pending recipient in `domain`, or all.
    fn matching(&self, id: Option<&str>, domain: Option<&str>) -> Result<Vec<Entry>, QueueError> {
        if let Some(id) = id {
            return Ok(self.store.entry(id)?.into_iter().collect());
        }
        let domain = domain.map(|d| model::address::normalize_domain(d).unwrap_or_default());
        Ok(self
            .store
            .load_all()?
            .into_iter()
            .filter(|e| match &domain {
                Some(d) => e
                    .pending()
                    .any(|r| model::address::domain_of(&r.address) == d),
                None => true,
            })
            .collect())
    }

    fn item(&self, e: &Entry) -> Result<QueueItem, QueueError> {
        let size = self.store.body(&e.id)?.map_or(0, |b| b.len() as u64);
        let recipients = e
            .pending()
            .map(|r| QueueRecipient {
                address: r.address.clone(),
                attempts: e.attempts,
                next_attempt: e.next_attempt,
                last_error: match &r.status {
                    Status::Pending { last } => last.clone(),
                    _ => None,
                },
                held: self.holds.is_held(model::address::domain_of(&r.address)),
            })
            .collect();
        Ok(QueueItem {
            id: e.id.clone(),
            sender: e.sender.clone(),
            received: e.arrived,
            size,
            message_id: e.message_id.clone(),
            recipients,
        })
    }
}

fn done(messages: usize) -> QueueResponse {
    QueueResponse::Done(QueueDone { messages })
}

fn not_found(id: &str) -> QueueResponse {
    error("not_found", format!("no queued message {id:?}"))
}

fn error(code: &str, message: String) -> QueueResponse {
    QueueResponse::Error {
        code: code.into(),
        message,
    }
}

/// Binds the control socket at `path` (a stale file is removed; mode 0600).
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Serves the control socket until `stop` turns true.
pub async fn serve(listener: UnixListener, control: Arc<Control>, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                tokio::spawn(connection(stream, control.clone()));
            }
            Err(e) => {
                log::warn!("control: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Answers request lines until the client closes, a line is too long, or
/// a read or write times out.
async fn connection(stream: UnixStream, control: Arc<Control>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read.take(u64::MAX));
    loop {
        let mut line = String::new();
        lines.get_mut().set_limit(MAX_REQUEST + 1);
        let n = match tokio::time::timeout(IO_TIMEOUT, lines.read_line(&mut line)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return log::debug!("control: read failed: {e}"),
            Err(_) => return,
        };
        if n == 0 {
            return;
        }
        let too_long = line.len() as u64 > MAX_REQUEST;
        let answer = if too_long {
            error(
                "invalid",
                format!("request longer than {MAX_REQUEST} bytes"),
            )
        } else {
            answer(&control, &line).await
        };
        let mut out = serde_json::to_vec(&answer).expect("answers serialise");
        out.push(b'\n');
        let written = tokio::time::timeout(IO_TIMEOUT, write.write_all(&out)).await;
        // After an over-long line the rest of it is junk: stop here.
        if too_long || !matches!(written, Ok(Ok(()))) {
            return;
        }
    }
}

async fn answer(control: &Arc<Control>, line: &str) -> QueueResponse {
    let request: QueueRequest = match serde_json::from_str(line) {
        Ok(r) => r,
        Err(e) => return error("invalid", format!("not a queue request: {e}")),
    };
    let control = control.clone();
    tokio::task::spawn_blocking(move || control.handle(request))
        .await
        .unwrap_or_else(|e| error("internal", format!("request failed: {e}")))
}
