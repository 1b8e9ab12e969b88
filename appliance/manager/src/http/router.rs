//! The API's routing: method, target and body in, [`Response`] out.
//!
//! Pure with respect to I/O (no sockets), so every route and every error
//! status is unit-tested directly; `conn` does the HTTP framing around it.

use std::sync::Arc;

use model::api::{decode_component, PREFIX};
use model::id::is_valid_id;

use super::auth::bearer_matches;
use super::handlers;
use super::handlers_admin as admin;
use super::handlers_domains as domains;
use super::handlers_firmware as firmware;
use super::handlers_policy;
use super::handlers_smtp as smtp;
use super::input::Params;
use super::response::Response;
use crate::admin::throttle::LockoutPolicy;
use crate::admin::Admin;
use crate::caller::Caller;
use crate::release::Releaser;
use crate::store::Store;

/// Largest request body accepted: a quarantined message of the mta's
/// largest size, base64-encoded inside JSON, fits with room to spare.
pub const MAX_BODY: u64 = 64 * 1024 * 1024;

/// Largest firmware upload: streamed, never held; the supervisor refuses
/// what does not fit the slot (192 MiB) anyway.
pub const MAX_UPLOAD: u64 = 1024 * 1024 * 1024;

/// The route whose body is streamed instead of read first.
const UPLOAD_PATH: &str = "/api/v1/firmware/upload";

/// The admin's login: open on TCP without a token (it hands the token out).
const TOKEN_PATH: &str = "/api/v1/admin/token";
/// The digest's one-click links: open, their token is signed.
const LINKS_PREFIX: &str = "/api/v1/links/";

/// What the API serves, with what it needs to serve it.
pub struct Router {
    pub(super) store: Arc<Store>,
    pub(super) releaser: Releaser,
    pub(super) admin: Admin,
    /// The supervisor's control socket, for the box's status.
    pub(super) control_socket: Option<std::path::PathBuf>,
    /// The mta's control socket, for the `/queue` routes.
    pub(super) mta_control: Option<std::path::PathBuf>,
    token: String,
    /// Failed SMTP AUTH checks per client.
    pub(super) smtp_auth: smtp::AuthThrottle,
    /// The box's certificate files, for `/tls`.
    tls: Option<model::config::TlsFiles>,
    /// Where users reach the box: the digest links' prefix.
    public_url: String,
}

impl Router {
    /// The bearer token TCP clients present.
    pub(super) fn token(&self) -> &str {
        &self.token
    }

    /// The certificate files, or 404 when this manager was given none.
    pub(super) fn tls_files(&self) -> Result<&model::config::TlsFiles, Response> {
        self.tls
            .as_ref()
            .ok_or_else(|| Response::error(404, "not_found", "no TLS certificate configured"))
    }
}

/// A path the API knows, with its decoded parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Health,
    Domains,
    Domain(String),
    DomainDkim(String),
    Users,
    User(String),
    Directory,
    Generation,
    Quarantine,
    QuarantineItem(String),
    QuarantineMessage(String),
    QuarantineRelease(String),
    Learn,
    FilterPolicy,
    FilterPolicyDomain(String),
    FilterPolicyUser(String),
    FilterPolicyDelayExempt,
    Tracking,
    Link(String),
    DigestDomain(String),
    DigestUser(String),
    DigestRun,
    Admin,
    AdminPassword,
    AdminVerify,
    AdminToken,
    AdminNetworks,
    Stats,
    System,
    Firmware,
    FirmwareUpload,
    FirmwareUrl,
    SmtpAccounts,
    SmtpAccount(String),
    SmtpAccountVerify,
    Tls,
}

