//! The filterbox multi-call binary: `filterbox <role>` runs one role, busybox
//! style, so the firmware image carries a single executable.
//!
//! Nothing but argument parsing, logging setup and dispatch lives here; each
//! role is a library crate.

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use model::config::Role;
use supervisor::CommonArgs;

mod logger;

/// An email-security filter appliance.
#[derive(Parser)]
#[command(name = "filterbox", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the whole box on this machine (manager, filter, mta) until Ctrl-C.
    Up(CommonArgs),
    /// The box's init (PID 1): mounts, the data partition, then like `up`
    /// with the data in /data; ends with reboot(2).
    Init,
    /// Run the manager role: data.db and the JSON API.
    Manager(CommonArgs),
    /// Run the filter role: the milter server.
    Filter(CommonArgs),
    /// Run the mta role: SMTP server, queue and delivery.
    Mta(CommonArgs),
    /// Manage domains, users, the quarantine and message tracking through the API.
    Ctl(ctl::CtlArgs),
    /// The serial console: login, status, network, passwords, reboot, factory reset.
    Console(console::ConsoleArgs),
    /// udhcpc's event hook: run through the hook file netconf writes
    /// (`#!/path/to/filterbox dhcp-hook`), which also holds its options.
    DhcpHook {
        /// The hook file udhcpc executed.
        file: PathBuf,
        /// The udhcpc event: deconfig, bound, renew, leasefail or nak.
        event: String,
    },
    /// The time client (SNTP): steps the clock to the NTP servers' time.
    Timesync(timesync::TimesyncArgs),
    /// Firmware updates: keygen, sign, inspect; on the box install, status, mark-good.
    Update(update::cli::UpdateArgs),
}

fn main() -> ExitCode {
    let cli = if invoked_as_init() {
        Cli {
            command: Command::Init,
        }
    } else {
        Cli::parse()
    };
    let result = match cli.command {
        Command::Up(args) => {
            logger::init(Some("up"));
            runtime().and_then(|rt| rt.block_on(supervisor::up(args)).map_err(Into::into))
        }
        Command::Init => {
            logger::init(Some("init"));
            runtime().and_then(|rt| rt.block_on(supervisor::init()).map_err(Into::into))
        }
        Command::Manager(args) => run_role(Role::Manager, args),
        Command::Filter(args) => run_role(Role::Filter, args),
        Command::Mta(args) => run_role(Role::Mta, args),
        Command::Ctl(args) => ctl::run(args),
        Command::Console(args) => {
            logger::init(None);
            console::run(args).map_err(Into::into)
        }
        Command::DhcpHook { file, event } => {
            logger::init(None);
            let env = std::env::vars().collect();
            netconf::dhcp_hook_file(&file, &event, &env).map_err(Into::into)
        }
        Command::Timesync(args) => {
            logger::init(None);
            timesync::run(&args).map_err(Into::into)
        }
        Command::Update(args) => {
            logger::init(None);
            update::cli::run(args).map_err(Into::into)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed pipe downstream (`filterbox ctl ... | head`) is not an error.
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
            }
            eprintln!("filterbox: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The kernel starts the box's init as `/sbin/init`, a link to this binary,
/// with no subcommand: called by the file name `init`, it is `filterbox init`
/// (any arguments the kernel passes on are ignored).
fn invoked_as_init() -> bool {
    std::env::args_os()
        .next()
        .is_some_and(|arg0| std::path::Path::new(&arg0).file_name() == Some("init".as_ref()))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn run_role(role: Role, args: CommonArgs) -> anyhow::Result<()> {
    logger::init(None);
    let data_dir: PathBuf = args.data_dir()?;
    let config = Arc::new(
        args.load_config()
            .with_context(|| format!("{role}: cannot load the configuration"))?,
    );
    let rt = runtime()?;
    rt.block_on(async move {
        let stop = shutdown_signal()?;
        match role {
            Role::Manager => manager::run(config, data_dir, stop).await?,
            Role::Filter => filter::run(config, data_dir, stop).await?,
            Role::Mta => mta::run(config, data_dir, stop).await?,
        }
        Ok(())
    })
}

/// Completes on SIGTERM or SIGINT, or when the supervisor that started this
/// role is gone (its end of our stdin closes).
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let orphaned = Arc::new(tokio::sync::Notify::new());
    if std::env::var_os(supervisor::SUPERVISED_ENV).is_some() {
        let notify = orphaned.clone();
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            notify.notify_one();
        });
    }
    Ok(async move {
        tokio::select! {
            _ = term.recv() => log::info!("SIGTERM received: shutting down"),
            _ = int.recv() => log::info!("SIGINT received: shutting down"),
            _ = orphaned.notified() => log::warn!("the supervisor is gone: shutting down"),
        }
    })
}

/// Makes sure the default configuration is valid at build time of the tests.
#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }

    #[test]
    fn default_config_is_valid() {
        assert!(model::config::SystemConfig::default().problems().is_empty());
    }
}
