//! filterbox's spam classifier: what a message looks like (its features),
//! a few named rules over its headers, body, links and MIME structure, and
//! a logistic regression over both that ships trained, so a box is accurate
//! on its first message and keeps learning from its users.
//!
//! No I/O but reading and writing a model file: the filter calls
//! [`Classifier::classify`] on its scan thread and [`Classifier::learn`]
//! when the quarantine teaches it.
//!
//! The shipped model (`model/spam.model`) comes from one command,
//! `scripts/train-spam-model`, over the even half of the SpamAssassin public
//! corpus (see [`corpus`]); the odd half is only ever used to measure.

pub mod corpus;
pub mod features;
pub mod html;
pub mod model;
pub mod rules;
pub mod train;

pub use features::{features, features_of, Features};
pub use model::{Model, ModelError};
pub use rules::Rule;

/// The model trained by `scripts/train-spam-model`, built into the binary.
pub const SHIPPED_MODEL: &[u8] = include_bytes!("../model/spam.model");

/// Score at which the classifier alone calls a message spam: the engine's
/// SpamAssassin-like scale, where 5 means "probably spam".
pub const SPAM_SCORE: f64 = 5.0;

/// What the classifier says of one message, split into named parts so a
/// user sees why.
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    /// The rules that fired, each with its learned score.
    pub rules: Vec<(Rule, f64)>,
    /// What the words, links and headers add (the statistical part).
    pub tokens: f64,
}

impl Assessment {
    /// The whole score: [`SPAM_SCORE`] where the model is undecided.
    pub fn score(&self) -> f64 {
        self.tokens + self.rules.iter().map(|(_, s)| s).sum::<f64>()
    }
}

/// A model and how to read messages for it.
#[derive(Clone, Debug)]
pub struct Classifier {
    model: Model,
}

impl Classifier {
    /// The classifier of `model`.
    pub fn new(model: Model) -> Classifier {
        Classifier { model }
    }

    /// The model shipped with this release.
    pub fn shipped() -> Classifier {
        Classifier::new(Model::from_bytes(SHIPPED_MODEL).expect("the shipped model is valid"))
    }

    /// The model, e.g. to save it after learning.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Scores a whole message (headers, empty line, body).
    pub fn classify(&self, message: &[u8]) -> Assessment {
        self.assess(&features(message))
    }

    /// Scores features already extracted.
    pub fn assess(&self, f: &Features) -> Assessment {
        let scale = self.model.scale();
        let rules: Vec<(Rule, f64)> = f
            .rules
            .iter()
            .map(|&r| (r, self.model.rule_weight(r) * scale))
            .collect();
        let tokens = SPAM_SCORE
            + (self.model.bias() + self.model.token_sum(&f.tokens) - self.model.threshold())
                * scale;
        Assessment { rules, tokens }
    }

    /// Learns that `message` is spam (a user's report) or ham (released
    /// from the quarantine): steps until the model agrees with a margin, so
    /// the next message like it is judged the same way. Returns the score
    /// before and after.
    pub fn learn(&mut self, message: &[u8], spam: bool) -> (f64, f64) {
        let f = features(message);
        let before = self.assess(&f).score();
        self.model.learn(&f, spam);
        (before, self.assess(&f).score())
    }
}
