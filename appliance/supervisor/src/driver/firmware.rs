//! The firmware: the updater's status, marking the boot good (on request,
//! and by itself once every role is healthy), installs from a file (a USB
//! stick's) or from a stream (the manager's upload or download), and the
//! USB watcher.
//!
//! Installs run on a blocking thread; the loop only starts them and, when
//! one succeeded and a reboot was asked, reboots. The first answer is sent
//! once the bundle's signature and metadata are checked, so a refused
//! bundle is reported at once.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use model::control::ControlResponse;
use tokio::sync::oneshot;
use update::{Layout, Updater};

use super::{Context, Driver, Msg};
use crate::control::{write_answer, Answer, BundleStream};
use crate::core::{Mode, Request};

/// Environment variable naming a directory that stands in for `/` for the
/// updater in host mode (`filterbox up`): its `proc/cmdline`, `sys/`,
/// `dev/`, `run/boot/`, `etc/` (see [`update::Layout::under`]). For tests
/// and development machines; the box itself always uses `/`.
pub const FIRMWARE_ROOT_ENV: &str = "FILTERBOX_FIRMWARE_ROOT";

/// How often `/sys/block` is looked at for USB sticks.
const USB_POLL: Duration = Duration::from_secs(2);

/// Longest wait for the rest of a refused stream to be read and dropped.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

/// The updater's paths: the box's own as init; in host mode those under
/// [`FIRMWARE_ROOT_ENV`] when set, else this machine's, never mounting.
pub(super) fn layout(mode: Mode, data_dir: &Path) -> (Layout, bool) {
    match (mode, std::env::var_os(FIRMWARE_ROOT_ENV)) {
        (Mode::Init, _) => (Layout::on_box(data_dir), true),
        (Mode::Host, Some(root)) => (Layout::under(Path::new(&root), data_dir), true),
        (Mode::Host, None) => (Layout::under(Path::new("/"), data_dir), false),
    }
}

/// Polls for USB sticks for as long as the process runs.
pub(super) fn watch_usb(updater: Arc<Updater>) {
    tokio::spawn(async move {
        let mut watcher = update::usb::UsbWatcher::default();
        loop {
            let u = updater.clone();
            watcher = match tokio::task::spawn_blocking(move || {
                watcher.tick(&u);
                watcher
            })
            .await
            {
                Ok(w) => w,
                Err(e) => {
                    log::error!("USB watcher stopped: {e}");
                    return;
                }
            };
            tokio::time::sleep(USB_POLL).await;
        }
    });
}

/// Reads the boot slots at the start; says so loudly when this boot fell
/// back from an update that never became healthy.
pub(super) async fn check_boot(ctx: &Context) {
    let u = ctx.updater.clone();
    if let Ok(Some(notice)) = tokio::task::spawn_blocking(move || u.refresh()).await {
        log::warn!("FIRMWARE: {notice}");
    }
    let status = ctx.updater.status();
    match (&status.boot_slot, &status.error) {
        (Some(slot), None) => log::info!("firmware {} running from slot {slot}", status.version),
        (_, Some(e)) => log::error!("cannot read the boot slots: {e}"),
        (None, None) => {}
    }
}

/// What an install thread tells the loop.
pub(super) struct Done {
    /// Reboot now (the install succeeded and a reboot was asked).
    pub reboot: bool,
}

/// The answer to a request that went well.
fn ok(message: String) -> ControlResponse {
    ControlResponse::Ok { message }
}

fn refused(message: String) -> ControlResponse {
    ControlResponse::Error { message }
}

