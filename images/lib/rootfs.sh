# shellcheck shell=bash
# The root filesystem (sourced by images/build.sh): the tree in $BUILD/rootfs,
# its initramfs, and the reproducible squashfs $BUILD/images/rootfs.squashfs.

# Installs busybox as $1/bin/busybox with a link for every applet at the
# place busybox names, except busybox itself (the link would replace the
# binary) and init/linuxrc (filterbox is the box's init).
install_busybox() {
    local root=$1 applet
    mkdir -p "$root/bin"
    cp "$BUSYBOX" "$root/bin/busybox"
    chmod 0755 "$root/bin/busybox"
    while read -r applet; do
        case "$applet" in
            bin/busybox | sbin/init | linuxrc | "") continue ;;
        esac
        [ -e "$root/$applet" ] || [ -L "$root/$applet" ] && continue
        mkdir -p "$root/$(dirname "$applet")"
        ln -s /bin/busybox "$root/$applet"
    done < <("$BUSYBOX" --list-full)
}

# Files of Debian packages the rootfs carries besides busybox: e2fsprogs's
# mke2fs and e2fsck with the libraries they load, so that the data partition
# is checked at every boot and gets a journalled ext4 again after a factory
# reset (busybox makes only ext2 and checks nothing). One "package: paths"
# entry each; the paths are globs in the unpacked package.
PACKAGE_FILES=(
    "e2fsprogs: sbin/mke2fs sbin/e2fsck sbin/mkfs.ext4 sbin/fsck.ext4 etc/mke2fs.conf"
    "libext2fs2: lib/x86_64-linux-gnu/libext2fs.so.2* lib/x86_64-linux-gnu/libe2p.so.2*"
    "libcom-err2: lib/x86_64-linux-gnu/libcom_err.so.2*"
    "libblkid1: usr/lib/x86_64-linux-gnu/libblkid.so.1*"
    "libuuid1: usr/lib/x86_64-linux-gnu/libuuid.so.1*"
    "libc6: lib/x86_64-linux-gnu/libc.so.6 lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 lib64/ld-linux-x86-64.so.2"
)

# Copies the PACKAGE_FILES into root tree $1 (links stay links).
install_package_files() {
    local root=$1 entry package paths dir
    for entry in "${PACKAGE_FILES[@]}"; do
        package=${entry%%:*}
        paths=${entry#*:}
        dir=$(fetch_package "$package") || exit 1
        # shellcheck disable=SC2086 # the globs expand in the package's directory
        (cd "$dir" && cp -a --parents $paths "$root/") || die "$package lacks one of:$paths"
    done
}

# Builds the initramfs $2 (gzip'd cpio) from busybox, the early modules and
# the board's init script, all owned by root and timestamped SOURCE_DATE_EPOCH.
make_initramfs() {
    local work=$1 archive=$2 path
    rm -rf "$work"
    mkdir -p "$work"/{bin,dev,etc,proc,sys,newroot}
    cp "$BUSYBOX" "$work/bin/busybox"
    chmod 0755 "$work/bin/busybox"
    while read -r path; do
        [ "$path" = busybox ] || ln -s busybox "$work/bin/$path"
    done < <("$BUSYBOX" --list)
    install -m 0755 "$BOARD/initramfs/init" "$work/init"
    LIST_NAME=modules.early install_modules "$work" "${EARLY_MODULES[@]}"
    sed "s|^|$KVER/|" "$work/lib/modules/$KVER/modules.early" >"$work/etc/modules.early"
    # The kernel gives init the initramfs's /dev/console as its terminal;
    # without the node (not root here) init reopens it from devtmpfs.
    if [ "$(id -u)" -eq 0 ]; then
        mknod -m 0600 "$work/dev/console" c 5 1
    fi
    clamp_times "$work"
    (cd "$work" && find . -mindepth 1 | sort |
        cpio --quiet -o -H newc --reproducible -R 0:0) | gzip -9 -n >"$archive"
}

# Assembles the rootfs tree in $BUILD/rootfs.
make_rootfs_tree() {
    local root=$BUILD/rootfs
    log "rootfs $FILTERBOX_VERSION in $root"
    rm -rf "$root"
    mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/filterbox,boot}
    install_package_files "$root"
    install_busybox "$root"
    install -m 0755 "$BINARY" "$root/usr/bin/filterbox"
    cp -R "$BOARD/rootfs/." "$root/"
    install -m 0644 "$PUBLIC_KEY" "$root/etc/filterbox/update.pub"
    install -m 0644 "$KERNEL_ROOT/boot/vmlinuz-$KVER" "$root/boot/vmlinuz"
    install_modules "$root" "${BOX_MODULES[@]}"
    make_initramfs "$BUILD/initramfs" "$root/boot/initrd.img"
    # Modes independent of the checkout's umask: nothing writable but by root.
    chmod -R go-w "$root"
    "$BOARD/post-build.sh" "$root"
    if [ -n "${FILTERBOX_ROOTFS_HOOK:-}" ]; then
        log "rootfs hook $FILTERBOX_ROOTFS_HOOK"
        "$FILTERBOX_ROOTFS_HOOK" "$root"
    fi
}

# Makes $BUILD/images/rootfs.squashfs from the tree: gzip, 128 KiB blocks,
# sorted, every file root's, every time SOURCE_DATE_EPOCH, no xattrs.
make_squashfs() {
    local root=$BUILD/rootfs image=$BUILD/images/rootfs.squashfs
    mkdir -p "$BUILD/images"
    rm -f "$image"
    # The times are given explicitly: mksquashfs refuses them with
    # SOURCE_DATE_EPOCH also set.
    env -u SOURCE_DATE_EPOCH mksquashfs "$root" "$image" -noappend -quiet -no-progress \
        -comp gzip -b 128K -all-root -no-xattrs \
        -all-time "$SOURCE_DATE_EPOCH" -mkfs-time "$SOURCE_DATE_EPOCH" >&2 ||
        die "mksquashfs failed"
    log "rootfs.squashfs: $(stat -c %s "$image") bytes, sha256 $(sha256sum "$image" | cut -d' ' -f1)"
}
