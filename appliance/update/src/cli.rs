//! `filterbox update ...`: making keys and bundles on a build machine, and
//! on the box installing, watching and marking good through the
//! supervisor's control socket (the supervisor owns the boot slots).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use model::control::{ask, ControlRequest, ControlResponse, FirmwareStatus, InstallState};

use crate::bundle::{self, NewBundle};
use crate::{keys, BundleError};

/// The data directory of the box, used when it exists and none is given.
const BOX_DATA_DIR: &str = "/data";
/// The data directory of `filterbox up` on a workstation.
const HOST_DATA_DIR: &str = "filterbox-data";
/// Time allowed for one control request.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between two looks at an install's progress.
const POLL: Duration = Duration::from_millis(500);

/// `filterbox update` arguments.
#[derive(Args, Clone, Debug)]
pub struct UpdateArgs {
    #[command(subcommand)]
    command: UpdateCommand,
}

#[derive(Subcommand, Clone, Debug)]
enum UpdateCommand {
    /// Make a signing key pair: PREFIX.sec (secret, mode 0600) and PREFIX.pub.
    Keygen {
        /// Where: PREFIX.sec and PREFIX.pub.
        #[arg(short, long, value_name = "PREFIX")]
        output: PathBuf,
    },
    /// Write the public key of a secret key (PEM) to a file.
    Pubkey {
        /// The secret key (PKCS#8 PEM, as keygen or `openssl genpkey -algorithm ed25519` write).
        #[arg(long, value_name = "SEC")]
        key: PathBuf,
        /// The public key file to write.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Make an update bundle (.fbu) of a root filesystem image.
    #[command(disable_version_flag = true)]
    Sign {
        /// The secret key.
        #[arg(long, value_name = "SEC")]
        key: PathBuf,
        /// The root filesystem image (squashfs) of a slot.
        #[arg(long, value_name = "FILE")]
        rootfs: PathBuf,
        /// The firmware version inside, e.g. 0.2.0.
        #[arg(long)]
        version: String,
        /// The board it is for, e.g. filterbox-x86_64.
        #[arg(long)]
        board: String,
        /// When it was made, unix seconds (default: SOURCE_DATE_EPOCH, else now).
        #[arg(long)]
        created: Option<u64>,
        /// The bundle to write.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Show a bundle's metadata and check its signature, size and hash.
    Inspect {
        /// The bundle.
        file: PathBuf,
        /// The public key to check the signature with (default: the box's
        /// /etc/filterbox/update.pub when present).
        #[arg(long, value_name = "PUB")]
        key: Option<PathBuf>,
    },
    /// Install a bundle on this box (through the supervisor), then reboot into it.
    Install {
        /// The bundle.
        file: PathBuf,
        /// Install even an older or equal version (a downgrade).
        #[arg(long)]
        force: bool,
        /// Do not reboot afterwards: the new firmware boots at the next restart.
        #[arg(long)]
        no_reboot: bool,
        #[command(flatten)]
        box_args: BoxArgs,
    },
    /// Show the firmware slots, versions and any install's progress.
    Status {
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        box_args: BoxArgs,
    },
    /// Mark the running slot good (the supervisor does it once every role is healthy).
    MarkGood {
        #[command(flatten)]
        box_args: BoxArgs,
    },
}

/// Where the box's supervisor is.
#[derive(Args, Clone, Debug)]
struct BoxArgs {
    /// The data directory holding system.json (default: /data on the box, else filterbox-data).
    #[arg(long, env = "FILTERBOX_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

impl BoxArgs {
    fn control_socket(&self) -> Result<PathBuf, CliError> {
        let dir = self.data_dir.clone().unwrap_or_else(|| {
            let on_box = Path::new(BOX_DATA_DIR);
            if on_box.join(model::config::SYSTEM_JSON).exists() {
                on_box.to_path_buf()
            } else {
                PathBuf::from(HOST_DATA_DIR)
            }
        });
        let config = model::config::SystemConfig::load(&dir)?.resolve(&dir);
        Ok(config.control_socket)
    }
}

/// Why a `filterbox update` command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// A key could not be made or read.
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    /// A bundle could not be made or read.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// `system.json` could not be read.
    #[error(transparent)]
    Config(#[from] model::config::ConfigError),
    /// The supervisor could not be reached.
    #[error(transparent)]
    Control(#[from] std::io::Error),
    /// The supervisor refused, or the bundle is not right.
    #[error("{0}")]
    Refused(String),
}

/// Runs `filterbox update ...`.
pub fn run(args: UpdateArgs) -> Result<(), CliError> {
    match args.command {
        UpdateCommand::Keygen { output } => {
            let (sec, public) = keys::keygen(&output)?;
            println!("secret key {} (keep it offline)", sec.display());
            println!("public key {}", public.display());
        }
        UpdateCommand::Pubkey { key, output } => {
            keys::write_public(&keys::read_signing_key(&key)?.verifying_key(), &output)?;
            println!("public key {}", output.display());
        }
        UpdateCommand::Sign {
            key,
            rootfs,
            version,
            board,
            created,
            output,
        } => {
            let key = keys::read_signing_key(&key)?;
            let new = NewBundle {
                version,
                board,
                created: created.unwrap_or_else(default_created),
            };
            let m = bundle::create(&key, &new, &rootfs, &output)?;
            println!(
                "{}: version {} for {}, root filesystem {} bytes, sha256 {}",
                output.display(),
                m.version,
                m.board,
                m.rootfs_size,
                m.rootfs_sha256
            );
        }
        UpdateCommand::Inspect { file, key } => inspect(&file, key)?,
        UpdateCommand::Install {
            file,
            force,
            no_reboot,
            box_args,
        } => install(&box_args.control_socket()?, &file, force, !no_reboot)?,
        UpdateCommand::Status { json, box_args } => {
            let status = firmware_status(&box_args.control_socket()?)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&status).unwrap_or_default()
                );
            } else {
                print!("{}", render_status(&status));
            }
        }
        UpdateCommand::MarkGood { box_args } => {
            let answer = ask(
                &box_args.control_socket()?,
                &ControlRequest::MarkBootGood,
                CONTROL_TIMEOUT,
            )?;
            println!("{}", ok_message(answer)?);
        }
    }
    Ok(())
}

/// `SOURCE_DATE_EPOCH` (reproducible builds), else now.
fn default_created() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| model::time::now_ms() / 1000)
}

