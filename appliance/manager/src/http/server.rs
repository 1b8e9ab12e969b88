//! The API's listeners: the unix socket of the box's own processes and,
//! optionally, TCP.
//!
//! Each connection is tagged with its [`Caller`] at accept time: the TCP
//! peer's address, or the unix peer's uid read from the kernel.
//!
//! Each listener has an accept thread handing connections to a few worker
//! threads through a bounded queue; when the queue is full the connection is
//! closed at once rather than piling up. Shutdown sets a flag, wakes the
//! accept threads with a connection of their own, and joins everything.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::conn::{serve, Context, Limits, Socket};
use super::router::Router;
use crate::caller::Caller;
use crate::error::ManagerError;

/// Worker threads per listener: requests are short, except releases (bounded
/// by the SMTP timeouts).
const WORKERS: usize = 4;
/// Accepted connections waiting for a worker.
const QUEUE: usize = 64;
/// How often an idle worker checks for shutdown.
const WORKER_POLL: Duration = Duration::from_millis(500);
/// Pause after a failed accept (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A listener the accept loop can use.
trait Listen: Send + 'static {
    type Stream: Socket + Send + 'static;
    /// A connection and who is on its other end.
    fn accept_one(&self) -> io::Result<(Self::Stream, Caller)>;
}

impl Listen for UnixListener {
    type Stream = UnixStream;
    fn accept_one(&self) -> io::Result<(UnixStream, Caller)> {
        let (stream, _) = self.accept()?;
        // The kernel's record of the connecting process, not a claim of the client.
        let caller = Caller::of_unix_peer(&stream)?;
        Ok((stream, caller))
    }
}

impl Listen for TcpListener {
    type Stream = TcpStream;
    fn accept_one(&self) -> io::Result<(TcpStream, Caller)> {
        self.accept().map(|(s, a)| (s, Caller::Tcp(a)))
    }
}

/// How to wake a blocked accept: connect to it.
enum Wake {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

struct Running {
    wake: Wake,
    accept: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
}

/// The running listeners.
pub struct HttpServer {
    stop: Arc<AtomicBool>,
    running: Vec<Running>,
    tcp_addr: Option<SocketAddr>,
}

impl HttpServer {
    /// Starts listening: TCP first (when configured), the unix socket last,
    /// since the supervisor's health check on the unix socket means "ready".
    pub fn start(
        router: Arc<Router>,
        socket: &Path,
        tcp: Option<&str>,
    ) -> Result<HttpServer, ManagerError> {
        let mut server = HttpServer {
            stop: Arc::new(AtomicBool::new(false)),
            running: Vec::new(),
            tcp_addr: None,
        };
        if let Some(address) = tcp {
            let listener = TcpListener::bind(address).map_err(|source| ManagerError::Listen {
                endpoint: address.to_string(),
                source,
            })?;
            let local = listener
                .local_addr()
                .map_err(|source| ManagerError::Listen {
                    endpoint: address.to_string(),
                    source,
                })?;
            log::info!("API listening on {local} (token required)");
            server.tcp_addr = Some(local);
            server.spawn(listener, Wake::Tcp(local), &router);
        }
        match bind_unix(socket) {
            Ok(listener) => {
                log::info!("API listening on unix:{}", socket.display());
                server.spawn(listener, Wake::Unix(socket.to_path_buf()), &router);
                Ok(server)
            }
            Err(e) => {
                server.stop();
                Err(e)
            }
        }
    }

    /// The bound TCP address (useful when configured with port 0).
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    fn spawn<L: Listen>(&mut self, listener: L, wake: Wake, router: &Arc<Router>) {
        let (tx, rx) = sync_channel::<(L::Stream, Caller)>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        let workers = (0..WORKERS)
            .map(|_| {
                let (rx, router, stop) = (rx.clone(), router.clone(), self.stop.clone());
                std::thread::spawn(move || worker(&rx, &router, &stop))
            })
            .collect();
        let stop = self.stop.clone();
        let accept = std::thread::spawn(move || loop {
            let accepted = listener.accept_one();
            if stop.load(Ordering::SeqCst) {
                return; // dropping `tx` lets the workers finish
            }
            match accepted {
                Ok(conn) => match tx.try_send(conn) {
                    Ok(()) => {}
                    Err(TrySendError::Full((_, peer))) => {
                        log::warn!("API busy: closing the connection from {peer}");
                    }
                    Err(TrySendError::Disconnected(_)) => return,
                },
                Err(e) => {
                    log::warn!("API accept failed: {e}");
                    std::thread::sleep(ACCEPT_BACKOFF);
                }
            }
        });
        self.running.push(Running {
            wake,
            accept,
            workers,
        });
    }

    /// Stops accepting, lets requests in flight finish, removes the socket file.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for r in self.running {
            // The accept loop sees the flag once this connection arrives.
            let woken = match &r.wake {
                Wake::Unix(p) => UnixStream::connect(p).map(drop),
                Wake::Tcp(a) => TcpStream::connect_timeout(a, Duration::from_secs(1)).map(drop),
            };
            match woken {
                Ok(()) => join(r.accept),
                // E.g. the socket file was deleted under us: the thread
                // stays blocked in accept; let it go rather than hang.
                Err(e) => {
                    log::warn!("cannot wake an API listener ({e}); leaving its thread behind")
                }
            }
            r.workers.into_iter().for_each(join);
            if let Wake::Unix(path) = r.wake {
                if let Err(e) = std::fs::remove_file(&path) {
                    log::warn!("removing {}: {e}", path.display());
                }
            }
        }
    }
}

fn join(thread: JoinHandle<()>) {
    if thread.join().is_err() {
        log::error!("an API thread panicked");
    }
}

fn worker<S: Socket>(rx: &Mutex<Receiver<(S, Caller)>>, router: &Router, stop: &AtomicBool) {
    loop {
        // Hold the lock only while waiting, not while serving.
        let next = rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .recv_timeout(WORKER_POLL);
        let (stream, caller) = match next {
            Ok(conn) => conn,
            Err(RecvTimeoutError::Timeout) if !stop.load(Ordering::SeqCst) => continue,
            Err(_) => return,
        };
        if stop.load(Ordering::SeqCst) {
            continue; // shutting down: close queued connections unserved
        }
        let ctx = Context {
            router,
            caller,
            stop,
            limits: Limits::default(),
        };
        serve(stream, &ctx);
    }
}

/// Binds the unix socket (mode 0660: the roles share a group), replacing a stale socket file but
/// refusing to steal one a live manager still serves.
fn bind_unix(path: &Path) -> Result<UnixListener, ManagerError> {
    let err = |source| ManagerError::Listen {
        endpoint: format!("unix:{}", path.display()),
        source,
    };
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(ManagerError::AlreadyRunning(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(err)?;
    }
    let listener = UnixListener::bind(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(err)?;
    Ok(listener)
}
