//! The console's menu logic as a plain state machine: [`Console`] is fed
//! [`Input`]s (a typed line, Ctrl-C, an action's result, ...) and answers with
//! an [`Output`]: text to print and what the driver must do [`Next`] (read a
//! line, perform an [`Action`], or end the session). It does no I/O, so every
//! screen is unit-tested without a terminal (`tests/`).
//!
//! Each numbered entry of the menu is a `Screen` in its own module; the
//! [`Console`] runs the login, the menu prompt and the screen in front.

mod admin_networks;
mod firmware;
mod login;
mod menu;
mod mx;
mod network;
mod password;
mod power;
mod status;
mod tools;
mod types;

#[cfg(test)]
mod tests;

use std::time::Duration;

use model::control::{ControlRequest, ControlResponse};

pub use types::{Action, ApiCall, Failure, Outcome, Secret};

/// The session ends after this long without a keystroke: a console left
/// logged in must not stay open to the next person at the rack.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// What happened at the terminal, or what an action gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A session begins: the program started or the line came back.
    Start,
    /// A completed line (without its line end).
    Line(String),
    /// Ctrl-C: abandon the current screen.
    Interrupt,
    /// The line editor refused a line (control characters, not UTF-8, too
    /// long); the reason, for people. Nothing changes.
    Invalid(String),
    /// [`IDLE_TIMEOUT`] passed without a keystroke.
    Idle,
    /// The line was closed or hung up.
    HangUp,
    /// The result of the last [`Next::Perform`].
    Done(Outcome),
}

/// The console's answer to one [`Input`].
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// Text to print, lines separated by `\n` (the driver writes CRLF);
    /// may end with a prompt that has no line end.
    pub text: String,
    /// What the driver does next.
    pub next: Next,
}

/// What the driver must do after printing [`Output::text`].
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Read one line from the terminal, echoing what is typed or not
    /// (passwords), and feed it back as an [`Input`].
    ReadLine {
        /// Echo typed characters.
        echo: bool,
    },
    /// Perform this action and feed its result back as [`Input::Done`].
    Perform(Action),
    /// The session is over (logged out or hung up).
    Exit,
}

/// Where a screen stands after handling an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// The screen goes on: it asked for a line or an action.
    Stay,
    /// The screen is finished: back to the menu prompt.
    Menu,
    /// The admin is now logged in: show the menu.
    LoggedIn,
    /// Recovery mode, the manager answers: set a new password, no login.
    Recover,
}

/// One screen of the console: the login or a menu entry.
trait Screen: std::fmt::Debug {
    /// Opens the screen.
    fn start(&mut self, out: &mut Out) -> Flow;
    /// A line typed at the screen's prompt.
    fn line(&mut self, line: &str, out: &mut Out) -> Flow;
    /// The result of the action the screen asked for.
    fn done(&mut self, outcome: Outcome, out: &mut Out) -> Flow;
}

/// Collects what a screen prints and what it asks for next.
#[derive(Debug, Default)]
struct Out {
    text: String,
    next: Option<Next>,
    prompt: Option<(String, bool)>,
}

impl Out {
    /// Prints `line` and a line end.
    fn say(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }

    /// Prints `prompt` and reads a line, echoed or not.
    fn ask(&mut self, prompt: &str, echo: bool) {
        self.text.push_str(prompt);
        self.prompt = Some((prompt.to_string(), echo));
        self.next = Some(Next::ReadLine { echo });
    }

    /// Asks the driver to perform `action`.
    fn perform(&mut self, action: Action) {
        self.next = Some(Next::Perform(action));
    }
}

/// Where the session stands.
#[derive(Debug)]
enum Phase {
    /// Before [`Input::Start`], or after the session ended.
    Ended,
    /// Asking the supervisor for the firmware version, for the header.
    Starting,
    /// Not logged in: the login (or first-boot) screen.
    LoggedOut(Box<dyn Screen + Send>),
    /// Logged in, at the menu prompt.
    Menu,
    /// Logged in, in a menu entry.
    Screen(Box<dyn Screen + Send>),
}

/// The serial console's state machine; one per session (a new one after a
/// log-out or a hang-up, so nothing carries over to the next person).
#[derive(Debug)]
pub struct Console {
    /// The recovery screen is still to come.
    recovery: bool,
    phase: Phase,
    menu_shown: bool,
    /// The prompt on screen, repeated after a refused line.
    prompt: Option<(String, bool)>,
    /// What was last asked of the driver, repeated on an unexpected input.
    pending: Next,
}

impl Console {
    /// A console that starts with the login, or, in `recovery` mode (someone
    /// at the box booted the recovery entry), with setting a new admin
    /// password without knowing the old one.
    pub fn new(recovery: bool) -> Console {
        Console {
            recovery,
            phase: Phase::Ended,
            menu_shown: false,
            prompt: None,
            pending: Next::Exit,
        }
    }

    /// Handles one input and says what to print and do next. After a
    /// [`Next::Perform`] the driver feeds that action's [`Input::Done`];
    /// after a [`Next::ReadLine`], what the terminal gave. An input that
    /// answers nothing asked gets the pending request repeated.
    pub fn handle(&mut self, input: Input) -> Output {
        let mut out = Out::default();
        match input {
            Input::Start => self.start(&mut out),
            Input::HangUp => self.end(&mut out),
            Input::Idle => self.idle(&mut out),
            Input::Interrupt => self.interrupt(&mut out),
            Input::Invalid(why) => self.invalid(&why, &mut out),
            Input::Line(line) => self.line(&line, &mut out),
            Input::Done(outcome) => self.done(outcome, &mut out),
        }
        self.finish(out)
    }

