//! A blocking client of the manager's JSON API.
//!
//! Shared by `filterbox ctl`, the supervisor's health checks and the roles
//! (async roles call it from `spawn_blocking`). It speaks just enough
//! HTTP/1.1 for the manager: one request per connection (`Connection: close`),
//! `Content-Length` or chunked answers. Over TCP it sends the API token.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::{self, encode_component, ErrorBody};
use crate::Endpoint;

/// Largest answer the client reads; a quarantined message is the biggest thing
/// the API returns (the mta's size limit plus room for JSON and base64).
const MAX_RESPONSE: usize = 128 * 1024 * 1024;

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens there (or the socket is missing): is the manager running?
    #[error("cannot reach the manager at {endpoint}: {source} (is the manager running?)")]
    Connect {
        /// Where we tried.
        endpoint: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The connection broke or timed out mid-request.
    #[error("talking to the manager at {endpoint}: {source}")]
    Io {
        /// Where.
        endpoint: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The answer was not HTTP as expected.
    #[error("malformed answer from the manager: {0}")]
    Malformed(String),
    /// The manager answered with an error.
    #[error("{message} (HTTP {status}, {code})")]
    Api {
        /// HTTP status.
        status: u16,
        /// [`api::ErrorDetail::code`].
        code: String,
        /// [`api::ErrorDetail::message`].
        message: String,
    },
    /// The answer's JSON did not have the expected shape.
    #[error("unexpected JSON from the manager: {0}")]
    Decode(#[from] serde_json::Error),
}

impl ClientError {
    /// The HTTP status when the manager answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// Status code.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// A client of one manager endpoint.
#[derive(Debug, Clone)]
pub struct ApiClient {
    endpoint: Endpoint,
    token: Option<String>,
    timeout: Duration,
}

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
        }
    }
}

impl ApiClient {
    /// A client of `endpoint` with a 30 s timeout and no token.
    pub fn new(endpoint: Endpoint) -> ApiClient {
        ApiClient {
            endpoint,
            token: None,
            timeout: Duration::from_secs(30),
        }
    }

    /// Sends `token` as `Authorization: Bearer` (needed on TCP).
    pub fn with_token(mut self, token: Option<String>) -> ApiClient {
        self.token = token;
        self
    }

