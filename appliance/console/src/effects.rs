//! Performs the console's [`Action`]s: the manager's API over its unix
//! socket, the supervisor's control socket, `system.json`, ping and the
//! SMTP test. Every failure becomes an [`Outcome::Failed`] to show on
//! screen; nothing here ends the console.

use std::path::{Path, PathBuf};
use std::time::Duration;

use model::client::{ApiClient, ClientError};
use model::config::SystemConfig;
use model::control::ControlRequest;
use model::Endpoint;

use crate::machine::{Action, ApiCall, Failure, Outcome};
use crate::probe;

/// Time allowed for one API call.
const API_TIMEOUT: Duration = Duration::from_secs(15);
/// Time allowed for a control request.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(15);
/// Time allowed for applying network settings (links, DHCP, rollback).
const APPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// Where the console's effects go, from `system.json`.
#[derive(Debug, Clone)]
pub struct Effects {
    data_dir: PathBuf,
    api: ApiClient,
    control: PathBuf,
    hostname: String,
}

impl Effects {
    /// Effects for the box described by the resolved `config` in `data_dir`.
    pub fn new(config: &SystemConfig, data_dir: &Path) -> Effects {
        Effects {
            data_dir: data_dir.to_path_buf(),
            api: ApiClient::new(Endpoint::Unix(config.manager.api_socket.clone()))
                .with_timeout(API_TIMEOUT),
            control: config.control_socket.clone(),
            hostname: config.hostname.clone(),
        }
    }

    /// Performs `action` (blocking) and returns its result.
    pub fn perform(&self, action: &Action) -> Outcome {
        match action {
            Action::Api(call) => self
                .api(call)
                .unwrap_or_else(|e| Outcome::Failed(failure(e))),
            Action::Control(request) => self.control(request),
            Action::ReadSettings => match SystemConfig::load(&self.data_dir) {
                Ok(c) => Outcome::Settings {
                    hostname: c.hostname,
                    network: c.network,
                },
                Err(e) => Outcome::Failed(Failure::new(e.to_string())),
            },
            Action::Sleep(pause) => {
                std::thread::sleep(*pause);
                Outcome::Ok
            }
            Action::Ping(host) => probe::ping(host),
            Action::SmtpTest { host, port } => {
                Outcome::Transcript(probe::smtp_test(host, *port, &self.ehlo_name()))
            }
        }
    }

    fn api(&self, call: &ApiCall) -> Result<Outcome, ClientError> {
        let api = &self.api;
        Ok(match call {
            ApiCall::AdminState => Outcome::AdminState(api.admin_state()?),
            ApiCall::SetPassword(p) => {
                api.set_admin_password(&model::api::SetPassword {
                    password: p.expose().to_string(),
                    current: None,
                })?;
                Outcome::Ok
            }
            ApiCall::VerifyPassword(p) => {
                api.verify_admin_password(p.expose())?;
                Outcome::Ok
            }
            ApiCall::AdminNetworks => Outcome::AdminNetworks(api.admin_networks()?),
            ApiCall::SetAdminNetworks(networks) => {
                Outcome::AdminNetworks(api.set_admin_networks(&model::api::AdminNetworks {
                    networks: networks.clone(),
                })?)
            }
            ApiCall::Domains => Outcome::Domains(api.domains()?),
            ApiCall::Stats => Outcome::Stats(api.stats()?),
        })
    }

    fn control(&self, request: &ControlRequest) -> Outcome {
        let timeout = match request {
            ControlRequest::ApplyNetwork { .. } => APPLY_TIMEOUT,
            _ => CONTROL_TIMEOUT,
        };
        match model::control::ask(&self.control, request, timeout) {
            Ok(answer) => Outcome::Control(answer),
            Err(e) if silent(e.kind()) => Outcome::Failed(Failure::unreachable(e.to_string())),
            Err(e) => Outcome::Failed(Failure::new(e.to_string())),
        }
    }

    /// The box's current host name, for EHLO.
    fn ehlo_name(&self) -> String {
        SystemConfig::load(&self.data_dir)
            .map(|c| c.hostname)
            .unwrap_or_else(|_| self.hostname.clone())
    }
}

/// The manager's own message for its errors (the screens tell statuses
/// apart), and whether it answered at all.
fn failure(e: ClientError) -> Failure {
    let unreachable = match &e {
        ClientError::Connect { source, .. } | ClientError::Io { source, .. } => {
            silent(source.kind())
        }
        _ => false,
    };
    match e {
        ClientError::Api {
            status, message, ..
        } => Failure {
            status: Some(status),
            message,
            unreachable: false,
        },
        other if unreachable => Failure::unreachable(other.to_string()),
        other => Failure::new(other.to_string()),
    }
}

/// Errors of a peer that is not there (yet) or does not answer, as opposed
/// to one that answered wrongly or refused us (permissions).
fn silent(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        kind,
        NotFound
            | ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | BrokenPipe
            | UnexpectedEof
            | TimedOut
            | WouldBlock
    )
}
