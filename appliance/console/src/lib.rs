//! `filterbox console`: the serial console of the box.
//!
//! Someone with a serial cable and no browser yet logs in with the admin
//! password (or sets it, on a new box), gives the box its address, checks
//! its health and reaches the box-wide actions (reboot, factory reset).
//! On the box the supervisor runs it on `/dev/ttyS0` and restarts it when it
//! exits; anywhere else it runs on a terminal or a pty.
//!
//! The menu is a sans-I/O state machine ([`machine::Console`]): inputs in,
//! text and actions out, tested without a terminal. Around it sit the line
//! editor of a dumb terminal ([`line`](mod@line)), the terminal itself ([`Terminal`]),
//! the effects ([`Effects`]: the manager's API, the supervisor's control
//! socket, ping, an SMTP test) and the driver ([`serve`]).
//!
//! Nothing secret is printed or logged: passwords are not echoed, travel as
//! [`machine::Secret`] (whose `Debug` hides them), and the API token is
//! never used (the console talks to the manager over its unix socket).

#![forbid(unsafe_code)]

mod driver;
mod effects;
mod error;
pub mod line;
pub mod machine;
mod probe;
mod tty;

use std::path::PathBuf;

pub use driver::{run_session, serve, Options, SessionEnd};
pub use effects::Effects;
pub use error::ConsoleError;
pub use tty::{ReadResult, Terminal};

/// `filterbox console` options.
#[derive(clap::Args, Clone, Debug)]
pub struct ConsoleArgs {
    /// Directory holding system.json (the sockets of the manager and the supervisor).
    #[arg(long, env = "FILTERBOX_DATA_DIR", default_value = "filterbox-data")]
    pub data_dir: PathBuf,
    /// The terminal device, e.g. /dev/ttyS0; reopened when the line closes.
    /// Without it: stdin/stdout, and the console exits when the session ends.
    #[arg(long, value_name = "PATH")]
    pub tty: Option<PathBuf>,
    /// Skip the login and set a new admin password first (the boot menu's
    /// recovery entry passes it: someone is at the box).
    #[arg(long)]
    pub recovery: bool,
}

/// Runs `filterbox console`.
pub fn run(args: ConsoleArgs) -> Result<(), ConsoleError> {
    serve(&Options::new(args.data_dir, args.tty, args.recovery))
}
