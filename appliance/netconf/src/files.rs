//! The files netconf writes: resolv.conf, and in its runtime directory the
//! DHCP hook file, the state shared with the hook, and a lock.
//!
//! The state (`state.json`) says which interfaces are DHCP-managed, their
//! current leases and the static DNS servers, so `apply` and the hook agree on
//! what the box owns: the hook ignores events for an interface that is no
//! longer DHCP (a dying udhcpc's `deconfig` must not remove a new static
//! address), and resolv.conf always lists the static servers, then DHCP's.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use model::network::{Ipv4Config, NetworkConfig};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::lease::Lease;
use crate::{NetError, NetOptions};

/// The hook file udhcpc runs with `-s`.
pub const HOOK_FILE: &str = "dhcp-hook";
/// The state shared by `apply` and the hook.
pub const STATE_FILE: &str = "state.json";
/// Taken by `apply` and the hook so they never interleave.
const LOCK_FILE: &str = "lock";
/// Largest file netconf reads back (state, hook file, resolv.conf).
pub const MAX_FILE: u64 = 64 * 1024;

/// First line of every resolv.conf netconf writes.
pub const RESOLV_HEADER: &str =
    "# Written by filterbox from its network settings (static DNS, then DHCP's); edits are lost.";

/// A file as a plan wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileContents {
    /// The file.
    pub path: PathBuf,
    /// Its contents.
    pub contents: String,
    /// Permission bits.
    pub mode: u32,
}

/// What `apply` and the hook share through `state.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeState {
    /// DNS servers from the settings.
    pub static_dns: Vec<IpAddr>,
    /// DHCP-managed interfaces and their leases (`None`: no lease yet).
    pub dhcp: BTreeMap<String, Option<Lease>>,
}

impl RuntimeState {
    /// Parses `state.json`; an absent file is the empty state.
    pub fn parse(text: Option<&str>) -> Result<RuntimeState, String> {
        match text {
            None => Ok(RuntimeState::default()),
            Some(t) => serde_json::from_str(t).map_err(|e| format!("{STATE_FILE}: {e}")),
        }
    }

    /// The state once `net` is in force: its DNS, its DHCP interfaces, keeping
    /// the `leases` of interfaces that stay DHCP (their udhcpc runs on).
    pub fn for_network(net: &NetworkConfig, leases: &BTreeMap<String, Lease>) -> RuntimeState {
        let dhcp = net
            .interfaces
            .iter()
            .filter(|i| i.ipv4 == Ipv4Config::Dhcp)
            .map(|i| (i.name.clone(), leases.get(&i.name).cloned()))
            .collect();
        RuntimeState {
            static_dns: net.dns.clone(),
            dhcp,
        }
    }

    /// The current leases by interface.
    pub fn leases(&self) -> BTreeMap<String, Lease> {
        self.dhcp
            .iter()
            .filter_map(|(k, v)| v.clone().map(|l| (k.clone(), l)))
            .collect()
    }

    /// resolv.conf for this state: static servers first, then each lease's.
    pub fn resolv_conf(&self) -> String {
        let mut out = format!("{RESOLV_HEADER}\n");
        let leases = self.leases();
        let domains: Vec<&str> = leases
            .values()
            .filter_map(|l| l.domain.as_deref())
            .collect();
        let mut search: Vec<&str> = Vec::new();
        for d in domains {
            if !search.contains(&d) {
                search.push(d);
            }
        }
        if !search.is_empty() {
            out.push_str(&format!("search {}\n", search.join(" ")));
        }
        let mut servers: Vec<IpAddr> = Vec::new();
        for s in self
            .static_dns
            .iter()
            .chain(leases.values().flat_map(|l| &l.dns))
        {
            if !servers.contains(s) {
                servers.push(*s);
            }
        }
        for s in servers {
            out.push_str(&format!("nameserver {s}\n"));
        }
        out
    }

    /// The files that record this state: resolv.conf and `state.json`.
    pub fn files(&self, opts: &NetOptions) -> Vec<FileContents> {
        let json = serde_json::to_string_pretty(self).expect("the state serializes") + "\n";
        vec![
            FileContents {
                path: opts.resolv_conf.clone(),
                contents: self.resolv_conf(),
                mode: 0o644,
            },
            FileContents {
                path: opts.runtime_dir.join(STATE_FILE),
                contents: json,
                mode: 0o644,
            },
        ]
    }
}

/// The `#!` line of the hook file: the kernel runs `PROGRAM [ARG] FILE EVENT`.
pub(crate) fn shebang(opts: &NetOptions) -> String {
    format!("#!{}", opts.dhcp_hook.join(" "))
}

/// The hook file: a `#!` line naming the hook program, then the options as
/// JSON. udhcpc executes it, so no shell is needed on the box, and the hook
/// reads its options back from the file it was started with.
pub fn hook_file(opts: &NetOptions) -> FileContents {
    let json = serde_json::to_string(opts).expect("the options serialize");
    FileContents {
        path: opts.runtime_dir.join(HOOK_FILE),
        contents: format!("{}\n{json}\n", shebang(opts)),
        mode: 0o755,
    }
}

