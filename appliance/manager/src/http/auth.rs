//! The API token TCP clients must present, and its check.
//!
//! The unix socket is trusted (file permissions guard it); TCP reaches the
//! network, so every request there but `/health` carries
//! `Authorization: Bearer <token>`. The token lives in `DIR/api-token`
//! (mode 0600), created on first start, so local tools (`filterbox ctl`) can
//! read it and remote ones are given it by the administrator.

use std::fs::{self, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Random bytes in a new token (hex-encoded: twice as many characters).
const TOKEN_BYTES: usize = 32;

/// Reads the token at `path`, creating it (mode 0600) when missing.
pub fn load_or_create_token(path: &Path) -> io::Result<String> {
    match create_token(path) {
        Ok(token) => {
            log::info!("created the API token in {}", path.display());
            return Ok(token);
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        log::warn!(
            "{} was readable by others (mode {:o}); setting it to 0600",
            path.display(),
            mode & 0o777
        );
        fs::set_permissions(path, Permissions::from_mode(0o600))?;
    }
    let token = fs::read_to_string(path)?.trim().to_string();
    if token.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the token file is empty; delete it to have a new token made",
        ));
    }
    Ok(token)
}

fn create_token(path: &Path) -> io::Result<String> {
    let mut raw = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut raw).map_err(|e| io::Error::other(format!("no randomness: {e}")))?;
    let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(format!("{token}\n").as_bytes())?;
    file.sync_all()?;
    Ok(token)
}

/// True when an `Authorization` header value carries `token` as a bearer
/// token; the comparison takes the same time wherever the first difference is.
pub fn bearer_matches(header: Option<&str>, token: &str) -> bool {
    let Some((scheme, presented)) = header.and_then(|h| h.trim().split_once(' ')) else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer")
        && constant_time_eq(presented.trim().as_bytes(), token.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // The length is not secret (every token has the same length).
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_created_private_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api-token");
        let token = load_or_create_token(&path).unwrap();
        assert_eq!(token.len(), 2 * TOKEN_BYTES);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        assert_eq!(load_or_create_token(&path).unwrap(), token);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::write(&path, "\n").unwrap();
        assert!(load_or_create_token(&path).is_err());
    }

    #[test]
    fn bearer_check() {
        assert!(bearer_matches(Some("Bearer abc"), "abc"));
        assert!(bearer_matches(Some("bearer  abc "), "abc"));
        for bad in [
            None,
            Some("Bearer abd"),
            Some("Bearer ab"),
            Some("Basic abc"),
            Some("abc"),
            Some("Bearer "),
        ] {
            assert!(!bearer_matches(bad, "abc"), "{bad:?}");
        }
    }
}
