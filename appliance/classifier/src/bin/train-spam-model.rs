//! Trains the shipped spam model on the even half of the SpamAssassin
//! corpus: `train-spam-model --corpus DIR --out FILE`, or `--check FILE`
//! to prove that FILE is exactly what this training makes. Run through
//! `scripts/train-spam-model`, which fetches the corpus first.

use std::path::PathBuf;
use std::process::ExitCode;

use classifier::corpus;
use classifier::train::{self, Example, Options};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("train-spam-model: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode, String> {
    let mut corpus_dir = None;
    let mut out = None;
    let mut check = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .map(PathBuf::from)
                .ok_or(format!("{a} needs a path"))
        };
        match a.as_str() {
            "--corpus" => corpus_dir = Some(value()?),
            "--out" => out = Some(value()?),
            "--check" => check = Some(value()?),
            _ => {
                return Err(format!(
                    "unknown argument {a}; usage: --corpus DIR (--out FILE | --check FILE)"
                ))
            }
        }
    }
    let corpus_dir = corpus_dir.ok_or("--corpus DIR is required")?;
    let samples = corpus::open(&corpus_dir).map_err(|e| e.to_string())?;
    let training: Vec<&corpus::Sample> = samples.iter().filter(|s| s.for_training()).collect();
    eprintln!(
        "corpus: {} messages, training on the {} whose MD5 ends in an even digit",
        samples.len(),
        training.len()
    );
    let examples = extract(&training)?;
    let (model, report) = train::train(&examples, &Options::default());
    eprintln!(
        "trained on {} ham and {} spam; threshold {:.3}; cross-validated on the training half: {:.2}% spam caught, {:.3}% ham flagged",
        report.ham,
        report.spam,
        report.threshold,
        100.0 * report.spam_caught,
        100.0 * report.ham_flagged
    );
    for (fp, caught) in &report.curve {
        eprintln!(
            "  with {:.2}% of ham flagged: {:.2}% of spam caught",
            100.0 * fp,
            100.0 * caught
        );
    }
    let bytes = model.to_bytes();
    if let Some(path) = out {
        std::fs::write(&path, &bytes).map_err(|e| format!("writing {}: {e}", path.display()))?;
        eprintln!("wrote {} ({} bytes)", path.display(), bytes.len());
    }
    if let Some(path) = check {
        let existing =
            std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        if existing != bytes {
            eprintln!("{} differs from what this training makes", path.display());
            return Ok(ExitCode::FAILURE);
        }
        eprintln!(
            "{} is byte for byte what this training makes",
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Features of every sample, on every core, in the samples' order.
fn extract(samples: &[&corpus::Sample]) -> Result<Vec<Example>, String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = samples.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = samples
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|s| {
                            let message = s
                                .message()
                                .map_err(|e| format!("reading {}: {e}", s.path.display()))?;
                            Ok(Example {
                                features: classifier::features(&message),
                                spam: s.spam,
                            })
                        })
                        .collect::<Result<Vec<_>, String>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(samples.len());
        for h in handles {
            all.extend(
                h.join()
                    .map_err(|_| "a feature thread panicked".to_string())??,
            );
        }
        Ok(all)
    })
}
