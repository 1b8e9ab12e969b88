//! Running steps: the `ip` program, sysctl files, atomic file writes and
//! sethostname(2); on the first failure, the steps done are undone in reverse.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use model::network::Cidr;

use crate::step::{rollback, DefaultRoute, Step};
use crate::{NetError, NetOptions};

/// Longest command output kept in an error message.
const MAX_OUTPUT: usize = 1024;

/// Runs `steps` in order. On a failure, runs the inverses of the steps already
/// done, last first, and reports the failed step with its output.
pub fn execute(opts: &NetOptions, steps: &[Step]) -> Result<(), NetError> {
    for (done, step) in steps.iter().enumerate() {
        if let Err(output) = run(opts, step) {
            log::error!("{step} failed: {output}; undoing {done} step(s)");
            let mut rollback_failures = Vec::new();
            for undo in rollback(steps, done) {
                match run(opts, &undo) {
                    Ok(()) => log::info!("undone: {undo}"),
                    Err(e) => {
                        log::error!("{undo} failed while undoing: {e}");
                        rollback_failures.push(format!("{undo}: {e}"));
                    }
                }
            }
            return Err(NetError::StepFailed {
                step: step.to_string(),
                output,
                rollback_failures,
            });
        }
        log::info!("{step}");
    }
    Ok(())
}

/// Runs one step; the error is what went wrong, for people.
fn run(opts: &NetOptions, step: &Step) -> Result<(), String> {
    match step {
        Step::LinkUp { dev } => ip(opts, &["link", "set", "dev", dev, "up"]),
        Step::LinkDown { dev } => ip(opts, &["link", "set", "dev", dev, "down"]),
        Step::AddAddress { dev, cidr } => address(opts, "add", dev, cidr),
        Step::DelAddress { dev, cidr } => address(opts, "del", dev, cidr),
        Step::AddDefaultRoute(r) => default_route(opts, "add", r),
        Step::DelDefaultRoute(r) => default_route(opts, "del", r),
        Step::Sysctl {
            dev, key, value, ..
        } => {
            let path = Path::new("/proc/sys/net/ipv6/conf")
                .join(dev)
                .join(key.key());
            std::fs::write(&path, format!("{value}\n"))
                .map_err(|e| format!("{}: {e}", path.display()))
        }
        Step::WriteFile {
            path,
            contents,
            mode,
            ..
        } => write_atomic(path, contents, *mode).map_err(|e| format!("{}: {e}", path.display())),
        Step::RemoveFile { path, .. } => {
            std::fs::remove_file(path).map_err(|e| format!("{}: {e}", path.display()))
        }
        Step::SetHostname { name, .. } => {
            nix::unistd::sethostname(name).map_err(|e| format!("sethostname: {e}"))
        }
    }
}

fn family(v6: bool) -> &'static str {
    if v6 {
        "-6"
    } else {
        "-4"
    }
}

fn address(opts: &NetOptions, verb: &str, dev: &str, cidr: &Cidr) -> Result<(), String> {
    let v6 = cidr.address.is_ipv6();
    let c = cidr.to_string();
    let mut args = vec![family(v6), "addr", verb, c.as_str()];
    if !v6 && verb == "add" {
        // The kernel sets no broadcast address unless asked.
        args.extend(["broadcast", "+"]);
    }
    args.extend(["dev", dev]);
    ip(opts, &args)
}

fn default_route(opts: &NetOptions, verb: &str, r: &DefaultRoute) -> Result<(), String> {
    let (gw, metric) = (r.gateway.to_string(), r.metric.to_string());
    let v6 = r.gateway.is_ipv6();
    ip(
        opts,
        &[
            family(v6),
            "route",
            verb,
            "default",
            "via",
            &gw,
            "dev",
            &r.dev,
            "metric",
            &metric,
        ],
    )
}

/// Runs the configured `ip` program with `args`; its output is the error.
fn ip(opts: &NetOptions, args: &[&str]) -> Result<(), String> {
    let (program, pre) = opts
        .ip_program
        .split_first()
        .ok_or("no ip program configured")?;
    let out = Command::new(program)
        .args(pre)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if text.is_empty() {
        text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    }
    if text.len() > MAX_OUTPUT {
        let cut = (0..=MAX_OUTPUT)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text.truncate(cut);
    }
    Err(format!(
        "`ip {}` exited with {}: {text}",
        args.join(" "),
        out.status
    ))
}

/// Replaces `path` with `contents`: a temporary file in the same directory,
/// flushed to disk, then renamed over it, so readers never see half a file.
fn write_atomic(path: &Path, contents: &str, mode: u32) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(contents.as_bytes())?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_replaced_whole_with_their_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        write_atomic(&path, "nameserver 192.0.2.53\n", 0o644).unwrap();
        write_atomic(&path, "nameserver 192.0.2.54\n", 0o644).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "nameserver 192.0.2.54\n"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_file_step_undoes_the_ones_before() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let opts = NetOptions::busybox("/fb".into());
        let steps = [
            Step::WriteFile {
                path: a.clone(),
                contents: "new".into(),
                previous: None,
                mode: 0o644,
            },
            Step::WriteFile {
                path: dir.path().join("missing-dir/b"),
                contents: "x".into(),
                previous: None,
                mode: 0o644,
            },
        ];
        let err = execute(&opts, &steps).unwrap_err();
        assert!(!a.exists(), "the first file was not removed again");
        match err {
            NetError::StepFailed {
                step,
                rollback_failures,
                ..
            } => {
                assert!(step.contains("missing-dir/b"), "{step}");
                assert!(rollback_failures.is_empty());
            }
            other => panic!("unexpected {other}"),
        }
    }
}
