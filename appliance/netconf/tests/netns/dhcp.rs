//! DHCP for real: busybox udhcpd in one namespace, the udhcpc command from
//! `services()` in another, with this test binary as the hook interpreter.

use std::process::{Command, Stdio};
use std::time::Duration;

use model::network::{InterfaceConfig, Ipv4Config, Ipv6Config, NetworkConfig};
use netconf::{apply, interfaces, services, RESOLV_HEADER};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::{options, wait_for, ChildGuard, NetNs, BUSYBOX};

const LIMIT: Duration = Duration::from_secs(10);

fn udhcpd(server: &NetNs, dir: &std::path::Path) -> ChildGuard {
    let conf = dir.join("udhcpd.conf");
    std::fs::write(
        &conf,
        format!(
            "start 10.77.0.100\nend 10.77.0.110\ninterface dh0\n\
             lease_file {d}/udhcpd.leases\npidfile {d}/udhcpd.pid\n\
             opt subnet 255.255.255.0\nopt router 10.77.0.1\n\
             opt dns 10.77.0.53\nopt domain lan.test\nopt lease 600\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &server.name,
            "/bin/busybox",
            "udhcpd",
            "-f",
            "-a",
            "100",
        ])
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start udhcpd");
    ChildGuard(child)
}

pub fn a_lease_arrives_and_goes_with_udhcpc() {
    let (server, client) = (NetNs::new(), NetNs::new());
    server.ip(&[
        "link",
        "add",
        "dh0",
        "type",
        "veth",
        "peer",
        "name",
        "dh1",
        "netns",
        &client.name,
    ]);
    server.ip(&["addr", "add", "10.77.0.1/24", "dev", "dh0"]);
    server.ip(&["link", "set", "dh0", "up"]);
    let dir = tempfile::tempdir().unwrap();
    let _udhcpd = udhcpd(&server, dir.path());

    let opts = options(dir.path(), BUSYBOX);
    let net = NetworkConfig {
        interfaces: vec![InterfaceConfig {
            name: "dh1".into(),
            ipv4: Ipv4Config::Dhcp,
            ipv6: Ipv6Config::Auto,
        }],
        dns: vec!["192.0.2.1".parse().unwrap()],
        ntp: vec![],
    };
    client.run(|| apply(&opts, "mx1", None, &net)).unwrap();
    let static_only = format!("{RESOLV_HEADER}\nnameserver 192.0.2.1\n");
    assert_eq!(
        std::fs::read_to_string(&opts.resolv_conf).unwrap(),
        static_only
    );

    let service = services(&opts, &net).remove(0);
    assert_eq!(service.name, "udhcpc-dh1");
    let log = dir.path().join("udhcpc.log");
    let out = std::fs::File::create(&log).unwrap();
    let udhcpc = Command::new("ip")
        .args(["netns", "exec", &client.name])
        .args(&service.command)
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("start udhcpc");
    let mut udhcpc = ChildGuard(udhcpc);
    let has_lease = || {
        client
            .ip(&["-4", "addr", "show", "dev", "dh1"])
            .contains("inet 10.77.0.1")
    };
    let udhcpc_log = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        wait_for(LIMIT, has_lease),
        "no lease; udhcpc said:\n{}",
        udhcpc_log()
    );

    let route = client.ip(&["-4", "route", "show", "default"]);
    assert!(
        route.contains("default via 10.77.0.1 dev dh1 metric 1"),
        "{route}"
    );
    assert!(
        wait_for(LIMIT, || std::fs::read_to_string(&opts.resolv_conf)
            .unwrap()
            == format!(
                "{RESOLV_HEADER}\nsearch lan.test\nnameserver 192.0.2.1\nnameserver 10.77.0.53\n"
            )),
        "resolv.conf: {}",
        std::fs::read_to_string(&opts.resolv_conf).unwrap()
    );
    let status = client.run(|| interfaces(Some(&net)));
    let dh1 = status.iter().find(|i| i.name == "dh1").unwrap();
    assert_eq!(dh1.method, "dhcp");
    assert!(dh1.addresses[0].starts_with("10.77.0.1") && dh1.addresses[0].ends_with("/24"));

    // Stopping udhcpc (-R) releases the lease and runs `deconfig`.
    kill(Pid::from_raw(udhcpc.0.id() as i32), Signal::SIGTERM).unwrap();
    let stopped = wait_for(LIMIT, || matches!(udhcpc.0.try_wait(), Ok(Some(_))));
    assert!(stopped, "udhcpc did not stop; it said:\n{}", udhcpc_log());
    assert!(
        !has_lease(),
        "the lease stayed; udhcpc said:\n{}",
        udhcpc_log()
    );
    assert_eq!(client.ip(&["-4", "route", "show", "default"]), "");
    assert_eq!(
        std::fs::read_to_string(&opts.resolv_conf).unwrap(),
        static_only
    );
}
