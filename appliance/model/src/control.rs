//! The supervisor's control socket: how the console and the manager ask the
//! supervisor for the box's status and for box-wide actions.
//!
//! One JSON request per line, one JSON answer per line, over a unix socket
//! reachable only by root and the roles' group. Actions that end the session
//! (reboot, shutdown, factory reset) are answered before they start.

use serde::{Deserialize, Serialize};

use crate::network::NetworkConfig;

/// A request to the supervisor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum ControlRequest {
    /// The box's state: [`ControlResponse::Status`].
    Status,
    /// Apply these network settings now and, if they work, keep them in
    /// `system.json`; on failure the old settings stay in force.
    ApplyNetwork {
        /// The box's new host name.
        hostname: String,
        /// The new settings.
        network: NetworkConfig,
    },
    /// Stop the roles in order and restart the box.
    Reboot,
    /// Stop the roles in order and power off.
    Shutdown,
    /// Erase the data partition (configuration, databases, keys, logs) and reboot.
    FactoryReset,
    /// Record that this boot's firmware slot works: GRUB stops counting its
    /// tries (the supervisor also does this itself once every role is healthy).
    MarkBootGood,
    /// The firmware slots, versions, an install's progress and the bundles
    /// offered on USB sticks: [`ControlResponse::Firmware`].
    FirmwareStatus,
    /// Install the update bundle (`.fbu`) at `path` on the box (a USB
    /// stick's, or a copied file) into the inactive slot, then reboot into
    /// it unless `reboot` is false. Answered once the bundle's signature
    /// and metadata are checked (`ok`: installing; `error`: refused, nothing
    /// changed); the progress and the outcome are in [`FirmwareStatus`].
    InstallBundle {
        /// The bundle file.
        path: std::path::PathBuf,
        /// Install even an older or equal version (a downgrade).
        #[serde(default)]
        force: bool,
        /// Reboot into the new slot once installed (the default).
        #[serde(default = "yes")]
        reboot: bool,
    },
    /// Install the bundle that follows this line on the same connection:
    /// exactly `size` raw bytes. Two answer lines: the first once the
    /// signature and metadata are checked (`ok` or `error`; after an error
    /// the rest is not read), the second with the outcome. Used by the
    /// manager to stream an upload or a download without storing it.
    InstallStream {
        /// Bytes of the bundle that follow.
        size: u64,
        /// Install even an older or equal version.
        #[serde(default)]
        force: bool,
        /// Reboot into the new slot once installed.
        #[serde(default = "yes")]
        reboot: bool,
        /// Where the bundle comes from, for the log and the status.
        source: String,
    },
}

fn yes() -> bool {
    true
}

/// The supervisor's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ControlResponse {
    /// Answer to [`ControlRequest::Status`].
    Status(SystemStatus),
    /// The action was done (or, for reboot and the like, has begun).
    Ok {
        /// What was done, for people.
        message: String,
    },
    /// The request was refused or failed; nothing changed.
    Error {
        /// What went wrong and, where it helps, what to do.
        message: String,
    },
    /// Answer to [`ControlRequest::FirmwareStatus`].
    Firmware(Box<FirmwareStatus>),
}

/// The box at a glance: the console's status screen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemStatus {
    /// The running firmware's version (`/etc/filterbox-release` on the box,
    /// else [`crate::VERSION`]).
    pub version: String,
    /// The root slot booted (`A` or `B`); `None` on a workstation.
    pub boot_slot: Option<String>,
    /// Host name.
    pub hostname: String,
    /// Seconds since the supervisor started.
    pub uptime_secs: u64,
    /// Network interfaces and their addresses.
    pub interfaces: Vec<InterfaceStatus>,
    /// Supervised processes: the roles, then other services.
    pub processes: Vec<ProcessStatus>,
    /// The firmware slots and updates; `None` from a supervisor without them.
    #[serde(default)]
    pub firmware: Option<Box<FirmwareStatus>>,
}

/// The firmware: what runs, what is in the other slot, what GRUB boots
/// next, updates in progress and on offer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirmwareStatus {
    /// The running firmware's version.
    pub version: String,
    /// This box's board name (`/etc/filterbox-board`); bundles must match it.
    pub board: String,
    /// The root slot booted (`A` or `B`); `None` when not booted from a slot.
    pub boot_slot: Option<String>,
    /// Both slots, `A` then `B`; empty when not booted from a slot.
    pub slots: Vec<SlotStatus>,
    /// The slot GRUB boots next (the first usable one in its order).
    pub next_boot: Option<String>,
    /// Set when this boot fell back from an abandoned slot, for people:
    /// e.g. `update to version 0.2.0 failed to start; running 0.1.0 from slot A`.
    pub fallback: Option<String>,
    /// Why the slots could not be read, when they could not.
    pub error: Option<String>,
    /// The install under way, or the last one's outcome since boot.
    pub install: Option<InstallState>,
    /// Update bundles found on USB sticks.
    pub usb_bundles: Vec<UsbBundle>,
}