impl Driver<'_> {
    /// Marks this boot's slot good in the background; `reply` (if any)
    /// gets the outcome.
    pub(super) fn mark_boot_good(&self, reply: Option<oneshot::Sender<Answer>>) {
        let u = self.ctx.updater.clone();
        tokio::spawn(async move {
            let result = tokio::task::spawn_blocking(move || u.mark_good())
                .await
                .unwrap_or_else(|e| Ok(format!("marking good panicked: {e}")));
            let response = match result {
                Ok(message) => {
                    log::info!("firmware: {message}");
                    ok(message)
                }
                Err(e) => {
                    log::error!("cannot mark the boot good: {e}");
                    refused(format!("cannot mark the boot good: {e}"))
                }
            };
            if let Some(reply) = reply {
                let _ = reply.send(Answer {
                    response,
                    written: None,
                });
            }
        });
    }

    /// Once every role is healthy for the first time: the boot is good.
    pub(super) fn boot_is_healthy(&mut self) {
        if !self.ctx.boot_marked {
            self.ctx.boot_marked = true;
            self.mark_boot_good(None);
        }
    }

    /// `install_bundle`: installs the file at `path`.
    pub(super) fn install_bundle(
        &mut self,
        path: PathBuf,
        force: bool,
        reboot: bool,
        reply: oneshot::Sender<Answer>,
    ) {
        if self.finale.is_some() {
            let _ = reply.send(answer(refused("the box is stopping".into())));
            return;
        }
        let source = path.display().to_string();
        let (u, tx) = (self.ctx.updater.clone(), self.tx.clone());
        tokio::spawn(async move {
            let (first_tx, first) = oneshot::channel();
            let job = tokio::task::spawn_blocking(move || {
                let mut file = std::fs::File::open(&path)
                    .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
                run(&u, &source, &mut file, force, first_tx)
            });
            let outcome = match first.await {
                Ok(verified) => {
                    let _ = reply.send(answer(verified));
                    job.await.unwrap_or_else(|e| Err(e.to_string()))
                }
                Err(_) => {
                    let outcome = job.await.unwrap_or_else(|e| Err(e.to_string()));
                    let message = outcome.clone().err().unwrap_or_default();
                    let _ = reply.send(answer(refused(message)));
                    outcome
                }
            };
            // A failure after the verification is in the status.
            if outcome.is_ok() {
                let _ = tx.send(Msg::Firmware(Done { reboot })).await;
            }
        });
    }

    /// `install_stream`: installs the bundle that follows on the
    /// connection, answering on it twice.
    pub(super) fn install_stream(
        &mut self,
        force: bool,
        reboot: bool,
        source: String,
        stream: BundleStream,
    ) {
        let BundleStream { reader, mut writer } = stream;
        let stopping = self.finale.is_some();
        let (u, tx) = (self.ctx.updater.clone(), self.tx.clone());
        tokio::spawn(async move {
            if stopping {
                let _ = write_answer(&mut writer, &refused("the box is stopping".into())).await;
                return drain(reader).await;
            }
            let (first_tx, first) = oneshot::channel();
            let job = tokio::task::spawn_blocking(move || {
                let mut bridge = tokio_util::io::SyncIoBridge::new(reader);
                let outcome = run(&u, &source, &mut bridge, force, first_tx);
                (outcome, bridge.into_inner())
            });
            let first = match first.await {
                Ok(verified) => verified,
                Err(_) => {
                    // Refused before it was verified: the job is over.
                    let (outcome, reader) = match job.await {
                        Ok(done) => done,
                        Err(e) => return log::error!("install thread failed: {e}"),
                    };
                    let message = outcome.err().unwrap_or_default();
                    let _ = write_answer(&mut writer, &refused(message)).await;
                    return drain(reader).await;
                }
            };
            let _ = write_answer(&mut writer, &first).await;
            let (outcome, reader) = match job.await {
                Ok(done) => done,
                Err(e) => return log::error!("install thread failed: {e}"),
            };
            let last = match &outcome {
                Ok(message) if reboot => ok(format!("{message}; rebooting")),
                Ok(message) => ok(format!("{message}; it boots at the next restart")),
                Err(message) => refused(message.clone()),
            };
            let _ = write_answer(&mut writer, &last).await;
            if outcome.is_ok() {
                let _ = tx.send(Msg::Firmware(Done { reboot })).await;
            } else {
                drain(reader).await;
            }
        });
    }

    /// An install ended well: reboot into it when asked.
    pub(super) fn firmware_done(&mut self, done: Done) {
        if done.reboot && self.finale.is_none() {
            log::info!("rebooting into the new firmware");
            self.on_stop_request(Request::Reboot);
        }
    }
}

fn answer(response: ControlResponse) -> Answer {
    Answer {
        response,
        written: None,
    }
}

/// The blocking install: claims the updater, installs, says what happened.
fn run(
    u: &Updater,
    source: &str,
    bundle: &mut dyn Read,
    force: bool,
    first: oneshot::Sender<ControlResponse>,
) -> Result<String, String> {
    let job = u.begin(source).map_err(|e| e.to_string())?;
    let installed = job
        .run(bundle, force, |m, slot| {
            let _ = first.send(ok(format!(
                "verified version {} for {}; installing into slot {slot}",
                m.version, m.board
            )));
        })
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "installed {} into slot {}",
        installed.metadata.version, installed.slot
    ))
}

/// Reads and drops what a refused stream still sends, so closing does not
/// reset the connection before the client read the answer.
async fn drain(mut reader: Box<dyn tokio::io::AsyncRead + Send + Unpin>) {
    let _ = tokio::time::timeout(
        DRAIN_TIMEOUT,
        tokio::io::copy(&mut reader, &mut tokio::io::sink()),
    )
    .await;
}