fn inspect(file: &Path, key: Option<PathBuf>) -> Result<(), CliError> {
    let key = key.or_else(|| {
        let on_box = crate::Layout::on_box(Path::new(BOX_DATA_DIR)).public_key;
        on_box.exists().then_some(on_box)
    });
    let verifying = key.as_deref().map(keys::read_verifying_key).transpose()?;
    let i = bundle::inspect(file, verifying.as_ref(), true)?;
    let m = &i.metadata;
    println!("version      {}", m.version);
    println!("board        {}", m.board);
    println!(
        "created      {}",
        model::time::format_rfc3339(m.created * 1000)
    );
    println!(
        "rootfs       {} bytes, sha256 {}",
        m.rootfs_size, m.rootfs_sha256
    );
    let signature = match (i.signature_ok, &key) {
        (Some(true), Some(k)) => format!("good ({})", k.display()),
        (Some(false), Some(k)) => format!("BAD: not signed by {}", k.display()),
        _ => "not checked (give --key PUB)".into(),
    };
    println!("signature    {signature}");
    let size = if i.rootfs_bytes == m.rootfs_size {
        "whole".to_string()
    } else {
        format!("WRONG: {} bytes follow the header", i.rootfs_bytes)
    };
    println!("size         {size}");
    let hash = if i.hash_ok == Some(true) {
        "matches"
    } else {
        "MISMATCH"
    };
    println!("hash         {hash}");
    if i.whole() {
        Ok(())
    } else {
        Err(CliError::Refused(format!(
            "{} is not a good bundle",
            file.display()
        )))
    }
}

