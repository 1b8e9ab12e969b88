//! Where the programs and files netconf uses are: the box's busybox, or a
//! workstation's iproute2 and temporary directories in tests.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Longest `#!` line the kernel reads whole (Linux >= 5.1; older ones read 127).
pub const MAX_SHEBANG: usize = 255;

/// How to change the network on this machine. Stored inside the DHCP hook
/// file, so the hook applies leases the same way `apply` applies settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetOptions {
    /// The `ip` program: `["ip"]`, `["/usr/sbin/ip"]` or `["/bin/busybox", "ip"]`.
    pub ip_program: Vec<String>,
    /// The resolver file written: `/etc/resolv.conf`, or on a read-only /etc the
    /// file it links to (e.g. `/run/resolv.conf`): a link itself would be replaced.
    pub resolv_conf: PathBuf,
    /// Set the kernel's host name (sethostname(2)); false on a workstation.
    pub set_hostname: bool,
    /// The DHCP client: `["/bin/busybox", "udhcpc"]`.
    pub udhcpc: Vec<String>,
    /// The hook command: an absolute program path and at most one argument,
    /// `["/usr/bin/filterbox", "dhcp-hook"]`; it becomes the `#!` line of the
    /// hook file udhcpc runs (see [`crate::hook_file`]).
    pub dhcp_hook: Vec<String>,
    /// The time client, run with `--server S` per NTP server:
    /// `["/usr/bin/filterbox", "timesync"]` (Debian's busybox-static has no
    /// ntpd applet).
    pub timesync: Vec<String>,
    /// netconf's own directory: the hook file, the leases, a lock
    /// (`/run/filterbox/net` on the box: it must not outlive a reboot).
    pub runtime_dir: PathBuf,
}

impl NetOptions {
    /// The box's settings: busybox tools, `/etc/resolv.conf`, the host name set,
    /// and `filterbox` (the running binary's path) as the DHCP hook and the
    /// time client.
    pub fn busybox(filterbox: PathBuf) -> NetOptions {
        let bb = |applet: &str| vec!["/bin/busybox".to_string(), applet.to_string()];
        NetOptions {
            ip_program: bb("ip"),
            resolv_conf: "/etc/resolv.conf".into(),
            set_hostname: true,
            udhcpc: bb("udhcpc"),
            dhcp_hook: vec![filterbox.to_string_lossy().into_owned(), "dhcp-hook".into()],
            timesync: vec![filterbox.to_string_lossy().into_owned(), "timesync".into()],
            runtime_dir: "/run/filterbox/net".into(),
        }
    }

    /// Every problem with these options, one sentence each.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        for (name, cmd) in [
            ("ip_program", &self.ip_program),
            ("udhcpc", &self.udhcpc),
            ("timesync", &self.timesync),
        ] {
            if cmd.is_empty() || cmd[0].is_empty() {
                p.push(format!("{name} needs a program"));
            }
        }
        let hook_ok = match self.dhcp_hook.as_slice() {
            [prog] | [prog, _] => prog.starts_with('/') && !prog.contains(char::is_whitespace),
            _ => false,
        };
        if !hook_ok || self.dhcp_hook.iter().any(|a| a.contains('\n')) {
            p.push("dhcp_hook must be an absolute program path without spaces and at most one argument".into());
        } else if crate::files::shebang(self).len() > MAX_SHEBANG {
            p.push(format!(
                "dhcp_hook is longer than the kernel's {MAX_SHEBANG}-byte #! line"
            ));
        }
        if !self.runtime_dir.is_absolute() || !self.resolv_conf.is_absolute() {
            p.push("runtime_dir and resolv_conf must be absolute paths".into());
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_box_options_are_valid_and_bad_hooks_are_not() {
        let good = NetOptions::busybox("/usr/bin/filterbox".into());
        assert!(good.problems().is_empty(), "{:?}", good.problems());
        for hook in [
            vec![],
            vec!["filterbox".to_string(), "dhcp-hook".into()],
            vec!["/bin/x".into(), "a".into(), "b".into()],
            vec!["/my dir/filterbox".into()],
            vec![format!("/{}", "x".repeat(300))],
        ] {
            let bad = NetOptions {
                dhcp_hook: hook.clone(),
                ..good.clone()
            };
            assert_eq!(bad.problems().len(), 1, "{hook:?}");
        }
    }
}
