//! The model: a bias, a weight per token bucket and per rule, and the
//! decision threshold picked when it was trained; its file format; and how
//! it learns one message on the box.
//!
//! File format (all little-endian): the magic `FBSPAM1\n`, the token bits
//! (u32), the number of rule weights (u32), bias, threshold and scale
//! (f32 each), the rule weights (f32, in [`Rule::ALL`] order), then one i16
//! per token bucket in steps of 1/[`QUANTUM`]. A model written by an older
//! release with fewer rules reads fine: the new rules weigh nothing.

use thiserror::Error;

use crate::features::{Features, TOKEN_BITS, TOKEN_BUCKETS};
use crate::rules::Rule;

const MAGIC: &[u8; 8] = b"FBSPAM1\n";

/// Token weights are stored in steps of 1/QUANTUM (about ±8 at most).
pub const QUANTUM: f32 = 4096.0;

/// Largest token weight in magnitude, so that it fits the file's i16.
const MAX_TOKEN_WEIGHT: f32 = i16::MAX as f32 / QUANTUM;

/// How far past the threshold [`Model::learn`] pushes a message, in logit.
pub const LEARN_MARGIN: f32 = 2.0;

/// Why a model file was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ModelError {
    /// Not a model file.
    #[error("not a filterbox spam model (bad magic); retrain with scripts/train-spam-model")]
    Magic,
    /// Written for another number of token buckets.
    #[error("the model has 2^{0} token buckets, this release reads 2^{TOKEN_BITS}; retrain it")]
    TokenBits(u32),
    /// Cut short or with bytes left over.
    #[error("the model file is {got} bytes, its header says {want}: truncated or corrupt")]
    Length {
        /// Bytes read.
        got: usize,
        /// Bytes the header implies.
        want: usize,
    },
    /// A weight that is not a finite number.
    #[error("the model holds a weight that is not a finite number")]
    NotFinite,
}

/// A trained logistic regression over [`Features`].
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    bias: f32,
    threshold: f32,
    scale: f32,
    rules: Vec<f32>,
    tokens: Vec<f32>,
}

impl Model {
    /// A model from its parts; token weights are rounded as the file stores
    /// them, so a model saved and loaded scores exactly the same.
    pub fn new(bias: f32, threshold: f32, scale: f32, rules: Vec<f32>, tokens: Vec<f32>) -> Model {
        assert_eq!(tokens.len(), TOKEN_BUCKETS, "one weight per token bucket");
        let mut rules = rules;
        rules.resize(Rule::ALL.len(), 0.0);
        let tokens = tokens.into_iter().map(quantize).collect();
        Model {
            bias,
            threshold,
            scale,
            rules,
            tokens,
        }
    }

    /// An untrained model: every message scores at the threshold.
    pub fn empty() -> Model {
        Model::new(0.0, 0.0, 1.0, Vec::new(), vec![0.0; TOKEN_BUCKETS])
    }

    /// The intercept, in logit.
    pub fn bias(&self) -> f64 {
        f64::from(self.bias)
    }

    /// The logit at which a message is spam.
    pub fn threshold(&self) -> f64 {
        f64::from(self.threshold)
    }

    /// Score points per logit unit.
    pub fn scale(&self) -> f64 {
        f64::from(self.scale)
    }

    /// The weight of `rule`, in logit.
    pub fn rule_weight(&self, rule: Rule) -> f64 {
        let i = Rule::ALL.iter().position(|&r| r == rule).unwrap_or(0);
        f64::from(self.rules[i])
    }

    /// The sum of the weights of `tokens`.
    pub fn token_sum(&self, tokens: &[u32]) -> f64 {
        tokens
            .iter()
            .map(|&t| f64::from(self.tokens[t as usize]))
            .sum()
    }

    /// The model's logit for `f`.
    pub fn logit(&self, f: &Features) -> f64 {
        self.bias()
            + self.token_sum(&f.tokens)
            + f.rules.iter().map(|&r| self.rule_weight(r)).sum::<f64>()
    }

    /// Learns one message: moves the weights of its tokens so that its logit
    /// lies [`LEARN_MARGIN`] past the threshold on the side of `spam`, the
    /// correction shared equally by its tokens. Does nothing when the model
    /// already agrees with that margin; the bias and the rules stay as
    /// trained, so one message cannot change how every other one scores.
    pub fn learn(&mut self, f: &Features, spam: bool) {
        let margin = f64::from(LEARN_MARGIN);
        let target = if spam {
            self.threshold() + margin
        } else {
            self.threshold() - margin
        };
        for _ in 0..4 {
            let gap = target - self.logit(f);
            let wrong = if spam { gap > 0.0 } else { gap < 0.0 };
            if !wrong || f.tokens.is_empty() {
                return;
            }
            let step = (gap / f.tokens.len() as f64) as f32;
            for &t in &f.tokens {
                let w = &mut self.tokens[t as usize];
                *w = quantize(*w + step);
            }
        }
    }