    /// Sets the connect, read and write timeout of each call.
    pub fn with_timeout(mut self, timeout: Duration) -> ApiClient {
        self.timeout = timeout;
        self
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn connect(&self) -> Result<Stream, ClientError> {
        let err = |source| ClientError::Connect {
            endpoint: self.endpoint.to_string(),
            source,
        };
        let stream = match &self.endpoint {
            Endpoint::Unix(p) => {
                let s = UnixStream::connect(p).map_err(err)?;
                s.set_read_timeout(Some(self.timeout)).map_err(err)?;
                s.set_write_timeout(Some(self.timeout)).map_err(err)?;
                Stream::Unix(s)
            }
            Endpoint::Tcp(a) => {
                use std::net::ToSocketAddrs;
                let addrs: Vec<_> = a.to_socket_addrs().map_err(err)?.collect();
                let mut last = None;
                let mut conn = None;
                for addr in addrs {
                    match TcpStream::connect_timeout(&addr, self.timeout) {
                        Ok(s) => {
                            conn = Some(s);
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                let s = conn.ok_or_else(|| {
                    err(last.unwrap_or_else(|| std::io::Error::other("no address")))
                })?;
                s.set_read_timeout(Some(self.timeout)).map_err(err)?;
                s.set_write_timeout(Some(self.timeout)).map_err(err)?;
                let _ = s.set_nodelay(true);
                Stream::Tcp(s)
            }
        };
        Ok(stream)
    }

    /// Sends one request and returns the answer whatever its status.
    pub fn request_raw(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<RawResponse, ClientError> {
        match body {
            Some((ctype, mut b)) => {
                let len = b.len() as u64;
                self.request_streamed(method, path, Some((ctype, len, &mut b)))
            }
            None => self.request_streamed(method, path, None),
        }
    }

    /// Sends one request whose body of `len` bytes is read from a reader
    /// as it is sent (never held whole in memory), and returns the answer
    /// whatever its status.
    pub fn request_streamed(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, u64, &mut dyn Read)>,
    ) -> Result<RawResponse, ClientError> {
        let mut stream = self.connect()?;
        let io = |source| ClientError::Io {
            endpoint: self.endpoint.to_string(),
            source,
        };
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: filterbox\r\nConnection: close\r\nAccept: application/json\r\n"
        );
        if let Some(t) = &self.token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        match body {
            Some((ctype, len, reader)) => {
                head.push_str(&format!(
                    "Content-Type: {ctype}\r\nContent-Length: {len}\r\n\r\n"
                ));
                stream.write_all(head.as_bytes()).map_err(io)?;
                let sent = std::io::copy(&mut reader.take(len), &mut stream).map_err(io)?;
                if sent < len {
                    return Err(io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("the body ended after {sent} of {len} bytes"),
                    )));
                }
            }
            None => {
                head.push_str("Content-Length: 0\r\n\r\n");
                stream.write_all(head.as_bytes()).map_err(io)?;
            }
        }
        stream.flush().map_err(io)?;
        let mut raw = Vec::new();
        stream
            .take(MAX_RESPONSE as u64 + 1)
            .read_to_end(&mut raw)
            .map_err(io)?;
        if raw.len() > MAX_RESPONSE {
            return Err(ClientError::Malformed("answer larger than 128 MiB".into()));
        }
        parse_response(&raw)
    }

    /// Sends a request with an optional JSON body and decodes a JSON answer;
    /// error statuses become [`ClientError::Api`].
    pub fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let json = body.map(serde_json::to_vec).transpose()?;
        let resp = self.request_raw(
            method,
            path,
            json.as_deref().map(|b| ("application/json", b)),
        )?;
        let resp = check(resp)?;
        let body = if resp.body.is_empty() {
            b"null".as_slice()
        } else {
            &resp.body
        };
        Ok(serde_json::from_slice(body)?)
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call::<(), T>("GET", path, None)
    }

    fn delete(&self, path: &str) -> Result<(), ClientError> {
        self.call::<(), serde_json::Value>("DELETE", path, None)
            .map(|_| ())
    }

    /// `GET /health`.
    pub fn health(&self) -> Result<api::Health, ClientError> {
        self.get("/health")
    }

    /// `GET /domains`.
    pub fn domains(&self) -> Result<Vec<api::Domain>, ClientError> {
        self.get(&format!("{}/domains", api::PREFIX))
    }

    /// `POST /domains`.
    pub fn create_domain(&self, d: &api::NewDomain) -> Result<api::Domain, ClientError> {
        self.call("POST", &format!("{}/domains", api::PREFIX), Some(d))
    }

    /// `DELETE /domains/{name}`.
    pub fn delete_domain(&self, name: &str) -> Result<(), ClientError> {
        self.delete(&format!(
            "{}/domains/{}",
            api::PREFIX,
            encode_component(name)
        ))
    }

    /// `GET /users`, optionally limited to one domain or a substring.
    pub fn users(
        &self,
        domain: Option<&str>,
        q: Option<&str>,
    ) -> Result<Vec<api::User>, ClientError> {
        let path = with_query(
            &format!("{}/users", api::PREFIX),
            &[("domain", domain), ("q", q)],
        );
        self.get(&path)
    }

    /// `POST /users`.
    pub fn create_user(&self, u: &api::NewUser) -> Result<api::User, ClientError> {
        self.call("POST", &format!("{}/users", api::PREFIX), Some(u))
    }

    /// `DELETE /users/{address}`.
    pub fn delete_user(&self, address: &str) -> Result<(), ClientError> {
        self.delete(&format!(
            "{}/users/{}",
            api::PREFIX,
            encode_component(address)
        ))
    }

    /// `GET /directory`.
    pub fn directory(&self) -> Result<api::Directory, ClientError> {
        self.get(&format!("{}/directory", api::PREFIX))
    }

