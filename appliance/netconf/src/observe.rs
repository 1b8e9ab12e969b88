//! Reading the current state: interfaces and addresses through getifaddrs,
//! default routes from `/proc/thread-self/net/{route,ipv6_route}`, IPv6
//! sysctls, files and the host name.
//!
//! Everything here is per calling thread's network namespace (netlink
//! sockets, `thread-self`, `/proc/sys/net`), and needs no `ip` output parsing,
//! so it behaves the same with busybox and iproute2.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use model::network::Cidr;
use nix::ifaddrs::getifaddrs;
use nix::net::if_::InterfaceFlags;
use nix::sys::socket::SockaddrStorage;

use crate::files::{read_file, RuntimeState, STATE_FILE};
use crate::plan::{Ipv6State, Link, Observed};
use crate::step::DefaultRoute;
use crate::{NetError, NetOptions};

/// `RTF_GATEWAY`: the route goes through a next hop.
const RTF_GATEWAY: u32 = 0x2;
/// `RTF_REJECT`: an unreachable route (IPv6's catch-all on `lo`).
const RTF_REJECT: u32 = 0x200;

/// Everything a plan needs, with the current contents of `files`.
pub fn observe(opts: &NetOptions, files: &[PathBuf]) -> Result<Observed, NetError> {
    let state = runtime_state(opts)?;
    let mut contents = BTreeMap::new();
    for f in files {
        contents.insert(f.clone(), read_file(f)?);
    }
    let hostname = match opts.set_hostname {
        true => Some(
            nix::unistd::gethostname()
                .map_err(|e| NetError::io("cannot read the host name", e.into()))?
                .to_string_lossy()
                .into_owned(),
        ),
        false => None,
    };
    Ok(Observed {
        links: links()?,
        routes: default_routes()?,
        leases: state.leases(),
        files: contents,
        hostname,
    })
}

/// The runtime state recorded by `apply` and the hook.
pub fn runtime_state(opts: &NetOptions) -> Result<RuntimeState, NetError> {
    let path = opts.runtime_dir.join(STATE_FILE);
    RuntimeState::parse(read_file(&path)?.as_deref()).map_err(|e| {
        NetError::io(
            format!("cannot use {}", path.display()),
            std::io::Error::other(e),
        )
    })
}

/// Every interface with its flags and addresses, in kernel order.
pub fn links() -> Result<Vec<Link>, NetError> {
    let entries = getifaddrs().map_err(|e| NetError::io("cannot list the interfaces", e.into()))?;
    let mut links: Vec<Link> = Vec::new();
    for entry in entries {
        // IPv4 aliases carry a label (`eth0:1`); they belong to `eth0`.
        let name = entry.interface_name.split(':').next().unwrap_or_default();
        let index = match links.iter().position(|l| l.name == name) {
            Some(i) => i,
            None => {
                links.push(Link {
                    name: name.to_string(),
                    up: entry.flags.contains(InterfaceFlags::IFF_UP),
                    addresses: Vec::new(),
                    ipv6: ipv6_state(name),
                });
                links.len() - 1
            }
        };
        if let Some(cidr) = cidr(entry.address.as_ref(), entry.netmask.as_ref()) {
            links[index].addresses.push(cidr);
        }
    }
    Ok(links)
}

fn cidr(address: Option<&SockaddrStorage>, mask: Option<&SockaddrStorage>) -> Option<Cidr> {
    let (address, mask) = (address?, mask?);
    if let (Some(a), Some(m)) = (address.as_sockaddr_in(), mask.as_sockaddr_in()) {
        return Some(Cidr {
            address: IpAddr::V4(a.ip()),
            prefix: u32::from(m.ip()).count_ones() as u8,
        });
    }
    let (a, m) = (address.as_sockaddr_in6()?, mask.as_sockaddr_in6()?);
    Some(Cidr {
        address: IpAddr::V6(a.ip()),
        prefix: u128::from(m.ip()).count_ones() as u8,
    })
}

fn ipv6_state(dev: &str) -> Option<Ipv6State> {
    let dir = Path::new("/proc/sys/net/ipv6/conf").join(dev);
    let read = |key: &str| -> Option<u8> {
        std::fs::read_to_string(dir.join(key))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    Some(Ipv6State {
        disabled: read("disable_ipv6")?,
        accept_ra: read("accept_ra")?,
    })
}

/// Default routes through a gateway in the main table, both families.
pub fn default_routes() -> Result<Vec<DefaultRoute>, NetError> {
    let read = |name: &str| -> Result<String, NetError> {
        let path = Path::new("/proc/thread-self/net").join(name);
        match std::fs::read_to_string(&path) {
            Ok(t) => Ok(t),
            // No IPv6 in this kernel: no IPv6 routes.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(NetError::io(format!("cannot read {}", path.display()), e)),
        }
    };
    let mut routes = parse_route_v4(&read("route")?);
    routes.extend(parse_route_v6(&read("ipv6_route")?));
    Ok(routes)
}

/// Default routes in `/proc/net/route` (hex fields, addresses in network order).
pub fn parse_route_v4(text: &str) -> Vec<DefaultRoute> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let hex = |i: usize| u32::from_str_radix(f.get(i)?, 16).ok();
            let (dest, gateway, flags, metric, mask) =
                (hex(1)?, hex(2)?, hex(3)?, f.get(6)?, hex(7)?);
            (dest == 0 && mask == 0 && flags & RTF_GATEWAY != 0).then(|| DefaultRoute {
                dev: f[0].to_string(),
                gateway: IpAddr::V4(Ipv4Addr::from(gateway.to_ne_bytes())),
                metric: metric.parse().unwrap_or(0),
            })
        })
        .collect()
}

/// Default routes in `/proc/net/ipv6_route`.
pub fn parse_route_v6(text: &str) -> Vec<DefaultRoute> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                return None;
            }
            let dest = u128::from_str_radix(f[0], 16).ok()?;
            let plen = u8::from_str_radix(f[1], 16).ok()?;
            let next_hop = u128::from_str_radix(f[4], 16).ok()?;
            let metric = u32::from_str_radix(f[5], 16).ok()?;
            let flags = u32::from_str_radix(f[8], 16).ok()?;
            let default = dest == 0 && plen == 0;
            (default && flags & RTF_GATEWAY != 0 && flags & RTF_REJECT == 0).then(|| DefaultRoute {
                dev: f[9].to_string(),
                gateway: IpAddr::V6(Ipv6Addr::from(next_hop)),
                metric,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_default_routes_from_proc() {
        let v4 =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                  a0\t00000000\t0100090A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                  a0\t0000090A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                  b0\t00000000\t0100A8C0\t0003\t0\t0\t105\t00000000\t0\t0\t0\n";
        let r = parse_route_v4(v4);
        assert_eq!(r.len(), 2);
        if cfg!(target_endian = "little") {
            assert_eq!(r[0].gateway.to_string(), "10.9.0.1");
            assert_eq!(r[1].gateway.to_string(), "192.168.0.1");
        }
        assert_eq!((r[1].dev.as_str(), r[1].metric), ("b0", 105));

        let v6 = "20010db8000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001       a0\n\
                  00000000000000000000000000000000 00 00000000000000000000000000000000 00 20010db8000000000000000000000001 00000400 00000001 00000000 00000003       a0\n\
                  00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
        let r = parse_route_v6(v6);
        assert_eq!(
            r,
            vec![DefaultRoute {
                dev: "a0".into(),
                gateway: "2001:db8::1".parse().unwrap(),
                metric: 1024
            }]
        );
    }
}