impl Route {
    /// Maps decoded path segments to a route.
    fn resolve(segments: &[String]) -> Option<Route> {
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let prefix: Vec<&str> = PREFIX.split('/').skip(1).collect();
        if segs == ["health"] {
            return Some(Route::Health);
        }
        let rest = segs.strip_prefix(prefix.as_slice())?;
        let route = match *rest {
            ["domains"] => Route::Domains,
            ["domains", name] => Route::Domain(name.into()),
            ["domains", name, "dkim"] => Route::DomainDkim(name.into()),
            ["users"] => Route::Users,
            ["users", address] => Route::User(address.into()),
            ["directory"] => Route::Directory,
            ["generation"] => Route::Generation,
            ["quarantine"] => Route::Quarantine,
            ["quarantine", id] => Route::QuarantineItem(id.into()),
            ["quarantine", id, "message"] => Route::QuarantineMessage(id.into()),
            ["quarantine", id, "release"] => Route::QuarantineRelease(id.into()),
            ["learn"] => Route::Learn,
            ["filter-policy"] => Route::FilterPolicy,
            ["filter-policy", "domains", name] => Route::FilterPolicyDomain(name.into()),
            ["filter-policy", "users", address] => Route::FilterPolicyUser(address.into()),
            ["filter-policy", "delay-exempt"] => Route::FilterPolicyDelayExempt,
            ["tracking"] => Route::Tracking,
            ["links", token] => Route::Link(token.into()),
            ["digest", "domains", name] => Route::DigestDomain(name.into()),
            ["digest", "users", address] => Route::DigestUser(address.into()),
            ["digest", "run"] => Route::DigestRun,
            ["admin"] => Route::Admin,
            ["admin", "password"] => Route::AdminPassword,
            ["admin", "verify"] => Route::AdminVerify,
            ["admin", "token"] => Route::AdminToken,
            ["settings", "admin-networks"] => Route::AdminNetworks,
            ["stats"] => Route::Stats,
            ["system"] => Route::System,
            ["firmware"] => Route::Firmware,
            ["firmware", "upload"] => Route::FirmwareUpload,
            ["firmware", "url"] => Route::FirmwareUrl,
            ["smtp-accounts"] => Route::SmtpAccounts,
            ["smtp-accounts", "verify"] => Route::SmtpAccountVerify,
            ["smtp-accounts", name] => Route::SmtpAccount(name.into()),
            ["tls"] => Route::Tls,
            _ => return None,
        };
        Some(route)
    }

    /// The methods the route serves, for `Allow`.
    fn allowed(&self) -> &'static str {
        match self {
            Route::Health
            | Route::Directory
            | Route::DomainDkim(_)
            | Route::Generation
            | Route::QuarantineMessage(_)
            | Route::Admin
            | Route::Stats
            | Route::System
            | Route::FilterPolicy
            | Route::Firmware => "GET",
            Route::Domains
            | Route::Users
            | Route::Quarantine
            | Route::Tracking
            | Route::Learn
            | Route::Link(_) => "GET, POST",
            Route::Domain(_) => "GET, PATCH, DELETE",
            Route::User(_) | Route::QuarantineItem(_) => "GET, DELETE",
            Route::QuarantineRelease(_)
            | Route::AdminVerify
            | Route::AdminToken
            | Route::FirmwareUpload
            | Route::FirmwareUrl => "POST",
            Route::AdminPassword
            | Route::FilterPolicyDomain(_)
            | Route::FilterPolicyUser(_)
            | Route::FilterPolicyDelayExempt => "PUT",
            Route::AdminNetworks | Route::Tls => "GET, PUT",
            Route::SmtpAccounts => "GET, POST",
            Route::SmtpAccount(_) => "DELETE",
            Route::SmtpAccountVerify | Route::DigestRun => "POST",
            Route::DigestDomain(_) => "PUT",
            Route::DigestUser(_) => "GET, PUT",
        }
    }

    /// A quarantine id in the path, if the route has one.
    fn quarantine_id(&self) -> Option<&str> {
        match self {
            Route::QuarantineItem(id)
            | Route::QuarantineMessage(id)
            | Route::QuarantineRelease(id) => Some(id),
            _ => None,
        }
    }
}

impl Router {
    /// A router over `store`, releasing through `releaser`; TCP clients must
    /// present `token`. Admin password guesses are limited by the default
    /// [`LockoutPolicy`].
    pub fn new(store: Arc<Store>, releaser: Releaser, token: String) -> Router {
        Router {
            store,
            releaser,
            admin: Admin::new(LockoutPolicy::default(), own_uid()),
            control_socket: None,
            mta_control: None,
            token,
            smtp_auth: Default::default(),
            tls: None,
            public_url: "https://localhost".into(),
        }
    }

    /// Answers the `/queue` routes through the mta's control `socket`.
    pub fn with_mta_control(mut self, socket: std::path::PathBuf) -> Router {
        self.mta_control = Some(socket);
        self
    }

    /// Answers `GET /system` from the supervisor listening on `socket`.
    pub fn with_control_socket(mut self, socket: std::path::PathBuf) -> Router {
        self.control_socket = Some(socket);
        self
    }

