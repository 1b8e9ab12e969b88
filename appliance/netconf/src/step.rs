//! The unit of change: one `ip` command, sysctl, file or host name, each with
//! its exact inverse, so a failed apply can be undone step by step.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use model::network::Cidr;

/// Metric of a static IPv4 default route (the kernel's default).
pub const STATIC_V4_METRIC: u32 = 0;
/// Metric of a static IPv6 default route (the kernel's default for user routes).
pub const STATIC_V6_METRIC: u32 = 1024;

/// A default route through a gateway on one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefaultRoute {
    /// Interface.
    pub dev: String,
    /// Next hop; its family is the route's family.
    pub gateway: IpAddr,
    /// Route metric (lower wins); the kernel refuses two IPv4 defaults with the same one.
    pub metric: u32,
}

impl DefaultRoute {
    /// Same interface and gateway: the same route for planning, whatever the metric.
    pub fn same_path(&self, other: &DefaultRoute) -> bool {
        self.dev == other.dev && self.gateway == other.gateway
    }
}

/// A per-interface IPv6 sysctl the plan manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ipv6Sysctl {
    /// `disable_ipv6`: 1 removes every IPv6 address, link-local included.
    DisableIpv6,
    /// `accept_ra`: 0 keeps router advertisements from adding addresses and routes.
    AcceptRa,
}

impl Ipv6Sysctl {
    /// The file name under `/proc/sys/net/ipv6/conf/<dev>/`.
    pub fn key(self) -> &'static str {
        match self {
            Ipv6Sysctl::DisableIpv6 => "disable_ipv6",
            Ipv6Sysctl::AcceptRa => "accept_ra",
        }
    }
}

/// One change to the system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// `ip link set dev DEV up`.
    LinkUp {
        /// Interface.
        dev: String,
    },
    /// `ip link set dev DEV down` (only as the inverse of [`Step::LinkUp`]).
    LinkDown {
        /// Interface.
        dev: String,
    },
    /// `ip addr add CIDR dev DEV`.
    AddAddress {
        /// Interface.
        dev: String,
        /// Address and prefix.
        cidr: Cidr,
    },
    /// `ip addr del CIDR dev DEV`.
    DelAddress {
        /// Interface.
        dev: String,
        /// Address and prefix.
        cidr: Cidr,
    },
    /// `ip route add default via GW dev DEV metric M`.
    AddDefaultRoute(DefaultRoute),
    /// `ip route del default via GW dev DEV metric M`.
    DelDefaultRoute(DefaultRoute),
    /// Write `/proc/sys/net/ipv6/conf/DEV/KEY`.
    Sysctl {
        /// Interface.
        dev: String,
        /// Which setting.
        key: Ipv6Sysctl,
        /// New value.
        value: u8,
        /// Value before, restored by the inverse.
        previous: u8,
    },
    /// Replace a file atomically (temporary file + rename).
    WriteFile {
        /// The file.
        path: PathBuf,
        /// New contents.
        contents: String,
        /// Contents before; `None`: the file did not exist.
        previous: Option<String>,
        /// Permission bits of the new file.
        mode: u32,
    },
    /// Remove a file (only as the inverse of creating it).
    RemoveFile {
        /// The file.
        path: PathBuf,
        /// Its contents, restored by the inverse.
        previous: String,
        /// Its permission bits, restored by the inverse.
        mode: u32,
    },
    /// sethostname(2).
    SetHostname {
        /// New name.
        name: String,
        /// Name before.
        previous: String,
    },
}

impl Step {
    /// The step that undoes this one.
    pub fn inverse(&self) -> Step {
        match self.clone() {
            Step::LinkUp { dev } => Step::LinkDown { dev },
            Step::LinkDown { dev } => Step::LinkUp { dev },
            Step::AddAddress { dev, cidr } => Step::DelAddress { dev, cidr },
            Step::DelAddress { dev, cidr } => Step::AddAddress { dev, cidr },
            Step::AddDefaultRoute(r) => Step::DelDefaultRoute(r),
            Step::DelDefaultRoute(r) => Step::AddDefaultRoute(r),
            Step::Sysctl {
                dev,
                key,
                value,
                previous,
            } => Step::Sysctl {
                dev,
                key,
                value: previous,
                previous: value,
            },
            Step::WriteFile {
                path,
                contents,
                previous: Some(previous),
                mode,
            } => Step::WriteFile {
                path,
                contents: previous,
                previous: Some(contents),
                mode,
            },
            Step::WriteFile {
                path,
                contents,
                previous: None,
                mode,
            } => Step::RemoveFile {
                path,
                previous: contents,
                mode,
            },
            Step::RemoveFile {
                path,
                previous,
                mode,
            } => Step::WriteFile {
                path,
                contents: previous,
                previous: None,
                mode,
            },
            Step::SetHostname { name, previous } => Step::SetHostname {
                name: previous,
                previous: name,
            },
        }
    }
}

