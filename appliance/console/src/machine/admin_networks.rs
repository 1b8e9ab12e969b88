//! Menu entry 6: the networks allowed to reach the web administration.

use model::network::Cidr;

use super::{unexpected, Action, ApiCall, Flow, Out, Outcome, Screen};

const PROMPT: &str = "Allowed networks, CIDRs separated by spaces, or any (empty: keep them): ";

/// The admin-networks screen.
#[derive(Debug, Default)]
pub(super) struct AdminNetworks {
    saving: bool,
}

impl Screen for AdminNetworks {
    fn start(&mut self, out: &mut Out) -> Flow {
        out.perform(Action::Api(ApiCall::AdminNetworks));
        Flow::Stay
    }

    fn line(&mut self, line: &str, out: &mut Out) -> Flow {
        match parse(line) {
            Ok(None) => {
                out.say("Unchanged.");
                Flow::Menu
            }
            Ok(Some(networks)) => {
                self.saving = true;
                out.perform(Action::Api(ApiCall::SetAdminNetworks(networks)));
                Flow::Stay
            }
            Err(problem) => {
                out.say(&problem);
                out.ask(PROMPT, true);
                Flow::Stay
            }
        }
    }

    fn done(&mut self, outcome: Outcome, out: &mut Out) -> Flow {
        match outcome {
            Outcome::AdminNetworks(n) => {
                let now = if self.saving { "now " } else { "" };
                out.say(&format!(
                    "Web administration is {now}open to: {}",
                    describe(&n.networks)
                ));
                if self.saving {
                    log::info!(
                        "console: web admin networks set to {}",
                        describe(&n.networks)
                    );
                    return Flow::Menu;
                }
                out.ask(PROMPT, true);
                Flow::Stay
            }
            Outcome::Failed(f) if self.saving && f.status == Some(422) => {
                out.say(&f.message);
                self.saving = false;
                out.ask(PROMPT, true);
                Flow::Stay
            }
            other => unexpected("Cannot change the web admin networks", &other, out),
        }
    }
}

/// `None` for an empty line (keep), `Some(empty)` for `any`, else the CIDRs.
fn parse(line: &str) -> Result<Option<Vec<String>>, String> {
    let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
    match words.as_slice() {
        [] => Ok(None),
        [any] if any.eq_ignore_ascii_case("any") => Ok(Some(Vec::new())),
        _ => words
            .iter()
            .map(|w| w.parse::<Cidr>().map(|c| c.to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
    }
}

fn describe(networks: &[String]) -> String {
    if networks.is_empty() {
        "any network".into()
    } else {
        networks.join(" ")
    }
}
