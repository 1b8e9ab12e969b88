//! Why network settings could not be applied.

/// What went wrong; in every case the settings in force before the call
/// are still in force (unless [`NetError::StepFailed`] lists rollback failures).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The settings (or the options) are unusable; nothing was touched.
    #[error("invalid network settings: {}", .0.join("; "))]
    Invalid(Vec<String>),
    /// A step failed; the steps done before it were undone in reverse order.
    #[error("{step} failed: {output}{}", rollback_note(.rollback_failures))]
    StepFailed {
        /// The step, in words (e.g. `add default route via 192.0.2.1 dev eth0`).
        step: String,
        /// What the command or the kernel said.
        output: String,
        /// Undo steps that failed too (empty: the old settings are back).
        rollback_failures: Vec<String>,
    },
    /// The current state could not be read, or the runtime files not written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// udhcpc called the hook with an event or environment it cannot use.
    #[error("dhcp hook: {0}")]
    Hook(String),
}

fn rollback_note(failures: &[String]) -> String {
    if failures.is_empty() {
        "; the previous settings were restored".into()
    } else {
        format!(
            "; restoring the previous settings also failed: {}",
            failures.join("; ")
        )
    }
}

impl NetError {
    /// An [`NetError::Io`] with what was being done.
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> NetError {
        NetError::Io {
            what: what.into(),
            source,
        }
    }
}