    /// `GET /generation`.
    pub fn generation(&self) -> Result<api::Generation, ClientError> {
        self.get(&format!("{}/generation", api::PREFIX))
    }

    /// `GET /quarantine`, optionally for one recipient.
    pub fn quarantine_list(
        &self,
        recipient: Option<&str>,
    ) -> Result<Vec<api::QuarantineItem>, ClientError> {
        let path = with_query(
            &format!("{}/quarantine", api::PREFIX),
            &[("recipient", recipient)],
        );
        self.get(&path)
    }

    /// `GET /quarantine/{id}`.
    pub fn quarantine_show(&self, id: &str) -> Result<api::QuarantineItem, ClientError> {
        self.get(&format!(
            "{}/quarantine/{}",
            api::PREFIX,
            encode_component(id)
        ))
    }

    /// `GET /quarantine/{id}/message`: the raw message.
    pub fn quarantine_message(&self, id: &str) -> Result<Vec<u8>, ClientError> {
        let path = format!(
            "{}/quarantine/{}/message",
            api::PREFIX,
            encode_component(id)
        );
        Ok(check(self.request_raw("GET", &path, None)?)?.body)
    }

    /// `POST /quarantine`.
    pub fn quarantine_create(
        &self,
        q: &api::NewQuarantine,
    ) -> Result<api::QuarantineCreated, ClientError> {
        self.call("POST", &format!("{}/quarantine", api::PREFIX), Some(q))
    }

    /// `POST /quarantine/{id}/release`.
    pub fn quarantine_release(&self, id: &str) -> Result<api::Released, ClientError> {
        let path = format!(
            "{}/quarantine/{}/release",
            api::PREFIX,
            encode_component(id)
        );
        self.call::<(), _>("POST", &path, None)
    }

    /// `GET /filter-policy`.
    pub fn filter_policy(&self) -> Result<crate::policy::FilterPolicy, ClientError> {
        self.get(&format!("{}/filter-policy", api::PREFIX))
    }

    /// `PUT /filter-policy/domains/{name}`.
    pub fn set_domain_policy(
        &self,
        name: &str,
        p: &crate::policy::DomainPolicy,
    ) -> Result<crate::policy::DomainPolicy, ClientError> {
        let path = format!(
            "{}/filter-policy/domains/{}",
            api::PREFIX,
            encode_component(name)
        );
        self.call("PUT", &path, Some(p))
    }

    /// `PUT /filter-policy/users/{address}`.
    pub fn set_user_policy(
        &self,
        address: &str,
        p: &crate::policy::UserPolicy,
    ) -> Result<crate::policy::UserPolicy, ClientError> {
        let path = format!(
            "{}/filter-policy/users/{}",
            api::PREFIX,
            encode_component(address)
        );
        self.call("PUT", &path, Some(p))
    }

    /// `POST /learn`: teaches the filter a message as spam or ham.
    pub fn learn(
        &self,
        spam: bool,
        message: &[u8],
    ) -> Result<crate::policy::LearnEvent, ClientError> {
        let body = crate::policy::NewLearnEvent {
            spam,
            message: api::Base64Bytes(message.to_vec()),
        };
        self.call("POST", &format!("{}/learn", api::PREFIX), Some(&body))
    }

    /// `GET /learn?after=&limit=`: what to learn since event `after`.
    pub fn learn_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<crate::policy::LearnEvent>, ClientError> {
        self.get(&format!(
            "{}/learn?after={after}&limit={limit}",
            api::PREFIX
        ))
    }

    /// `DELETE /quarantine/{id}`.
    pub fn quarantine_delete(&self, id: &str) -> Result<(), ClientError> {
        self.delete(&format!(
            "{}/quarantine/{}",
            api::PREFIX,
            encode_component(id)
        ))
    }

    /// `POST /tracking`.
    pub fn track(&self, events: &[api::TrackingEvent]) -> Result<(), ClientError> {
        self.call::<_, serde_json::Value>(
            "POST",
            &format!("{}/tracking", api::PREFIX),
            Some(&events),
        )
        .map(|_| ())
    }

