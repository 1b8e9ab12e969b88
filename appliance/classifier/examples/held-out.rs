//! The shipped model on the held-out (odd) half of the corpus, scored by
//! the classifier alone: `held-out CORPUS_DIR`. Prints spam caught, ham
//! flagged and the flagged ham by name. A measurement, never a tuning aid:
//! tune with `examples/cv.rs`, on the even half.

use std::path::PathBuf;

use classifier::corpus::{self, Sample};
use classifier::{Classifier, SPAM_SCORE};

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: held-out CORPUS_DIR"));
    let samples: Vec<Sample> = corpus::open(&dir)
        .expect("a corpus")
        .into_iter()
        .filter(|s| !s.for_training())
        .collect();
    let classifier = Classifier::shipped();
    let (mut ham, mut spam, mut caught, mut flagged) = (0, 0, 0, Vec::new());
    for s in &samples {
        let message = s.message().expect("a readable message");
        let marked = classifier.classify(&message).score() >= SPAM_SCORE;
        if s.spam {
            spam += 1;
            caught += usize::from(marked);
        } else {
            ham += 1;
            if marked {
                flagged.push(format!("{}/{}", s.group, s.md5));
            }
        }
    }
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    println!("held-out (odd) half: {} messages", samples.len());
    println!(
        "spam caught: {caught} of {spam} ({:.2}%)",
        pct(caught, spam)
    );
    println!(
        "ham flagged: {} of {ham} ({:.3}%)",
        flagged.len(),
        pct(flagged.len(), ham)
    );
    for f in &flagged {
        println!("  flagged ham: {f}");
    }
}
