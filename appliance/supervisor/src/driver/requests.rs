//! Control socket requests, answered from the loop where the state lives.

use std::time::Duration;

use model::control::{ControlRequest, ControlResponse, ProcessStatus, SystemStatus};
use tokio::sync::oneshot;

use super::Driver;
use crate::control::{Answer, Call};
use crate::core::Request;

/// Longest wait for an answer to be written before acting on it.
const ANSWER_WRITE_WAIT: Duration = Duration::from_secs(2);

impl Driver<'_> {
    /// Answers one control request.
    pub(super) async fn on_call(&mut self, call: Call) {
        let Call {
            request,
            reply,
            stream,
        } = call;
        match request {
            ControlRequest::Status | ControlRequest::FirmwareStatus => {
                log::debug!("control request: {}", describe(&request))
            }
            _ => log::info!("control request: {}", describe(&request)),
        }
        let response = match request {
            ControlRequest::Status => ControlResponse::Status(self.status()),
            ControlRequest::ApplyNetwork { hostname, network } => {
                return self.apply_network(hostname, network, reply);
            }
            ControlRequest::Reboot => return self.stop_after_answer(Request::Reboot, reply).await,
            ControlRequest::Shutdown => {
                return self.stop_after_answer(Request::Shutdown, reply).await
            }
            ControlRequest::FactoryReset => {
                return self.stop_after_answer(Request::FactoryReset, reply).await
            }
            ControlRequest::MarkBootGood => return self.mark_boot_good(Some(reply)),
            ControlRequest::FirmwareStatus => {
                ControlResponse::Firmware(Box::new(self.ctx.updater.status()))
            }
            ControlRequest::InstallBundle {
                path,
                force,
                reboot,
            } => return self.install_bundle(path, force, reboot, reply),
            ControlRequest::InstallStream {
                force,
                reboot,
                source,
                ..
            } => {
                if let Some(stream) = stream {
                    self.install_stream(force, reboot, source, stream);
                }
                return;
            }
        };
        let _ = reply.send(Answer {
            response,
            written: None,
        });
    }

    fn status(&self) -> SystemStatus {
        SystemStatus {
            version: self.ctx.updater.version().to_string(),
            boot_slot: self.ctx.cmdline.boot_slot(),
            hostname: self.config.hostname.clone(),
            uptime_secs: self.ctx.started.elapsed().as_secs(),
            interfaces: netconf::interfaces(self.config.network.as_ref()),
            processes: self
                .sup
                .statuses()
                .into_iter()
                .map(|u| ProcessStatus {
                    name: u.name,
                    state: u.status.as_str().to_string(),
                    pid: u.pid,
                    restarts: u.restarts,
                    rss_kib: u.pid.and_then(resident_kib),
                })
                .collect(),
            firmware: Some(Box::new(self.ctx.updater.status())),
        }
    }

    /// Answers first, waits (briefly) until the answer is written, then stops.
    async fn stop_after_answer(&mut self, request: Request, reply: oneshot::Sender<Answer>) {
        let message = if self.finale.is_some() {
            "already stopping".to_string()
        } else {
            match request {
                Request::Reboot => "rebooting".into(),
                Request::Shutdown => "shutting down".into(),
                Request::FactoryReset => "erasing all data and restarting".into(),
                Request::Signal(s) => format!("{s}"),
            }
        };
        let (written, wait) = oneshot::channel();
        let answer = Answer {
            response: ControlResponse::Ok { message },
            written: Some(written),
        };
        if reply.send(answer).is_ok() {
            let _ = tokio::time::timeout(ANSWER_WRITE_WAIT, wait).await;
        }
        if self.finale.is_none() {
            self.on_stop_request(request);
        }
    }
}

fn describe(request: &ControlRequest) -> String {
    match request {
        ControlRequest::ApplyNetwork { hostname, .. } => format!("apply_network ({hostname})"),
        ControlRequest::InstallBundle { path, force, .. } => {
            format!("install_bundle {} (force: {force})", path.display())
        }
        ControlRequest::InstallStream {
            size,
            force,
            source,
            ..
        } => format!("install_stream of {size} bytes from {source} (force: {force})"),
        other => serde_json::to_string(other)
            .unwrap_or_default()
            .trim_start_matches("{\"cmd\":\"")
            .trim_end_matches("\"}")
            .to_string(),
    }
}

/// The resident memory of process `pid` in KiB, from `/proc/PID/status`.
fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn resident_memory_of_a_running_process() {
        let kib = super::resident_kib(std::process::id()).expect("this process has a VmRSS");
        assert!(kib > 100, "{kib} KiB");
        assert_eq!(super::resident_kib(u32::MAX), None);
    }
}
