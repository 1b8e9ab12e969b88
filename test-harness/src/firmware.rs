//! The firmware the tests boot and update: the disk image and update
//! bundles from `images/build.sh` (`make image`), and bundles made wrong on
//! purpose with the build's own `filterbox update sign`.
//!
//! The image is built when missing (once per process). Bundles of other
//! versions are built with `FILTERBOX_VERSION=... images/build.sh bundle`
//! (seconds: the binary is reused), optionally through a rootfs hook.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use crate::error::{run, HarnessError, Result};

/// The board the image is built for (`/etc/filterbox-board`).
pub const BOARD: &str = "filterbox-x86_64";

/// The checkout's firmware outputs.
#[derive(Clone, Debug)]
pub struct Firmware {
    repo: PathBuf,
}

/// Serialises builds in this process and remembers what was built.
static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();

impl Firmware {
    /// The outputs of this checkout (`images/out`).
    pub fn of_this_checkout() -> Firmware {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("test-harness sits in the workspace")
            .to_path_buf();
        Firmware { repo }
    }

    /// `images/out`.
    pub fn out_dir(&self) -> PathBuf {
        self.repo.join("images/out")
    }

    /// The disk image, built with `make image` first if it is missing.
    pub fn image(&self) -> Result<PathBuf> {
        let image = self.out_dir().join("filterbox-x86_64.img");
        let mut built = lock();
        if !image.is_file() && !built.contains_key("image") {
            run(Command::new("make").arg("-C").arg(&self.repo).arg("image"))?;
        }
        built.insert("image".into(), image.clone());
        if image.is_file() {
            Ok(image)
        } else {
            Err(HarnessError::Unexpected(format!(
                "make image made no {}",
                image.display()
            )))
        }
    }

    /// The build's static `filterbox` (it runs here too): `update sign`, `keygen`.
    pub fn tool(&self) -> PathBuf {
        self.out_dir().join("filterbox")
    }

    /// The development secret key the image trusts.
    pub fn dev_key(&self) -> PathBuf {
        self.out_dir().join("dev-key.sec")
    }

    /// A bundle of `version` built from this checkout, its rootfs passed
    /// through `hook` (a script given the rootfs tree) when given. Built
    /// once per process and version.
    pub fn bundle(&self, version: &str, hook: Option<&Path>) -> Result<PathBuf> {
        self.image()?;
        let mut built = lock();
        if let Some(path) = built.get(version) {
            return Ok(path.clone());
        }
        let mut build = Command::new(self.repo.join("images/build.sh"));
        build.arg("bundle").env("FILTERBOX_VERSION", version);
        match hook {
            Some(h) => build.env("FILTERBOX_ROOTFS_HOOK", h),
            None => build.env_remove("FILTERBOX_ROOTFS_HOOK"),
        };
        run(&mut build)?;
        let bundle = self.bundle_file(version);
        if !bundle.is_file() {
            return Err(HarnessError::Unexpected(format!(
                "images/build.sh bundle made no {}",
                bundle.display()
            )));
        }
        built.insert(version.to_string(), bundle.clone());
        Ok(bundle)
    }

    /// Where `images/build.sh` puts the bundle of `version`.
    pub fn bundle_file(&self, version: &str) -> PathBuf {
        self.out_dir()
            .join(format!("filterbox-{version}-x86_64.fbu"))
    }

    /// The root filesystem inside the bundle of `version` (after [`Firmware::bundle`]).
    pub fn rootfs(&self, version: &str) -> PathBuf {
        self.out_dir()
            .join("build")
            .join(version)
            .join("images/rootfs.squashfs")
    }

    /// Signs `rootfs` into the bundle `out` claiming `version` and `board`,
    /// with the secret key `key`.
    pub fn sign(
        &self,
        key: &Path,
        rootfs: &Path,
        version: &str,
        board: &str,
        out: &Path,
    ) -> Result<()> {
        run(Command::new(self.tool())
            .args(["update", "sign", "--key"])
            .arg(key)
            .arg("--rootfs")
            .arg(rootfs)
            .args(["--version", version, "--board", board, "-o"])
            .arg(out))
        .map(drop)
    }

    /// A new key pair `PREFIX.sec`/`PREFIX.pub` the box does not trust;
    /// returns the secret key.
    pub fn stranger_key(&self, prefix: &Path) -> Result<PathBuf> {
        run(Command::new(self.tool())
            .args(["update", "keygen", "--output"])
            .arg(prefix))?;
        Ok(prefix.with_extension("sec"))
    }
}

fn lock() -> std::sync::MutexGuard<'static, HashMap<String, PathBuf>> {
    BUILT
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A version after `running` (its patch number plus one, as an `e2e`
/// pre-release: newer than every build of `running`'s version).
pub fn newer_version(running: &str, tag: &str) -> String {
    let (major, minor, patch) = numbers(running);
    format!("{major}.{minor}.{}-e2e.{tag}", patch + 1)
}

/// A version before `running` (a pre-release of it whose first part is
/// numeric: older than its release and than its textual pre-releases).
pub fn older_version(running: &str) -> String {
    let (major, minor, patch) = numbers(running);
    format!("{major}.{minor}.{patch}-0.e2e.old")
}

fn numbers(version: &str) -> (u64, u64, u64) {
    let core = version.split(['+', '-']).next().unwrap_or_default();
    let mut parts = core.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_around_the_running_one() {
        assert_eq!(newer_version("0.1.0+g1a2b3c", "new"), "0.1.1-e2e.new");
        assert_eq!(newer_version("1.2.3", "broken"), "1.2.4-e2e.broken");
        assert_eq!(older_version("0.1.0+g1a2b3c"), "0.1.0-0.e2e.old");
        assert_eq!(older_version("2.0"), "2.0.0-0.e2e.old");
    }
}
