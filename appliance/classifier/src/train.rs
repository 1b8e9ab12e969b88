//! Training: logistic regression by AdaGrad over the features of labelled
//! messages, and the decision threshold picked by cross-validation on the
//! same messages, for at most a given share of ham flagged.
//!
//! One AdaGrad pass ends wherever the order of the last messages left it,
//! so a model is the average of several passes over differently shuffled
//! messages ([`Options::runs`]): on the SpamAssassin corpus that catches
//! about 1% more spam at the same share of ham flagged. The threshold
//! comes from the scores of several cross-validations pooled
//! ([`Options::repeats`]), so that it rests on more than the two or three
//! highest-scoring ham of one split.
//!
//! Deterministic: the same messages in the same order give the same model
//! byte for byte (a seeded shuffle, one thread, a fixed order of float
//! operations).

use crate::features::{Features, TOKEN_BUCKETS};
use crate::model::Model;
use crate::rules::Rule;

/// One labelled message.
#[derive(Clone, Debug)]
pub struct Example {
    /// What the model reads of it.
    pub features: Features,
    /// Its label.
    pub spam: bool,
}

/// How to train.
#[derive(Clone, Debug)]
pub struct Options {
    /// Passes over the messages.
    pub epochs: usize,
    /// AdaGrad's base step.
    pub rate: f32,
    /// L2 penalty on the weights of the features a message has.
    pub l2: f32,
    /// Loss weight of a ham message against a spam one's 1: flagging ham
    /// costs more than missing spam.
    pub ham_weight: f32,
    /// Folds of the cross-validation that picks the threshold.
    pub folds: usize,
    /// Cross-validations, each with its own split, whose scores are pooled.
    pub repeats: u64,
    /// Share of ham the threshold may flag in the cross-validation: well
    /// under what is wanted of new mail, which is never quite the mail
    /// trained on.
    pub max_false_positives: f64,
    /// Trainings over differently shuffled messages averaged into a model.
    pub runs: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            epochs: 3,
            rate: 0.1,
            l2: 0.0,
            ham_weight: 3.0,
            folds: 5,
            repeats: 3,
            max_false_positives: 0.001,
            runs: 8,
        }
    }
}

/// What the cross-validation saw at the chosen threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Ham trained on.
    pub ham: usize,
    /// Spam trained on.
    pub spam: usize,
    /// The threshold, in logit.
    pub threshold: f64,
    /// Share of spam above it, out of fold (all repeats pooled).
    pub spam_caught: f64,
    /// Share of ham above it, out of fold (all repeats pooled).
    pub ham_flagged: f64,
    /// Spam caught out of fold at 0.05%, 0.1%, 0.2%, 0.5% and 1% of ham
    /// flagged.
    pub curve: Vec<(f64, f64)>,
}

/// Trains on every example and sets the threshold found by
/// cross-validation.
pub fn train(examples: &[Example], o: &Options) -> (Model, Report) {
    let scored = out_of_fold(examples, o);
    let threshold = pick_threshold(&scored, o.max_false_positives);
    let share = |spam: bool| {
        let of: Vec<f64> = scored.iter().filter(|s| s.1 == spam).map(|s| s.0).collect();
        of.iter().filter(|&&z| z >= threshold).count() as f64 / of.len().max(1) as f64
    };
    let w = fit(examples, o);
    let model = Model::new(w.bias, threshold as f32, 1.0, w.rules, w.tokens);
    let spam = examples.iter().filter(|e| e.spam).count();
    let report = Report {
        ham: examples.len() - spam,
        spam,
        threshold,
        spam_caught: share(true),
        ham_flagged: share(false),
        curve: [0.0005, 0.001, 0.002, 0.005, 0.01]
            .iter()
            .map(|&fp| (fp, caught_at(&scored, fp)))
            .collect(),
    };
    (model, report)
}

/// Weights as trained, before they are rounded into a [`Model`].
pub struct Weights {
    /// Intercept.
    pub bias: f32,
    /// Per rule.
    pub rules: Vec<f32>,
    /// Per token bucket.
    pub tokens: Vec<f32>,
}

