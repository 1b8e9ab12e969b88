//! ClamAV hash signatures: `.hdb` (MD5) and `.hsb` (SHA-1 or SHA-256) lines
//! of the form `HASH:SIZE:NAME[:FLEVEL]`, SIZE being `*` when any size
//! matches. A file is hashed only with the digests some signature uses.

use std::collections::HashMap;

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::SignatureError;

/// Which digest a signature is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Md5,
    Sha1,
    Sha256,
}

impl Kind {
    fn of_hex_len(len: usize) -> Option<Kind> {
        match len {
            32 => Some(Kind::Md5),
            40 => Some(Kind::Sha1),
            64 => Some(Kind::Sha256),
            _ => None,
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Kind::Md5 => Md5::digest(data).to_vec(),
            Kind::Sha1 => Sha1::digest(data).to_vec(),
            Kind::Sha256 => Sha256::digest(data).to_vec(),
        }
    }
}

/// The signatures with one digest: (size or `None` for any, name).
type Named = Vec<(Option<u64>, String)>;

/// Every hash signature loaded, keyed by digest.
#[derive(Debug, Default)]
pub struct HashSignatures {
    by_digest: HashMap<(Kind, Vec<u8>), Named>,
    kinds: Vec<Kind>,
}

impl HashSignatures {
    /// Adds one line of an `.hdb`/`.hsb` file; empty lines and `#` comments
    /// are skipped.
    pub fn add_line(&mut self, line: &str) -> Result<(), SignatureError> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return Ok(());
        }
        let mut fields = line.split(':');
        let (Some(hash), Some(size), Some(name)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(SignatureError::Syntax("expected HASH:SIZE:NAME".into()));
        };
        let kind = Kind::of_hex_len(hash.len()).ok_or_else(|| {
            SignatureError::Syntax(format!("a hash of {} hex digits", hash.len()))
        })?;
        let digest = hex(hash).ok_or_else(|| SignatureError::Syntax("hash is not hex".into()))?;
        let size = match size {
            "*" => None,
            n => Some(
                n.parse()
                    .map_err(|_| SignatureError::Syntax(format!("size {n:?}")))?,
            ),
        };
        if name.is_empty() {
            return Err(SignatureError::Syntax("empty name".into()));
        }
        if !self.kinds.contains(&kind) {
            self.kinds.push(kind);
        }
        self.by_digest
            .entry((kind, digest))
            .or_default()
            .push((size, name.to_string()));
        Ok(())
    }

    /// Number of signatures.
    pub fn len(&self) -> usize {
        self.by_digest.values().map(Vec::len).sum()
    }

    /// True when no signature is loaded.
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }

    /// The name of the first signature matching `data`.
    pub fn find(&self, data: &[u8]) -> Option<&str> {
        let size = data.len() as u64;
        self.kinds.iter().find_map(|kind| {
            let sigs = self.by_digest.get(&(*kind, kind.digest(data)))?;
            sigs.iter()
                .find(|(s, _)| s.is_none_or(|s| s == size))
                .map(|(_, name)| name.as_str())
        })
    }
}

/// Lowercase or uppercase hex to bytes.
pub(crate) fn hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_sha1_and_sha256_signatures_match_by_digest_and_size() {
        let data = b"malicious payload";
        let mut sigs = HashSignatures::default();
        let md5 = format!("{:x}", Md5::digest(data));
        let sha256 = format!("{:x}", Sha256::digest(b"other"));
        sigs.add_line(&format!("{md5}:{}:Test.MD5", data.len()))
            .unwrap();
        sigs.add_line(&format!("{sha256}:*:Test.SHA256")).unwrap();
        sigs.add_line("# a comment").unwrap();
        assert_eq!(sigs.len(), 2);
        assert_eq!(sigs.find(data), Some("Test.MD5"));
        assert_eq!(sigs.find(b"other"), Some("Test.SHA256"), "any size");
        assert_eq!(sigs.find(b"clean"), None);
        let mut sized = HashSignatures::default();
        sized.add_line(&format!("{md5}:3:Wrong.Size")).unwrap();
        assert_eq!(sized.find(data), None, "the size must match too");
    }

    #[test]
    fn bad_lines_are_refused_precisely() {
        let mut sigs = HashSignatures::default();
        for (line, why) in [
            ("abc", "HASH:SIZE:NAME"),
            ("abcd:1:x", "4 hex digits"),
            (&format!("{}:1:x", "zz".repeat(16)), "not hex"),
            (&format!("{}:big:x", "00".repeat(16)), "size"),
            (&format!("{}:1:", "00".repeat(16)), "empty name"),
        ] {
            let e = sigs.add_line(line).unwrap_err().to_string();
            assert!(e.contains(why), "{line}: {e}");
        }
        assert!(sigs.is_empty());
    }
}
