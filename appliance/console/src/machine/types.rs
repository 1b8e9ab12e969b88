//! What the console asks the driver to do, and what comes back.

use model::api::{AdminNetworks, AdminState, Domain, MailStats};
use model::control::{ControlRequest, ControlResponse};
use model::network::NetworkConfig;

/// A password on its way to the manager: never printed, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a typed password.
    pub fn new(s: &str) -> Secret {
        Secret(s.to_string())
    }

    /// The password itself, for the one call that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A side effect the console needs; the driver performs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A call to the manager's API over its unix socket.
    Api(ApiCall),
    /// A request to the supervisor's control socket.
    Control(ControlRequest),
    /// Read the host name and network settings from `system.json`.
    ReadSettings,
    /// Wait this long, then answer [`Outcome::Ok`] (between two looks at
    /// an install's progress, or at a box still starting). On a terminal,
    /// Ctrl-C typed meanwhile ends the wait as [`Input::Interrupt`](super::Input::Interrupt).
    Sleep(std::time::Duration),
    /// `ping -c 3 -W 2 HOST`; the host is already validated.
    Ping(String),
    /// Connect to an SMTP server, read the banner, EHLO, QUIT.
    SmtpTest {
        /// Host name or IP address, already validated.
        host: String,
        /// TCP port.
        port: u16,
    },
}

/// The manager API calls the console makes.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiCall {
    /// `GET /admin`: is a password set?
    AdminState,
    /// `PUT /admin/password` without the current one (the console is
    /// someone at the box).
    SetPassword(Secret),
    /// `POST /admin/verify`: the login.
    VerifyPassword(Secret),
    /// `GET /settings/admin-networks`.
    AdminNetworks,
    /// `PUT /settings/admin-networks`.
    SetAdminNetworks(Vec<String>),
    /// `GET /domains`.
    Domains,
    /// `GET /stats`.
    Stats,
}

/// Why an action failed, for people (and the HTTP status, which screens
/// tell apart: 401 wrong password, 422 refused value, 429 throttled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The manager's HTTP status, when it answered with an error.
    pub status: Option<u16>,
    /// What went wrong.
    pub message: String,
    /// Nothing answered (no socket, connection refused, no answer in time):
    /// on a box that is still starting, worth waiting for.
    pub unreachable: bool,
}

impl Failure {
    /// A failure without an HTTP status (a bad answer, a tool that did not run, ...).
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            status: None,
            message: message.into(),
            unreachable: false,
        }
    }

    /// The manager or the supervisor did not answer at all.
    pub fn unreachable(message: impl Into<String>) -> Failure {
        Failure {
            unreachable: true,
            ..Failure::new(message)
        }
    }
}

/// The result of an [`Action`].
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Answer of [`ApiCall::AdminState`].
    AdminState(AdminState),
    /// A call without an answer body went through (password set or right).
    Ok,
    /// Answer of [`ApiCall::AdminNetworks`] and [`ApiCall::SetAdminNetworks`].
    AdminNetworks(AdminNetworks),
    /// Answer of [`ApiCall::Domains`].
    Domains(Vec<Domain>),
    /// Answer of [`ApiCall::Stats`].
    Stats(MailStats),
    /// The supervisor's answer.
    Control(ControlResponse),
    /// Answer of [`Action::ReadSettings`].
    Settings {
        /// The box's host name.
        hostname: String,
        /// Its network settings; `None` when it does not manage them.
        network: Option<NetworkConfig>,
    },
    /// What `ping` printed, and whether the host answered.
    Ping {
        /// ping's output.
        output: String,
        /// True when ping exited 0 (at least one reply).
        answered: bool,
    },
    /// The SMTP test's transcript, up to where it ended.
    Transcript(String),
    /// The action failed.
    Failed(Failure),
}
