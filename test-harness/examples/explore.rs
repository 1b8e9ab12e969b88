//! Scratch: boots the image and prints the console for a while.
#![allow(missing_docs)]
use std::time::{Duration, Instant};
use test_harness::qemu::{Vm, VmSpec};
fn main() {
    let mut spec = VmSpec::new(
        std::path::Path::new("images/out/filterbox-x86_64.img"),
        "explore",
    );
    spec.log_dir = Some("/tmp/harness-dev/logs".into());
    let mut vm = Vm::create(spec).unwrap();
    let t = Instant::now();
    let mut serial = vm.power_on().unwrap();
    let secs: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(90);
    match serial.expect(
        &std::env::args().nth(2).unwrap_or("ready".into()),
        Duration::from_secs(secs),
    ) {
        Ok(_) => println!("=== matched after {:?}", t.elapsed()),
        Err(e) => println!("=== {e}"),
    }
    std::thread::sleep(Duration::from_secs(3));
    println!("{}", serial.transcript());
    println!("ports {:?}", vm.ports());
}
