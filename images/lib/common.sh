# shellcheck shell=bash
# shellcheck disable=SC2034 # the settings are used by the other files
# Shared settings and helpers of images/build.sh (sourced, not run).
#
# Settings (environment):
#   FILTERBOX_VERSION        firmware version (default: the workspace version +g<commit>)
#   SOURCE_DATE_EPOCH        every timestamp in the rootfs (default: the last commit's time)
#   FILTERBOX_SIGNING_KEY    PEM secret key that signs bundles (its public key goes into the
#                            rootfs; default: the dev key pair images/out/dev-key.{sec,pub})
#   FILTERBOX_BUILD_DIR      where the rootfs of this version is assembled
#                            (default: images/out/build/<version>)
#   FILTERBOX_KERNEL_PACKAGE Debian metapackage naming the kernel (default: linux-image-amd64)
#   FILTERBOX_ROOTFS_HOOK    optional script run on the finished rootfs tree ($1), after post-build
#   FILTERBOX_REBUILD=1      `bundle` recompiles filterbox even when a binary is there

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IMAGES=$REPO/images
OUT=$IMAGES/out
CACHE=$IMAGES/cache
BOARD_NAME=filterbox-x86_64
BOARD=$REPO/board/$BOARD_NAME
# The static binary, built in its own target directory so the workspace's
# normal builds keep their artifacts.
TARGET_TRIPLE=x86_64-unknown-linux-gnu
BINARY_TARGET_DIR=$REPO/target/image
BINARY=$OUT/filterbox

# The kernel: the cloud flavour has no USB, no i6300esb watchdog and no e1000
# drivers at all, so the generic one is used.
KERNEL_PACKAGE=${FILTERBOX_KERNEL_PACKAGE:-linux-image-amd64}

# Drivers loaded by the initramfs to reach the root slot.
EARLY_MODULES=(virtio_pci virtio_blk squashfs)
# Every driver the box uses, in the rootfs (loaded at boot from the slot):
# disks, squashfs, ext4, FAT and its character sets, USB sticks, the i6300esb
# watchdog, NICs, and virtio_rng (a virtual machine's entropy source).
BOX_MODULES=(virtio_pci virtio_blk virtio_net squashfs ext4 vfat nls_cp437 nls_ascii nls_utf8
    nls_iso8859_1 usb_storage uas sd_mod xhci_pci ehci_pci i6300esb e1000 e1000e virtio_rng)

umask 022
export LC_ALL=C
# depmod, mke2fs and mkfs.vfat live in sbin, not always in a user's PATH.
export PATH=$PATH:/usr/sbin:/sbin

log() {
    echo "==> $*" >&2
}

die() {
    echo "images/build.sh: $*" >&2
    exit 1
}

# The workspace's package version, from the root Cargo.toml.
workspace_version() {
    sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n1
}

# Sets FILTERBOX_VERSION, SOURCE_DATE_EPOCH and BUILD (exported for the board scripts).
init_settings() {
    local commit=""
    commit=$(git -C "$REPO" rev-parse --short=12 HEAD 2>/dev/null) || commit=""
    if [ -z "${FILTERBOX_VERSION:-}" ]; then
        FILTERBOX_VERSION=$(workspace_version)
        [ -n "$FILTERBOX_VERSION" ] || die "no version in $REPO/Cargo.toml"
        [ -n "$commit" ] && FILTERBOX_VERSION+="+g$commit"
    fi
    if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
        SOURCE_DATE_EPOCH=$(git -C "$REPO" log -1 --format=%ct 2>/dev/null) || SOURCE_DATE_EPOCH=""
        # Outside git: a fixed date keeps builds reproducible all the same.
        [ -n "$SOURCE_DATE_EPOCH" ] || SOURCE_DATE_EPOCH=1704067200
    fi
    BUILD=${FILTERBOX_BUILD_DIR:-$OUT/build/$FILTERBOX_VERSION}
    export FILTERBOX_VERSION SOURCE_DATE_EPOCH
    export FILTERBOX_BOARD=$BOARD_NAME
}

# Fails unless every program named is installed (scripts/deps installs them).
need_tools() {
    local tool missing=()
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    [ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]}: run scripts/deps"
}

# Sets every timestamp under $1 (links too) to SOURCE_DATE_EPOCH.
clamp_times() {
    find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
}
