//! Menu entries 9 to 11: reboot, shut down, factory reset.

use model::control::{ControlRequest, ControlResponse};

use super::{unexpected, yes_no, Action, Flow, Out, Outcome, Screen};

/// What must be typed to confirm a factory reset.
const FACTORY_RESET_WORDS: &str = "factory reset";

/// Reboot or shut down after a y/n confirmation.
#[derive(Debug)]
pub(super) struct Confirm {
    question: &'static str,
    request: ControlRequest,
}

impl Confirm {
    /// Menu entry 9.
    pub(super) fn reboot() -> Confirm {
        Confirm {
            question: "Reboot the box now? (y/n): ",
            request: ControlRequest::Reboot,
        }
    }

    /// Menu entry 10.
    pub(super) fn shutdown() -> Confirm {
        Confirm {
            question: "Shut the box down now? (y/n): ",
            request: ControlRequest::Shutdown,
        }
    }
}

impl Screen for Confirm {
    fn start(&mut self, out: &mut Out) -> Flow {
        out.ask(self.question, true);
        Flow::Stay
    }

    fn line(&mut self, line: &str, out: &mut Out) -> Flow {
        match yes_no(line) {
            Some(true) => {
                log::info!("console: {:?} requested", self.request);
                out.perform(Action::Control(self.request.clone()));
                Flow::Stay
            }
            Some(false) => {
                out.say("Cancelled.");
                Flow::Menu
            }
            None => {
                out.say("Please answer y or n.");
                self.start(out)
            }
        }
    }

    fn done(&mut self, outcome: Outcome, out: &mut Out) -> Flow {
        control_answer(outcome, out)
    }
}

/// Factory reset, confirmed only by typing the words exactly.
#[derive(Debug)]
pub(super) struct FactoryReset;

impl Screen for FactoryReset {
    fn start(&mut self, out: &mut Out) -> Flow {
        out.say("FACTORY RESET erases the data partition: settings, domains, users,");
        out.say("quarantined mail, keys and logs. Then the box reboots as new.");
        out.ask(
            &format!("Type \"{FACTORY_RESET_WORDS}\" to erase everything; anything else cancels: "),
            true,
        );
        Flow::Stay
    }

    fn line(&mut self, line: &str, out: &mut Out) -> Flow {
        if line != FACTORY_RESET_WORDS {
            out.say("Cancelled: nothing was erased.");
            return Flow::Menu;
        }
        log::warn!("console: factory reset requested");
        out.perform(Action::Control(ControlRequest::FactoryReset));
        Flow::Stay
    }

    fn done(&mut self, outcome: Outcome, out: &mut Out) -> Flow {
        control_answer(outcome, out)
    }
}

/// Shows the supervisor's answer to a box-wide action.
fn control_answer(outcome: Outcome, out: &mut Out) -> Flow {
    match outcome {
        Outcome::Control(ControlResponse::Ok { message }) => {
            out.say(&message);
            Flow::Menu
        }
        Outcome::Control(ControlResponse::Error { message }) => {
            out.say(&format!("Refused: {message}"));
            Flow::Menu
        }
        other => unexpected("The supervisor did not answer", &other, out),
    }
}