    /// The model as a file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(file_len(self.rules.len()));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&TOKEN_BITS.to_le_bytes());
        out.extend_from_slice(&(self.rules.len() as u32).to_le_bytes());
        for v in [self.bias, self.threshold, self.scale] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for r in &self.rules {
            out.extend_from_slice(&r.to_le_bytes());
        }
        for &w in &self.tokens {
            out.extend_from_slice(&((w * QUANTUM).round() as i16).to_le_bytes());
        }
        out
    }

    /// Reads a model file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelError> {
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err(ModelError::Magic);
        }
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        let bits = u32_at(8);
        if bits != TOKEN_BITS {
            return Err(ModelError::TokenBits(bits));
        }
        let n_rules = u32_at(12) as usize;
        let want = file_len(n_rules);
        if n_rules > 4096 || bytes.len() != want {
            return Err(ModelError::Length {
                got: bytes.len(),
                want,
            });
        }
        let f32_at = |i: usize| f32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        let (bias, threshold, scale) = (f32_at(16), f32_at(20), f32_at(24));
        let rules: Vec<f32> = (0..n_rules).map(|i| f32_at(28 + 4 * i)).collect();
        let start = 28 + 4 * n_rules;
        let tokens: Vec<f32> = bytes[start..]
            .chunks_exact(2)
            .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / QUANTUM)
            .collect();
        if ![bias, threshold, scale]
            .iter()
            .chain(&rules)
            .all(|v| v.is_finite())
        {
            return Err(ModelError::NotFinite);
        }
        let mut rules = rules;
        rules.resize(Rule::ALL.len().max(n_rules), 0.0);
        rules.truncate(Rule::ALL.len());
        Ok(Model {
            bias,
            threshold,
            scale,
            rules,
            tokens,
        })
    }
}

fn file_len(n_rules: usize) -> usize {
    28 + 4 * n_rules + 2 * TOKEN_BUCKETS
}

/// `w` clamped to what the file can hold and rounded to its step.
fn quantize(w: f32) -> f32 {
    (w.clamp(-MAX_TOKEN_WEIGHT, MAX_TOKEN_WEIGHT) * QUANTUM).round() / QUANTUM
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        let mut tokens = vec![0.0; TOKEN_BUCKETS];
        tokens[7] = 1.25;
        tokens[9] = -0.5;
        Model::new(-1.0, 0.5, 1.0, vec![2.0], tokens)
    }

    #[test]
    fn a_saved_model_reads_back_the_same() {
        let m = model();
        let bytes = m.to_bytes();
        assert_eq!(bytes.len(), file_len(Rule::ALL.len()));
        assert_eq!(Model::from_bytes(&bytes).unwrap(), m);
    }

    #[test]
    fn bad_files_are_refused_precisely() {
        let bytes = model().to_bytes();
        assert_eq!(Model::from_bytes(b"nonsense"), Err(ModelError::Magic));
        assert!(matches!(
            Model::from_bytes(&bytes[..bytes.len() - 1]),
            Err(ModelError::Length { .. })
        ));
        let mut other = bytes.clone();
        other[8] = 12;
        assert_eq!(Model::from_bytes(&other), Err(ModelError::TokenBits(12)));
        let mut nan = bytes;
        nan[16..20].copy_from_slice(&f32::NAN.to_le_bytes());
        assert_eq!(Model::from_bytes(&nan), Err(ModelError::NotFinite));
    }

    #[test]
    fn learning_moves_a_message_past_the_threshold_and_no_further() {
        let mut m = model();
        let f = Features {
            tokens: vec![7, 9, 11],
            rules: vec![Rule::ALL[0]],
        };
        assert!(m.logit(&f) > m.threshold());
        m.learn(&f, false);
        let after = m.logit(&f);
        assert!(
            after <= m.threshold() - f64::from(LEARN_MARGIN) + 0.01,
            "{after}"
        );
        let again = m.clone();
        m.learn(&f, false);
        assert_eq!(m, again, "already ham: nothing changes");
        m.learn(&f, true);
        assert!(m.logit(&f) >= m.threshold() + f64::from(LEARN_MARGIN) - 0.01);
        assert_eq!(m.bias(), -1.0);
    }
}
