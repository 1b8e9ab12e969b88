//! A zip reader for scanning: entries are listed from the central
//! directory and inflated with hard limits, since the archive comes from a
//! stranger. Declared sizes are never trusted: every entry is read through
//! a cap, so a decompression bomb costs at most the cap.

use std::io::Read;

/// Limits on what one message's archives may expand to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest entry read, after decompression.
    pub max_entry: usize,
    /// Most bytes all entries of all archives of one file may expand to.
    pub max_total: usize,
    /// Largest expansion ratio (uncompressed / compressed) allowed.
    pub max_ratio: usize,
    /// Archives inside archives followed this deep.
    pub max_depth: usize,
    /// Entries per archive.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entry: 32 * 1024 * 1024,
            max_total: 64 * 1024 * 1024,
            max_ratio: 200,
            max_depth: 4,
            max_entries: 10_000,
        }
    }
}

/// One entry as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its name in the archive (lossy UTF-8).
    pub name: String,
    /// Password protected: its content cannot be scanned.
    pub encrypted: bool,
    method: u16,
    compressed: usize,
    data_at: usize,
}

/// Why an archive (or an entry) could not be read completely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    /// Not a zip file, or its directory is cut or inconsistent.
    #[error("damaged zip archive: {0}")]
    Damaged(&'static str),
    /// Compression the reader does not implement (only stored and deflate).
    #[error("zip entry {name:?} uses compression method {method}")]
    Method {
        /// The entry.
        name: String,
        /// The zip method number.
        method: u16,
    },
    /// Expands past a limit: treated as a decompression bomb.
    #[error("zip entry {name:?} expands past the {what} limit")]
    Bomb {
        /// The entry.
        name: String,
        /// Which limit.
        what: &'static str,
    },
}

const EOCD: u32 = 0x0605_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const LOCAL: u32 = 0x0403_4b50;

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

/// Lists the entries of the zip file `data`.
pub fn entries(data: &[u8], limits: &Limits) -> Result<Vec<Entry>, ArchiveError> {
    let damaged = ArchiveError::Damaged;
    // The end record is in the last 64 KiB + 22 bytes (its comment is at most 64 KiB).
    let from = data.len().saturating_sub(0xffff + 22);
    let eocd = (from..data.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(data, i) == Some(EOCD))
        .ok_or(damaged("no end of central directory"))?;
    let count = u16_at(data, eocd + 10).ok_or(damaged("cut end record"))? as usize;
    let mut at = u32_at(data, eocd + 16).ok_or(damaged("cut end record"))? as usize;
    if count > limits.max_entries {
        return Err(damaged("too many entries"));
    }
    let mut list = Vec::with_capacity(count);
    for _ in 0..count {
        if u32_at(data, at) != Some(CENTRAL) {
            return Err(damaged("bad central directory entry"));
        }
        let field = |off| u16_at(data, at + off).ok_or(damaged("cut central directory"));
        let flags = field(8)?;
        let method = field(10)?;
        let compressed = u32_at(data, at + 20).ok_or(damaged("cut central directory"))? as usize;
        let (name_len, extra_len, comment_len) = (
            field(28)? as usize,
            field(30)? as usize,
            field(32)? as usize,
        );
        let local = u32_at(data, at + 42).ok_or(damaged("cut central directory"))? as usize;
        let name = data
            .get(at + 46..at + 46 + name_len)
            .ok_or(damaged("cut entry name"))?;
        if u32_at(data, local) != Some(LOCAL) {
            return Err(damaged("bad local header"));
        }
        let local_name = u16_at(data, local + 26).ok_or(damaged("cut local header"))? as usize;
        let local_extra = u16_at(data, local + 28).ok_or(damaged("cut local header"))? as usize;
        list.push(Entry {
            name: String::from_utf8_lossy(name).into_owned(),
            encrypted: flags & 1 != 0,
            method,
            compressed,
            data_at: local + 30 + local_name + local_extra,
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(list)
}

/// The content of `entry`, at most `budget` bytes (and the entry limits).
pub fn extract(
    data: &[u8],
    entry: &Entry,
    limits: &Limits,
    budget: usize,
) -> Result<Vec<u8>, ArchiveError> {
    let raw = data
        .get(entry.data_at..entry.data_at.saturating_add(entry.compressed))
        .ok_or(ArchiveError::Damaged("entry data beyond the end"))?;
    let cap = limits
        .max_entry
        .min(budget)
        .min(raw.len().max(1).saturating_mul(limits.max_ratio));
    let mut out = Vec::new();
    let read = match entry.method {
        0 => {
            out.extend_from_slice(&raw[..raw.len().min(cap + 1)]);
            Ok(out.len())
        }
        8 => flate2::read::DeflateDecoder::new(raw)
            .take(cap as u64 + 1)
            .read_to_end(&mut out),
        method => {
            return Err(ArchiveError::Method {
                name: entry.name.clone(),
                method,
            })
        }
    };
    read.map_err(|_| ArchiveError::Damaged("corrupt deflate data"))?;
    if out.len() > cap {
        let what = if cap == budget {
            "total size"
        } else if cap == limits.max_entry {
            "entry size"
        } else {
            "compression ratio"
        };
        return Err(ArchiveError::Bomb {
            name: entry.name.clone(),
            what,
        });
    }
    Ok(out)
}
