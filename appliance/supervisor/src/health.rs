//! Health probes: how the supervisor knows a role is ready to serve.
//!
//! Each probe asks the role the way its clients do, so "healthy" means
//! "its clients would get an answer now": the manager answers `GET /health`,
//! the filter accepts a milter connection, the mta greets with `220`.

use std::time::Duration;

use model::client::ApiClient;
use model::config::{Role, SystemConfig};
use model::Endpoint;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// How long one probe of a starting role may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest greeting line read from the mta.
const MAX_GREETING: u64 = 1024;

/// Asks `role` once whether it serves, within `timeout`; `Err` says why not.
pub async fn probe(role: Role, config: &SystemConfig, timeout: Duration) -> Result<(), String> {
    let check = async {
        match role {
            Role::Manager => {
                let client = ApiClient::new(Endpoint::Unix(config.manager.api_socket.clone()))
                    .with_timeout(timeout);
                tokio::task::spawn_blocking(move || client.health())
                    .await
                    .map_err(|e| e.to_string())?
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            Role::Filter => {
                let endpoint = config
                    .filter
                    .listen
                    .first()
                    .ok_or("the filter has no listener")?;
                connect(endpoint).await
            }
            Role::Mta => smtp_greeting(&config.mta.smtp_listen).await,
        }
    };
    tokio::time::timeout(timeout, check)
        .await
        .unwrap_or_else(|_| Err("no answer within the probe timeout".into()))
}

/// Opens and drops a connection: the role accepts, so it serves.
async fn connect(endpoint: &Endpoint) -> Result<(), String> {
    let result = match endpoint {
        Endpoint::Unix(p) => tokio::net::UnixStream::connect(p).await.map(drop),
        Endpoint::Tcp(a) => tokio::net::TcpStream::connect(a.as_str()).await.map(drop),
    };
    result.map_err(|e| format!("{endpoint}: {e}"))
}

async fn smtp_greeting(address: &str) -> Result<(), String> {
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|e| format!("{address}: {e}"))?;
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read.take(MAX_GREETING))
        .read_line(&mut line)
        .await
        .map_err(|e| e.to_string())?;
    // Be polite so the mta does not log a dropped session as an error.
    let _ = write.write_all(b"QUIT\r\n").await;
    if line.starts_with("220") {
        Ok(())
    } else {
        Err(format!("greeting was {:?}", line.trim_end()))
    }
}
