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
    /// Record that this boot's firmware slot works (used by the update issue).
    MarkBootGood,
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
}

/// The box at a glance: the console's status screen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemStatus {
    /// Firmware version ([`crate::VERSION`]).
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
    use std::io::{BufRead, BufReader, Read, Write};
    let stream = std::os::unix::net::UnixStream::connect(socket).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot reach the supervisor at {}: {e}", socket.display()),
        )
    })?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut line = serde_json::to_vec(request).map_err(std::io::Error::other)?;
    line.push(b'\n');
    (&stream).write_all(&line)?;
    let mut answer = String::new();
    BufReader::new((&stream).take(MAX_ANSWER)).read_line(&mut answer)?;
    serde_json::from_str(&answer).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unexpected answer from the supervisor: {e}"),
        )
    })
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
        let ok = ControlResponse::Ok {
            message: "rebooting".into(),
        };
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"result":"ok","message":"rebooting"}"#
        );
    }
}
