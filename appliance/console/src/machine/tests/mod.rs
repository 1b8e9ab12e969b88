//! Unit tests of the console's screens, driven through [`Console::handle`]
//! as the terminal driver would, without a terminal.

mod firmware;
mod login;
mod network;
mod screens;

use model::api::AdminState;
use model::control::{ControlResponse, InterfaceStatus, ProcessStatus, SystemStatus};

use model::control::ControlRequest;

use super::{Action, ApiCall, Console, Failure, Input, Next, Outcome};

/// The running firmware's version in the supervisor's status (on purpose
/// not this build's `model::VERSION`).
const FIRMWARE_VERSION: &str = "7.1.2+gtest";

/// A console under test and its last answer.
struct T {
    c: Console,
    text: String,
    next: Next,
}

impl T {
    /// A new session, past the header (the supervisor gave its status):
    /// asking the manager whether a password is set.
    fn start(recovery: bool) -> T {
        let mut t = T {
            c: Console::new(recovery),
            text: String::new(),
            next: Next::Exit,
        };
        t.send(Input::Start);
        assert_eq!(t.text, "");
        assert_eq!(t.action(), Action::Control(ControlRequest::Status));
        t.reply(status(&[]));
        assert_eq!(t.action(), Action::Api(ApiCall::AdminState));
        t
    }

    /// Logged in with a password already set, at the menu prompt.
    fn logged_in() -> T {
        let mut t = T::start(false);
        t.reply(Outcome::AdminState(AdminState { password_set: true }));
        t.line("correct horse");
        assert_eq!(
            t.action(),
            Action::Api(ApiCall::VerifyPassword(super::Secret::new("correct horse")))
        );
        t.reply(Outcome::Ok);
        t.at_menu();
        t
    }

    /// Feeds one input; returns the text printed.
    fn send(&mut self, input: Input) -> String {
        let out = self.c.handle(input);
        self.text = out.text;
        self.next = out.next;
        self.text.clone()
    }

    /// Types a line.
    fn line(&mut self, line: &str) -> String {
        self.send(Input::Line(line.into()))
    }

    /// Feeds the result of the pending action.
    fn reply(&mut self, outcome: Outcome) -> String {
        assert!(
            matches!(self.next, Next::Perform(_)),
            "no action pending: {:?}",
            self.next
        );
        self.send(Input::Done(outcome))
    }

    /// The action the console asks for.
    fn action(&self) -> Action {
        match &self.next {
            Next::Perform(a) => a.clone(),
            other => panic!("expected an action, got {other:?} after {:?}", self.text),
        }
    }

    /// Asserts the console reads a line, echoed or not, after `prompt`.
    fn asks(&self, prompt: &str, echo: bool) {
        assert_eq!(self.next, Next::ReadLine { echo }, "after {:?}", self.text);
        assert!(
            self.text.ends_with(prompt),
            "{:?} does not end with {prompt:?}",
            self.text
        );
    }

    /// Asserts the console is at the menu prompt.
    fn at_menu(&self) {
        self.asks("Enter an option (? for the menu): ", true);
    }
}

/// An API failure with an HTTP status.
fn api_error(status: u16, message: &str) -> Outcome {
    Outcome::Failed(Failure {
        status: Some(status),
        message: message.into(),
        unreachable: false,
    })
}

/// Nothing answers at `what` (its socket is missing).
fn unreachable(what: &str) -> Outcome {
    Outcome::Failed(Failure::unreachable(format!(
        "cannot reach the {what}: No such file or directory (os error 2)"
    )))
}

/// A status as the supervisor sends it.
fn status(addresses: &[&str]) -> Outcome {
    Outcome::Control(ControlResponse::Status(SystemStatus {
        version: FIRMWARE_VERSION.into(),
        boot_slot: Some("A".into()),
        hostname: "mx1.example.test".into(),
        uptime_secs: 2 * 86400 + 3 * 3600 + 4 * 60 + 5,
        interfaces: vec![
            InterfaceStatus {
                name: "lo".into(),
                up: true,
                addresses: vec!["127.0.0.1/8".into(), "::1/128".into()],
                method: "unmanaged".into(),
            },
            InterfaceStatus {
                name: "eth0".into(),
                up: true,
                addresses: addresses.iter().map(|a| a.to_string()).collect(),
                method: "static".into(),
            },
        ],
        processes: vec![ProcessStatus {
            name: "manager".into(),
            state: "healthy".into(),
            pid: Some(42),
            restarts: 0,
            rss_kib: Some(4096),
        }],
        firmware: None,
    }))
}
