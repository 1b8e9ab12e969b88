//! The firmware routes: status, upload, install from a URL.
//!
//! The manager only receives and forwards: the supervisor owns the boot
//! slots and installs. An upload's body is streamed from the client's
//! socket to the supervisor's control socket as it arrives (never held in
//! memory, never stored); a URL is fetched the same way on a thread of its
//! own, answered 202 once the supervisor has checked the bundle's
//! signature and metadata. Only administrators may install (see
//! [`crate::admin::Admin::administers`]).

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use model::api::{FirmwareInstall, FirmwareUrl};
use model::control::{ask, install_stream, ControlRequest, ControlResponse};
use update::fetch::{self, Url};

use super::input::{invalid, json, Handled, Params};
use super::response::Response;
use super::router::Router;
use crate::caller::Caller;

/// How long the supervisor may take to describe the firmware.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for each answer of the supervisor during an install: the
/// outcome follows the last byte once the slot is synced.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);
/// Connect and read timeout of a download.
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// `GET /firmware`: slots, versions, an install's progress or outcome.
pub(super) fn status(r: &Router, p: &Params) -> Handled {
    p.only(&[])?;
    let socket = control_socket(r)?;
    match ask(socket, &ControlRequest::FirmwareStatus, STATUS_TIMEOUT) {
        Ok(ControlResponse::Firmware(status)) => Ok(Response::json(200, &status)),
        Ok(other) => Err(Response::error(
            502,
            "upstream",
            format!("unexpected answer from the supervisor: {other:?}"),
        )),
        Err(e) => Err(Response::error(502, "upstream", e.to_string())),
    }
}

/// `POST /firmware/upload`: the body is the bundle, streamed to the
/// supervisor; answered with the outcome.
pub(super) fn upload(
    r: &Router,
    p: &Params,
    body: &mut dyn Read,
    length: u64,
    caller: &Caller,
) -> Handled {
    p.only(&["force", "reboot"])?;
    let force = flag(p, "force", false)?;
    let reboot = flag(p, "reboot", true)?;
    admin_only(r, caller)?;
    let socket = control_socket(r)?;
    if length == 0 {
        return Err(Response::error(
            400,
            "bad_request",
            "send the bundle (.fbu) as the request body",
        ));
    }
    let request = ControlRequest::InstallStream {
        size: length,
        force,
        reboot,
        source: format!("upload from {caller}"),
    };
    log::info!("firmware upload of {length} bytes from {caller}");
    match install_stream(socket, &request, body, INSTALL_TIMEOUT, &mut |_| {}) {
        Ok(ControlResponse::Ok { message }) => {
            Ok(Response::json(200, &FirmwareInstall { message }))
        }
        Ok(other) => Err(refusal(other)),
        Err(e) => Err(Response::error(502, "upstream", e.to_string())),
    }
}

/// `POST /firmware/url`: fetches the bundle and streams it to the
/// supervisor on a thread; answers 202 once it is verified.
pub(super) fn url(r: &Router, p: &Params, body: &[u8], caller: &Caller) -> Handled {
    p.only(&[])?;
    let req: FirmwareUrl = json(body)?;
    admin_only(r, caller)?;
    let socket = control_socket(r)?.to_path_buf();
    let url = Url::parse(&req.url).map_err(|e| invalid(format!("url: {e}")))?;
    let (tx, first) = std::sync::mpsc::channel();
    let source = format!("download from {}", req.url);
    log::info!("firmware {source} requested by {caller}");
    std::thread::spawn(move || {
        let download = match fetch::get(&url, FETCH_TIMEOUT) {
            Ok(d) => d,
            Err(e) => {
                let _ = tx.send(Err(Response::error(
                    502,
                    "upstream",
                    format!(
                        "cannot download {}: {e}",
                        source.trim_start_matches("download from ")
                    ),
                )));
                return;
            }
        };
        let request = ControlRequest::InstallStream {
            size: download.length,
            force: req.force,
            reboot: req.reboot,
            source: source.clone(),
        };
        let mut body = download.body;
        let mut told = false;
        let outcome = install_stream(&socket, &request, &mut body, INSTALL_TIMEOUT, &mut |a| {
            told = true;
            let _ = tx.send(match a {
                ControlResponse::Ok { message } => Ok(message.clone()),
                other => Err(refusal(other.clone())),
            });
        });
        match outcome {
            Ok(ControlResponse::Ok { message }) => log::info!("firmware {source}: {message}"),
            Ok(other) => log::warn!("firmware {source}: {other:?}"),
            Err(e) if !told => {
                let _ = tx.send(Err(Response::error(502, "upstream", e.to_string())));
            }
            Err(e) => log::warn!("firmware {source}: {e}"),
        }
    });
    match first.recv() {
        Ok(Ok(message)) => Ok(Response::json(202, &FirmwareInstall { message })),
        Ok(Err(response)) => Err(response),
        Err(_) => Err(Response::error(
            502,
            "upstream",
            "the download ended without an answer",
        )),
    }
}

/// 401 unless `caller` administers the box.
fn admin_only(r: &Router, caller: &Caller) -> Result<(), Response> {
    if r.admin.administers(caller) {
        return Ok(());
    }
    log::warn!("firmware install refused: {caller} is not an administrator");
    Err(Response::error(
        401,
        "unauthorized",
        "only administrators install firmware: root on the box, or the API token over TCP",
    ))
}

fn control_socket(r: &Router) -> Result<&Path, Response> {
    r.control_socket
        .as_deref()
        .ok_or_else(|| Response::error(404, "not_found", "this manager runs without a supervisor"))
}

/// A boolean query parameter: `true`/`1` or `false`/`0`.
fn flag(p: &Params, name: &str, default: bool) -> Result<bool, Response> {
    match p.get(name) {
        None => Ok(default),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(v) => Err(invalid(format!("{name}={v:?} must be true or false"))),
    }
}

/// The supervisor's refusal as an answer: 409 while another install runs,
/// else 422 with its precise message.
fn refusal(answer: ControlResponse) -> Response {
    match answer {
        ControlResponse::Error { message } if message == update::UpdateError::Busy.to_string() => {
            Response::error(409, "conflict", message)
        }
        ControlResponse::Error { message } => Response::error(422, "invalid", message),
        other => Response::error(
            502,
            "upstream",
            format!("unexpected answer from the supervisor: {other:?}"),
        ),
    }
}