/// One root slot as the boot environment describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotStatus {
    /// `A` or `B`.
    pub name: String,
    /// The firmware version in it, when known (the running one, or what
    /// was installed there).
    pub version: Option<String>,
    /// GRUB may boot it (`X_OK=1`); 0 once abandoned.
    pub ok: bool,
    /// Boots tried since it was last marked good (`X_TRY`, 0..3).
    pub tries: u8,
    /// It is the slot running now.
    pub booted: bool,
}

/// An install's progress or outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum InstallState {
    /// Being written into the inactive slot.
    Installing {
        /// Where the bundle comes from (`upload`, a URL, a USB path).
        source: String,
        /// The bundle's version, once its metadata is checked.
        version: Option<String>,
        /// The slot written.
        slot: Option<String>,
        /// Bytes of the root filesystem written so far.
        done: u64,
        /// Bytes of the root filesystem in all (0 until known).
        total: u64,
    },
    /// Written, verified and made the next boot.
    Installed {
        /// Where the bundle came from.
        source: String,
        /// The version installed.
        version: String,
        /// The slot it is in.
        slot: String,
        /// For people, e.g. `installed 0.2.0 into slot B; rebooting`.
        message: String,
    },
    /// Refused or failed; the boot order is unchanged.
    Failed {
        /// Where the bundle came from.
        source: String,
        /// Why, precisely.
        message: String,
    },
}

/// A `.fbu` file found on a USB stick, checked but not installed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsbBundle {
    /// Its path on the box (give it to [`ControlRequest::InstallBundle`]).
    pub path: std::path::PathBuf,
    /// The version it carries, when its metadata could be read.
    pub version: Option<String>,
    /// The board it is for, when its metadata could be read.
    pub board: Option<String>,
    /// Signed by the key this firmware trusts, for this board, newer, whole.
    pub valid: bool,
    /// What is wrong with it, or what installing it would do.
    pub message: String,
}

/// One network interface as it is now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceStatus {
    /// Kernel name.
    pub name: String,
    /// Link up.
    pub up: bool,
    /// Addresses with prefix length, e.g. `192.0.2.10/24`.
    pub addresses: Vec<String>,
    /// How the addresses came: `static`, `dhcp`, or `unmanaged`.
    pub method: String,
}

/// One supervised process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessStatus {
    /// Role or service name.
    pub name: String,
    /// `waiting`, `starting`, `healthy`, `backoff`, `crash-loop`, `stopping` or `stopped`.
    pub state: String,
    /// Its pid while it runs.
    pub pid: Option<u32>,
    /// How many times it was restarted since the supervisor started.
    pub restarts: u32,
    /// Its resident memory in KiB (`VmRSS` of `/proc/PID/status`) while it runs.
    #[serde(default)]
    pub rss_kib: Option<u64>,
}

/// Largest answer line read from the control socket.
const MAX_ANSWER: u64 = 1024 * 1024;

/// Asks the supervisor listening on `socket` once; blocking, with `timeout`
/// on connect, write and read.
pub fn ask(
    socket: &std::path::Path,
    request: &ControlRequest,
    timeout: std::time::Duration,
) -> std::io::Result<ControlResponse> {
    ask_line(socket, request, timeout, MAX_ANSWER, "the supervisor")
}

/// One JSON line to a unix socket, one JSON line back: the shape of the
/// supervisor's and the mta's control sockets. `who` names the peer in errors.
pub(crate) fn ask_line<Q: Serialize, A: serde::de::DeserializeOwned>(
    socket: &std::path::Path,
    request: &Q,
    timeout: std::time::Duration,
    max_answer: u64,
    who: &str,
) -> std::io::Result<A> {
    use std::io::{BufRead, BufReader, Read, Write};
    let stream = std::os::unix::net::UnixStream::connect(socket).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot reach {who} at {}: {e}", socket.display()),
        )
    })?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut line = serde_json::to_vec(request).map_err(std::io::Error::other)?;
    line.push(b'\n');
    (&stream).write_all(&line)?;
    let mut answer = String::new();
    BufReader::new((&stream).take(max_answer)).read_line(&mut answer)?;
    serde_json::from_str(&answer).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unexpected answer from {who}: {e}"),
        )
    })
}

/// Bytes of a bundle written to the control socket at once.
const STREAM_CHUNK: usize = 64 * 1024;