    fn finish(&mut self, out: Out) -> Output {
        if out.prompt.is_some() {
            self.prompt = out.prompt;
        }
        // A screen that asked for nothing has a bug; waiting for input again
        // beats a console that stops answering.
        let next = out.next.unwrap_or_else(|| self.pending.clone());
        self.pending = next.clone();
        Output {
            text: out.text,
            next,
        }
    }

    /// The header names the running firmware, which only the supervisor
    /// knows (from `/etc/filterbox-release`): ask it first.
    fn start(&mut self, out: &mut Out) {
        self.phase = Phase::Starting;
        out.perform(Action::Control(ControlRequest::Status));
    }

    /// The supervisor's status came (or not): the header, then the login.
    /// Without a supervisor (a console run by hand) no version is shown
    /// rather than a wrong one, and the console goes on.
    fn started(&mut self, outcome: Outcome, out: &mut Out) {
        match outcome {
            Outcome::Control(ControlResponse::Status(s)) => {
                out.say(&format!("filterbox {} serial console", s.version))
            }
            other => {
                let why = match other {
                    Outcome::Failed(f) => f.message,
                    other => format!("unexpected answer {other:?}"),
                };
                log::info!("console: no firmware version from the supervisor: {why}");
                out.say("filterbox serial console");
            }
        }
        self.open_login(out);
    }

    fn open_login(&mut self, out: &mut Out) {
        let mut screen = login::Login::new(self.recovery);
        let flow = screen.start(out);
        self.phase = Phase::LoggedOut(Box::new(screen));
        self.after(flow, out);
    }

    fn open(&mut self, mut screen: Box<dyn Screen + Send>, out: &mut Out) {
        let flow = screen.start(out);
        self.phase = Phase::Screen(screen);
        self.after(flow, out);
    }

    fn end(&mut self, out: &mut Out) {
        self.phase = Phase::Ended;
        out.next = Some(Next::Exit);
    }

    fn idle(&mut self, out: &mut Out) {
        match self.phase {
            Phase::Ended => self.end(out),
            Phase::Starting => {}
            Phase::LoggedOut(_) => {
                out.say("");
                self.open_login(out);
            }
            Phase::Menu | Phase::Screen(_) => {
                out.say("");
                out.say("Logged out: no input for too long.");
                self.end(out);
            }
        }
    }

    fn interrupt(&mut self, out: &mut Out) {
        match self.phase {
            Phase::Ended => self.end(out),
            Phase::Starting => {}
            // At the login, Ctrl-C just gives a fresh prompt (and while
            // waiting for the box to start, asks again at once).
            Phase::LoggedOut(_) => self.open_login(out),
            Phase::Menu | Phase::Screen(_) => {
                out.say("Cancelled.");
                self.menu(out);
            }
        }
    }

    fn invalid(&mut self, why: &str, out: &mut Out) {
        out.say(why);
        match self.prompt.clone() {
            Some((prompt, echo)) if !matches!(self.phase, Phase::Ended) => out.ask(&prompt, echo),
            _ => {}
        }
    }

    fn line(&mut self, line: &str, out: &mut Out) {
        let flow = match &mut self.phase {
            Phase::Ended => return self.end(out),
            Phase::Starting => return,
            Phase::Menu => return self.choose(line, out),
            Phase::LoggedOut(screen) | Phase::Screen(screen) => screen.line(line, out),
        };
        self.after(flow, out);
    }

    fn done(&mut self, outcome: Outcome, out: &mut Out) {
        let flow = match &mut self.phase {
            Phase::LoggedOut(screen) | Phase::Screen(screen) => screen.done(outcome, out),
            Phase::Starting => return self.started(outcome, out),
            // Nothing asked for this result: ignore it.
            Phase::Ended | Phase::Menu => return,
        };
        self.after(flow, out);
    }

    fn after(&mut self, flow: Flow, out: &mut Out) {
        match flow {
            Flow::Stay => {}
            Flow::Menu => self.menu(out),
            Flow::LoggedIn => {
                log::info!("console: admin logged in");
                self.menu_shown = false;
                self.menu(out);
            }
            Flow::Recover => {
                self.recovery = false;
                out.say("Recovery mode: no login; set a new admin password.");
                out.say("Ctrl-C skips to the menu and keeps the old password.");
                self.open(Box::new(password::ResetPassword::recovery()), out);
            }
        }
    }

    /// Back at the menu prompt; the whole menu the first time.
    fn menu(&mut self, out: &mut Out) {
        self.phase = Phase::Menu;
        if !self.menu_shown {
            self.menu_shown = true;
            out.text.push_str(menu::MENU);
        }
        out.ask(menu::PROMPT, true);
    }

    fn choose(&mut self, line: &str, out: &mut Out) {
        match menu::choose(line) {
            menu::Choice::ShowMenu => {
                self.menu_shown = false;
                self.menu(out);
            }
            menu::Choice::Open(screen) => self.open(screen, out),
            menu::Choice::LogOut => {
                log::info!("console: admin logged out");
                out.say("Logged out.");
                self.end(out);
            }
            menu::Choice::Unknown(message) => {
                out.say(&message);
                out.ask(menu::PROMPT, true);
            }
        }
    }
}

/// Reads a yes/no answer; `None` when it is neither.
fn yes_no(line: &str) -> Option<bool> {
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Some(true),
        "n" | "no" => Some(false),
        _ => None,
    }
}

/// Says what went wrong with an action the screen did not expect to fail
/// this way, and sends the console back to the menu.
fn unexpected(what: &str, outcome: &Outcome, out: &mut Out) -> Flow {
    match outcome {
        Outcome::Failed(f) => out.say(&format!("{what}: {}", f.message)),
        other => out.say(&format!("{what}: unexpected answer {other:?}")),
    }
    Flow::Menu
}
