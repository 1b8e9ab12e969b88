#!/usr/bin/env bash
# Boots the firmware image in QEMU (software emulation) with the serial
# console on this terminal (Ctrl-A X quits). It runs a copy of the image,
# images/out/qemu-disk.img, kept between runs like a real box's disk;
# --fresh starts again from the built image. virtio-rng gives the kernel
# entropy (TCG's default CPU has no RDRAND). Forwarded to the box:
#   127.0.0.1:$SMTP_PORT -> 25 (SMTP), 127.0.0.1:$API_PORT -> 8080 (API)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
image=${FILTERBOX_IMAGE:-$here/out/filterbox-x86_64.img}
disk=$here/out/qemu-disk.img
smtp_port=${SMTP_PORT:-2525}
api_port=${API_PORT:-8080}

[ -f "$image" ] || { echo "no $image: run make image first" >&2; exit 1; }
if [ "${1:-}" = --fresh ] || [ ! -f "$disk" ]; then
    cp --sparse=always "$image" "$disk"
fi
echo "SMTP on 127.0.0.1:$smtp_port, API on 127.0.0.1:$api_port; Ctrl-A X quits" >&2
exec qemu-system-x86_64 -accel "${QEMU_ACCEL:-tcg}" -m 512 -nographic \
    -drive "file=$disk,format=raw,if=virtio" \
    -nic "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:$smtp_port-:25,hostfwd=tcp:127.0.0.1:$api_port-:8080" \
    -device virtio-rng-pci -device i6300esb -action watchdog=reset
