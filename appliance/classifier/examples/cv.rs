//! Tuning the classifier on the training (even) half of the corpus only:
//! `cv CORPUS_DIR`. Never reads the odd half, which is kept for one
//! measurement of what was chosen.
//!
//! Prints the buckets the tokens use, the out-of-fold spam caught at a
//! few shares of ham flagged (the mean over `SEEDS` splits into folds, so
//! that a change is not judged on one lucky split), and a simulation of
//! the whole procedure: train with its own threshold on two thirds of the
//! half and measure on the last third, in turn, `PSEEDS` times; that tells
//! whether the threshold the training picks holds on mail it never saw.
//!
//! Options come from the environment, defaulting to
//! [`Options::default`]: `EPOCHS`, `RATE`, `L2`, `HAMW`, `FOLDS`,
//! `REPEATS`, `MAXFP`, `RUNS`. `DUMP=1` lists the highest-scoring ham and
//! lowest-scoring spam of the first split; `BENCH=1` only times feature
//! extraction.

use std::path::PathBuf;
use std::time::Instant;

use classifier::corpus::{self, Sample};
use classifier::features::TOKEN_BUCKETS;
use classifier::train::{self, Example, Options};

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: cv CORPUS_DIR"));
    let samples: Vec<Sample> = corpus::open(&dir)
        .expect("a corpus")
        .into_iter()
        .filter(Sample::for_training)
        .collect();
    let messages: Vec<Vec<u8>> = samples
        .iter()
        .map(|s| s.message().expect("a readable message"))
        .collect();
    if std::env::var("BENCH").is_ok() {
        bench(&messages);
        return;
    }
    let examples: Vec<Example> = messages
        .iter()
        .zip(&samples)
        .map(|(m, s)| Example {
            features: classifier::features(m),
            spam: s.spam,
        })
        .collect();
    buckets_used(&examples);
    let o = options();
    eprintln!("{o:?}");
    let started = Instant::now();
    roc(&examples, &samples, &o);
    procedure(&examples, &o);
    eprintln!("took {:.1}s", started.elapsed().as_secs_f64());
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn options() -> Options {
    let d = Options::default();
    Options {
        epochs: env("EPOCHS", d.epochs),
        rate: env("RATE", d.rate),
        l2: env("L2", d.l2),
        ham_weight: env("HAMW", d.ham_weight),
        folds: env("FOLDS", d.folds),
        repeats: env("REPEATS", d.repeats),
        max_false_positives: env("MAXFP", d.max_false_positives),
        runs: env("RUNS", d.runs),
    }
}

/// Feature extraction alone, messages in memory: the best of a few passes.
fn bench(messages: &[Vec<u8>]) {
    let mut best = f64::MAX;
    for _ in 0..7 {
        let t = Instant::now();
        for m in messages {
            std::hint::black_box(classifier::features(m));
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("features: {:.0} messages/s", messages.len() as f64 / best);
}

/// How full the hash table is: collisions cost accuracy.
fn buckets_used(examples: &[Example]) {
    let mut used = vec![false; TOKEN_BUCKETS];
    let mut tokens = 0;
    for e in examples {
        tokens += e.features.tokens.len();
        for &t in &e.features.tokens {
            used[t as usize] = true;
        }
    }
    println!(
        "buckets used: {} of {TOKEN_BUCKETS}; {:.0} tokens per message",
        used.iter().filter(|&&u| u).count(),
        tokens as f64 / examples.len().max(1) as f64
    );
}

/// `0..n` in an order shuffled by `seed`.
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut s = seed | 1;
    for i in (1..n).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        order.swap(i, (s % (i as u64 + 1)) as usize);
    }
    order
}