    /// `GET /tracking` by any combination of queue id, Message-ID, sender and recipient.
    pub fn tracking(&self, q: &TrackingQuery) -> Result<Vec<api::TrackingEvent>, ClientError> {
        let path = with_query(
            &format!("{}/tracking", api::PREFIX),
            &[
                ("queue_id", q.queue_id.as_deref()),
                ("message_id", q.message_id.as_deref()),
                ("sender", q.sender.as_deref()),
                ("recipient", q.recipient.as_deref()),
            ],
        );
        self.get(&path)
    }
}

impl ApiClient {
    /// `GET /admin`.
    pub fn admin_state(&self) -> Result<api::AdminState, ClientError> {
        self.get(&format!("{}/admin", api::PREFIX))
    }

    /// `PUT /admin/password`.
    pub fn set_admin_password(&self, body: &api::SetPassword) -> Result<(), ClientError> {
        self.call::<_, serde_json::Value>(
            "PUT",
            &format!("{}/admin/password", api::PREFIX),
            Some(body),
        )
        .map(|_| ())
    }

    /// `POST /admin/token`: the API token in exchange for the admin
    /// password (a remote admin's login; no token needed for this call).
    pub fn admin_token(&self, password: &str) -> Result<api::AdminToken, ClientError> {
        let body = api::VerifyPassword {
            password: password.to_string(),
        };
        self.call("POST", &format!("{}/admin/token", api::PREFIX), Some(&body))
    }

    /// `POST /admin/verify`: `Ok(())` when the password is right.
    pub fn verify_admin_password(&self, password: &str) -> Result<(), ClientError> {
        let body = api::VerifyPassword {
            password: password.to_string(),
        };
        self.call::<_, serde_json::Value>(
            "POST",
            &format!("{}/admin/verify", api::PREFIX),
            Some(&body),
        )
        .map(|_| ())
    }

    /// `GET /settings/admin-networks`.
    pub fn admin_networks(&self) -> Result<api::AdminNetworks, ClientError> {
        self.get(&format!("{}/settings/admin-networks", api::PREFIX))
    }

    /// `PUT /settings/admin-networks`.
    pub fn set_admin_networks(
        &self,
        n: &api::AdminNetworks,
    ) -> Result<api::AdminNetworks, ClientError> {
        self.call(
            "PUT",
            &format!("{}/settings/admin-networks", api::PREFIX),
            Some(n),
        )
    }

    /// `GET /stats`.
    pub fn stats(&self) -> Result<api::MailStats, ClientError> {
        self.get(&format!("{}/stats", api::PREFIX))
    }

    /// `GET /system`: the box's status, as the supervisor reports it.
    pub fn system_status(&self) -> Result<crate::control::SystemStatus, ClientError> {
        self.get(&format!("{}/system", api::PREFIX))
    }

    /// `GET /firmware`: slots, versions, an install's progress or outcome.
    pub fn firmware_status(&self) -> Result<crate::control::FirmwareStatus, ClientError> {
        self.get(&format!("{}/firmware", api::PREFIX))
    }

    /// `POST /firmware/upload`: streams the bundle of `len` bytes from
    /// `bundle`; answers once it is installed. The answer comes only after
    /// the whole bundle is written and checked: give the client a timeout
    /// of minutes, not seconds.
    pub fn firmware_upload(
        &self,
        bundle: &mut dyn Read,
        len: u64,
        force: bool,
        reboot: bool,
    ) -> Result<api::FirmwareInstall, ClientError> {
        let path = format!(
            "{}/firmware/upload?force={force}&reboot={reboot}",
            api::PREFIX
        );
        let resp = self.request_streamed(
            "POST",
            &path,
            Some(("application/octet-stream", len, bundle)),
        )?;
        Ok(serde_json::from_slice(&check(resp)?.body)?)
    }

    /// `PATCH /domains/{name}`.
    pub fn update_domain(
        &self,
        name: &str,
        update: &api::DomainUpdate,
    ) -> Result<api::Domain, ClientError> {
        self.call(
            "PATCH",
            &format!("{}/domains/{}", api::PREFIX, encode_component(name)),
            Some(update),
        )
    }

