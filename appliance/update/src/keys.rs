//! The update signing keys: ed25519, stored as PEM (PKCS#8 for the
//! secret key, SubjectPublicKeyInfo for the public one), the formats
//! `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` use, so
//! a release key can be made and kept with ordinary tools.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
pub use ed25519_dalek::{SigningKey, VerifyingKey};

/// Largest key file read: a PEM key is about a hundred bytes.
const MAX_KEY_FILE: u64 = 16 * 1024;

/// Why a key could not be made, read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not an ed25519 key in PEM.
    #[error("{}: not an ed25519 {what} key in PEM ({reason})", path.display())]
    Format {
        /// The key file.
        path: PathBuf,
        /// `secret` or `public`.
        what: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
    /// A secret key file exists already; it is never overwritten.
    #[error("{} exists already; remove it first or choose another name", .0.display())]
    Exists(PathBuf),
    /// No randomness for a new key.
    #[error("no randomness for a new key: {0}")]
    Random(String),
}

/// A new random signing key.
pub fn generate() -> Result<SigningKey, KeyError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The file names of a key pair: `PREFIX.sec` and `PREFIX.pub`.
pub fn pair_paths(prefix: &Path) -> (PathBuf, PathBuf) {
    let with = |ext: &str| {
        let mut s = prefix.as_os_str().to_owned();
        s.push(ext);
        PathBuf::from(s)
    };
    (with(".sec"), with(".pub"))
}

/// Makes a key pair: `PREFIX.sec` (mode 0600, never overwritten) and
/// `PREFIX.pub`. Returns the two paths.
pub fn keygen(prefix: &Path) -> Result<(PathBuf, PathBuf), KeyError> {
    let (sec, public) = pair_paths(prefix);
    let key = generate()?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| format_error(&sec, "secret", e))?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| match source.kind() {
            std::io::ErrorKind::AlreadyExists => KeyError::Exists(path),
            _ => KeyError::Io { path, source },
        }
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&sec)
        .map_err(io(&sec))?;
    f.write_all(pem.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io(&sec))?;
    write_public(&key.verifying_key(), &public)?;
    Ok((sec, public))
}

/// Writes `key` as a PEM public key file.
pub fn write_public(key: &VerifyingKey, path: &Path) -> Result<(), KeyError> {
    let pem = key
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| format_error(path, "public", e))?;
    std::fs::write(path, pem).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a secret key (PKCS#8 PEM).
pub fn read_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    SigningKey::from_pkcs8_pem(&read(path)?).map_err(|e| format_error(path, "secret", e))
}

/// Reads a public key (SubjectPublicKeyInfo PEM).
pub fn read_verifying_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    VerifyingKey::from_public_key_pem(&read(path)?).map_err(|e| format_error(path, "public", e))
}

fn read(path: &Path) -> Result<String, KeyError> {
    use std::io::Read;
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_KEY_FILE)
        .read_to_string(&mut text)
        .map_err(io)?;
    Ok(text)
}

fn format_error(path: &Path, what: &'static str, e: impl std::fmt::Display) -> KeyError {
    KeyError::Format {
        path: path.to_path_buf(),
        what,
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_key_pair_round_trips_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("release");
        let (sec, public) = keygen(&prefix).unwrap();
        assert_eq!(sec, dir.path().join("release.sec"));
        let mode = std::fs::metadata(&sec).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let key = read_signing_key(&sec).unwrap();
        assert_eq!(read_verifying_key(&public).unwrap(), key.verifying_key());
        assert!(std::fs::read_to_string(&sec)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(matches!(keygen(&prefix), Err(KeyError::Exists(_))));
        assert!(matches!(
            read_verifying_key(&sec),
            Err(KeyError::Format { what: "public", .. })
        ));
        assert!(matches!(
            read_signing_key(&dir.path().join("none")),
            Err(KeyError::Io { .. })
        ));
    }

    #[test]
    fn keys_made_by_openssl_are_read() {
        // The same key in the forms `openssl genpkey -algorithm ed25519`
        // and `openssl pkey -pubout` write (RFC 8410 test vector).
        let dir = tempfile::tempdir().unwrap();
        let sec = dir.path().join("k.sec");
        let public = dir.path().join("k.pub");
        std::fs::write(
            &sec,
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        std::fs::write(
            &public,
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n",
        )
        .unwrap();
        let key = read_signing_key(&sec).unwrap();
        assert_eq!(key.verifying_key(), read_verifying_key(&public).unwrap());
    }
}
