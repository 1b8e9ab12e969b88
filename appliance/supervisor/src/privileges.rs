//! Least privilege: each role runs as its own unprivileged user, sharing one
//! group with the others (their sockets and the data directory).
//!
//! Applied only when `system.json` names `users` and the supervisor runs as
//! root. The data directory becomes `root:GROUP` mode 01770 (the roles may
//! create files there, and only remove their own), `system.json`
//! `root:GROUP` 0640 (readable, not writable, by the roles). A role's files
//! from an earlier run as another user are handed over to the role's user.

use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use model::config::{Role, RoleUsers, SystemConfig, API_TOKEN_FILE, SYSTEM_JSON};
use model::Endpoint;
use nix::unistd::{Group, User};

use crate::SupervisorError;

/// Mode of the data directory: the roles' group may create files; the
/// sticky bit keeps each role from removing another's.
pub const DATA_DIR_MODE: u32 = 0o1770;

/// Mode of `system.json`: the roles read it, only root writes it.
pub const SYSTEM_JSON_MODE: u32 = 0o640;

/// A user and group id a process runs as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

/// The resolved users of the roles.
#[derive(Clone, Debug)]
pub struct Privileges {
    /// The shared group.
    pub group: u32,
    roles: HashMap<Role, Credentials>,
}

impl Privileges {
    /// Looks up the users and the group of `users`; a missing one is an
    /// error that says how to create it.
    pub fn resolve(users: &RoleUsers) -> Result<Privileges, SupervisorError> {
        let group = Group::from_name(&users.group)
            .map_err(|e| SupervisorError::Users(format!("cannot look up {}: {e}", users.group)))?
            .ok_or_else(|| {
                SupervisorError::Users(format!(
                    "group {0} does not exist; create it with `groupadd --system {0}`",
                    users.group
                ))
            })?;
        let mut roles = HashMap::new();
        for role in [Role::Manager, Role::Filter, Role::Mta] {
            let name = users.of(role);
            let uid = user_id(name, &users.group)?;
            roles.insert(
                role,
                Credentials {
                    uid,
                    gid: group.gid.as_raw(),
                },
            );
        }
        Ok(Privileges {
            group: group.gid.as_raw(),
            roles,
        })
    }

    /// What `role` runs as.
    pub fn of(&self, role: Role) -> Credentials {
        self.roles[&role]
    }

    /// Sets the owners and modes of the data directory and of the roles'
    /// files (see the module docs).
    pub fn prepare(&self, dir: &Path, config: &SystemConfig) -> Result<(), SupervisorError> {
        let fail = |path: &Path, source| SupervisorError::DataDir {
            path: path.to_path_buf(),
            source,
        };
        set_owner_mode(dir, 0, self.group, DATA_DIR_MODE).map_err(|e| fail(dir, e))?;
        let json = dir.join(SYSTEM_JSON);
        set_owner_mode(&json, 0, self.group, SYSTEM_JSON_MODE).map_err(|e| fail(&json, e))?;
        for (role, paths) in role_files(dir, config) {
            let owner = self.of(role);
            for path in paths.iter().filter(|p| p.starts_with(dir) && *p != dir) {
                hand_over(path, owner).map_err(|e| fail(path, e))?;
            }
        }
        Ok(())
    }
}

fn user_id(name: &str, group: &str) -> Result<u32, SupervisorError> {
    let user = User::from_name(name)
        .map_err(|e| SupervisorError::Users(format!("cannot look up {name}: {e}")))?
        .ok_or_else(|| {
            SupervisorError::Users(format!(
                "user {name} does not exist; create it with \
                 `useradd --system --no-create-home --shell /usr/sbin/nologin --gid {group} {name}`"
            ))
        })?;
    if user.uid.is_root() {
        return Err(SupervisorError::Users(format!(
            "user {name} is root; the roles must run unprivileged"
        )));
    }
    Ok(user.uid.as_raw())
}

/// Whether the supervisor may switch users (it runs as root).
pub fn can_switch_users() -> bool {
    nix::unistd::geteuid().is_root()
}

