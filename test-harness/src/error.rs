//! The harness's one error type: what went wrong, with what the box showed.

use std::time::Duration;

/// A step of an end-to-end test failed; the message carries enough of the
/// console transcript (or of a tool's output) to see why.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A file, socket or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What the harness was doing.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The awaited output did not come in time.
    #[error("no {wanted} after {after:?}; the console's last lines:\n{tail}")]
    Timeout {
        /// What was awaited (a needle or a pattern).
        wanted: String,
        /// How long the harness waited.
        after: Duration,
        /// The end of the transcript.
        tail: String,
    },
    /// The serial line closed (QEMU exited) while output was awaited.
    #[error("the console closed while waiting for {wanted}; its last lines:\n{tail}")]
    Closed {
        /// What was awaited.
        wanted: String,
        /// The end of the transcript.
        tail: String,
    },
    /// A program the harness runs (QEMU, qemu-img, make, mtools, ...) failed.
    #[error("{command} failed ({status}): {output}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed.
        output: String,
    },
    /// The box's API answered with an error or not at all.
    #[error("API {what}: {source}")]
    Api {
        /// The request.
        what: String,
        /// The client's error.
        #[source]
        source: model::client::ClientError,
    },
    /// The box or a peer did something the test did not expect.
    #[error("{0}")]
    Unexpected(String),
}

impl HarnessError {
    /// An [`HarnessError::Io`] saying what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> HarnessError {
        let what = what.into();
        move |source| HarnessError::Io { what, source }
    }

    /// An [`HarnessError::Api`] naming the request.
    pub fn api(what: impl Into<String>) -> impl FnOnce(model::client::ClientError) -> HarnessError {
        let what = what.into();
        move |source| HarnessError::Api { what, source }
    }
}

/// The harness's result type.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// Runs `cmd` and returns its stdout, or a [`HarnessError::Command`] with
/// everything it printed.
pub fn run(cmd: &mut std::process::Command) -> Result<String> {
    let command = format!("{cmd:?}");
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(HarnessError::io(format!("starting {command}")))?;
    if !out.status.success() {
        return Err(HarnessError::Command {
            command,
            status: out.status.to_string(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