/// What undoes the first `done` steps of `steps`: their inverses, last first.
pub fn rollback(steps: &[Step], done: usize) -> Vec<Step> {
    steps[..done.min(steps.len())]
        .iter()
        .rev()
        .map(Step::inverse)
        .collect()
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::LinkUp { dev } => write!(f, "set link {dev} up"),
            Step::LinkDown { dev } => write!(f, "set link {dev} down"),
            Step::AddAddress { dev, cidr } => write!(f, "add address {cidr} to {dev}"),
            Step::DelAddress { dev, cidr } => write!(f, "remove address {cidr} from {dev}"),
            Step::AddDefaultRoute(r) => write!(
                f,
                "add default route via {} dev {} metric {}",
                r.gateway, r.dev, r.metric
            ),
            Step::DelDefaultRoute(r) => write!(
                f,
                "remove default route via {} dev {} metric {}",
                r.gateway, r.dev, r.metric
            ),
            Step::Sysctl {
                dev, key, value, ..
            } => write!(f, "set net.ipv6.conf.{dev}.{} = {value}", key.key()),
            Step::WriteFile { path, .. } => write!(f, "write {}", path.display()),
            Step::RemoveFile { path, .. } => write!(f, "remove {}", path.display()),
            Step::SetHostname { name, .. } => write!(f, "set host name {name:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(gw: &str) -> DefaultRoute {
        DefaultRoute {
            dev: "eth0".into(),
            gateway: gw.parse().unwrap(),
            metric: 0,
        }
    }

    #[test]
    fn every_step_inverts_back_to_itself() {
        let steps = [
            Step::LinkUp { dev: "eth0".into() },
            Step::AddAddress {
                dev: "eth0".into(),
                cidr: "192.0.2.5/24".parse().unwrap(),
            },
            Step::DelDefaultRoute(route("192.0.2.1")),
            Step::Sysctl {
                dev: "eth0".into(),
                key: Ipv6Sysctl::AcceptRa,
                value: 0,
                previous: 1,
            },
            Step::WriteFile {
                path: "/x".into(),
                contents: "new".into(),
                previous: Some("old".into()),
                mode: 0o644,
            },
            Step::WriteFile {
                path: "/x".into(),
                contents: "new".into(),
                previous: None,
                mode: 0o644,
            },
            Step::SetHostname {
                name: "a".into(),
                previous: "b".into(),
            },
        ];
        for s in &steps {
            assert_ne!(&s.inverse(), s);
            assert_eq!(&s.inverse().inverse(), s);
        }
    }

    #[test]
    fn rollback_undoes_the_done_steps_last_first() {
        let a = Step::AddAddress {
            dev: "eth0".into(),
            cidr: "192.0.2.5/24".parse().unwrap(),
        };
        let r = Step::AddDefaultRoute(route("192.0.2.1"));
        let w = Step::WriteFile {
            path: "/run/resolv.conf".into(),
            contents: "nameserver 192.0.2.53\n".into(),
            previous: None,
            mode: 0o644,
        };
        let steps = vec![a.clone(), r.clone(), w];
        // The route (third step) failed: undo the second, then the first.
        assert_eq!(
            rollback(&steps, 2),
            vec![
                Step::DelDefaultRoute(route("192.0.2.1")),
                Step::DelAddress {
                    dev: "eth0".into(),
                    cidr: "192.0.2.5/24".parse().unwrap(),
                },
            ]
        );
        assert!(rollback(&steps, 0).is_empty());
        assert!(matches!(rollback(&steps, 3)[0], Step::RemoveFile { .. }));
        assert_eq!(
            r.to_string(),
            "add default route via 192.0.2.1 dev eth0 metric 0"
        );
    }
}
