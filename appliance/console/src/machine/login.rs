//! The login: the admin password, or on a new box the screen that sets it.
//!
//! It starts by asking the manager whether a password is set. On a box
//! that is still starting, the manager is not there yet: the login says so
//! once and asks again every second, then goes on by itself.

use std::time::Duration;

use model::api::AdminState;

use super::password::{Entered, Entry, MAX_CHARS, MIN_CHARS};
use super::{Action, ApiCall, Failure, Flow, Out, Outcome, Screen, Secret};

const PASSWORD_PROMPT: &str = "Admin password: ";
/// Shown once while the manager does not answer yet.
pub(super) const WAITING: &str = "Waiting for the box to start...";
/// Pause between two attempts to reach a manager that is not up yet.
pub(super) const RETRY: Duration = Duration::from_secs(1);

/// Where the login stands.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Asking the manager whether a password is set.
    #[default]
    Checking,
    /// Nothing answered: pausing before asking again.
    Waiting,
    /// The manager failed; Enter tries again.
    Unreachable,
    /// Reading the password.
    Password,
    /// The manager checks it.
    Verifying,
    /// A new box: reading the first password.
    FirstPassword,
    /// The manager stores the first password.
    SavingFirst,
}

/// The login screen (not logged in yet).
#[derive(Debug, Default)]
pub(super) struct Login {
    step: Step,
    first: Entry,
    /// Recovery mode: once the manager answers, hand over to the screen
    /// that sets a new password ([`Flow::Recover`]) instead of logging in.
    recovery: bool,
    /// [`WAITING`] was shown.
    waited: bool,
}

impl Screen for Login {
    fn start(&mut self, out: &mut Out) -> Flow {
        self.check(out)
    }

    fn line(&mut self, line: &str, out: &mut Out) -> Flow {
        match self.step {
            Step::Password if line.is_empty() => self.ask_password(out),
            Step::Password => {
                self.step = Step::Verifying;
                out.perform(Action::Api(ApiCall::VerifyPassword(Secret::new(line))));
                Flow::Stay
            }
            Step::Unreachable => self.check(out),
            Step::FirstPassword => match self.first.line(line, out) {
                Entered::Asked => Flow::Stay,
                Entered::Empty => {
                    out.say("A password is needed before anything else.");
                    self.first.ask(out);
                    Flow::Stay
                }
                Entered::Ready(secret) => {
                    self.step = Step::SavingFirst;
                    out.perform(Action::Api(ApiCall::SetPassword(secret)));
                    Flow::Stay
                }
            },
            // Waiting for the manager: the driver reads no lines then.
            Step::Checking | Step::Waiting | Step::Verifying | Step::SavingFirst => Flow::Stay,
        }
    }

    fn done(&mut self, outcome: Outcome, out: &mut Out) -> Flow {
        match (self.step, outcome) {
            (Step::Checking, Outcome::AdminState(_)) if self.recovery => Flow::Recover,
            (Step::Checking, Outcome::Failed(f)) if f.unreachable => self.wait(&f, out),
            (Step::Waiting, Outcome::Ok) => self.check(out),
            (Step::Checking, Outcome::AdminState(AdminState { password_set: true })) => {
                self.ask_password(out)
            }
            (
                Step::Checking,
                Outcome::AdminState(AdminState {
                    password_set: false,
                }),
            ) => self.first_boot(out),
            (Step::Verifying, Outcome::Ok) => {
                out.say("Logged in.");
                Flow::LoggedIn
            }
            (Step::Verifying, Outcome::Failed(f)) => self.refused(&f, out),
            (Step::SavingFirst, Outcome::Ok) => {
                log::info!("console: first admin password set");
                out.say("Admin password set; the web administration accepts it too.");
                Flow::LoggedIn
            }
            (Step::SavingFirst, Outcome::Failed(f)) if f.status == Some(422) => {
                out.say(&f.message);
                self.step = Step::FirstPassword;
                self.first.ask(out);
                Flow::Stay
            }
            (_, Outcome::Failed(f)) => self.unreachable(&f, out),
            (_, other) => {
                self.unreachable(&Failure::new(format!("unexpected answer {other:?}")), out)
            }
        }
    }
}

impl Login {
    /// The login; in `recovery` mode, only the wait for the manager before
    /// the new password is set.
    pub(super) fn new(recovery: bool) -> Login {
        Login {
            recovery,
            ..Login::default()
        }
    }

    fn check(&mut self, out: &mut Out) -> Flow {
        self.step = Step::Checking;
        out.perform(Action::Api(ApiCall::AdminState));
        Flow::Stay
    }

    /// The manager is not up (yet): say so once, ask again in a moment.
    fn wait(&mut self, f: &Failure, out: &mut Out) -> Flow {
        if !self.waited {
            self.waited = true;
            log::info!("console: waiting for the manager: {}", f.message);
            out.say(WAITING);
        }
        self.step = Step::Waiting;
        out.perform(Action::Sleep(RETRY));
        Flow::Stay
    }

    fn ask_password(&mut self, out: &mut Out) -> Flow {
        self.step = Step::Password;
        out.ask(PASSWORD_PROMPT, false);
        Flow::Stay
    }

    fn first_boot(&mut self, out: &mut Out) -> Flow {
        out.say("No admin password is set yet: this box is new or was reset.");
        out.say(&format!(
            "Choose the password of the admin account, for this console and the \
             web administration ({MIN_CHARS} to {MAX_CHARS} characters)."
        ));
        self.step = Step::FirstPassword;
        self.first.ask(out);
        Flow::Stay
    }

    fn refused(&mut self, f: &Failure, out: &mut Out) -> Flow {
        match f.status {
            Some(401) => out.say("Wrong password."),
            Some(429) => match last_number(&f.message) {
                Some(secs) => out.say(&format!("Too many attempts, try again in {secs} s.")),
                None => out.say(&format!("Too many attempts: {}", f.message)),
            },
            // Someone reset the box meanwhile: set a password first.
            Some(409) => return self.check(out),
            _ => return self.unreachable(f, out),
        }
        self.ask_password(out)
    }

    fn unreachable(&mut self, f: &Failure, out: &mut Out) -> Flow {
        out.say(&format!("Cannot check the admin password: {}", f.message));
        self.step = Step::Unreachable;
        out.ask("Press Enter to try again: ", true);
        Flow::Stay
    }
}

/// The last number in `message` (the manager says "try again in 30 s").
fn last_number(message: &str) -> Option<u64> {
    message
        .split(|c: char| !c.is_ascii_digit())
        .rfind(|s| !s.is_empty())?
        .parse()
        .ok()
}
