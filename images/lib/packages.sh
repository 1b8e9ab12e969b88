# shellcheck shell=bash
# Debian packages of the image (sourced by images/build.sh): downloaded with
# apt-get into images/cache/debs (kept: only a version not there yet is
# downloaded) and unpacked once into images/cache/root/<package>_<version>.

APT_UPDATED=""

# The version apt would install of $1, or nothing.
candidate_version() {
    apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }'
}

# The version apt would install of $1; runs `apt-get update` once when apt
# knows none (a fresh machine has no package lists).
resolve_version() {
    local version
    version=$(candidate_version "$1")
    if [ -z "$version" ] && [ -z "$APT_UPDATED" ]; then
        log "apt knows no $1: apt-get update"
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        $sudo apt-get update -qq >&2 || die "apt-get update failed"
        APT_UPDATED=1
        version=$(candidate_version "$1")
    fi
    [ -n "$version" ] || die "apt has no package $1"
    echo "$version"
}

# The versioned kernel package the metapackage $KERNEL_PACKAGE depends on.
kernel_package() {
    local package
    resolve_version "$KERNEL_PACKAGE" >/dev/null
    package=$(apt-cache depends "$KERNEL_PACKAGE" |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
    [ -n "$package" ] || die "$KERNEL_PACKAGE depends on no linux-image-<version> package"
    echo "$package"
}

# Downloads (unless cached) and unpacks (unless done) package $1; prints the
# directory it is unpacked in.
fetch_package() {
    local package=$1 version escaped deb dir
    version=$(resolve_version "$package")
    escaped=${version//:/%3a}
    mkdir -p "$CACHE/debs"
    deb=$(find "$CACHE/debs" -maxdepth 1 -name "${package}_${escaped}_*.deb" | head -n1)
    if [ -z "$deb" ]; then
        log "downloading $package $version"
        (cd "$CACHE/debs" && apt-get download -qq -o APT::Sandbox::User=root "$package=$version" >&2) ||
            die "cannot download $package $version"
        deb=$(find "$CACHE/debs" -maxdepth 1 -name "${package}_${escaped}_*.deb" | head -n1)
        [ -n "$deb" ] || die "apt-get download left no ${package}_${escaped}_*.deb"
    fi
    dir=$CACHE/root/${package}_${version//:/_}
    if [ ! -f "$dir/.unpacked" ]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        dpkg-deb -x "$deb" "$dir"
        touch "$dir/.unpacked"
    fi
    echo "$dir"
}

# Fetches the kernel, busybox and GRUB; sets KERNEL_ROOT, KVER, BUSYBOX and GRUB_PC_DIR.
fetch_packages() {
    local kernel
    kernel=$(kernel_package)
    KERNEL_ROOT=$(fetch_package "$kernel")
    KVER=${kernel#linux-image-}
    [ -f "$KERNEL_ROOT/boot/vmlinuz-$KVER" ] || die "$kernel has no /boot/vmlinuz-$KVER"
    BUSYBOX=$(fetch_package busybox-static)/bin/busybox
    [ -x "$BUSYBOX" ] || die "busybox-static has no /bin/busybox"
    GRUB_PC_DIR=$(fetch_package grub-pc-bin)/usr/lib/grub/i386-pc
    [ -f "$GRUB_PC_DIR/boot.img" ] || die "grub-pc-bin has no i386-pc/boot.img"
    export GRUB_PC_DIR
}
