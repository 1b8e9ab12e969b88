//! GRUB's environment block (`grubenv`), read and written exactly as GRUB
//! does, without I/O.
//!
//! The block is a file of fixed size (1024 bytes by default) that GRUB's
//! `save_env` rewrites in place: the signature line
//! `# GRUB Environment Block`, then one `name=value` line per variable,
//! then `#` up to the end. In values GRUB escapes `\` and a newline with a
//! backslash before them. Reading follows GRUB's own loop
//! (`grub_envblk_iterate`): lines starting with `#` are comments, a name
//! runs to the next `=`, a value to the next unescaped newline, and a block
//! broken off in the middle yields the variables before it.

use crate::EnvError;

/// The first line of every block.
pub const SIGNATURE: &[u8] = b"# GRUB Environment Block\n";
/// The size GRUB (and `grub-editenv create`) gives a new block.
pub const BLOCK_SIZE: usize = 1024;
/// Largest block read: GRUB's own are 1024 bytes.
pub const MAX_BLOCK: usize = 64 * 1024;

/// The variables of a block, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrubEnv {
    vars: Vec<(String, String)>,
}

impl GrubEnv {
    /// Parses a whole block.
    pub fn parse(block: &[u8]) -> Result<GrubEnv, EnvError> {
        let body = block.strip_prefix(SIGNATURE).ok_or(EnvError::NoSignature)?;
        let mut vars: Vec<(String, String)> = Vec::new();
        let mut p = 0;
        let end = body.len();
        while p < end {
            if body[p] == b'#' {
                p = next_line(body, p);
                continue;
            }
            let name_start = p;
            p += 1;
            while p < end && body[p] != b'=' {
                p += if body[p] == b'\\' { 2 } else { 1 };
            }
            if p >= end {
                break; // broken: GRUB stops here
            }
            let name = &body[name_start..p];
            p += 1;
            let value_start = p;
            while p < end && body[p] != b'\n' {
                p += if body[p] == b'\\' { 2 } else { 1 };
            }
            if p >= end {
                break;
            }
            let value = unescape(&body[value_start..p]);
            let name = String::from_utf8_lossy(name).into_owned();
            vars.retain(|(n, _)| *n != name);
            vars.push((name, String::from_utf8_lossy(&value).into_owned()));
            p = next_line(body, p);
        }
        Ok(GrubEnv { vars })
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `name` (in place when it exists, else at the end).
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), EnvError> {
        let bad = name.is_empty() || name.starts_with('#') || name.contains(['=', '\n', '\\']);
        if bad {
            return Err(EnvError::BadName(name.to_string()));
        }
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value.to_string(),
            None => self.vars.push((name.to_string(), value.to_string())),
        }
        Ok(())
    }

    /// Removes `name`.
    pub fn unset(&mut self, name: &str) {
        self.vars.retain(|(n, _)| n != name);
    }

    /// Every variable, in block order.
    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }

    /// The block of `size` bytes holding these variables.
    pub fn encode(&self, size: usize) -> Result<Vec<u8>, EnvError> {
        let mut out = SIGNATURE.to_vec();
        for (name, value) in &self.vars {
            out.extend_from_slice(name.as_bytes());
            out.push(b'=');
            for &b in value.as_bytes() {
                if b == b'\\' || b == b'\n' {
                    out.push(b'\\');
                }
                out.push(b);
            }
            out.push(b'\n');
        }
        if out.len() > size {
            return Err(EnvError::TooLarge {
                needed: out.len(),
                size,
            });
        }
        out.resize(size, b'#');
        Ok(out)
    }
}

/// The index after the next newline at or after `p`.
fn next_line(body: &[u8], p: usize) -> usize {
    body[p..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(body.len(), |i| p + i + 1)
}

fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && i + 1 < raw.len() {
            i += 1;
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_escapes() {
        let mut env = GrubEnv::default();
        env.set("ORDER", "A B").unwrap();
        env.set("path", "C:\\grub").unwrap();
        env.set("two", "line1\nline2").unwrap();
        env.set("empty", "").unwrap();
        let block = env.encode(BLOCK_SIZE).unwrap();
        assert_eq!(block.len(), BLOCK_SIZE);
        let text = String::from_utf8(block.clone()).unwrap();
        assert!(text.starts_with(
            "# GRUB Environment Block\nORDER=A B\npath=C:\\\\grub\ntwo=line1\\\nline2\nempty=\n#"
        ));
        assert!(text.ends_with("###"));
        assert_eq!(GrubEnv::parse(&block).unwrap(), env);
        env.set("ORDER", "B A").unwrap();
        assert_eq!(
            env.vars()[0],
            ("ORDER".into(), "B A".into()),
            "kept in place"
        );
        env.unset("path");
        assert_eq!(env.get("path"), None);
    }

    #[test]
    fn reads_like_grub() {
        // Comments, a later duplicate winning, a line with no `=` joining
        // the next (GRUB's loop runs to the next `=`), a broken tail.
        let block =
            b"# GRUB Environment Block\n# note=1\nA_OK=0\nA_OK=1\nfoo\nbar=x\nB_TRY=2\ntail=unterminated";
        let env = GrubEnv::parse(block).unwrap();
        assert_eq!(env.get("A_OK"), Some("1"));
        assert_eq!(env.get("# note"), None);
        assert_eq!(env.get("foo\nbar"), Some("x"));
        assert_eq!(env.get("B_TRY"), Some("2"));
        assert_eq!(env.get("tail"), None);
        assert!(matches!(
            GrubEnv::parse(b"# GRUB Environment\n"),
            Err(EnvError::NoSignature)
        ));
        assert_eq!(GrubEnv::parse(SIGNATURE).unwrap(), GrubEnv::default());
    }

    #[test]
    fn refuses_what_grub_could_not_read_back() {
        let mut env = GrubEnv::default();
        for bad in ["", "#x", "a=b", "a\nb", "a\\b"] {
            assert!(env.set(bad, "v").is_err(), "{bad:?}");
        }
        env.set("big", &"x".repeat(2000)).unwrap();
        assert!(matches!(
            env.encode(BLOCK_SIZE),
            Err(EnvError::TooLarge { size: 1024, .. })
        ));
    }
}
