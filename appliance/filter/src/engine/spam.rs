//! Spam scoring by the [`classifier`] crate: its rules and its statistical
//! part become findings named with their scores (`SUBJ_EXCLAIM=0.4`,
//! `CLASSIFIER=6.1`), which add up to the classifier's score.
//!
//! The model is shared between the scan threads and the learning that the
//! quarantine feeds ([`SharedClassifier::learn`]).

use std::sync::{Arc, RwLock};

use classifier::Classifier;
use mail_parser::Message;

use super::{Check, Finding};

/// Name of the statistical part in reasons.
pub const CLASSIFIER: &str = "CLASSIFIER";

/// The classifier the engine scores with, shared with what teaches it.
#[derive(Clone)]
pub struct SharedClassifier(Arc<RwLock<Classifier>>);

impl SharedClassifier {
    /// Shares `classifier`.
    pub fn new(classifier: Classifier) -> SharedClassifier {
        SharedClassifier(Arc::new(RwLock::new(classifier)))
    }

    /// The model shipped with this release.
    pub fn shipped() -> SharedClassifier {
        SharedClassifier::new(Classifier::shipped())
    }

    /// Learns `message` as spam or ham; returns its score before and after.
    pub fn learn(&self, message: &[u8], spam: bool) -> (f64, f64) {
        self.write().learn(message, spam)
    }

    /// The model file as it is now, to be saved.
    pub fn model_bytes(&self) -> Vec<u8> {
        self.read().model().to_bytes()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Classifier> {
        // A panic while learning leaves whole f32 weights: still usable.
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Classifier> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// The spam check.
pub struct Spam {
    /// The model.
    pub classifier: SharedClassifier,
}

impl Check for Spam {
    fn check_parsed(&self, parsed: Option<&Message<'_>>, raw: &[u8], findings: &mut Vec<Finding>) {
        let features = match parsed {
            Some(m) => classifier::features_of(m, raw),
            None => classifier::features(raw),
        };
        let assessment = self.classifier.read().assess(&features);
        findings.push(scored(CLASSIFIER, assessment.tokens));
        for (rule, score) in assessment.rules {
            // A rule the training found to say nothing either way.
            if score.abs() >= 0.05 {
                findings.push(scored(rule.name(), score));
            }
        }
    }
}

/// A finding named `NAME=score`, the score as shown (one decimal).
fn scored(name: &str, score: f64) -> Finding {
    let shown = (score * 10.0).round() / 10.0;
    Finding::score(shown, format!("{name}={shown:.1}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Class, Engine};

    const HAM: &[u8] = b"From: Ann <ann@example.org>\r\nTo: bob@example.net\r\nDate: Mon, 2 Sep 2002 10:00:00 +0100\r\nMessage-ID: <1@example.org>\r\nSubject: Re: the build on Monday\r\n\r\nI had a look at the patch; the test suite passes on my machine now.\r\nCan you merge it before the release?\r\n";

    const SPAM: &[u8] = b"From: Best Offers <deals8812@offers.example>\r\nTo: undisclosed-recipients:;\r\nSubject: FREE!!! Make $5000 a week from home\r\nContent-Type: text/html\r\n\r\n<html><body><font color=#ffffff>x</font><a href=\"http://10.1.2.3/\">CLICK HERE</a> to be removed from our mailing list. Guaranteed income, no risk, order now! Limited time offer, act now! $$$ cash</body></html>\r\n";

    #[test]
    fn the_shipped_model_tells_ham_from_spam_with_reasons() {
        let engine = Engine::standard();
        let ham = engine.scan(HAM);
        assert_eq!(ham.class, Class::Clean, "{ham:?}");
        let spam = engine.scan(SPAM);
        assert_eq!(spam.class, Class::Spam, "{spam:?}");
        assert!(spam.reasons.iter().any(|r| r.starts_with("CLASSIFIER=")));
        assert!(
            spam.reasons
                .iter()
                .any(|r| r.starts_with("URI_NUMERIC_IP=")),
            "{spam:?}"
        );
        let listed: f64 = spam
            .reasons
            .iter()
            .map(|r| r.rsplit_once('=').unwrap().1.parse::<f64>().unwrap())
            .sum();
        assert!(
            (listed - spam.score).abs() < 1e-6,
            "the reasons add up to the score"
        );
    }

    #[test]
    fn learning_ham_lets_the_next_copy_through() {
        let shared = SharedClassifier::shipped();
        let engine = Engine::with(
            crate::engine::virus::Signatures::new(antivirus::Database::builtin()),
            shared.clone(),
        );
        assert_eq!(engine.scan(SPAM).class, Class::Spam);
        let (before, after) = shared.learn(SPAM, false);
        assert!(before >= 5.0 && after < 5.0, "{before} -> {after}");
        assert_eq!(engine.scan(SPAM).class, Class::Clean);
        assert_eq!(
            Engine::standard().scan(SPAM).class,
            Class::Spam,
            "the shipped model is untouched"
        );
    }
}