impl Weights {
    /// The logit of `f`.
    pub fn logit(&self, f: &Features) -> f64 {
        let mut z = f64::from(self.bias);
        for &t in &f.tokens {
            z += f64::from(self.tokens[t as usize]);
        }
        for &r in &f.rules {
            z += f64::from(self.rules[rule_index(r)]);
        }
        z
    }
}

fn rule_index(r: Rule) -> usize {
    Rule::ALL
        .iter()
        .position(|&x| x == r)
        .expect("a known rule")
}

/// Logistic regression over `examples`: the average of [`Options::runs`]
/// AdaGrad trainings, each over its own shuffle of them.
pub fn fit(examples: &[Example], o: &Options) -> Weights {
    let runs = o.runs.max(1);
    let mut sum = fit_once(examples, o, shuffle_seed(0));
    for run in 1..runs {
        let w = fit_once(examples, o, shuffle_seed(run));
        sum.bias += w.bias;
        add(&mut sum.rules, &w.rules);
        add(&mut sum.tokens, &w.tokens);
    }
    let n = runs as f32;
    sum.bias /= n;
    sum.rules.iter_mut().for_each(|w| *w /= n);
    sum.tokens.iter_mut().for_each(|w| *w /= n);
    sum
}

fn add(sum: &mut [f32], w: &[f32]) {
    sum.iter_mut().zip(w).for_each(|(s, w)| *s += w);
}

