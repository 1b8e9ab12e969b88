//! The box's network settings: addresses, default routes, DNS, host name,
//! DHCP and NTP, applied at boot and again on request, without a reboot.
//!
//! [`apply`] validates first (nothing is touched for invalid settings), reads
//! the current state, plans the [`Step`]s that reach the new settings
//! ([`plan()`], pure and unit-tested) and runs them with the `ip` program
//! (busybox's or iproute2's: only the subset both understand). If a step fails,
//! the steps done are undone in reverse order, so the old settings stay in force.
//!
//! # DHCP, NTP and the hook
//!
//! DHCP interfaces get no address from `apply`: [`services`] lists the
//! commands the supervisor runs for them, one `udhcpc -f -R -i IFACE -s
//! <runtime_dir>/dhcp-hook` per DHCP interface (and `filterbox timesync
//! --server ...`, the box's own SNTP client, when NTP servers are set:
//! Debian's busybox-static has no ntpd). The hook file, written by `apply`,
//! is a `#!` line naming [`NetOptions::dhcp_hook`] followed by the options as
//! JSON; so udhcpc's
//! `HOOK EVENT` runs `filterbox dhcp-hook HOOKFILE EVENT`, which reads its
//! options back from the file ([`dhcp_hook_file`]) and applies the lease
//! ([`dhcp_hook`]). No shell and no extra environment are needed.
//!
//! # Wiring (the supervisor)
//!
//! At boot: `apply(&opts, &config.hostname, None, &net)`, then supervise
//! `services(&opts, &net)`. On a request: `apply(&opts, &hostname, Some(&old),
//! &new)`; on `Ok`, save the settings, stop (SIGTERM: udhcpc then releases its
//! lease) the services of `services(&opts, &old)` that are not in
//! `services(&opts, &new)` and start the new ones; on `Err`, keep everything.
//! A dying udhcpc of an interface that is no longer DHCP cannot undo the new
//! settings: the hook ignores interfaces the applied settings do not put on DHCP.

#![forbid(unsafe_code)]

mod dhcp;
mod error;
mod exec;
mod files;
mod lease;
mod observe;
mod options;
mod plan;
mod status;
mod step;
mod validate;

use model::network::NetworkConfig;

pub use dhcp::{dhcp_hook, dhcp_hook_file, services};
pub use error::NetError;
pub use files::{hook_file, FileContents, RuntimeState, HOOK_FILE, RESOLV_HEADER, STATE_FILE};
pub use lease::{HookEvent, Lease, DHCP_METRIC_BASE};
pub use options::NetOptions;
pub use plan::{plan, plan_lease, Ipv6State, Link, Observed, Target};
pub use status::interfaces;
pub use step::{rollback, DefaultRoute, Ipv6Sysctl, Step, STATIC_V4_METRIC, STATIC_V6_METRIC};

/// What [`apply`] changed, for logs and for showing back to the administrator.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// One line per step done, e.g. `add address 192.0.2.10/24 to eth0`;
    /// empty when the settings were already in force.
    pub changes: Vec<String>,
}

/// Puts `new` and `hostname` in force; `old` is what was applied before
/// (`None` at boot). Static addresses and gateways, IPv6 statics and sysctls,
/// links up, `disabled` families removed, resolv.conf (atomically), the host
/// name (if [`NetOptions::set_hostname`]) and the DHCP hook file. On error,
/// everything is as it was (see [`NetError`]).
pub fn apply(
    opts: &NetOptions,
    hostname: &str,
    old: Option<&NetworkConfig>,
    new: &NetworkConfig,
) -> Result<Applied, NetError> {
    let problems = opts.problems();
    if !problems.is_empty() {
        return Err(NetError::Invalid(problems));
    }
    let _lock = files::lock(opts)?;
    let hook = hook_file(opts);
    let paths = [
        opts.resolv_conf.clone(),
        opts.runtime_dir.join(STATE_FILE),
        hook.path.clone(),
    ];
    let current = observe::observe(opts, &paths)?;
    let problems = validate::problems(new, hostname, &current.links);
    if !problems.is_empty() {
        return Err(NetError::Invalid(problems));
    }
    let mut wanted = RuntimeState::for_network(new, &current.leases).files(opts);
    wanted.push(hook);
    let steps = plan(
        &current,
        &Target {
            network: new,
            old,
            hostname: opts.set_hostname.then_some(hostname),
            files: wanted,
        },
    );
    exec::execute(opts, &steps)?;
    Ok(Applied {
        changes: steps.iter().map(ToString::to_string).collect(),
    })
}
