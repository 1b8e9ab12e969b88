//! A stand-in for the manager's API on a unix socket (the manager is
//! another crate): serves `/generation` and `/directory` from a value the
//! test changes, and records what is posted to `/tracking`.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use model::api::{Directory, Generation, TrackingEvent};

/// The stand-in; it serves until the test process ends.
#[derive(Clone)]
pub struct FakeManager {
    directory: Arc<Mutex<Directory>>,
    events: Arc<Mutex<Vec<TrackingEvent>>>,
}

impl FakeManager {
    /// Serves on `socket` with `directory`.
    pub fn start(socket: &Path, directory: Directory) -> FakeManager {
        let listener = UnixListener::bind(socket).unwrap();
        let m = FakeManager {
            directory: Arc::new(Mutex::new(directory)),
            events: Arc::default(),
        };
        let served = m.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = served.handle(stream);
            }
        });
        m
    }

    /// Replaces the directory (the test bumps the generation).
    pub fn set_directory(&self, d: Directory) {
        *self.directory.lock().unwrap() = d;
    }

    /// Events posted so far.
    pub fn events(&self) -> Vec<TrackingEvent> {
        self.events.lock().unwrap().clone()
    }

    fn handle(&self, stream: UnixStream) -> std::io::Result<()> {
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut request = String::new();
        reader.read_line(&mut request)?;
        let mut length = 0;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            if h == "\r\n" || h.is_empty() {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let path = request.split_whitespace().nth(1).unwrap_or("");
        let (status, json) = match path {
            "/api/v1/generation" => {
                let generation = self.directory.lock().unwrap().generation;
                (
                    200,
                    serde_json::to_string(&Generation { generation }).unwrap(),
                )
            }
            "/api/v1/directory" => (
                200,
                serde_json::to_string(&*self.directory.lock().unwrap()).unwrap(),
            ),
            "/api/v1/tracking" => {
                let posted: Vec<TrackingEvent> = serde_json::from_slice(&body).unwrap();
                self.events.lock().unwrap().extend(posted);
                (204, String::new())
            }
            _ => (
                404,
                r#"{"error":{"status":404,"code":"not_found","message":"no route"}}"#.into(),
            ),
        };
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
            json.len()
        )
    }
}
