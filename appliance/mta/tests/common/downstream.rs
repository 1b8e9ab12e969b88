//! A small recording SMTP server standing in for a customer's mail server:
//! answers per a script (by recipient and connection number) and keeps
//! what it accepted, byte for byte (dot-unstuffed).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One accepted message.
#[derive(Clone, Debug)]
pub struct Received {
    /// EHLO/HELO argument.
    pub helo: String,
    /// MAIL FROM address (without brackets).
    pub sender: String,
    /// Accepted RCPT TO addresses.
    pub recipients: Vec<String>,
    /// The message as transmitted, unstuffed, up to (excluding) the final dot line.
    pub data: Vec<u8>,
}

type RcptScript = dyn Fn(&str, usize) -> String + Send + Sync;
type DataScript = dyn Fn(usize) -> String + Send + Sync;

/// The running server.
pub struct Downstream {
    pub port: u16,
    messages: Arc<Mutex<Vec<Received>>>,
    connections: Arc<AtomicUsize>,
}

struct Script {
    rcpt: Box<RcptScript>,
    data: Box<DataScript>,
}

impl Downstream {
    /// A server accepting everything.
    pub async fn accepting() -> Downstream {
        Downstream::start(
            |_, _| "250 2.1.5 Ok".into(),
            |_| "250 2.0.0 Ok: stored".into(),
        )
        .await
    }

    /// A server answering RCPT with `rcpt(address, connection)` and the end
    /// of DATA with `data(connection)`; connections count from 1.
    pub async fn start(
        rcpt: impl Fn(&str, usize) -> String + Send + Sync + 'static,
        data: impl Fn(usize) -> String + Send + Sync + 'static,
    ) -> Downstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let d = Downstream {
            port,
            messages: Arc::default(),
            connections: Arc::default(),
        };
        let script = Arc::new(Script {
            rcpt: Box::new(rcpt),
            data: Box::new(data),
        });
        let (messages, connections) = (d.messages.clone(), d.connections.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let n = connections.fetch_add(1, Ordering::SeqCst) + 1;
                let (script, messages) = (script.clone(), messages.clone());
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(60),
                        serve(stream, n, &script, &messages),
                    )
                    .await;
                });
            }
        });
        d
    }

    /// The messages accepted so far.
    pub fn messages(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn address(line: &str) -> String {
    let start = line.find('<').map_or(0, |i| i + 1);
    let end = line.rfind('>').unwrap_or(line.len());
    line[start..end].to_string()
}

async fn serve(
    stream: TcpStream,
    n: usize,
    script: &Script,
    messages: &Mutex<Vec<Received>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write.write_all(b"220 downstream.test ESMTP\r\n").await?;
    let mut current = Received {
        helo: String::new(),
        sender: String::new(),
        recipients: Vec::new(),
        data: Vec::new(),
    };
    loop {
        let mut line = String::new();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let upper = line.to_ascii_uppercase();
        let reply = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            current.helo = line[5..].trim().to_string();
            "250-downstream.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES"
                .to_string()
        } else if upper.starts_with("MAIL FROM:") {
            current.sender = address(&line);
            current.recipients.clear();
            "250 2.1.0 Ok".to_string()
        } else if upper.starts_with("RCPT TO:") {
            let a = address(&line);
            let r = (script.rcpt)(&a, n);
            if r.starts_with('2') {
                current.recipients.push(a);
            }
            r
        } else if upper.starts_with("DATA") {
            if current.recipients.is_empty() {
                "554 5.5.1 no valid recipients".to_string()
            } else {
                write.write_all(b"354 go ahead\r\n").await?;
                current.data = read_data(&mut read).await?;
                let r = (script.data)(n);
                if r.starts_with('2') {
                    messages.lock().unwrap().push(current.clone());
                }
                r
            }
        } else if upper.starts_with("QUIT") {
            write.write_all(b"221 2.0.0 Bye\r\n").await?;
            return Ok(());
        } else {
            "250 2.0.0 Ok".to_string()
        };
        write.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}

async fn read_data<R: AsyncBufReadExt + Unpin>(read: &mut R) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    loop {
        let mut line = Vec::new();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" {
            return Ok(data);
        }
        let unstuffed = if line.starts_with(b".") {
            &line[1..]
        } else {
            &line[..]
        };
        data.extend_from_slice(unstuffed);
    }
}
