//! The log files: `DIR/<source>.log`, rotated to `<source>.log.1` (newest)
//! ... `<source>.log.N` (oldest), so that a source never holds more than
//! `(files_kept + 1) * max_file_bytes` bytes on the data partition.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::line::{cut, cut_marker, sanitise, timestamp};

/// Smallest accepted `max_file_bytes`: room for a timestamp, a cut marker
/// and some text, so that every entry fits in one file.
pub const MIN_FILE_BYTES: u64 = 256;

/// Most files kept open at once; beyond it all are closed (and reopened on
/// their next line), so a caller inventing source names cannot exhaust fds.
const MAX_OPEN_FILES: usize = 64;

/// Permissions of a log file: the supervisor's group may read the logs.
const FILE_MODE: u32 = 0o640;

/// Where the files are and how big they may grow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSettings {
    /// The log directory (already created).
    pub dir: PathBuf,
    /// A file is rotated before it would grow beyond this.
    pub max_file_bytes: u64,
    /// Rotated files kept per source.
    pub files_kept: u32,
}

/// The open log files, one per source.
pub struct LogFiles {
    settings: FileSettings,
    open: HashMap<String, Current>,
}

/// A source's current `.log` file and its size.
struct Current {
    file: File,
    size: u64,
}

impl LogFiles {
    /// No file is opened before its first line.
    pub fn new(settings: FileSettings) -> LogFiles {
        LogFiles {
            settings,
            open: HashMap::new(),
        }
    }

    /// Switches to new settings; files are reopened (maybe elsewhere) on
    /// their next line.
    pub fn set_settings(&mut self, settings: FileSettings) {
        self.open.clear();
        self.settings = settings;
    }

    /// Appends `TIMESTAMP TEXT\n` to the source's file, rotating first when
    /// the entry would take the file past `max_file_bytes`. Text too long
    /// for even an empty file is cut.
    pub fn append(&mut self, source: &str, ts_ms: u64, text: &str) -> io::Result<()> {
        let ts = timestamp(ts_ms);
        let mut entry = format!("{ts} {text}\n");
        let max = self.settings.max_file_bytes as usize;
        if entry.len() > max {
            let cap = max.saturating_sub(ts.len() + 3 + cut_marker(text.len()).len());
            entry = format!("{ts} {}\n", cut(text, cap));
        }
        self.write_entry(&sanitise(source), entry.as_bytes())
    }

    fn write_entry(&mut self, name: &str, entry: &[u8]) -> io::Result<()> {
        let len = entry.len() as u64;
        let max = self.settings.max_file_bytes;
        let needs_rotation = self
            .current(name)
            .map(|c| c.size > 0 && c.size + len > max)?;
        if needs_rotation {
            self.open.remove(name);
            rotate(&self.settings.dir, name, self.settings.files_kept)?;
        }
        let current = self.current(name)?;
        if let Err(e) = current.file.write_all(entry) {
            // The size is unknown after a partial write: reopen next time.
            self.open.remove(name);
            return Err(e);
        }
        current.size += len;
        Ok(())
    }

    /// The source's open file, opened (appending) when it is not.
    fn current(&mut self, name: &str) -> io::Result<&mut Current> {
        if !self.open.contains_key(name) && self.open.len() >= MAX_OPEN_FILES {
            self.open.clear();
        }
        match self.open.entry(name.to_owned()) {
            Entry::Occupied(open) => Ok(open.into_mut()),
            Entry::Vacant(slot) => {
                let file = OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(FILE_MODE)
                    .open(log_path(&self.settings.dir, name))?;
                let size = file.metadata()?.len();
                Ok(slot.insert(Current { file, size }))
            }
        }
    }
}

/// `DIR/<name>.log`.
fn log_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.log"))
}

/// Shifts `<name>.log.N` to `.N+1` (newest first), deletes those that would
/// go beyond `kept`, and moves `<name>.log` to `.log.1` (or deletes it when
/// nothing is kept). Works from the directory listing, so leftovers of a
/// larger `files_kept` are removed too.
fn rotate(dir: &Path, name: &str, kept: u32) -> io::Result<()> {
    let prefix = format!("{name}.log.");
    let mut rotated = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let file_name = entry?.file_name();
        let number = file_name
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|n| n.parse::<u32>().ok());
        if let Some(n) = number.filter(|&n| n >= 1) {
            rotated.push(n);
        }
    }
    rotated.sort_unstable_by(|a, b| b.cmp(a));
    let numbered = |n: u32| dir.join(format!("{prefix}{n}"));
    for n in rotated {
        if n >= kept {
            remove_if_present(&numbered(n))?;
        } else {
            std::fs::rename(numbered(n), numbered(n + 1))?;
        }
    }
    let current = log_path(dir, name);
    if kept >= 1 {
        std::fs::rename(&current, numbered(1)).or_else(ignore_not_found)
    } else {
        remove_if_present(&current)
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    std::fs::remove_file(path).or_else(ignore_not_found)
}

fn ignore_not_found(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}