    /// Digest links start with `url` (see `ManagerConfig::public_url`).
    pub fn with_public_url(mut self, url: String) -> Router {
        self.public_url = url;
        self
    }

    /// Sends the due quarantine digests (`force`: every mailbox with new
    /// mail); how many. Called by the digest thread and `POST /digest/run`.
    pub fn send_digests(&self, force: bool) -> Result<usize, crate::store::StoreError> {
        crate::digest::send_due(
            &self.store,
            &self.releaser,
            &self.public_url,
            model::time::now_ms(),
            force,
        )
    }

    /// Serves `GET/PUT /tls` on these certificate files.
    pub fn with_tls(mut self, files: model::config::TlsFiles) -> Router {
        self.tls = Some(files);
        self
    }

    /// Limits admin password guesses by `policy` instead (tests shorten it).
    pub fn with_lockout(mut self, policy: LockoutPolicy) -> Router {
        self.admin = Admin::new(policy, own_uid());
        self
    }

    /// Decides from the head alone whether a request may proceed, before its
    /// body is read: 401 for TCP requests without the token (all but
    /// `/health`), 413 for bodies over [`MAX_BODY`].
    pub fn admit(
        &self,
        target: &str,
        authorization: Option<&str>,
        content_length: u64,
        caller: &Caller,
    ) -> Result<(), Response> {
        let path = target.split('?').next().unwrap_or_default();
        // The admin's login (`/admin/token`) is how a remote client gets the token.
        let open = path == "/health" || path == TOKEN_PATH || path.starts_with(LINKS_PREFIX);
        if !caller.is_local() && !open && !bearer_matches(authorization, &self.token) {
            return Err(Response::error(
                401,
                "unauthorized",
                "send Authorization: Bearer with the API token (the api-token file in the data directory)",
            ));
        }
        let max = if path == UPLOAD_PATH {
            MAX_UPLOAD
        } else {
            MAX_BODY
        };
        if content_length > max {
            return Err(Response::error(
                413,
                "too_large",
                format!("request body of {content_length} bytes is over the limit of {max}"),
            ));
        }
        Ok(())
    }

    /// True for the request whose body is streamed to its handler
    /// ([`Router::handle_stream`]) instead of being read first: a firmware
    /// upload.
    pub fn streams_body(&self, method: &str, target: &str) -> bool {
        method == "POST" && target.split('?').next() == Some(UPLOAD_PATH)
    }

    /// Answers a request whose body of `length` bytes is read from `body`
    /// as the handler goes (see [`Router::streams_body`]).
    pub fn handle_stream(
        &self,
        target: &str,
        body: &mut dyn std::io::Read,
        length: u64,
        caller: &Caller,
    ) -> Response {
        let query = target.split_once('?').map_or("", |(_, q)| q);
        let params = match Params::parse(query) {
            Ok(p) => p,
            Err(r) => return r,
        };
        firmware::upload(self, &params, body, length, caller).unwrap_or_else(|error| error)
    }

    /// Answers one admitted request from `caller`.
    pub fn handle(&self, method: &str, target: &str, body: &[u8], caller: &Caller) -> Response {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let segments: Option<Vec<String>> = path.split('/').skip(1).map(decode_component).collect();
        let Some(segments) = segments else {
            return Response::error(400, "bad_request", "malformed percent-encoding in the path");
        };
        if let Some(r) = super::handlers_queue::route(self, method, &segments, query) {
            return r;
        }
        let Some(route) = Route::resolve(&segments) else {
            return Response::error(404, "not_found", format!("no route {path}"));
        };
        if let Some(id) = route.quarantine_id() {
            // Not an id we make: cannot exist, and must not reach a key.
            if !is_valid_id(id) {
                return Response::error(404, "not_found", format!("no quarantine item {id:?}"));
            }
        }
        let params = match Params::parse(query) {
            Ok(p) => p,
            Err(r) => return r,
        };
        self.dispatch(method, route, &params, body, caller)
            .unwrap_or_else(|error| error)
    }

