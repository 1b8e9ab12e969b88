//! netconf against the real kernel, in network namespaces (needs root).
//!
//! A custom runner (harness = false) because this binary is also the DHCP
//! hook's interpreter: udhcpc runs `<this binary> dhcp-hook FILE EVENT`,
//! exactly as it runs `filterbox dhcp-hook FILE EVENT` on the box.

mod cases;
mod dhcp;
mod support;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;

use support::{BUSYBOX, IPROUTE2};

type Test = (&'static str, fn());

const TESTS: &[Test] = &[
    ("static_settings_are_applied::busybox", || {
        cases::static_settings_are_applied(BUSYBOX)
    }),
    ("static_settings_are_applied::iproute2", || {
        cases::static_settings_are_applied(IPROUTE2)
    }),
    ("a_failed_step_restores_the_old_settings::busybox", || {
        cases::a_failed_step_restores_the_old_settings(BUSYBOX)
    }),
    ("a_failed_step_restores_the_old_settings::iproute2", || {
        cases::a_failed_step_restores_the_old_settings(IPROUTE2)
    }),
    ("static_to_static_replaces_the_address::busybox", || {
        cases::static_to_static_replaces_the_address(BUSYBOX)
    }),
    ("static_to_static_replaces_the_address::iproute2", || {
        cases::static_to_static_replaces_the_address(IPROUTE2)
    }),
    (
        "a_lease_arrives_and_goes_with_udhcpc",
        dhcp::a_lease_arrives_and_goes_with_udhcpc,
    ),
    (
        "interfaces_reports_the_veth",
        cases::interfaces_reports_the_veth,
    ),
    (
        "hostname_is_set_in_a_uts_namespace",
        cases::hostname_is_set_in_a_uts_namespace,
    ),
];

/// libtest flags that take a value, so the value is not read as a filter.
const VALUE_FLAGS: &[&str] = &[
    "--test-threads",
    "--format",
    "--color",
    "--logfile",
    "--skip",
    "-Z",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("dhcp-hook") {
        return support::hook_main(&args[2..]);
    }
    let (mut filters, mut skips, mut list, mut exact) = (Vec::new(), Vec::new(), false, false);
    let mut rest = args.iter().skip(1);
    while let Some(a) = rest.next() {
        match a.as_str() {
            "--list" => list = true,
            "--exact" => exact = true,
            "--skip" => skips.extend(rest.next().cloned()),
            f if VALUE_FLAGS.contains(&f) => drop(rest.next()),
            f if f.starts_with('-') => {}
            f => filters.push(f.to_string()),
        }
    }
    let matches = |name: &str| {
        (filters.is_empty()
            || filters.iter().any(|f| {
                if exact {
                    name == f
                } else {
                    name.contains(f.as_str())
                }
            }))
            && !skips.iter().any(|s| name.contains(s.as_str()))
    };
    let selected: Vec<&Test> = TESTS.iter().filter(|(name, _)| matches(name)).collect();
    if list {
        selected
            .iter()
            .for_each(|(name, _)| println!("{name}: test"));
        return ExitCode::SUCCESS;
    }
    if !selected.is_empty() && !nix::unistd::Uid::effective().is_root() {
        eprintln!("the netns tests need root (network namespaces)");
        return ExitCode::FAILURE;
    }
    println!("\nrunning {} tests", selected.len());
    let mut failed = Vec::new();
    for (name, test) in &selected {
        let ok = catch_unwind(AssertUnwindSafe(test)).is_ok();
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        if !ok {
            failed.push(*name);
        }
    }
    let passed = selected.len() - failed.len();
    if failed.is_empty() {
        println!("\ntest result: ok. {passed} passed; 0 failed\n");
        ExitCode::SUCCESS
    } else {
        println!("\nfailures: {}", failed.join(", "));
        println!(
            "\ntest result: FAILED. {passed} passed; {} failed\n",
            failed.len()
        );
        ExitCode::FAILURE
    }
}
