//! The data directory: created with a default `system.json` on first run,
//! loaded at the start of every run, saved after a network change, emptied
//! by a factory reset.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use model::config::{ConsoleConfig, RoleUsers, SystemConfig, WatchdogConfig, SYSTEM_JSON};
use model::network::{InterfaceConfig, Ipv4Config, Ipv6Config, NetworkConfig};

use super::Context;
use crate::core::Mode;
use crate::privileges::{can_switch_users, Privileges, SYSTEM_JSON_MODE};
use crate::{process, SupervisorError};

/// The serial console of the box, in the default configuration of init.
const BOX_CONSOLE: &str = "/dev/ttyS0";
/// The hardware watchdog of the box, in the default configuration of init.
const BOX_WATCHDOG: &str = "/dev/watchdog";
/// Where the kernel lists the network interfaces.
const SYS_CLASS_NET: &str = "/sys/class/net";
/// The interface DHCP runs on by default when no ethernet interface is found.
const FALLBACK_INTERFACE: &str = "eth0";

fn data_dir_error(dir: &Path) -> impl FnOnce(std::io::Error) -> SupervisorError + '_ {
    move |source| SupervisorError::DataDir {
        path: dir.to_path_buf(),
        source,
    }
}

/// The configuration a new data directory gets: the workstation default;
/// as init, the box's: DHCP on the first ethernet interface (the others
/// listed, disabled, for the console to configure), the serial console on
/// ttyS0, the watchdog, the roles' own users, and SMTP (25), submission
/// (587), implicit TLS (465) and the API (8080) on every address.
pub(crate) fn default_config(mode: Mode) -> SystemConfig {
    let mut config = SystemConfig::default();
    if mode == Mode::Init {
        config.network = Some(default_network(&ethernet_interfaces(Path::new(
            SYS_CLASS_NET,
        ))));
        config.console = Some(ConsoleConfig {
            tty: BOX_CONSOLE.into(),
        });
        config.watchdog = Some(WatchdogConfig {
            device: BOX_WATCHDOG.into(),
            interval_secs: 5,
        });
        config.users = Some(RoleUsers::default());
        config.mta.smtp_listen = "0.0.0.0:25".into();
        config.mta.submission_listen = Some("0.0.0.0:587".into());
        config.mta.smtps_listen = Some("0.0.0.0:465".into());
        config.manager.http_listen = Some("0.0.0.0:8080".into());
    }
    config
}

/// DHCP on the first of `interfaces` (or on [`FALLBACK_INTERFACE`] when
/// there is none), the others disabled.
fn default_network(interfaces: &[String]) -> NetworkConfig {
    let Some((first, others)) = interfaces.split_first() else {
        return NetworkConfig::dhcp_on(FALLBACK_INTERFACE);
    };
    let mut network = NetworkConfig::dhcp_on(first);
    network
        .interfaces
        .extend(others.iter().map(|name| InterfaceConfig {
            name: name.clone(),
            ipv4: Ipv4Config::Disabled,
            ipv6: Ipv6Config::Disabled,
        }));
    network
}

/// The ethernet interfaces of devices, by name, as listed in
/// `sys_class_net`: type 1 (ARPHRD_ETHER) with a `device` link, so not a
/// bridge, tunnel or other virtual interface.
fn ethernet_interfaces(sys_class_net: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(sys_class_net) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| {
            let dir = e.path();
            let kind = std::fs::read_to_string(dir.join("type")).unwrap_or_default();
            kind.trim() == "1" && dir.join("device").exists()
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Creates the data directory (mode 0700) and a default `system.json`.
pub(crate) fn prepare_data_dir(dir: &Path, mode: Mode) -> Result<(), SupervisorError> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(data_dir_error(dir))?;
    }
    if !dir.join(SYSTEM_JSON).exists() {
        default_config(mode).write(dir)?;
        log::info!(
            "created {} with the default configuration",
            dir.join(SYSTEM_JSON).display()
        );
    }
    Ok(())
}

/// Prepares the data directory and loads the configuration of a run; sets
/// up the roles' users and the log files.
pub(super) fn load(ctx: &Context) -> Result<(SystemConfig, Option<Privileges>), SupervisorError> {
    prepare_data_dir(&ctx.data_dir, ctx.mode)?;
    let config = ctx.args.load_config()?;
    // Before the roles' files are handed over: the manager owns the pair.
    match tls::ensure_certificate(&config.tls, &config.hostname) {
        Ok(_) => {}
        Err(e) => log::error!("no TLS certificate (SMTP runs without TLS): {e}"),
    }
    let privileges = match &config.users {
        Some(users) if can_switch_users() => {
            let p = Privileges::resolve(users)?;
            p.prepare(&ctx.data_dir, &config)?;
            log::info!(
                "roles run as {}, {} and {} (group {})",
                users.manager,
                users.filter,
                users.mta,
                users.group
            );
            Some(p)
        }
        Some(_) => {
            log::warn!("not running as root: the roles run as the current user, not as `users`");
            None
        }
        None => {
            log::info!("no `users` in system.json: the roles run as the current user");
            None
        }
    };
    open_logbook(&config);
    Ok((config, privileges))
}

fn open_logbook(config: &SystemConfig) {
    let result = match process::logbook() {
        Some(logbook) => logbook.reconfigure(&config.logging, &config.hostname),
        None => logbook::Logbook::open(&config.logging, &config.hostname).map(process::set_logbook),
    };
    if let Err(e) = result {
        log::error!(
            "cannot keep log files in {}: {e}",
            config.logging.dir.display()
        );
    }
}