fn set_owner_mode(path: &Path, uid: u32, gid: u32, mode: u32) -> std::io::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// The files each role creates in the data directory.
fn role_files(dir: &Path, config: &SystemConfig) -> Vec<(Role, Vec<PathBuf>)> {
    let unix = |e: &Endpoint| match e {
        Endpoint::Unix(p) => Some(p.clone()),
        Endpoint::Tcp(_) => None,
    };
    vec![
        (
            Role::Manager,
            vec![
                dir.join(manager::DATA_DB),
                dir.join(API_TOKEN_FILE),
                config.manager.api_socket.clone(),
                // The manager replaces the certificate on upload (`PUT /tls`).
                config.tls.cert.parent().unwrap_or(dir).to_path_buf(),
            ],
        ),
        (Role::Filter, {
            let mut files: Vec<PathBuf> = config.filter.listen.iter().filter_map(unix).collect();
            files.push(config.filter.state_dir.clone());
            files.push(dir.join(filter::learn::MODEL_FILE));
            files.push(dir.join(filter::learn::SEQ_FILE));
            files.push(dir.join(filter::policy::GENERATION_FILE));
            files
        }),
        (
            Role::Mta,
            vec![dir.join(mta::QUEUE_DB), config.mta.inject_socket.clone()],
        ),
    ]
}

/// Makes `owner` the owner of `path` and, for a directory, of everything
/// below it; symbolic links are changed themselves, never followed.
fn hand_over(path: &Path, owner: Credentials) -> std::io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if meta.uid() != owner.uid || meta.gid() != owner.gid {
        std::os::unix::fs::lchown(path, Some(owner.uid), Some(owner.gid))?;
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            hand_over(&entry?.path(), owner)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_user_is_named_with_how_to_create_it() {
        let users = RoleUsers {
            mta: "fb-no-such-user-here".into(),
            group: "root".into(),
            manager: "nobody".into(),
            filter: "nobody".into(),
        };
        let e = Privileges::resolve(&users).unwrap_err().to_string();
        assert!(
            e.contains("user fb-no-such-user-here does not exist"),
            "{e}"
        );
        assert!(e.contains("useradd --system"), "{e}");
        let users = RoleUsers {
            group: "fb-no-such-group".into(),
            ..RoleUsers::default()
        };
        let e = Privileges::resolve(&users).unwrap_err().to_string();
        assert!(e.contains("groupadd --system fb-no-such-group"), "{e}");
    }

    #[test]
    fn root_is_refused_as_a_role_user() {
        let users = RoleUsers {
            manager: "root".into(),
            filter: "nobody".into(),
            mta: "nobody".into(),
            group: "root".into(),
        };
        let e = Privileges::resolve(&users).unwrap_err().to_string();
        assert!(e.contains("user root is root"), "{e}");
    }

    #[test]
    fn the_data_directory_is_prepared_for_the_roles() {
        if !can_switch_users() {
            return; // needs root to change owners; the tests run as root in CI
        }
        let dir = tempfile::tempdir().unwrap();
        let config = SystemConfig::default();
        config.write(dir.path()).unwrap();
        let resolved = config.clone().resolve(dir.path());
        std::fs::create_dir(dir.path().join("queue.db")).unwrap();
        std::fs::write(dir.path().join("queue.db/conf"), b"x").unwrap();
        let users = RoleUsers {
            manager: "nobody".into(),
            filter: "nobody".into(),
            mta: "nobody".into(),
            group: "nogroup".into(),
        };
        let p = Privileges::resolve(&users).unwrap();
        p.prepare(dir.path(), &resolved).unwrap();
        let meta = |rel: &str| std::fs::metadata(dir.path().join(rel)).unwrap();
        let root = std::fs::metadata(dir.path()).unwrap();
        assert_eq!((root.uid(), root.gid()), (0, p.group));
        assert_eq!(root.mode() & 0o7777, DATA_DIR_MODE);
        let json = meta(SYSTEM_JSON);
        assert_eq!((json.uid(), json.mode() & 0o777), (0, SYSTEM_JSON_MODE));
        let nobody = p.of(Role::Mta).uid;
        assert_eq!(meta("queue.db").uid(), nobody);
        assert_eq!(meta("queue.db/conf").uid(), nobody);
    }
}
