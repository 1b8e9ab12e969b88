#!/usr/bin/env bash
# Post-build script of filterbox-x86_64: finishes a root filesystem tree after
# busybox, filterbox and the overlay (rootfs/ beside this file) are in it.
# Called as Buildroot calls a post-build script: the tree's directory is $1.
#
#   FILTERBOX_VERSION  the firmware version (required): /etc/filterbox-release
#   FILTERBOX_BOARD    the board name (default filterbox-x86_64): /etc/filterbox-board
set -euo pipefail

root=${1:?usage: post-build.sh ROOTFS_DIR}
version=${FILTERBOX_VERSION:?FILTERBOX_VERSION must name the firmware version}
board=${FILTERBOX_BOARD:-filterbox-x86_64}

case "$version" in
    *[!0-9A-Za-z.+~-]* | "") echo "post-build.sh: bad version '$version'" >&2; exit 1 ;;
esac

# Mount points: the squashfs is read-only, so every one must exist in it.
# init mounts proc, sys, dev (moved from the initramfs), dev/pts, run, tmp
# and the data partition on /data.
for dir in proc sys dev run tmp data root; do
    mkdir -p "$root/$dir"
done
chmod 0700 "$root/root"
chmod 1777 "$root/tmp"

# The box's init is filterbox itself: it runs `init` when called as init.
mkdir -p "$root/sbin"
ln -sfn ../usr/bin/filterbox "$root/sbin/init"

# /etc is read-only: what changes at run time lives in /run.
ln -sfn /run/resolv.conf "$root/etc/resolv.conf"
ln -sfn /proc/self/mounts "$root/etc/mtab"

echo "$version" >"$root/etc/filterbox-release"
echo "$board" >"$root/etc/filterbox-board"
