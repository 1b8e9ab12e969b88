//! The supervisor's errors.

use std::path::PathBuf;

/// Why the supervisor could not start or keep running the box.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// The data directory could not be created or used.
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `system.json` is unusable.
    #[error(transparent)]
    Config(#[from] model::config::ConfigError),
    /// An override flag has a value that cannot work.
    #[error("invalid option: {0}")]
    Override(String),
    /// The path of our own executable is needed to start the roles.
    #[error("cannot find the filterbox executable to start the roles: {0}")]
    SelfExe(std::io::Error),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// A unit ended in a crash loop; the others were stopped at shutdown.
    #[error("{0} was given up after a crash loop; see its log lines above")]
    CrashLoop(String),
    /// The roles' users or group (`users` in system.json) are unusable.
    #[error("{0}")]
    Users(String),
    /// The control socket could not be created.
    #[error("cannot serve the control socket {path}: {source}")]
    ControlSocket {
        /// The socket's path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `filterbox init` was started as something else than PID 1.
    #[error("filterbox init must run as PID 1 (the box's init); use `filterbox up` here")]
    NotInit,
    /// The box cannot boot: the data partition is missing or unusable.
    #[error("{0}")]
    Boot(String),
}