/// The options stored in a hook file.
pub fn parse_hook_file(text: &str) -> Result<NetOptions, String> {
    let (_shebang, json) = text
        .split_once('\n')
        .ok_or("the hook file has no options line")?;
    serde_json::from_str(json).map_err(|e| format!("the hook file's options: {e}"))
}

/// Reads a file netconf manages (at most [`MAX_FILE`] bytes); `None` if absent.
pub fn read_file(path: &Path) -> Result<Option<String>, NetError> {
    let what = || format!("cannot read {}", path.display());
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(NetError::io(what(), e)),
    };
    let mut text = String::new();
    file.take(MAX_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| NetError::io(what(), e))?;
    if text.len() as u64 > MAX_FILE {
        return Err(NetError::io(
            what(),
            std::io::Error::other(format!("larger than {MAX_FILE} bytes")),
        ));
    }
    Ok(Some(text))
}

/// Holds the runtime directory's lock until dropped.
pub struct RuntimeLock {
    _lock: Flock<File>,
}

/// Creates the runtime directory and takes its lock (blocking: the holder
/// runs a handful of `ip` commands at most).
pub fn lock(opts: &NetOptions) -> Result<RuntimeLock, NetError> {
    let dir = &opts.runtime_dir;
    std::fs::create_dir_all(dir)
        .map_err(|e| NetError::io(format!("cannot create {}", dir.display()), e))?;
    let path = dir.join(LOCK_FILE);
    let file = File::create(&path)
        .map_err(|e| NetError::io(format!("cannot open {}", path.display()), e))?;
    let lock = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| {
        NetError::io(format!("cannot lock {}", path.display()), errno.into())
    })?;
    Ok(RuntimeLock { _lock: lock })
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::network::{InterfaceConfig, Ipv6Config};

    fn lease(dns: &[&str], domain: Option<&str>) -> Lease {
        Lease {
            address: "10.0.0.5".parse().unwrap(),
            prefix: 24,
            router: None,
            metric: 102,
            dns: dns.iter().map(|d| d.parse().unwrap()).collect(),
            domain: domain.map(String::from),
        }
    }

    #[test]
    fn resolv_conf_lists_static_then_dhcp_servers_once() {
        let mut state = RuntimeState {
            static_dns: vec![
                "192.0.2.53".parse().unwrap(),
                "2001:db8::53".parse().unwrap(),
            ],
            dhcp: BTreeMap::new(),
        };
        state.dhcp.insert(
            "eth0".into(),
            Some(lease(&["10.0.0.1", "192.0.2.53"], Some("lan.test"))),
        );
        state.dhcp.insert("eth1".into(), None);
        assert_eq!(
            state.resolv_conf(),
            format!(
                "{RESOLV_HEADER}\nsearch lan.test\nnameserver 192.0.2.53\n\
                 nameserver 2001:db8::53\nnameserver 10.0.0.1\n"
            )
        );
        assert_eq!(
            RuntimeState::default().resolv_conf(),
            format!("{RESOLV_HEADER}\n")
        );
    }

    #[test]
    fn a_new_network_keeps_leases_of_interfaces_that_stay_dhcp() {
        let mut before = RuntimeState::default();
        before.dhcp.insert("eth0".into(), Some(lease(&[], None)));
        before.dhcp.insert("eth1".into(), Some(lease(&[], None)));
        let iface = |name: &str, ipv4| InterfaceConfig {
            name: name.into(),
            ipv4,
            ipv6: Ipv6Config::Auto,
        };
        let net = NetworkConfig {
            interfaces: vec![
                iface("eth0", Ipv4Config::Dhcp),
                iface("eth1", Ipv4Config::Disabled),
                iface("eth2", Ipv4Config::Dhcp),
            ],
            dns: vec!["192.0.2.53".parse().unwrap()],
            ntp: vec![],
        };
        let after = RuntimeState::for_network(&net, &before.leases());
        assert_eq!(after.dhcp.len(), 2);
        assert!(after.dhcp["eth0"].is_some());
        assert_eq!(after.dhcp["eth2"], None);
        assert_eq!(after.static_dns, net.dns);
        let json = &after.files(&crate::NetOptions::busybox("/fb".into()))[1].contents;
        assert_eq!(RuntimeState::parse(Some(json)).unwrap(), after);
        assert_eq!(RuntimeState::parse(None).unwrap(), RuntimeState::default());
        assert!(RuntimeState::parse(Some("{")).is_err());
    }

    #[test]
    fn hook_file_is_an_executable_with_the_options_inside() {
        let opts = crate::NetOptions::busybox("/usr/bin/filterbox".into());
        let f = hook_file(&opts);
        assert!(f.contents.starts_with("#!/usr/bin/filterbox dhcp-hook\n{"));
        assert_eq!(f.mode, 0o755);
        assert_eq!(parse_hook_file(&f.contents).unwrap(), opts);
        assert!(parse_hook_file("#!/bin/sh\necho hi\n").is_err());
    }
}