/// The seed of the shuffles of run `run`; run 0's is the one a single
/// training always used.
fn shuffle_seed(run: u64) -> u64 {
    0x5eed_f11e_7b0c_5eed ^ run.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// One AdaGrad training, its messages shuffled anew each epoch from `seed`.
fn fit_once(examples: &[Example], o: &Options, seed: u64) -> Weights {
    let mut w = Weights {
        bias: 0.0,
        rules: vec![0.0; Rule::ALL.len()],
        tokens: vec![0.0; TOKEN_BUCKETS],
    };
    let mut g2_tokens = vec![0f32; TOKEN_BUCKETS];
    let mut g2_rules = vec![0f32; Rule::ALL.len()];
    let mut g2_bias = 0f32;
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut rng = XorShift(seed);
    let step = |w: &mut f32, g2: &mut f32, g: f32, l2: f32| {
        let g = g + l2 * *w;
        *g2 += g * g;
        *w -= o.rate * g / (g2.sqrt() + 1e-6);
    };
    for _ in 0..o.epochs {
        rng.shuffle(&mut order);
        for &i in &order {
            let e = &examples[i];
            let p = sigmoid(w.logit(&e.features));
            let (y, weight) = if e.spam {
                (1.0, 1.0)
            } else {
                (0.0, o.ham_weight)
            };
            let g = ((p - y) * f64::from(weight)) as f32;
            for &t in &e.features.tokens {
                let t = t as usize;
                step(&mut w.tokens[t], &mut g2_tokens[t], g, o.l2);
            }
            for &r in &e.features.rules {
                let r = rule_index(r);
                step(&mut w.rules[r], &mut g2_rules[r], g, o.l2);
            }
            step(&mut w.bias, &mut g2_bias, g, 0.0);
        }
    }
    w
}

/// Each example's logit from a model trained on the other folds, with its
/// label, once per repeat of the cross-validation ([`Options::repeats`]),
/// each with its own split.
pub fn out_of_fold(examples: &[Example], o: &Options) -> Vec<(f64, bool)> {
    (0..o.repeats.max(1))
        .flat_map(|r| out_of_fold_once(examples, o, 0xf01d_5eed ^ r.wrapping_mul(0x2545_f491)))
        .collect()
}

/// One cross-validation; folds are taken by position after a shuffle
/// seeded by `seed`.
fn out_of_fold_once(examples: &[Example], o: &Options, seed: u64) -> Vec<(f64, bool)> {
    let mut order: Vec<usize> = (0..examples.len()).collect();
    XorShift(seed).shuffle(&mut order);
    let mut fold_of = vec![0; examples.len()];
    for (k, &i) in order.iter().enumerate() {
        fold_of[i] = k % o.folds.max(2);
    }
    let mut scored = vec![(0.0, false); examples.len()];
    for fold in 0..o.folds.max(2) {
        let train: Vec<Example> = examples
            .iter()
            .zip(&fold_of)
            .filter(|(_, &f)| f != fold)
            .map(|(e, _)| e.clone())
            .collect();
        let w = fit(&train, o);
        for (i, e) in examples.iter().enumerate() {
            if fold_of[i] == fold {
                scored[i] = (w.logit(&e.features), e.spam);
            }
        }
    }
    scored
}

/// Share of spam caught in `scored` when the threshold allows `max_fp`
/// of the ham: one point of the ROC curve.
pub fn caught_at(scored: &[(f64, bool)], max_fp: f64) -> f64 {
    let t = pick_threshold(scored, max_fp);
    let spam: Vec<f64> = scored.iter().filter(|s| s.1).map(|s| s.0).collect();
    spam.iter().filter(|&&z| z >= t).count() as f64 / spam.len().max(1) as f64
}

/// A logit that flags at most `max_fp` of the ham in `scored`: halfway
/// between the highest ham it must not flag and the next spam above it.
pub fn pick_threshold(scored: &[(f64, bool)], max_fp: f64) -> f64 {
    let mut ham: Vec<f64> = scored.iter().filter(|s| !s.1).map(|s| s.0).collect();
    ham.sort_by(|a, b| b.total_cmp(a));
    let allowed = (max_fp * ham.len() as f64).floor() as usize;
    let Some(&top) = ham.get(allowed) else {
        return f64::MIN;
    };
    let next_spam = scored
        .iter()
        .filter(|s| s.1 && s.0 > top)
        .map(|s| s.0)
        .min_by(f64::total_cmp);
    let above = top + 0.01;
    next_spam.map_or(above, |s| ((top + s) / 2.0).max(above))
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn shuffle(&mut self, v: &mut [usize]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::features;

    fn example(text: &str, spam: bool) -> Example {
        Example {
            features: features(text.as_bytes()),
            spam,
        }
    }

    #[test]
    fn it_learns_a_toy_corpus_and_is_deterministic() {
        let mut examples = Vec::new();
        for i in 0..40 {
            examples.push(example(
                &format!("Subject: meeting {i}\n\nthe agenda for our project meeting {i}\n"),
                false,
            ));
            examples.push(example(
                &format!("Subject: cheap pills {i}\n\nbuy cheap pills viagra now {i}\n"),
                true,
            ));
        }
        let o = Options::default();
        let (m, report) = train(&examples, &o);
        assert_eq!(report.ham_flagged, 0.0);
        assert_eq!(report.spam_caught, 1.0);
        let spam = features(b"Subject: pills\n\ncheap viagra\n");
        let ham = features(b"Subject: meeting\n\nthe agenda for our project meeting\n");
        assert!(m.logit(&spam) > m.threshold());
        assert!(
            m.logit(&ham) < m.threshold(),
            "{} {} {report:?}",
            m.logit(&ham),
            m.threshold()
        );
        let (again, _) = train(&examples, &o);
        assert_eq!(m.to_bytes(), again.to_bytes());
    }

    #[test]
    fn the_threshold_allows_the_given_share_of_ham() {
        let mut scored: Vec<(f64, bool)> =
            (0..1000).map(|i| (f64::from(i) / 100.0, false)).collect();
        scored.push((100.0, true));
        let t = pick_threshold(&scored, 0.002);
        assert_eq!(scored.iter().filter(|s| !s.1 && s.0 >= t).count(), 0);
        assert!(t > 9.99 && t < 100.0, "halfway to the spam: {t}");
        scored.push((9.985, true));
        let t = pick_threshold(&scored, 0.002);
        assert_eq!(scored.iter().filter(|s| !s.1 && s.0 >= t).count(), 2);
        assert!(t <= 9.985);
    }
}