    /// `GET /domains/{name}/dkim`.
    pub fn domain_dkim(&self, name: &str) -> Result<api::DkimRecord, ClientError> {
        self.get(&format!(
            "{}/domains/{}/dkim",
            api::PREFIX,
            encode_component(name)
        ))
    }

    /// `GET /smtp-accounts`.
    pub fn smtp_accounts(&self) -> Result<Vec<api::SmtpAccount>, ClientError> {
        self.get(&format!("{}/smtp-accounts", api::PREFIX))
    }

    /// `POST /smtp-accounts`.
    pub fn create_smtp_account(
        &self,
        account: &api::NewSmtpAccount,
    ) -> Result<api::SmtpAccount, ClientError> {
        self.call(
            "POST",
            &format!("{}/smtp-accounts", api::PREFIX),
            Some(account),
        )
    }

    /// `DELETE /smtp-accounts/{username}`.
    pub fn delete_smtp_account(&self, username: &str) -> Result<(), ClientError> {
        self.delete(&format!(
            "{}/smtp-accounts/{}",
            api::PREFIX,
            encode_component(username)
        ))
    }

    /// `POST /smtp-accounts/verify`: Ok when the login is right.
    pub fn verify_smtp_account(&self, check: &api::SmtpAuthCheck) -> Result<(), ClientError> {
        self.call::<_, serde_json::Value>(
            "POST",
            &format!("{}/smtp-accounts/verify", api::PREFIX),
            Some(check),
        )
        .map(|_| ())
    }

    /// `GET /tls`.
    pub fn tls_certificate(&self) -> Result<api::TlsCertificate, ClientError> {
        self.get(&format!("{}/tls", api::PREFIX))
    }

    /// `PUT /tls`.
    pub fn set_tls_certificate(
        &self,
        new: &api::NewTlsCertificate,
    ) -> Result<api::TlsCertificate, ClientError> {
        self.call("PUT", &format!("{}/tls", api::PREFIX), Some(new))
    }

    /// `GET /queue`.
    pub fn queue(
        &self,
        domain: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<crate::queue::QueueItem>, ClientError> {
        let limit = limit.map(|l| l.to_string());
        let path = with_query(
            &format!("{}/queue", api::PREFIX),
            &[("domain", domain), ("limit", limit.as_deref())],
        );
        self.get(&path)
    }

    /// `GET /queue/{id}`.
    pub fn queue_item(&self, id: &str) -> Result<crate::queue::QueueItem, ClientError> {
        self.get(&format!("{}/queue/{}", api::PREFIX, encode_component(id)))
    }

    /// `DELETE /queue/{id}`.
    pub fn queue_delete(&self, id: &str) -> Result<(), ClientError> {
        self.delete(&format!("{}/queue/{}", api::PREFIX, encode_component(id)))
    }

    /// `POST /queue/flush`: one message, one domain's, or all.
    pub fn queue_flush(
        &self,
        id: Option<&str>,
        domain: Option<&str>,
    ) -> Result<crate::queue::QueueDone, ClientError> {
        let path = with_query(
            &format!("{}/queue/flush", api::PREFIX),
            &[("id", id), ("domain", domain)],
        );
        self.call::<(), _>("POST", &path, None)
    }

    /// `GET /queue/holds`.
    pub fn queue_holds(&self) -> Result<Vec<String>, ClientError> {
        self.get(&format!("{}/queue/holds", api::PREFIX))
    }

    /// `PUT /queue/holds/{domain}`.
    pub fn queue_hold(&self, domain: &str) -> Result<(), ClientError> {
        self.call::<(), serde_json::Value>(
            "PUT",
            &format!("{}/queue/holds/{}", api::PREFIX, encode_component(domain)),
            None,
        )
        .map(|_| ())
    }

    /// `DELETE /queue/holds/{domain}`.
    pub fn queue_release(&self, domain: &str) -> Result<(), ClientError> {
        self.delete(&format!(
            "{}/queue/holds/{}",
            api::PREFIX,
            encode_component(domain)
        ))
    }

    /// `POST /firmware/url`: the box fetches the bundle and installs it.
    pub fn firmware_url(
        &self,
        request: &api::FirmwareUrl,
    ) -> Result<api::FirmwareInstall, ClientError> {
        self.call(
            "POST",
            &format!("{}/firmware/url", api::PREFIX),
            Some(request),
        )
    }
}

/// Search terms of `GET /tracking`; all given terms must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackingQuery {
    /// The mta's queue id.
    pub queue_id: Option<String>,
    /// The `Message-ID` header, without angle brackets.
    pub message_id: Option<String>,
    /// Envelope sender.
    pub sender: Option<String>,
    /// Envelope recipient.
    pub recipient: Option<String>,
}