    fn dispatch(
        &self,
        method: &str,
        route: Route,
        p: &Params,
        body: &[u8],
        caller: &Caller,
    ) -> Result<Response, Response> {
        use Route as R;
        match (method, &route) {
            ("GET", R::Health) => handlers::health(p),
            ("GET", R::Domains) => handlers::domains(self, p),
            ("POST", R::Domains) => handlers::create_domain(self, p, body),
            ("GET", R::Domain(name)) => handlers::domain(self, p, name),
            ("DELETE", R::Domain(name)) => handlers::delete_domain(self, p, name),
            ("PATCH", R::Domain(name)) => domains::update_domain(self, p, name, body),
            ("GET", R::DomainDkim(name)) => domains::domain_dkim(self, p, name),
            ("GET", R::Users) => handlers::users(self, p),
            ("POST", R::Users) => handlers::create_user(self, p, body),
            ("GET", R::User(address)) => handlers::user(self, p, address),
            ("DELETE", R::User(address)) => handlers::delete_user(self, p, address),
            ("GET", R::Directory) => domains::directory(self, p, caller),
            ("GET", R::Generation) => handlers::generation(self, p),
            ("GET", R::Quarantine) => handlers::quarantine_list(self, p),
            ("POST", R::Quarantine) => handlers::quarantine_create(self, p, body),
            ("GET", R::QuarantineItem(id)) => handlers::quarantine_item(self, p, id),
            ("DELETE", R::QuarantineItem(id)) => handlers::quarantine_delete(self, p, id),
            ("GET", R::QuarantineMessage(id)) => handlers::quarantine_message(self, p, id),
            ("POST", R::QuarantineRelease(id)) => handlers::quarantine_release(self, p, id),
            ("GET", R::Learn) => handlers::learn_list(self, p),
            ("POST", R::Learn) => handlers::learn_create(self, p, body),
            ("GET", R::FilterPolicy) => handlers_policy::filter_policy(self, p),
            ("PUT", R::FilterPolicyDomain(name)) => {
                handlers_policy::set_domain_policy(self, p, name, body)
            }
            ("PUT", R::FilterPolicyUser(address)) => {
                handlers_policy::set_user_policy(self, p, address, body)
            }
            ("PUT", R::FilterPolicyDelayExempt) => handlers_policy::set_delay_exempt(self, p, body),
            ("GET", R::Tracking) => handlers::tracking(self, p),
            ("GET", R::Link(token)) => super::handlers_links::describe(self, p, token),
            ("POST", R::Link(token)) => super::handlers_links::act(self, p, token),
            ("PUT", R::DigestDomain(name)) => {
                super::handlers_links::set_domain_digest(self, p, name, body)
            }
            ("GET", R::DigestUser(address)) => super::handlers_links::user_digest(self, p, address),
            ("PUT", R::DigestUser(address)) => {
                super::handlers_links::set_user_digest(self, p, address, body)
            }
            ("POST", R::DigestRun) => super::handlers_links::run_digests(self, p),
            ("POST", R::Tracking) => handlers::track(self, p, body),
            ("GET", R::Admin) => admin::state(self, p),
            ("PUT", R::AdminPassword) => admin::set_password(self, p, body, caller),
            ("POST", R::AdminVerify) => admin::verify(self, p, body),
            ("POST", R::AdminToken) => admin::token(self, p, body),
            ("GET", R::AdminNetworks) => admin::networks(self, p),
            ("PUT", R::AdminNetworks) => admin::set_networks(self, p, body),
            ("GET", R::Stats) => handlers::stats(self, p),
            ("GET", R::System) => handlers::system(self, p),
            ("GET", R::Firmware) => firmware::status(self, p),
            ("POST", R::FirmwareUpload) => {
                let mut reader = body;
                firmware::upload(self, p, &mut reader, body.len() as u64, caller)
            }
            ("POST", R::FirmwareUrl) => firmware::url(self, p, body, caller),
            ("GET", R::SmtpAccounts) => smtp::accounts(self, p),
            ("POST", R::SmtpAccounts) => smtp::create_account(self, p, body),
            ("DELETE", R::SmtpAccount(name)) => smtp::delete_account(self, p, name),
            ("POST", R::SmtpAccountVerify) => smtp::verify(self, p, body, caller),
            ("GET", R::Tls) => smtp::certificate(self, p),
            ("PUT", R::Tls) => smtp::set_certificate(self, p, body),
            _ => {
                let mut r = Response::error(
                    405,
                    "method_not_allowed",
                    format!("{method} is not served here; use {}", route.allowed()),
                );
                r.allow = Some(route.allowed());
                Err(r)
            }
        }
    }
}

/// The uid the manager runs as (see [`Admin`]: a peer running as the same
/// user counts as someone at the box).
fn own_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
