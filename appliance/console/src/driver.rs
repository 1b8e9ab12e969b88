//! Runs console sessions on a terminal: reads keystrokes through the
//! [`LineEditor`], feeds the [`Console`] and performs what it asks.
//!
//! A session ends at log-out, after the idle timeout, or when the line
//! closes. While the console pauses ([`Action::Sleep`]: a box still
//! starting, an install's progress) the terminal is still read, so Ctrl-C
//! is heard at once; lines typed then answer nothing and are dropped. On stdin/stdout the program then exits; on a device (`--tty`)
//! a new session starts at the login prompt, after reopening the device
//! (every second until it opens) when the line was closed or hung up.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use model::config::SystemConfig;

use crate::effects::Effects;
use crate::error::ConsoleError;
use crate::line::{LineEditor, LineEvent};
use crate::machine::{Action, Console, Input, Next, Outcome, IDLE_TIMEOUT};
use crate::tty::{ReadResult, Terminal};

/// Pause between two attempts to open the terminal device.
const REOPEN_INTERVAL: Duration = Duration::from_secs(1);
/// Bytes read from the terminal at once.
const READ_CHUNK: usize = 256;

/// What `filterbox console` runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The data directory (`system.json`).
    pub data_dir: PathBuf,
    /// The terminal device; `None`: stdin/stdout.
    pub tty: Option<PathBuf>,
    /// Start the first session with setting a new admin password, no login.
    pub recovery: bool,
    /// Log out after this long without a keystroke.
    pub idle_timeout: Duration,
}

impl Options {
    /// The options of a console on `tty` (stdin/stdout if `None`) for `data_dir`.
    pub fn new(data_dir: PathBuf, tty: Option<PathBuf>, recovery: bool) -> Options {
        Options {
            data_dir,
            tty,
            recovery,
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// Logged out (by choice or after the idle timeout).
    LoggedOut,
    /// The line was closed or hung up.
    HangUp,
}

/// Runs the console: one session on stdin/stdout, or sessions forever on
/// the `--tty` device. Only a bad `system.json` or unusable stdio end it
/// with an error.
pub fn serve(options: &Options) -> Result<(), ConsoleError> {
    let config = SystemConfig::load(&options.data_dir)?.resolve(&options.data_dir);
    let effects = Effects::new(&config, &options.data_dir);
    let Some(path) = &options.tty else {
        let mut term = Terminal::stdio().map_err(ConsoleError::Stdio)?;
        run_session(&mut term, &effects, options.recovery, options.idle_timeout);
        return Ok(());
    };
    // Recovery mode is for the first session only: whoever comes next logs in.
    let mut recovery = options.recovery;
    loop {
        let mut term = open_retrying(path);
        while run_session(&mut term, &effects, recovery, options.idle_timeout)
            == SessionEnd::LoggedOut
        {
            recovery = false;
        }
        recovery = false;
        drop(term);
        log::info!("console: {} closed; reopening it", path.display());
        std::thread::sleep(REOPEN_INTERVAL);
    }
}

fn open_retrying(path: &Path) -> Terminal {
    let mut warned = false;
    loop {
        match Terminal::open(path) {
            Ok(t) => return t,
            Err(e) => {
                if !warned {
                    log::warn!(
                        "console: cannot open {}: {e}; retrying every second",
                        path.display()
                    );
                    warned = true;
                }
                std::thread::sleep(REOPEN_INTERVAL);
            }
        }
    }
}

/// Runs one session on `term` until it ends.
pub fn run_session(
    term: &mut Terminal,
    effects: &Effects,
    recovery: bool,
    idle_timeout: Duration,
) -> SessionEnd {
    let mut session = Session {
        term,
        editor: LineEditor::new(),
        typed: VecDeque::new(),
        idle_timeout,
    };
    let mut console = Console::new(recovery);
    let mut input = Input::Start;
    loop {
        let output = console.handle(input);
        if let Err(e) = session.term.write_text(&output.text) {
            log::info!("console: the line is gone ({e})");
            return SessionEnd::HangUp;
        }
        input = match output.next {
            Next::Exit => return SessionEnd::LoggedOut,
            Next::Perform(Action::Sleep(pause)) => session.pause(pause),
            Next::Perform(action) => Input::Done(effects.perform(&action)),
            Next::ReadLine { echo } => session.read_line(echo),
        };
        if input == Input::HangUp {
            console.handle(Input::HangUp);
            return SessionEnd::HangUp;
        }
    }
}

/// The terminal side of a session.
struct Session<'a> {
    term: &'a mut Terminal,
    editor: LineEditor,
    /// Bytes typed ahead, not yet given to the editor.
    typed: VecDeque<u8>,
    idle_timeout: Duration,
}

impl Session<'_> {
    /// Reads one line (or Ctrl-C, a refused line, the idle timeout, a hang-up).
    fn read_line(&mut self, echo: bool) -> Input {
        self.editor.set_echo(echo);
        let mut deadline = Instant::now() + self.idle_timeout;
        loop {
            if let Some(event) = self.feed_typed() {
                return match event {
                    Ok(LineEvent::Line(l)) => Input::Line(l),
                    Ok(LineEvent::Interrupt) => Input::Interrupt,
                    Ok(LineEvent::Invalid(why)) => Input::Invalid(why),
                    Err(()) => Input::HangUp,
                };
            }
            if Instant::now() >= deadline {
                self.editor.clear();
                return Input::Idle;
            }
            match self.receive(deadline) {
                Ok(true) => deadline = Instant::now() + self.idle_timeout,
                Ok(false) => {}
                Err(()) => return Input::HangUp,
            }
        }
    }

    /// Waits `pause`, then gives [`Outcome::Ok`]; Ctrl-C ends the wait
    /// early ([`Input::Interrupt`]), and so does a closed line.
    fn pause(&mut self, pause: Duration) -> Input {
        self.editor.set_echo(false);
        let deadline = Instant::now() + pause;
        loop {
            match self.feed_typed() {
                Some(Ok(LineEvent::Interrupt)) => return Input::Interrupt,
                Some(Err(())) => return Input::HangUp,
                // Typed while the console was busy: it answers nothing.
                Some(Ok(_)) => continue,
                None => {}
            }
            if Instant::now() >= deadline {
                return Input::Done(Outcome::Ok);
            }
            if self.receive(deadline).is_err() {
                return Input::HangUp;
            }
        }
    }

    /// Waits until `until` for typed bytes and queues them: `Ok(true)` when
    /// some came, `Err` when the line is gone.
    fn receive(&mut self, until: Instant) -> Result<bool, ()> {
        let mut buf = [0u8; READ_CHUNK];
        let wait = until.saturating_duration_since(Instant::now());
        match self.term.read(&mut buf, wait) {
            Ok(ReadResult::Data(n)) => {
                self.typed.extend(&buf[..n]);
                Ok(true)
            }
            Ok(ReadResult::Nothing) => Ok(false),
            Ok(ReadResult::Closed) => Err(()),
            Err(e) => {
                log::warn!("console: reading the terminal: {e}");
                Err(())
            }
        }
    }

    /// Gives typed bytes to the editor until one ends a line; echoes them.
    /// `Err` when the echo cannot be written (the line is gone).
    fn feed_typed(&mut self) -> Option<Result<LineEvent, ()>> {
        let mut echo = Vec::new();
        let mut event = None;
        while let Some(b) = self.typed.pop_front() {
            event = self.editor.feed(b, &mut echo);
            if event.is_some() {
                break;
            }
        }
        if !echo.is_empty() && self.term.write_raw(&echo).is_err() {
            return Some(Err(()));
        }
        event.map(Ok)
    }
}