/// Saves new network settings and host name in `system.json` (atomically;
/// readable by the roles' group when there is one).
pub(super) fn save_network(
    dir: &Path,
    hostname: &str,
    network: &NetworkConfig,
    group: Option<u32>,
) -> Result<(), SupervisorError> {
    let mut config = SystemConfig::load(dir)?;
    config.hostname = hostname.to_string();
    config.network = Some(network.clone());
    config.write(dir)?;
    if let Some(gid) = group {
        let path = dir.join(SYSTEM_JSON);
        std::os::unix::fs::chown(&path, Some(0), Some(gid))
            .and_then(|()| {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(SYSTEM_JSON_MODE))
            })
            .map_err(data_dir_error(dir))?;
    }
    Ok(())
}

/// Empties the data directory (configuration, databases, keys, logs) and
/// writes the default configuration again.
pub(super) fn factory_reset(dir: &Path, mode: Mode) -> Result<(), SupervisorError> {
    log::warn!("factory reset: erasing everything in {}", dir.display());
    if dir.parent().is_none() {
        return Err(SupervisorError::DataDir {
            path: dir.to_path_buf(),
            source: std::io::Error::other("refusing to erase the root directory"),
        });
    }
    for entry in std::fs::read_dir(dir).map_err(data_dir_error(dir))? {
        let path = entry.map_err(data_dir_error(dir))?.path();
        // symlink_metadata: a link is removed, never followed.
        let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        let removed = if is_dir {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(data_dir_error(&path))?;
    }
    prepare_data_dir(dir, mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_factory_reset_leaves_only_the_default_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        prepare_data_dir(&data, Mode::Host).unwrap();
        let changed = SystemConfig {
            hostname: "changed.example.test".into(),
            ..SystemConfig::default()
        };
        changed.write(&data).unwrap();
        std::fs::create_dir_all(data.join("queue.db/blobs")).unwrap();
        std::fs::write(data.join("queue.db/blobs/1"), b"x").unwrap();
        std::fs::write(dir.path().join("outside"), b"kept").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside"), data.join("link")).unwrap();
        factory_reset(&data, Mode::Host).unwrap();
        let left: Vec<_> = std::fs::read_dir(&data)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![SYSTEM_JSON]);
        assert_eq!(SystemConfig::load(&data).unwrap(), SystemConfig::default());
        assert!(
            dir.path().join("outside").exists(),
            "links are not followed"
        );
    }

    #[test]
    fn init_gets_the_box_defaults() {
        let host = default_config(Mode::Host);
        assert_eq!(host, SystemConfig::default());
        let init = default_config(Mode::Init);
        assert!(init.problems().is_empty(), "{:?}", init.problems());
        assert_eq!(init.console.map(|c| c.tty), Some(BOX_CONSOLE.into()));
        assert_eq!(init.watchdog.map(|w| w.device), Some(BOX_WATCHDOG.into()));
        assert_eq!(init.users, Some(RoleUsers::default()));
        assert_eq!(init.mta.smtp_listen, "0.0.0.0:25");
        assert_eq!(init.mta.submission_listen.as_deref(), Some("0.0.0.0:587"));
        assert_eq!(init.mta.smtps_listen.as_deref(), Some("0.0.0.0:465"));
        assert_eq!(init.manager.http_listen.as_deref(), Some("0.0.0.0:8080"));
        assert!(init.network.is_some(), "DHCP by default");
    }

    #[test]
    fn dhcp_on_the_first_interface_the_others_disabled() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            default_network(&[]),
            NetworkConfig::dhcp_on(FALLBACK_INTERFACE)
        );
        assert_eq!(
            default_network(&names(&["ens3"])),
            NetworkConfig::dhcp_on("ens3")
        );
        let two = default_network(&names(&["eth0", "eth1"]));
        assert_eq!(two.interfaces.len(), 2);
        assert_eq!(
            two.interfaces[0],
            NetworkConfig::dhcp_on("eth0").interfaces[0]
        );
        assert_eq!(two.interfaces[1].name, "eth1");
        assert_eq!(two.interfaces[1].ipv4, Ipv4Config::Disabled);
        assert_eq!(two.interfaces[1].ipv6, Ipv6Config::Disabled);
    }

    #[test]
    fn ethernet_interfaces_are_devices_not_lo_or_a_bridge() {
        let sys = tempfile::tempdir().unwrap();
        let net = |name: &str, kind: &str, device: bool| {
            let dir = sys.path().join(name);
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("type"), format!("{kind}\n")).unwrap();
            if device {
                std::fs::create_dir(dir.join("device")).unwrap();
            }
        };
        assert!(ethernet_interfaces(sys.path()).is_empty());
        net("lo", "772", false);
        net("br0", "1", false);
        net("sit0", "776", false);
        assert!(ethernet_interfaces(sys.path()).is_empty());
        net("ens4", "1", true);
        net("enp0s3", "1", true);
        assert_eq!(ethernet_interfaces(sys.path()), vec!["enp0s3", "ens4"]);
        assert!(ethernet_interfaces(&sys.path().join("absent")).is_empty());
    }

    #[test]
    fn saving_the_network_keeps_the_rest_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = SystemConfig::default();
        c.mta.max_recipients = 7;
        c.write(dir.path()).unwrap();
        let net = NetworkConfig::dhcp_on("eth0");
        save_network(dir.path(), "mx1.example.test", &net, None).unwrap();
        let saved = SystemConfig::load(dir.path()).unwrap();
        assert_eq!(saved.hostname, "mx1.example.test");
        assert_eq!(saved.network, Some(net));
        assert_eq!(saved.mta.max_recipients, 7);
    }
}
