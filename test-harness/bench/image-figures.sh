#!/usr/bin/env bash
# Prints the firmware's figures: image and bundle sizes, power-on to SMTP
# banner, the roles' resident memory when idle, and the time to apply an
# update over HTTP, measured on the image from `make image` (built first if
# missing) booted in QEMU under software emulation with 512 MiB, as the
# end-to-end tests boot it. Takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f images/out/filterbox-x86_64.img ] || make image
cargo build --quiet --locked -p test-harness --bin image-figures
exec target/debug/image-figures "$@"