/// Asks the supervisor to install `file`, then follows the progress.
fn install(socket: &Path, file: &Path, force: bool, reboot: bool) -> Result<(), CliError> {
    let path = std::fs::canonicalize(file).map_err(BundleError::Read)?;
    let request = ControlRequest::InstallBundle {
        path,
        force,
        reboot,
    };
    println!("{}", ok_message(ask(socket, &request, CONTROL_TIMEOUT)?)?);
    let mut shown = None;
    loop {
        std::thread::sleep(POLL);
        match firmware_status(socket)?.install {
            Some(InstallState::Installing { done, total, .. }) if total > 0 => {
                let tenth = done * 10 / total;
                if shown != Some(tenth) {
                    shown = Some(tenth);
                    println!("{:>3}% ({} of {} MiB)", tenth * 10, done >> 20, total >> 20);
                }
            }
            Some(InstallState::Installed { message, .. }) => {
                let then = if reboot {
                    "rebooting"
                } else {
                    "it boots at the next restart"
                };
                println!("{message}; {then}");
                return Ok(());
            }
            Some(InstallState::Failed { message, .. }) => return Err(CliError::Refused(message)),
            Some(InstallState::Installing { .. }) => {}
            None => {
                return Err(CliError::Refused(
                    "the install's outcome is unknown (the supervisor restarted?)".into(),
                ))
            }
        }
    }
}

fn firmware_status(socket: &Path) -> Result<FirmwareStatus, CliError> {
    match ask(socket, &ControlRequest::FirmwareStatus, CONTROL_TIMEOUT)? {
        ControlResponse::Firmware(s) => Ok(*s),
        other => Err(CliError::Refused(ok_message(other)?)),
    }
}

fn ok_message(answer: ControlResponse) -> Result<String, CliError> {
    match answer {
        ControlResponse::Ok { message } => Ok(message),
        ControlResponse::Error { message } => Err(CliError::Refused(message)),
        other => Err(CliError::Refused(format!("unexpected answer: {other:?}"))),
    }
}

/// The firmware status for people (also the console's firmware screen).
pub fn render_status(s: &FirmwareStatus) -> String {
    let mut t = format!("Firmware   {} ({})\n", s.version, s.board);
    match &s.boot_slot {
        Some(slot) => t.push_str(&format!("Running    slot {slot}\n")),
        None => t.push_str("Running    not from a firmware slot\n"),
    }
    for slot in &s.slots {
        let version = slot.version.as_deref().unwrap_or("unknown");
        let state = if slot.ok { "usable" } else { "abandoned" };
        let booted = if slot.booted { ", running" } else { "" };
        t.push_str(&format!(
            "Slot {}     {version}: {state}, tries {}{booted}\n",
            slot.name, slot.tries
        ));
    }
    if let Some(next) = &s.next_boot {
        t.push_str(&format!("Next boot  slot {next}\n"));
    }
    if let Some(f) = &s.fallback {
        t.push_str(&format!("!! {f}\n"));
    }
    if let Some(e) = &s.error {
        t.push_str(&format!("!! cannot read the boot slots: {e}\n"));
    }
    match &s.install {
        Some(InstallState::Installing {
            source,
            done,
            total,
            ..
        }) => t.push_str(&format!(
            "Installing from {source}: {} of {} MiB\n",
            done >> 20,
            total >> 20
        )),
        Some(InstallState::Installed { message, .. }) => {
            t.push_str(&format!("Last install: {message}\n"))
        }
        Some(InstallState::Failed { source, message }) => {
            t.push_str(&format!("Last install from {source} failed: {message}\n"))
        }
        None => {}
    }
    t
}
