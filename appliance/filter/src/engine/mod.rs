//! The scanning engine: message bytes in, a [`Verdict`] out, no I/O.
//!
//! Every check is a [`Check`]: it looks at the raw message once and at every
//! MIME part after transfer decoding, and reports [`Finding`]s. A finding adds
//! to the spam score and may force a verdict (a virus, a blocked attachment).
//! Later checks (spam scoring, SPF/DKIM, ClamAV) plug in the same way.

pub mod attachments;
pub mod eicar;
pub mod gtube;
pub mod parts;
pub mod spam;
pub mod virus;

use std::fmt;

use std::sync::{Arc, Mutex};

use mail_parser::{Message, MessageParser};
use model::policy::AttachmentPolicy;

pub use parts::{Part, PartKind};

/// Score at or above which a message is spam (per-domain thresholds come later).
pub const SPAM_THRESHOLD: f64 = 5.0;

/// Most `Content-Type` fields a message may have to be parsed as MIME. Each
/// level of nested messages needs one, so this bounds the nesting depth and
/// the stack the parser needs (see [`crate::scanner::SCAN_STACK_SIZE`]).
pub const MAX_MIME_HEADERS: usize = 20_000;

/// Reason for a message over [`MAX_MIME_HEADERS`]: it is held back rather
/// than passed unscanned.
pub const TOO_COMPLEX: &str = "unscannable: too many MIME parts";

/// What the filter concluded, by increasing severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Deliver, with the score headers added.
    Clean,
    /// Scored at or above the threshold.
    Spam,
    /// Carries an attachment type that is blocked.
    Attachment,
    /// Carries a virus.
    Virus,
}

impl Class {
    /// The lowercase name used in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Clean => "clean",
            Class::Spam => "spam",
            Class::Attachment => "attachment",
            Class::Virus => "virus",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing a check found.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// Added to the message's spam score.
    pub score: f64,
    /// A verdict this finding forces whatever the score (viruses, attachments).
    pub forces: Option<Class>,
    /// Short and human-readable, e.g. `GTUBE` or `EICAR-Test-File in part 2`;
    /// shown in logs, in `X-Spam-Status` and in the quarantine.
    pub reason: String,
}

impl Finding {
    /// A score contribution.
    pub fn score(score: f64, reason: impl Into<String>) -> Finding {
        Finding {
            score,
            forces: None,
            reason: reason.into(),
        }
    }

    /// A finding that decides the verdict on its own.
    pub fn verdict(class: Class, reason: impl Into<String>) -> Finding {
        Finding {
            score: 0.0,
            forces: Some(class),
            reason: reason.into(),
        }
    }
}

/// A pluggable check. Both hooks default to finding nothing.
pub trait Check: Send + Sync {
    /// Looks at one MIME part after transfer decoding, nested messages included.
    fn check_part(&self, _part: &Part<'_>, _findings: &mut Vec<Finding>) {}

    /// Looks at the whole message as received (headers and undecoded body),
    /// after every part was checked; `findings` holds what all checks found so far.
    fn check_message(&self, _raw: &[u8], _findings: &mut Vec<Finding>) {}

    /// Looks at the message as mail-parser structured it (`None` when it
    /// could not), before [`Check::check_message`].
    fn check_parsed(
        &self,
        _parsed: Option<&Message<'_>>,
        _raw: &[u8],
        _findings: &mut Vec<Finding>,
    ) {
    }
}

/// The engine's conclusion about one message.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// The class the message falls in.
    pub class: Class,
    /// Sum of the findings' scores.
    pub score: f64,
    /// Reasons of all findings, each once, in the order found.
    pub reasons: Vec<String>,
}

impl Verdict {
    /// This verdict with findings made outside the engine (the network
    /// checks of [`crate::auth`], the sender history) merged in as if a
    /// check had made them: reasons once, scores added, forced classes and
    /// `threshold` applied again.
    pub fn with_findings(mut self, extra: &[Finding], threshold: f64) -> Verdict {
        self.add_findings(extra, threshold);
        self
    }

