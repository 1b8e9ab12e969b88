//! The admin password's rules and its argon2id hash.
//!
//! Only the PHC string (`$argon2id$v=19$m=...$salt$hash`) is stored; checks
//! go through argon2's verifier, which compares in constant time and reads
//! the parameters from the stored string (so stronger defaults later still
//! verify old hashes).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Shortest accepted password, in characters.
pub const MIN_CHARS: usize = 8;
/// Longest accepted password, in characters.
pub const MAX_CHARS: usize = 128;
/// Random bytes of salt per hash (argon2's recommendation).
const SALT_BYTES: usize = 16;

/// Why a hash could not be made or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// The OS gave no randomness for the salt.
    #[error("no randomness for the salt: {0}")]
    Random(String),
    /// argon2 refused (a bug in the parameters).
    #[error("argon2: {0}")]
    Argon2(argon2::password_hash::Error),
    /// The stored hash is not a PHC string argon2 understands.
    #[error("the stored admin password hash is unreadable: {0}")]
    Stored(argon2::password_hash::Error),
}

/// `Err` with the rule when `password` breaks it.
pub fn check_rules(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if (MIN_CHARS..=MAX_CHARS).contains(&n) {
        Ok(())
    } else {
        Err(format!(
            "password: must be {MIN_CHARS} to {MAX_CHARS} characters long (this one has {n})"
        ))
    }
}

/// The PHC string of `password` with a fresh salt (argon2id with the
/// crate's default parameters: 19 MiB, 2 passes, 1 lane). CPU-heavy: tens
/// of milliseconds (debug builds optimise argon2 too, see the root Cargo.toml).
pub fn hash(password: &str) -> Result<String, HashError> {
    let mut raw = [0u8; SALT_BYTES];
    getrandom::fill(&mut raw).map_err(|e| HashError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&raw).map_err(HashError::Argon2)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(HashError::Argon2)
}

/// True when `password` is the one `phc` was made from (verified with the
/// parameters written in `phc`).
pub fn matches(phc: &str, password: &str) -> Result<bool, HashError> {
    let parsed = PasswordHash::new(phc).map_err(HashError::Stored)?;
    if password.len() > MAX_CHARS * 4 {
        // Longer than any password that can be set: no need to hash megabytes.
        return Ok(false);
    }
    match Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(HashError::Stored(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_count_characters() {
        assert!(check_rules("12345678").is_ok());
        assert!(
            check_rules(&"é".repeat(128)).is_ok(),
            "256 bytes, 128 chars"
        );
        for bad in ["", "1234567", &"x".repeat(129)] {
            let e = check_rules(bad).unwrap_err();
            assert!(e.contains("8 to 128 characters"), "{e}");
        }
    }

    #[test]
    fn hashes_are_salted_argon2id_and_verify() {
        let a = hash("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert!(!a.contains("correct horse"));
        assert_ne!(a, hash("correct horse").unwrap(), "fresh salt each time");
        assert!(matches(&a, "correct horse").unwrap());
        assert!(!matches(&a, "correct horsE").unwrap());
        assert!(!matches(&a, &"x".repeat(1 << 20)).unwrap());
        assert!(matches!(
            matches("plaintext", "plaintext"),
            Err(HashError::Stored(_))
        ));
    }
}