/// Trains on the examples at positions of `order` not in `part` (of
/// `parts`) and returns, for those in it, (index, logit).
fn held_out(
    examples: &[Example],
    order: &[usize],
    parts: usize,
    part: usize,
    fit: impl Fn(&[Example]) -> Box<dyn Fn(&Example) -> f64>,
) -> Vec<(usize, f64)> {
    let train: Vec<Example> = order
        .iter()
        .enumerate()
        .filter(|(p, _)| p % parts != part)
        .map(|(_, &i)| examples[i].clone())
        .collect();
    let score = fit(&train);
    order
        .iter()
        .enumerate()
        .filter(|(p, _)| p % parts == part)
        .map(|(_, &i)| (i, score(&examples[i])))
        .collect()
}

/// Out-of-fold spam caught at a few shares of ham flagged, per split
/// into folds and on average.
fn roc(examples: &[Example], samples: &[Sample], o: &Options) {
    let seeds = env("SEEDS", 6u64);
    let fps = [0.0005, 0.001, 0.002, 0.005];
    let mut sums = vec![0.0; fps.len()];
    for seed in 1..=seeds {
        let order = shuffled(examples.len(), seed * 7919);
        let mut scored = vec![(0.0, false); examples.len()];
        for fold in 0..o.folds {
            let fit = |train: &[Example]| -> Box<dyn Fn(&Example) -> f64> {
                let w = train::fit(train, o);
                Box::new(move |e: &Example| w.logit(&e.features))
            };
            for (i, z) in held_out(examples, &order, o.folds, fold, fit) {
                scored[i] = (z, examples[i].spam);
            }
        }
        let line: Vec<String> = fps
            .iter()
            .zip(&mut sums)
            .map(|(&fp, sum)| {
                let c = train::caught_at(&scored, fp);
                *sum += c;
                format!("{:.1}%@{:.2}%", 100.0 * c, 100.0 * fp)
            })
            .collect();
        eprintln!("split {seed}: {}", line.join(" "));
        if seed == 1 && std::env::var("DUMP").is_ok() {
            dump(&scored, samples);
        }
    }
    let line: Vec<String> = fps
        .iter()
        .zip(&sums)
        .map(|(fp, s)| format!("{:.2}%@{:.2}%", 100.0 * s / seeds as f64, 100.0 * fp))
        .collect();
    println!("out of fold, mean of {seeds} splits: {}", line.join(" "));
}

/// The 15 highest-scoring ham and 40 lowest-scoring spam.
fn dump(scored: &[(f64, bool)], samples: &[Sample]) {
    let mut by_score: Vec<usize> = (0..scored.len()).collect();
    by_score.sort_by(|&a, &b| scored[b].0.total_cmp(&scored[a].0));
    let name = |i: usize| format!("{}/{}", samples[i].group, samples[i].md5);
    for &i in by_score.iter().filter(|&&i| !scored[i].1).take(15) {
        println!("ham  {:7.3} {}", scored[i].0, name(i));
    }
    for &i in by_score.iter().rev().filter(|&&i| scored[i].1).take(40) {
        println!("spam {:7.3} {}", scored[i].0, name(i));
    }
}

/// The whole procedure (model and threshold) on two thirds of the half,
/// measured on the last third.
fn procedure(examples: &[Example], o: &Options) {
    let seeds = env("PSEEDS", 2u64);
    let (mut ham, mut spam, mut flagged, mut caught) = (0, 0, 0, 0);
    for seed in 1..=seeds {
        let order = shuffled(examples.len(), seed * 104_729);
        for part in 0..3 {
            let fit = |train: &[Example]| -> Box<dyn Fn(&Example) -> f64> {
                let (m, _) = train::train(train, o);
                Box::new(move |e: &Example| m.logit(&e.features) - m.threshold())
            };
            for (i, z) in held_out(examples, &order, 3, part, fit) {
                let hit = usize::from(z >= 0.0);
                if examples[i].spam {
                    spam += 1;
                    caught += hit;
                } else {
                    ham += 1;
                    flagged += hit;
                }
            }
        }
    }
    if seeds > 0 {
        println!(
            "procedure: caught {:.2}% ({caught}/{spam}), flagged {:.3}% ({flagged}/{ham})",
            100.0 * caught as f64 / spam.max(1) as f64,
            100.0 * flagged as f64 / ham.max(1) as f64
        );
    }
}
