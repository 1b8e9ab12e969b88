//! Virus and file-type checks for filterbox's filter, without I/O beyond
//! reading a signature directory.
//!
//! Signatures are ClamAV's simple formats ([`hashsig`]: `.hdb`, `.hsb`;
//! [`bodysig`]: `.ndb`) plus the EICAR test file built in, so a box with no
//! database still proves its virus path. [`Scanner::scan`] looks at one file
//! and, for zip archives ([`archive`]), at every entry, recursively and
//! within [`archive::Limits`]; it also reports what the file really is
//! ([`filetype`]): executables, Office macros, encrypted entries.

#![forbid(unsafe_code)]

pub mod archive;
pub mod bodysig;
pub mod filetype;
pub mod hashsig;

use std::path::Path;

use archive::Limits;
use bodysig::{BodySignature, BodySignatures};
use filetype::FileType;
use hashsig::HashSignatures;

/// A signature line or file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not in the format.
    #[error("bad signature: {0}")]
    Syntax(String),
    /// Valid ClamAV, but needs what this scanner does not do.
    #[error("unsupported signature: {0}")]
    Unsupported(String),
    /// The directory or a file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
}

/// The EICAR anti-virus test file: harmless, and detected by every
/// scanner, so the virus path can be tested end to end.
pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

/// The name of [`EICAR`]'s built-in signature.
pub const EICAR_NAME: &str = "EICAR-Test-File";

/// [`EICAR`] as an `.ndb` line, always loaded.
fn eicar_signature() -> String {
    let hex: String = EICAR.iter().map(|b| format!("{b:02x}")).collect();
    format!("{EICAR_NAME}:0:*:{hex}")
}

/// Everything one file (or an entry in it) turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detection {
    /// A signature matched.
    Virus {
        /// The signature's name.
        signature: String,
        /// Where: empty for the file itself, else the entry path in the archive.
        path: String,
    },
    /// An executable by its content.
    Executable {
        /// Where.
        path: String,
    },
    /// An Office document with macros.
    Macros {
        /// Where.
        path: String,
    },
    /// A password-protected archive entry.
    Encrypted {
        /// Where.
        path: String,
    },
    /// Could not be scanned completely: a bomb, a damaged archive, too deep.
    Unscannable {
        /// Where.
        path: String,
        /// Why, for the reasons shown to people.
        why: String,
    },
    /// A file name inside an archive, for the name policies.
    Named {
        /// The entry path.
        path: String,
    },
}

/// Signatures of every kind, loaded once and shared by the scans.
#[derive(Debug, Default)]
pub struct Database {
    hashes: HashSignatures,
    bodies: BodySignatures,
}

/// What loading a directory found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Signatures loaded (EICAR included).
    pub loaded: usize,
    /// Lines refused, as `file:line: why`.
    pub refused: Vec<String>,
}

impl Database {
    /// The built-in EICAR signature alone.
    pub fn builtin() -> Database {
        Database::from_lines(&[], &[]).0
    }