fn with_query(path: &str, params: &[(&str, Option<&str>)]) -> String {
    let mut out = path.to_string();
    let mut sep = '?';
    for (k, v) in params {
        if let Some(v) = v {
            out.push(sep);
            out.push_str(k);
            out.push('=');
            out.push_str(&encode_component(v));
            sep = '&';
        }
    }
    out
}

/// Turns an error status into [`ClientError::Api`].
fn check(resp: RawResponse) -> Result<RawResponse, ClientError> {
    if (200..300).contains(&resp.status) {
        return Ok(resp);
    }
    match serde_json::from_slice::<ErrorBody>(&resp.body) {
        Ok(e) => Err(ClientError::Api {
            status: resp.status,
            code: e.error.code,
            message: e.error.message,
        }),
        Err(_) => Err(ClientError::Api {
            status: resp.status,
            code: "unknown".into(),
            message: String::from_utf8_lossy(&resp.body)
                .chars()
                .take(200)
                .collect(),
        }),
    }
}

fn parse_response(raw: &[u8]) -> Result<RawResponse, ClientError> {
    let bad = |m: &str| ClientError::Malformed(m.to_string());
    let end = find(raw, b"\r\n\r\n").ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("headers are not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(bad("no status line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(bad("not HTTP/1.x"));
    }
    let status: u16 = code.parse().map_err(|_| bad("status is not a number"))?;
    let mut content_type = None;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad("header line without a colon"));
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-type" => content_type = Some(value.to_string()),
            "content-length" => {
                length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| bad("bad Content-Length"))?,
                )
            }
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    let rest = &raw[end + 4..];
    let body = if chunked {
        dechunk(rest).ok_or_else(|| bad("bad chunked encoding"))?
    } else if let Some(n) = length {
        rest.get(..n)
            .ok_or_else(|| bad("body shorter than Content-Length"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(RawResponse {
        status,
        content_type,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = find(rest, b"\r\n")?;
        let size_field = std::str::from_utf8(&rest[..eol]).ok()?;
        let size = usize::from_str_radix(size_field.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_and_chunked_answers() {
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}junk",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, b"{}".as_slice()));
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        let r = parse_response(
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (404, b"abcde".as_slice()));
        assert!(parse_response(b"garbage").is_err());
        assert!(parse_response(b"HTTP/1.1 2x0 OK\r\n\r\n").is_err());
    }

    #[test]
    fn errors_carry_the_api_message() {
        let e = check(RawResponse {
            status: 404,
            content_type: None,
            body: br#"{"error":{"status":404,"code":"not_found","message":"no such domain"}}"#
                .to_vec(),
        })
        .unwrap_err();
        assert_eq!(e.status(), Some(404));
        assert!(e.to_string().contains("no such domain"));
    }

    #[test]
    fn builds_queries() {
        assert_eq!(
            with_query("/t", &[("a", Some("x y")), ("b", None), ("c", Some("1"))]),
            "/t?a=x%20y&c=1"
        );
    }

    #[test]
    fn connect_errors_name_the_endpoint() {
        let c = ApiClient::new(Endpoint::Unix("/nonexistent/manager.sock".into()));
        let e = c.health().unwrap_err().to_string();
        assert!(
            e.contains("/nonexistent/manager.sock") && e.contains("manager running"),
            "{e}"
        );
    }
}