/// Sends [`ControlRequest::InstallStream`] followed by the bundle read from
/// `bundle` (exactly the request's `size` bytes), without holding it in
/// memory. `first` is told the first answer (the verification) as soon as
/// it arrives; sending stops early when that is a refusal. Returns the
/// final answer: the refusal, or the install's outcome. Blocking; each
/// read and write waits at most `timeout` (the outcome follows the last
/// byte after the slot is synced: give it minutes).
pub fn install_stream(
    socket: &std::path::Path,
    request: &ControlRequest,
    bundle: &mut dyn std::io::Read,
    timeout: std::time::Duration,
    first: &mut dyn FnMut(&ControlResponse),
) -> std::io::Result<ControlResponse> {
    use std::io::Write;
    use std::sync::mpsc;
    let ControlRequest::InstallStream { size, .. } = request else {
        return Err(std::io::Error::other("not an install_stream request"));
    };
    let mut stream = std::os::unix::net::UnixStream::connect(socket).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot reach the supervisor at {}: {e}", socket.display()),
        )
    })?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut line = serde_json::to_vec(request).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let (tx, answers) = mpsc::channel();
    let reading = stream.try_clone()?;
    std::thread::spawn(move || read_answers(reading, tx));
    let mut answered = None;
    let mut chunk = vec![0u8; STREAM_CHUNK];
    let mut left = *size;
    while left > 0 {
        if let Ok(answer) = answers.try_recv() {
            let refused = !matches!(answer, Ok(ControlResponse::Ok { .. }));
            answered = Some(answer);
            if refused {
                break;
            }
        }
        let want = left.min(STREAM_CHUNK as u64) as usize;
        let n = bundle.read(&mut chunk[..want])?;
        if n == 0 || stream.write_all(&chunk[..n]).is_err() {
            break; // the supervisor says why (truncated, or its refusal)
        }
        left -= n as u64;
    }
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let closed = |what: &str| {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("the supervisor closed the connection {what}"),
        )
    };
    let answer = match answered {
        Some(a) => a,
        None => answers.recv().map_err(|_| closed("without an answer"))?,
    }?;
    first(&answer);
    if !matches!(answer, ControlResponse::Ok { .. }) {
        return Ok(answer);
    }
    // That was the verification; the outcome follows.
    answers
        .recv()
        .map_err(|_| closed("before the install ended"))?
}

/// Reads answer lines until the connection ends, passing each on.
fn read_answers(
    stream: std::os::unix::net::UnixStream,
    tx: std::sync::mpsc::Sender<std::io::Result<ControlResponse>>,
) {
    use std::io::{BufRead, BufReader, Read};
    let mut reader = BufReader::new(stream.take(MAX_ANSWER * 2));
    loop {
        let mut line = String::new();
        let answer = match reader.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) => serde_json::from_str(&line).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("unexpected answer from the supervisor: {e}"),
                )
            }),
            Err(e) => Err(e),
        };
        let failed = answer.is_err();
        if tx.send(answer).is_err() || failed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_lines() {
        assert_eq!(
            serde_json::to_string(&ControlRequest::Reboot).unwrap(),
            r#"{"cmd":"reboot"}"#
        );
        let r: ControlRequest = serde_json::from_str(
            r#"{"cmd":"apply_network","hostname":"mx1","network":{"interfaces":[{"name":"eth0"}]}}"#,
        )
        .unwrap();
        assert!(matches!(r, ControlRequest::ApplyNetwork { .. }));
        assert!(serde_json::from_str::<ControlRequest>(r#"{"cmd":"format_disk"}"#).is_err());
        let r: ControlRequest =
            serde_json::from_str(r#"{"cmd":"install_bundle","path":"/run/usb/sdb/a.fbu"}"#)
                .unwrap();
        assert_eq!(
            r,
            ControlRequest::InstallBundle {
                path: "/run/usb/sdb/a.fbu".into(),
                force: false,
                reboot: true
            }
        );
        let status: SystemStatus = serde_json::from_str(
            r#"{"version":"0.1.0","boot_slot":null,"hostname":"h","uptime_secs":1,"interfaces":[],"processes":[]}"#,
        )
        .unwrap();
        assert_eq!(status.firmware, None, "older supervisors send no firmware");
        let installing = InstallState::Installing {
            source: "upload".into(),
            version: None,
            slot: Some("B".into()),
            done: 1,
            total: 2,
        };
        assert!(serde_json::to_string(&installing)
            .unwrap()
            .starts_with(r#"{"state":"installing","#));
        let ok = ControlResponse::Ok {
            message: "rebooting".into(),
        };
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"result":"ok","message":"rebooting"}"#
        );
    }
}
