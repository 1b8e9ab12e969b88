//! filterbox ctl: the command-line client of the manager's API.
//!
//! For people (aligned tables) and scripts (`--json`, exit status). Every
//! argument is checked before the API is called, so a typo changes nothing
//! and the message says what was expected. The binary parses [`CtlArgs`]
//! and calls [`run`], printing an error with `{:#}`.

#![forbid(unsafe_code)]

mod args;
mod commands;
mod connect;
mod secret;
mod table;

use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;

pub use args::{
    AdminCommand, Command, CtlArgs, DomainCommand, QuarantineCommand, QuarantineId, ServerSpec,
    TrackingCommand, TrackingTerms, UserCommand,
};
use commands::Out;
pub use secret::Passwords;

/// Runs one ctl command, printing its result on stdout. A reader that stops
/// early (`ctl quarantine list | head`) is not an error.
pub fn run(args: CtlArgs) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    match run_to(args, &mut lock).and_then(|()| Ok(lock.flush()?)) {
        Err(e) if is_broken_pipe(&e) => Ok(()),
        other => other,
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// [`run`], printing into `w`; passwords come from standard input (a
/// terminal with echo off, prompting on stderr, or lines of a pipe).
pub fn run_to(args: CtlArgs, w: &mut dyn Write) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock();
    let mut prompts = std::io::stderr();
    let mut passwords = if stdin.is_terminal() {
        Passwords::terminal(&mut lines, stdin.as_fd(), &mut prompts)
    } else {
        Passwords::lines(&mut lines)
    };
    run_with(args, &mut passwords, w)
}

/// [`run_to`] with passwords from `passwords`.
pub fn run_with(
    args: CtlArgs,
    passwords: &mut Passwords<'_>,
    w: &mut dyn Write,
) -> anyhow::Result<()> {
    let api = connect::client(&args)?;
    let mut out = Out { w, json: args.json };
    match args.command {
        Command::Domain(c) => commands::domain::run(&api, c, &mut out),
        Command::User(c) => commands::user::run(&api, c, &mut out),
        Command::Quarantine(c) => commands::quarantine::run(&api, c, &mut out),
        Command::Tracking(c) => commands::tracking::run(&api, c, &mut out),
        Command::Queue(c) => commands::queue::run(&api, c, &mut out),
        Command::Admin(c) => commands::admin::run(&api, c, passwords, &mut out),
        Command::Stats => commands::stats::run(&api, &mut out),
        Command::SmtpAccount(c) => commands::smtp_account::run(&api, c, passwords, &mut out),
        Command::Tls(c) => commands::tls::run(&api, c, &mut out),
    }
}
