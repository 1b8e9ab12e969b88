//! Writing the PEM files: the key is readable by its owner and group only
//! and each file is replaced atomically, so a reader never sees half a file.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use model::api::TlsCertificate;
use model::config::TlsFiles;

use crate::error::TlsError;

/// Mode of the private key: on the box the owner is the manager (which
/// replaces it) and the group the roles' group (the mta reads it); the data
/// directory keeps everyone else out.
pub(crate) const KEY_MODE: u32 = 0o640;

/// Validates an uploaded certificate and key (see [`crate::validate`]) and
/// replaces the box's files with them; the key is written before the
/// certificate, and [`crate::ReloadingCert`] only accepts a matching pair.
pub fn install(
    files: &TlsFiles,
    cert_pem: &str,
    key_pem: &str,
    now_secs: i64,
) -> Result<TlsCertificate, TlsError> {
    let info = crate::validate(cert_pem, key_pem, now_secs)?;
    write_atomic(&files.key, key_pem.as_bytes(), KEY_MODE)?;
    write_atomic(&files.cert, cert_pem.as_bytes(), 0o644)?;
    Ok(info)
}

/// Writes `bytes` to a temporary file beside `path`, fsyncs, and renames it over `path`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(TlsError::io(dir))?;
    }
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(TlsError::io(&tmp))?;
    file.write_all(bytes).map_err(TlsError::io(&tmp))?;
    file.sync_all().map_err(TlsError::io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(TlsError::io(path))
}