    /// [`Verdict::with_findings`] in place.
    pub fn add_findings(&mut self, extra: &[Finding], threshold: f64) {
        for f in extra {
            if self.reasons.contains(&f.reason) {
                continue;
            }
            self.score += f.score;
            self.class = self.class.max(f.forces.unwrap_or(Class::Clean));
            self.reasons.push(f.reason.clone());
        }
        if self.class == Class::Clean && self.score >= threshold {
            self.class = Class::Spam;
        }
    }
}

/// A set of checks and the spam threshold.
pub struct Engine {
    checks: Vec<Box<dyn Check>>,
    threshold: f64,
}

impl Engine {
    /// The checks of this release with the built-in virus signature and
    /// the shipped spam model.
    pub fn standard() -> Engine {
        Engine::with_signatures(antivirus::Database::builtin())
    }

    /// [`Engine::with`] the shipped spam model.
    pub fn with_signatures(db: antivirus::Database) -> Engine {
        Engine::with(
            virus::Signatures::new(db),
            spam::SharedClassifier::shipped(),
        )
    }

    /// [`Engine::with_policy`] the default attachment policy.
    pub fn with(signatures: virus::Signatures, classifier: spam::SharedClassifier) -> Engine {
        Engine::with_policy(signatures, classifier, AttachmentPolicy::default())
    }

    /// The checks of this release: GTUBE, EICAR anywhere in the message,
    /// the signatures and real types in every part and archive, attachments
    /// by name under `policy` (a domain's), and spam scoring by
    /// `classifier`.
    pub fn with_policy(
        signatures: virus::Signatures,
        classifier: spam::SharedClassifier,
        policy: AttachmentPolicy,
    ) -> Engine {
        Engine::new(
            vec![
                Box::new(gtube::Gtube),
                Box::new(eicar::Eicar),
                Box::new(attachments::BlockedAttachments {
                    policy: policy.clone(),
                }),
                Box::new(virus::Virus { signatures, policy }),
                Box::new(spam::Spam { classifier }),
            ],
            SPAM_THRESHOLD,
        )
    }

    /// An engine running `checks` with spam at `threshold`.
    pub fn new(checks: Vec<Box<dyn Check>>, threshold: f64) -> Engine {
        Engine { checks, threshold }
    }

    /// The spam threshold, as shown in `X-Spam-Status` (`required=`).
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Scans a whole message (headers, empty line, body). Never panics on
    /// malformed MIME: what mail-parser cannot structure is scanned as one
    /// part. Nesting is bounded by [`MAX_MIME_HEADERS`], but parsing still
    /// recurses: run it on a thread with [`crate::scanner::SCAN_STACK_SIZE`].
    pub fn scan(&self, message: &[u8]) -> Verdict {
        let mut findings = Vec::new();
        let parsed = if content_types_over_limit(message) {
            findings.push(Finding::verdict(Class::Attachment, TOO_COMPLEX));
            None
        } else {
            MessageParser::new().parse(message)
        };
        let visit = |part: &Part<'_>| {
            for check in &self.checks {
                check.check_part(part, &mut findings);
            }
        };
        match &parsed {
            Some(m) => walk(m, visit),
            None => visit_unparsed(message, visit),
        }
        for check in &self.checks {
            check.check_parsed(parsed.as_ref(), message, &mut findings);
        }
        for check in &self.checks {
            check.check_message(message, &mut findings);
        }
        self.conclude(findings)
    }

    fn conclude(&self, findings: Vec<Finding>) -> Verdict {
        let mut score = 0.0;
        let mut forced = None;
        let mut reasons: Vec<String> = Vec::new();
        for f in findings {
            if reasons.contains(&f.reason) {
                continue;
            }
            score += f.score;
            forced = forced.max(f.forces);
            reasons.push(f.reason);
        }
        let class = match forced {
            Some(c) => c,
            None if score >= self.threshold => Class::Spam,
            None => Class::Clean,
        };
        Verdict {
            class,
            score,
            reasons,
        }
    }
}

/// Most engines kept for distinct attachment policies.
const MAX_ENGINES: usize = 32;

