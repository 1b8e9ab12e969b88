//! DHCP and NTP: the long-running commands the supervisor runs for the
//! settings, and the hook udhcpc calls with each lease event (see the crate
//! docs for the hook file).

use std::collections::HashMap;
use std::path::Path;

use model::config::ServiceConfig;
use model::network::{Ipv4Config, NetworkConfig};

use crate::exec::execute;
use crate::files::{lock, parse_hook_file, read_file, HOOK_FILE};
use crate::lease::{interface_from_env, HookEvent, Lease, DHCP_METRIC_BASE};
use crate::observe::{observe, runtime_state};
use crate::plan::plan_lease;
use crate::{NetError, NetOptions};

/// The commands to supervise for `net`: `udhcpc-<iface>` per DHCP interface,
/// and `timesync` (`filterbox timesync --server S...`) when NTP servers are
/// set. Run as root: both change the system.
pub fn services(opts: &NetOptions, net: &NetworkConfig) -> Vec<ServiceConfig> {
    let hook = opts
        .runtime_dir
        .join(HOOK_FILE)
        .to_string_lossy()
        .into_owned();
    let mut out: Vec<ServiceConfig> = net
        .interfaces
        .iter()
        .filter(|i| i.ipv4 == Ipv4Config::Dhcp)
        .map(|i| {
            let mut command = opts.udhcpc.clone();
            // -f: foreground (supervised); -R: release the lease and run
            // `deconfig` when stopped, so the address goes with the service.
            command.extend(["-f", "-R", "-i", &i.name, "-s", &hook].map(String::from));
            ServiceConfig {
                name: format!("udhcpc-{}", i.name),
                command,
                user: None,
            }
        })
        .collect();
    if !net.ntp.is_empty() {
        let mut command = opts.timesync.clone();
        for server in &net.ntp {
            command.extend(["--server".to_string(), server.clone()]);
        }
        out.push(ServiceConfig {
            name: "timesync".into(),
            command,
            user: None,
        });
    }
    out
}

/// What `filterbox dhcp-hook FILE EVENT` does: the options from the hook
/// file, then [`dhcp_hook`] with the process environment.
pub fn dhcp_hook_file(
    file: &Path,
    event: &str,
    env: &HashMap<String, String>,
) -> Result<(), NetError> {
    let text = read_file(file)?
        .ok_or_else(|| NetError::Hook(format!("{} does not exist", file.display())))?;
    let opts = parse_hook_file(&text).map_err(NetError::Hook)?;
    dhcp_hook(&opts, event, env)
}

/// Applies one udhcpc event: `bound`/`renew` put the lease's address, default
/// route and DNS in place (replacing the previous lease's), `deconfig` removes
/// them, `leasefail`/`nak` change nothing. Events for an interface the
/// settings no longer put on DHCP are ignored. Rolls back like `apply`.
pub fn dhcp_hook(
    opts: &NetOptions,
    event: &str,
    env: &HashMap<String, String>,
) -> Result<(), NetError> {
    let event = HookEvent::parse(event).map_err(NetError::Hook)?;
    let dev = interface_from_env(env).map_err(NetError::Hook)?;
    let lease = match event {
        HookEvent::LeaseFail | HookEvent::Nak => {
            log::info!("{dev}: {event}: nothing to change");
            return Ok(());
        }
        HookEvent::Deconfig => None,
        HookEvent::Bound | HookEvent::Renew => {
            let index = nix::net::if_::if_nametoindex(dev.as_str())
                .map_err(|e| NetError::Hook(format!("interface {dev}: {e}")))?;
            let lease = Lease::from_env(env, DHCP_METRIC_BASE + index)
                .map_err(|e| NetError::Hook(format!("{dev}: {event}: {e}")))?;
            Some(lease)
        }
    };
    let _lock = lock(opts)?;
    let mut state = runtime_state(opts)?;
    match state.dhcp.get_mut(&dev) {
        Some(slot) => *slot = lease.clone(),
        None => {
            log::warn!("{dev}: ignoring {event}: the settings do not put it on DHCP");
            return Ok(());
        }
    }
    let files = state.files(opts);
    let paths: Vec<_> = files.iter().map(|f| f.path.clone()).collect();
    let steps = plan_lease(&observe(opts, &paths)?, &dev, lease.as_ref(), &files);
    match &lease {
        Some(l) => match l.router {
            Some(r) => log::info!("{dev}: {event}: {} via {r}", l.cidr()),
            None => log::info!("{dev}: {event}: {} without a router", l.cidr()),
        },
        None => log::info!("{dev}: {event}: removing the lease"),
    }
    execute(opts, &steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::network::{InterfaceConfig, Ipv6Config};

    #[test]
    fn one_udhcpc_per_dhcp_interface_and_timesync_with_its_servers() {
        let mut opts = NetOptions::busybox("/usr/bin/filterbox".into());
        opts.runtime_dir = "/run/fb".into();
        let net = NetworkConfig {
            interfaces: vec![
                InterfaceConfig {
                    name: "eth0".into(),
                    ipv4: Ipv4Config::Dhcp,
                    ipv6: Ipv6Config::Auto,
                },
                InterfaceConfig {
                    name: "eth1".into(),
                    ipv4: Ipv4Config::Disabled,
                    ipv6: Ipv6Config::Auto,
                },
            ],
            dns: vec![],
            ntp: vec!["ntp1.example.test".into(), "192.0.2.123".into()],
        };
        let s = services(&opts, &net);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "udhcpc-eth0");
        assert_eq!(
            s[0].command.join(" "),
            "/bin/busybox udhcpc -f -R -i eth0 -s /run/fb/dhcp-hook"
        );
        assert_eq!(s[1].name, "timesync");
        assert_eq!(
            s[1].command.join(" "),
            "/usr/bin/filterbox timesync --server ntp1.example.test --server 192.0.2.123"
        );
        assert!(services(&opts, &NetworkConfig::dhcp_on("eth0"))
            .iter()
            .all(|s| s.name != "timesync"));
    }

    #[test]
    fn bad_events_and_environments_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = NetOptions::busybox("/usr/bin/filterbox".into());
        opts.runtime_dir = dir.path().join("run");
        let env: HashMap<String, String> = [("interface", "eth0")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert!(matches!(
            dhcp_hook(&opts, "explode", &env),
            Err(NetError::Hook(_))
        ));
        assert!(matches!(
            dhcp_hook(&opts, "bound", &HashMap::new()),
            Err(NetError::Hook(_))
        ));
        dhcp_hook(&opts, "leasefail", &env).unwrap();
        assert!(
            !opts.runtime_dir.exists(),
            "the hook touched the runtime dir"
        );
        assert!(matches!(
            dhcp_hook_file(&dir.path().join("nope"), "bound", &env),
            Err(NetError::Hook(_))
        ));
    }
}
