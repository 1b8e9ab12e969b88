//! Entering a new admin password (twice, not echoed), and the screen that
//! resets it: menu entry 5 and the recovery mode.

use super::{unexpected, Action, ApiCall, Flow, Out, Outcome, Screen, Secret};

/// Shortest admin password, in characters (the manager's rule too).
pub(super) const MIN_CHARS: usize = 8;
/// Longest admin password, in characters (the manager's rule too).
pub(super) const MAX_CHARS: usize = 128;

const FIRST_PROMPT: &str = "New admin password: ";
const REPEAT_PROMPT: &str = "Repeat the new password: ";

/// What a line typed into an [`Entry`] gave.
#[derive(Debug)]
pub(super) enum Entered {
    /// The entry asked for another line.
    Asked,
    /// An empty first line: the caller decides (cancel or insist).
    Empty,
    /// Both lines match and follow the rules.
    Ready(Secret),
}

/// A new password typed twice.
#[derive(Debug, Default)]
pub(super) struct Entry {
    first: Option<Secret>,
}

impl Entry {
    /// Asks for the password (again from the first entry).
    pub(super) fn ask(&mut self, out: &mut Out) {
        self.first = None;
        out.ask(FIRST_PROMPT, false);
    }

    /// Takes one typed line.
    pub(super) fn line(&mut self, line: &str, out: &mut Out) -> Entered {
        let Some(first) = self.first.take() else {
            if line.is_empty() {
                return Entered::Empty;
            }
            match check_rules(line) {
                Ok(()) => {
                    self.first = Some(Secret::new(line));
                    out.ask(REPEAT_PROMPT, false);
                }
                Err(rule) => {
                    out.say(&rule);
                    self.ask(out);
                }
            }
            return Entered::Asked;
        };
        if first.expose() == line {
            Entered::Ready(first)
        } else {
            out.say("The two entries differ; start again.");
            self.ask(out);
            Entered::Asked
        }
    }
}

/// Checks the length rule; the message says what is wrong.
fn check_rules(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_CHARS {
        Err(format!(
            "Too short: at least {MIN_CHARS} characters (this one has {n})."
        ))
    } else if n > MAX_CHARS {
        Err(format!(
            "Too long: at most {MAX_CHARS} characters (this one has {n})."
        ))
    } else {
        Ok(())
    }
}

/// Sets a new admin password without the old one (the console is someone
/// at the box): menu entry 5, and the first screen of the recovery mode.
#[derive(Debug, Default)]
pub(super) struct ResetPassword {
    entry: Entry,
}

impl ResetPassword {
    /// The recovery mode's screen (the same steps; the console prints why).
    pub(super) fn recovery() -> ResetPassword {
        ResetPassword::default()
    }
}

impl Screen for ResetPassword {
    fn start(&mut self, out: &mut Out) -> Flow {
        out.say(&format!(
            "New password of the admin account (console and web administration), \
             {MIN_CHARS} to {MAX_CHARS} characters; an empty line keeps the old one."
        ));
        self.entry.ask(out);
        Flow::Stay
    }

    fn line(&mut self, line: &str, out: &mut Out) -> Flow {
        match self.entry.line(line, out) {
            Entered::Asked => Flow::Stay,
            Entered::Empty => {
                out.say("Password unchanged.");
                Flow::Menu
            }
            Entered::Ready(secret) => {
                out.perform(Action::Api(ApiCall::SetPassword(secret)));
                Flow::Stay
            }
        }
    }

    fn done(&mut self, outcome: Outcome, out: &mut Out) -> Flow {
        match outcome {
            Outcome::Ok => {
                log::info!("console: admin password changed");
                out.say("Admin password changed.");
                Flow::Menu
            }
            Outcome::Failed(f) if f.status == Some(422) => {
                out.say(&f.message);
                self.entry.ask(out);
                Flow::Stay
            }
            other => unexpected("Cannot set the password", &other, out),
        }
    }
}
