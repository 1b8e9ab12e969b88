#!/usr/bin/env bash
# Checks that the rootfs is reproducible: builds it twice, in two different
# directories, and compares the squashfs images byte for byte (SHA-256).
# Exits 1 when they differ.
#
#   images/check-reproducible.sh            both from images/out/filterbox (seconds)
#   images/check-reproducible.sh --binary   the second from a copy of this tree
#                                           in another directory, filterbox
#                                           compiled there too (minutes)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
out=$here/out
mkdir -p "$out"
work=$(mktemp -d "$out/reproducible.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The same version, date and key for both builds (a copy has no .git).
version=${FILTERBOX_VERSION:-$(FILTERBOX_BUILD_DIR=$work/probe bash -c \
    "source '$here/lib/common.sh' && init_settings && echo \"\$FILTERBOX_VERSION\"")}
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 1704067200)}
export FILTERBOX_VERSION=$version SOURCE_DATE_EPOCH=$epoch

echo "==> rootfs build 1 in $work/first" >&2
if [ "${1:-}" = --binary ]; then
    "$here/build.sh" binary
fi
FILTERBOX_BUILD_DIR=$work/first "$here/build.sh" rootfs
key=${FILTERBOX_SIGNING_KEY:-$out/dev-key.sec}

if [ "${1:-}" = --binary ]; then
    echo "==> rootfs build 2 from a copy of the tree in $work/src" >&2
    mkdir -p "$work/src"
    (cd "$repo" && tar --exclude=./target --exclude=./images/out --exclude=./images/cache \
        --exclude=./.git -cf - .) | tar -xf - -C "$work/src"
    ln -s "$here/cache" "$work/src/images/cache"
    (cd "$work/src" && FILTERBOX_SIGNING_KEY=$key FILTERBOX_BUILD_DIR=$work/second \
        images/build.sh binary rootfs)
else
    echo "==> rootfs build 2 in $work/second" >&2
    FILTERBOX_SIGNING_KEY=$key FILTERBOX_BUILD_DIR=$work/second "$here/build.sh" rootfs
fi

first=$(sha256sum <"$work/first/images/rootfs.squashfs" | cut -d' ' -f1)
second=$(sha256sum <"$work/second/images/rootfs.squashfs" | cut -d' ' -f1)
echo "first:  $first"
echo "second: $second"
if [ "$first" != "$second" ]; then
    echo "the two rootfs images differ" >&2
    exit 1
fi
echo "reproducible: both rootfs images are $first"
