//! GRUB's own tool, `grub-editenv` (Debian's grub-common), reads what we
//! write and writes what we read: the environment block format is GRUB's.

use std::path::Path;
use std::process::Command;

use update::envfile::EnvFiles;
use update::grubenv::{GrubEnv, BLOCK_SIZE};

fn editenv(file: &Path, args: &[&str]) -> String {
    let out = Command::new("grub-editenv")
        .arg(file)
        .args(args)
        .output()
        .expect("grub-editenv runs (install Debian's grub-common: scripts/deps)");
    assert!(
        out.status.success(),
        "grub-editenv {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Values that need GRUB's escaping, and the boot variables.
const VARS: &[(&str, &str)] = &[
    ("ORDER", "B A"),
    ("A_OK", "1"),
    ("B_TRY", "2"),
    ("path", "C:\\boot\\grub"),
    ("lines", "one\ntwo"),
    ("empty", ""),
    ("spaces", "  a = b  "),
];

#[test]
fn grub_editenv_lists_what_we_write() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("grub")).unwrap();
    let files = EnvFiles::in_boot_dir(dir.path());
    let mut env = GrubEnv::default();
    for (k, v) in VARS {
        env.set(k, v).unwrap();
    }
    files.save(&env).unwrap();
    let listed = editenv(&files.primary, &["list"]);
    let expected: String = VARS.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    assert_eq!(listed, expected);
    // And GRUB's tool can change our block in place, keeping its size.
    editenv(&files.primary, &["set", "A_TRY=1"]);
    assert_eq!(
        std::fs::metadata(&files.primary).unwrap().len(),
        BLOCK_SIZE as u64
    );
    assert_eq!(files.load().0.get("A_TRY"), Some("1"));
}

#[test]
fn we_read_what_grub_editenv_writes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("grubenv");
    editenv(&file, &["create"]);
    let sets: Vec<String> = VARS.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut args = vec!["set"];
    args.extend(sets.iter().map(String::as_str));
    editenv(&file, &args);
    editenv(&file, &["unset", "empty"]);
    let block = std::fs::read(&file).unwrap();
    assert_eq!(block.len(), BLOCK_SIZE);
    let env = GrubEnv::parse(&block).unwrap();
    let expected: Vec<(String, String)> = VARS
        .iter()
        .filter(|(k, _)| *k != "empty")
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(env.vars(), expected.as_slice());
    // Written back by us, the variables' lines are byte for byte GRUB's
    // (GRUB's tool adds a comment line after the signature, which we drop).
    let ours = env.encode(BLOCK_SIZE).unwrap();
    let theirs = String::from_utf8(block).unwrap();
    let theirs_vars = theirs
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let ours_text = String::from_utf8(ours).unwrap();
    let ours_vars = ours_text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(ours_vars, theirs_vars);
}