    /// Loads every `.hdb`, `.hsb` and `.ndb` file in `dir` (none is fine: a
    /// missing directory gives the built-in signature alone). Bad lines are
    /// refused one by one and listed; the others load.
    pub fn load(dir: &Path) -> Result<(Database, LoadReport), SignatureError> {
        let read_err = |p: &Path, e: std::io::Error| SignatureError::Read {
            path: p.display().to_string(),
            reason: e.to_string(),
        };
        let mut hash_lines = Vec::new();
        let mut body_lines = Vec::new();
        let listing = match std::fs::read_dir(dir) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Database::from_lines(&[], &[]))
            }
            Err(e) => return Err(read_err(dir, e)),
        };
        let mut paths: Vec<_> = listing.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            let into = match ext {
                "hdb" | "hsb" => &mut hash_lines,
                "ndb" => &mut body_lines,
                _ => continue,
            };
            let text = std::fs::read_to_string(&path).map_err(|e| read_err(&path, e))?;
            let file = path.file_name().unwrap_or_default().to_string_lossy();
            for (n, line) in text.lines().enumerate() {
                into.push((format!("{file}:{}", n + 1), line.to_string()));
            }
        }
        Ok(Database::from_lines(&hash_lines, &body_lines))
    }

    fn from_lines(hash: &[(String, String)], body: &[(String, String)]) -> (Database, LoadReport) {
        let mut report = LoadReport::default();
        let mut hashes = HashSignatures::default();
        for (at, line) in hash {
            if let Err(e) = hashes.add_line(line) {
                report.refused.push(format!("{at}: {e}"));
            }
        }
        let builtin = ("built-in".to_string(), eicar_signature());
        let mut sigs = Vec::new();
        for (at, line) in body.iter().chain([&builtin]) {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match BodySignature::parse(line) {
                Ok(s) => sigs.push(s),
                Err(e) => report.refused.push(format!("{at}: {e}")),
            }
        }
        report.loaded = hashes.len() + sigs.len();
        let bodies = BodySignatures::new(sigs).expect("anchors of valid signatures");
        (Database { hashes, bodies }, report)
    }

    /// The signature `data` matches, if any.
    pub fn find(&self, data: &[u8]) -> Option<&str> {
        let target = FileType::of(data).clamav_target();
        self.hashes
            .find(data)
            .or_else(|| self.bodies.find(data, target))
    }
}

/// Scans files with a [`Database`] under [`Limits`].
#[derive(Debug)]
pub struct Scanner {
    db: Database,
    limits: Limits,
}

impl Scanner {
    /// A scanner over `db`.
    pub fn new(db: Database, limits: Limits) -> Scanner {
        Scanner { db, limits }
    }

    /// Everything `data` (a decoded attachment or body) turns out to hold.
    pub fn scan(&self, data: &[u8]) -> Vec<Detection> {
        let mut found = Vec::new();
        let mut budget = self.limits.max_total;
        self.scan_at(data, "", 0, &mut budget, &mut found);
        found
    }

    fn scan_at(
        &self,
        data: &[u8],
        path: &str,
        depth: usize,
        budget: &mut usize,
        found: &mut Vec<Detection>,
    ) {
        let path_of = || path.to_string();
        if let Some(signature) = self.db.find(data) {
            found.push(Detection::Virus {
                signature: signature.to_string(),
                path: path_of(),
            });
        }
        let kind = FileType::of(data);
        if kind.is_executable() {
            found.push(Detection::Executable { path: path_of() });
        }
        if filetype::has_ole2_macros(data) {
            found.push(Detection::Macros { path: path_of() });
        }
        if kind == FileType::Zip {
            self.scan_zip(data, path, depth, budget, found);
        }
    }

    fn scan_zip(
        &self,
        data: &[u8],
        path: &str,
        depth: usize,
        budget: &mut usize,
        found: &mut Vec<Detection>,
    ) {
        let unscannable = |path: String, why: String| Detection::Unscannable { path, why };
        if depth >= self.limits.max_depth {
            found.push(unscannable(path.into(), "archives nested too deep".into()));
            return;
        }
        let entries = match archive::entries(data, &self.limits) {
            Ok(e) => e,
            Err(e) => return found.push(unscannable(path.into(), e.to_string())),
        };
        for entry in entries {
            let inner = if path.is_empty() {
                entry.name.clone()
            } else {
                format!("{path}/{}", entry.name)
            };
            found.push(Detection::Named {
                path: inner.clone(),
            });
            if filetype::is_ooxml_macro_part(&entry.name) {
                found.push(Detection::Macros { path: path.into() });
            }
            if entry.encrypted {
                found.push(Detection::Encrypted { path: inner });
                continue;
            }
            match archive::extract(data, &entry, &self.limits, *budget) {
                Ok(content) => {
                    *budget -= content.len();
                    self.scan_at(&content, &inner, depth + 1, budget, found);
                }
                Err(e) => found.push(unscannable(inner, e.to_string())),
            }
        }
    }
}

#[cfg(test)]
mod tests;