/// One engine per attachment policy in use (a domain's own, or the
/// default), all sharing the signatures and the spam model.
pub struct Engines {
    signatures: virus::Signatures,
    classifier: spam::SharedClassifier,
    built: Mutex<Vec<(AttachmentPolicy, Arc<Engine>)>>,
}

impl Engines {
    /// Engines over `signatures` and `classifier`.
    pub fn new(signatures: virus::Signatures, classifier: spam::SharedClassifier) -> Engines {
        Engines {
            signatures,
            classifier,
            built: Mutex::new(Vec::new()),
        }
    }

    /// The engine applying `policy`, built the first time it is asked for.
    pub fn get(&self, policy: &AttachmentPolicy) -> Arc<Engine> {
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, e)) = built.iter().find(|(p, _)| p == policy) {
            return Arc::clone(e);
        }
        let engine = Arc::new(Engine::with_policy(
            self.signatures.clone(),
            self.classifier.clone(),
            policy.clone(),
        ));
        if built.len() >= MAX_ENGINES {
            built.remove(0);
        }
        built.push((policy.clone(), Arc::clone(&engine)));
        engine
    }
}

/// True when `message` holds more than [`MAX_MIME_HEADERS`] case-insensitive
/// occurrences of `content-type` (an upper bound on the real fields).
pub(crate) fn content_types_over_limit(message: &[u8]) -> bool {
    const NAME: &[u8] = b"content-type";
    memchr::memchr2_iter(b'c', b'C', message)
        .filter(|&i| {
            message
                .get(i..i + NAME.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(NAME))
        })
        .nth(MAX_MIME_HEADERS)
        .is_some()
}

fn walk<'m>(message: &'m Message<'m>, mut visit: impl FnMut(&Part<'_>)) {
    for part in parts::parts(message) {
        visit(&part);
    }
}

fn visit_unparsed(message: &[u8], mut visit: impl FnMut(&Part<'_>)) {
    visit(&Part {
        index: 1,
        name: None,
        kind: PartKind::Text,
        content: message,
    });
}

/// Scans `message` with the [`Engine::standard`] checks.
pub fn scan(message: &[u8]) -> Verdict {
    Engine::standard().scan(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Vec<Finding>);

    impl Check for Fixed {
        fn check_message(&self, _raw: &[u8], findings: &mut Vec<Finding>) {
            findings.extend(self.0.iter().cloned());
        }
    }

    fn engine(findings: Vec<Finding>) -> Engine {
        Engine::new(vec![Box::new(Fixed(findings))], SPAM_THRESHOLD)
    }

    #[test]
    fn scores_add_up_and_the_threshold_decides() {
        let v = engine(vec![Finding::score(2.5, "A"), Finding::score(2.4, "B")]).scan(b"x");
        assert_eq!((v.class, v.reasons.len()), (Class::Clean, 2));
        assert!((v.score - 4.9).abs() < 1e-9);
        let v = engine(vec![Finding::score(2.5, "A"), Finding::score(2.5, "B")]).scan(b"x");
        assert_eq!(v.class, Class::Spam);
    }

    #[test]
    fn the_most_severe_forced_class_wins_and_reasons_count_once() {
        let v = engine(vec![
            Finding::verdict(Class::Attachment, "blocked attachment a.exe"),
            Finding::score(1000.0, "GTUBE"),
            Finding::score(1000.0, "GTUBE"),
            Finding::verdict(Class::Virus, "EICAR-Test-File in part 2"),
        ])
        .scan(b"x");
        assert_eq!(v.class, Class::Virus);
        assert_eq!(v.score, 1000.0);
        assert_eq!(v.reasons.len(), 3);
    }

    #[test]
    fn a_plain_message_is_clean_with_the_classifiers_reasons_only() {
        let v = Engine::standard().scan(b"Subject: hi\r\n\r\nhello\r\n");
        assert_eq!(v.class, Class::Clean, "{v:?}");
        assert!(v.reasons[0].starts_with("CLASSIFIER="), "{v:?}");
        assert!(v.reasons.iter().all(|r| r.contains('=')), "{v:?}");
    }
}
