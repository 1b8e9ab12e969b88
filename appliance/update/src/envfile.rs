//! GRUB's environment on disk: the primary file `grub/grubenv` that GRUB
//! reads and its copy `grub/grubenv.bak`.
//!
//! An env block write is two sectors and not atomic, so a power cut during
//! one can leave a torn file. Every write therefore goes to the backup
//! first, synced, then to the primary, synced: at any moment one of the two
//! holds a whole block. Reading takes the primary, else the backup, else
//! the defaults (see [`crate::bootstate`]). Files are rewritten in place at
//! their size, as GRUB's `save_env` does, so their sectors do not move.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::grubenv::{GrubEnv, BLOCK_SIZE, MAX_BLOCK};
use crate::EnvError;

/// Where an environment was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `grubenv`.
    Primary,
    /// `grubenv.bak`: the primary was missing or unreadable.
    Backup,
    /// Neither was readable: the defaults.
    Defaults,
}

/// The two files of the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvFiles {
    /// `grub/grubenv`, the one GRUB reads.
    pub primary: PathBuf,
    /// `grub/grubenv.bak`.
    pub backup: PathBuf,
}

impl EnvFiles {
    /// The files of the boot partition mounted (or laid out) at `boot_dir`.
    pub fn in_boot_dir(boot_dir: &Path) -> EnvFiles {
        let grub = boot_dir.join("grub");
        EnvFiles {
            primary: grub.join("grubenv"),
            backup: grub.join("grubenv.bak"),
        }
    }

    /// Reads the environment: the primary, else the backup, else empty
    /// (every boot variable at its default).
    pub fn load(&self) -> (GrubEnv, Source) {
        match read_env(&self.primary) {
            Ok(env) => return (env, Source::Primary),
            Err(e) => log::warn!("GRUB environment: {e}; trying the backup"),
        }
        match read_env(&self.backup) {
            Ok(env) => (env, Source::Backup),
            Err(e) => {
                log::warn!("GRUB environment: {e}; using the defaults");
                (GrubEnv::default(), Source::Defaults)
            }
        }
    }

    /// Writes `env`: the backup first, synced, then the primary, synced.
    pub fn save(&self, env: &GrubEnv) -> Result<(), EnvError> {
        let size = block_size(&self.primary);
        let block = env.encode(size)?;
        write_in_place(&self.backup, &block)?;
        write_in_place(&self.primary, &block)
    }
}

/// The size of the existing primary block (kept), else GRUB's default.
fn block_size(primary: &Path) -> usize {
    match std::fs::metadata(primary) {
        Ok(m) if (BLOCK_SIZE as u64..=MAX_BLOCK as u64).contains(&m.len()) => m.len() as usize,
        _ => BLOCK_SIZE,
    }
}

fn read_env(path: &Path) -> Result<GrubEnv, EnvError> {
    let io = |source| EnvError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut block = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_BLOCK as u64 + 1)
        .read_to_end(&mut block)
        .map_err(io)?;
    if block.len() > MAX_BLOCK {
        return Err(io(std::io::Error::other(format!(
            "larger than {MAX_BLOCK} bytes"
        ))));
    }
    GrubEnv::parse(&block)
}

fn write_in_place(path: &Path, block: &[u8]) -> Result<(), EnvError> {
    let io = |source| EnvError::Io {
        path: path.to_path_buf(),
        source,
    };
    let created = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io)?;
    f.seek(SeekFrom::Start(0)).map_err(io)?;
    f.write_all(block).map_err(io)?;
    f.set_len(block.len() as u64).map_err(io)?;
    f.sync_all().map_err(io)?;
    if created {
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> (tempfile::TempDir, EnvFiles) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("grub")).unwrap();
        let files = EnvFiles::in_boot_dir(dir.path());
        (dir, files)
    }

    #[test]
    fn writes_both_and_reads_the_primary() {
        let (_dir, files) = files();
        let mut env = GrubEnv::default();
        env.set("ORDER", "B A").unwrap();
        files.save(&env).unwrap();
        assert_eq!(std::fs::read(&files.primary).unwrap().len(), BLOCK_SIZE);
        assert_eq!(
            std::fs::read(&files.primary).unwrap(),
            std::fs::read(&files.backup).unwrap()
        );
        assert_eq!(files.load(), (env, Source::Primary));
    }

    #[test]
    fn a_torn_primary_falls_back_to_the_backup_then_to_the_defaults() {
        let (_dir, files) = files();
        let mut env = GrubEnv::default();
        env.set("ORDER", "B A").unwrap();
        files.save(&env).unwrap();
        // A power cut in the middle of writing the primary's first sector.
        std::fs::write(&files.primary, b"# GRUB Env").unwrap();
        assert_eq!(files.load(), (env, Source::Backup));
        std::fs::remove_file(&files.backup).unwrap();
        assert_eq!(files.load(), (GrubEnv::default(), Source::Defaults));
    }

    #[test]
    fn a_larger_block_keeps_its_size() {
        let (_dir, files) = files();
        let mut block = crate::grubenv::SIGNATURE.to_vec();
        block.resize(2048, b'#');
        std::fs::write(&files.primary, &block).unwrap();
        let mut env = files.load().0;
        env.set("A_OK", "1").unwrap();
        files.save(&env).unwrap();
        assert_eq!(std::fs::read(&files.primary).unwrap().len(), 2048);
    }
}
