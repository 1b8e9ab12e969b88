//! The mta's SMTP ports, bound by the supervisor when the mta runs
//! unprivileged: ports below 1024 need root, so the supervisor binds them
//! and hands the listening sockets to each mta process it starts, as
//! inherited file descriptors named in [`LISTEN_FDS_ENV`]. The sockets stay
//! with the supervisor across restarts of the mta, so clients that connect
//! while it restarts wait in the backlog instead of being refused.

use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::process::Command;

use command_fds::{CommandFdExt, FdMapping};
use model::config::MtaConfig;

/// The environment variable naming the inherited listeners: `smtp:3,submission:4,smtps:5`.
pub const LISTEN_FDS_ENV: &str = "FILTERBOX_LISTEN_FDS";

/// First descriptor number the listeners get in the mta.
const FIRST_FD: i32 = 3;

/// The mta's listening sockets.
#[derive(Debug)]
pub struct MtaListeners {
    listeners: Vec<(&'static str, TcpListener)>,
}

impl MtaListeners {
    /// Binds `smtp_listen` and, if set, `submission_listen` and `smtps_listen`.
    pub fn bind(config: &MtaConfig) -> std::io::Result<MtaListeners> {
        let bind = |address: &str| {
            TcpListener::bind(address).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot listen on {address}: {e}"))
            })
        };
        let mut listeners = vec![("smtp", bind(&config.smtp_listen)?)];
        if let Some(a) = &config.submission_listen {
            listeners.push(("submission", bind(a)?));
        }
        if let Some(a) = &config.smtps_listen {
            listeners.push(("smtps", bind(a)?));
        }
        Ok(MtaListeners { listeners })
    }

    /// Makes `command` inherit copies of the listeners, numbered from 3,
    /// and tells it which is which in [`LISTEN_FDS_ENV`].
    pub fn pass_to(&self, command: &mut Command) -> std::io::Result<()> {
        let mut mappings = Vec::new();
        let mut names = Vec::new();
        for ((name, listener), child_fd) in self.listeners.iter().zip(FIRST_FD..) {
            mappings.push(FdMapping {
                parent_fd: OwnedFd::from(listener.try_clone()?),
                child_fd,
            });
            names.push(format!("{name}:{child_fd}"));
        }
        command
            .fd_mappings(mappings)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        command.env(LISTEN_FDS_ENV, names.join(","));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_child_inherits_the_listeners_under_the_announced_numbers() {
        let config = MtaConfig {
            smtp_listen: "127.0.0.1:0".into(),
            submission_listen: Some("127.0.0.1:0".into()),
            smtps_listen: Some("127.0.0.1:0".into()),
            ..MtaConfig::default()
        };
        let listeners = MtaListeners::bind(&config).unwrap();
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "echo $FILTERBOX_LISTEN_FDS; readlink /proc/self/fd/3 /proc/self/fd/4 /proc/self/fd/5",
        ]);
        listeners.pass_to(&mut command).unwrap();
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        child.wait().unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "smtp:3,submission:4,smtps:5");
        assert!(
            lines[1..].iter().all(|l| l.starts_with("socket:")) && lines.len() == 4,
            "{out}"
        );
    }
}
