//! Applying the filter's end-of-message edits to the message and envelope.

use super::Modification;
use crate::message::{Field, Message};

/// What the edits did to the envelope, for tracking.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Recipients the filter removed (it quarantined the message for them).
    pub removed: Vec<String>,
    /// Recipients the filter added.
    pub added: Vec<String>,
}

/// Applies `modifications` in order to `message` and `recipients`.
pub fn apply(
    modifications: &[Modification],
    message: &mut Message,
    recipients: &mut Vec<String>,
) -> Applied {
    let mut applied = Applied::default();
    for m in modifications {
        match m {
            Modification::AddHeader { name, value } => {
                message.insert(usize::MAX, Field::new(name, value));
            }
            Modification::InsertHeader { index, name, value } => {
                message.insert(*index as usize, Field::new(name, value));
            }
            Modification::ChangeHeader { index, name, value } => {
                // Changing a field that is not there adds it, as sendmail does.
                if !message.change(name, *index, value) && !value.is_empty() {
                    message.insert(usize::MAX, Field::new(name, value));
                }
            }
            Modification::AddRecipient(r) => match envelope_address(r) {
                Some(a) if !recipients.contains(&a) => {
                    recipients.push(a.clone());
                    applied.added.push(a);
                }
                Some(_) => {}
                None => log::warn!("milter: ignoring invalid added recipient {r:?}"),
            },
            Modification::DeleteRecipient(r) => {
                let Some(a) = envelope_address(r) else {
                    log::warn!("milter: ignoring invalid deleted recipient {r:?}");
                    continue;
                };
                if let Some(pos) = recipients.iter().position(|x| *x == a) {
                    recipients.remove(pos);
                    applied.removed.push(a);
                }
            }
        }
    }
    applied
}

/// A recipient as milters write it (`<a@b>` or `a@b`), in normal form.
fn envelope_address(raw: &str) -> Option<String> {
    let a = raw.trim();
    let a = a.strip_prefix('<').unwrap_or(a);
    let a = a.strip_suffix('>').unwrap_or(a);
    model::address::normalize_address(a).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_header_and_recipient_edits_in_order() {
        let mut m = Message::parse(b"Received: x\r\nSubject: s\r\nX-Old: 1\r\n\r\nbody\r\n");
        let mut rcpts = vec!["a@x.test".to_string(), "b@x.test".to_string()];
        let mods = vec![
            Modification::AddHeader {
                name: "X-Spam-Status".into(),
                value: "No, score=0.1".into(),
            },
            Modification::InsertHeader {
                index: 1,
                name: "X-Inserted".into(),
                value: "yes".into(),
            },
            Modification::ChangeHeader {
                index: 1,
                name: "x-old".into(),
                value: String::new(),
            },
            Modification::ChangeHeader {
                index: 1,
                name: "Subject".into(),
                value: "[tagged] s".into(),
            },
            Modification::DeleteRecipient("<B@x.test>".into()),
            Modification::DeleteRecipient("<nobody@x.test>".into()),
            Modification::AddRecipient("<c@x.test>".into()),
            Modification::AddRecipient("not an address".into()),
        ];
        let applied = apply(&mods, &mut m, &mut rcpts);
        assert_eq!(
            m.to_bytes(),
            b"Received: x\r\nX-Inserted: yes\r\nSubject: [tagged] s\r\nX-Spam-Status: No, score=0.1\r\n\r\nbody\r\n"
        );
        assert_eq!(rcpts, ["a@x.test", "c@x.test"]);
        assert_eq!(
            applied,
            Applied {
                removed: vec!["b@x.test".into()],
                added: vec!["c@x.test".into()]
            }
        );
    }
}
