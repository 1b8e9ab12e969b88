#!/usr/bin/env bash
# Builds the filterbox-x86_64 firmware on a Debian machine from nothing but
# the registries: Debian's kernel, busybox-static and GRUB (apt-get download,
# cached in images/cache), the static filterbox binary, and board/filterbox-x86_64.
#
#   images/build.sh [all]   binary, rootfs, disk image and update bundle (make image)
#   images/build.sh binary  the static filterbox binary: images/out/filterbox
#   images/build.sh rootfs  the rootfs tree and squashfs in images/out/build/<version>
#   images/build.sh image   rootfs + disk image images/out/filterbox-x86_64.img
#   images/build.sh bundle  rootfs + bundle images/out/filterbox-<version>-x86_64.fbu
#
# rootfs, image and bundle reuse images/out/filterbox when it is there, so
#   FILTERBOX_VERSION=0.1.1-test images/build.sh bundle
# makes a "newer" bundle in seconds. Settings: see images/lib/common.sh.
set -euo pipefail
# Failures inside $(...) stop the build too.
shopt -s inherit_errexit

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=images/lib/common.sh
source "$here/lib/common.sh"
# shellcheck source=images/lib/packages.sh
source "$here/lib/packages.sh"
# shellcheck source=images/lib/modules.sh
source "$here/lib/modules.sh"
# shellcheck source=images/lib/rootfs.sh
source "$here/lib/rootfs.sh"
# shellcheck source=images/lib/bundle.sh
source "$here/lib/bundle.sh"

# The static filterbox, stripped; paths of this checkout and of cargo's
# registry remapped, so the binary does not depend on where it was built.
build_binary() {
    need_tools cargo
    log "building the static filterbox binary"
    local cargo_home=${CARGO_HOME:-$HOME/.cargo}
    (cd "$REPO" && env CARGO_TARGET_DIR="$BINARY_TARGET_DIR" \
        CARGO_PROFILE_RELEASE_STRIP=symbols \
        RUSTFLAGS="-C target-feature=+crt-static --remap-path-prefix=$REPO=/filterbox --remap-path-prefix=$cargo_home=/cargo" \
        cargo build --release -p filterbox --target "$TARGET_TRIPLE") ||
        die "cargo build failed"
    mkdir -p "$OUT"
    install -m 0755 "$BINARY_TARGET_DIR/$TARGET_TRIPLE/release/filterbox" "$BINARY"
    log "filterbox: $(stat -c %s "$BINARY") bytes"
}

# The rootfs tree and its squashfs, for FILTERBOX_VERSION.
build_rootfs() {
    need_tools apt-get apt-cache dpkg-deb depmod modprobe mksquashfs cpio gzip
    [ -x "$BINARY" ] || build_binary
    fetch_packages
    index_kernel_modules
    select_keys
    make_rootfs_tree
    make_squashfs
}

# The disk image, through the board's post-image script.
build_image() {
    need_tools genimage grub-mkimage grub-editenv mkfs.vfat mcopy mke2fs
    local image=${FILTERBOX_IMAGE:-$OUT/filterbox-x86_64.img}
    GRUB_PC_DIR=$GRUB_PC_DIR "$BOARD/post-image.sh" "$BUILD/images" || die "post-image.sh failed"
    mv "$BUILD/images/filterbox-x86_64.img" "$image"
    log "$image: $(stat -c %s "$image") bytes ($(du -k "$image" | cut -f1) KiB used)"
}

main() {
    local steps=("$@")
    [ ${#steps[@]} -gt 0 ] || steps=(all)
    init_settings
    mkdir -p "$OUT" "$CACHE"
    # One build at a time: the cache, the keys and the outputs are shared.
    exec 9>"$OUT/.build.lock"
    flock 9
    local step
    for step in "${steps[@]}"; do
        # One command per line: `set -e` does not reach into functions
        # called as part of an && list.
        case "$step" in
            all)
                build_binary
                build_rootfs
                build_image
                make_bundle
                ;;
            binary) build_binary ;;
            rootfs) build_rootfs ;;
            image)
                build_rootfs
                build_image
                ;;
            bundle)
                if [ "${FILTERBOX_REBUILD:-}" = 1 ]; then
                    build_binary
                fi
                build_rootfs
                make_bundle
                ;;
            *) die "unknown step '$step' (all, binary, rootfs, image, bundle)" ;;
        esac
    done
}

main "$@"
