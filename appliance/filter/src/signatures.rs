//! Virus signatures from `filter.signatures_dir`: loaded at start, and again
//! whenever the directory's signature files change (looked at every
//! `filter.policy_refresh_secs`), so that new signatures (copied in by an
//! update or by the administrator) take effect without a restart. A
//! directory that cannot be read keeps the signatures in force.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use log::{info, warn};

use crate::engine::virus::Signatures;

/// What identifies the directory's content: each signature file's name,
/// size and modification time.
pub type Fingerprint = Vec<(String, u64, Option<SystemTime>)>;

/// The signatures in `dir` (the built-in EICAR signature alone when it is
/// missing or unreadable), with what was refused logged.
pub fn load(dir: &Path) -> antivirus::Database {
    match antivirus::Database::load(dir) {
        Ok((db, report)) => {
            info!(
                "virus signatures: {} loaded from {}",
                report.loaded,
                dir.display()
            );
            for refused in &report.refused {
                warn!("virus signatures: {refused}");
            }
            db
        }
        Err(e) => {
            warn!("virus signatures: {e}; only the built-in one is used");
            antivirus::Database::builtin()
        }
    }
}

/// The fingerprint of `dir`'s signature files; empty when it has none.
pub fn fingerprint(dir: &Path) -> Fingerprint {
    let mut files: Fingerprint = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let p = e.path();
            matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("hdb" | "hsb" | "ndb")
            )
        })
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((
                e.file_name().to_string_lossy().into_owned(),
                meta.len(),
                meta.modified().ok(),
            ))
        })
        .collect();
    files.sort();
    files
}

/// Reloads `signatures` from `dir` whenever its fingerprint changes, until
/// the task is dropped. `seen` is the fingerprint of what is in force.
pub async fn watch(dir: PathBuf, signatures: Signatures, mut seen: Fingerprint, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let d = dir.clone();
        let Ok(now) = tokio::task::spawn_blocking(move || fingerprint(&d)).await else {
            continue;
        };
        if now == seen {
            continue;
        }
        let d = dir.clone();
        match tokio::task::spawn_blocking(move || load(&d)).await {
            Ok(db) => {
                signatures.replace(db);
                info!("virus signatures in {} changed: reloaded", dir.display());
                seen = now;
            }
            Err(e) => warn!("reloading virus signatures: {e}"),
        }
    }
}
