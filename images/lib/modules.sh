# shellcheck shell=bash
# Kernel modules (sourced by images/build.sh). Debian's kernel package ships no
# modules.dep, so depmod runs on the unpacked package once; the order in which
# modules must be loaded (dependencies and soft dependencies first) comes from
# `modprobe --show-depends` on that tree.

# Runs depmod on the unpacked kernel package, once.
index_kernel_modules() {
    local moddir=$KERNEL_ROOT/lib/modules/$KVER
    [ -f "$moddir/modules.dep" ] || depmod -b "$KERNEL_ROOT" "$KVER" ||
        die "depmod failed on $moddir"
}

# Prints the module files (relative to /lib/modules/$KVER) that loading the
# modules named in $@ takes, each once, every one after those it needs.
module_load_order() {
    local root prefix name line path deps
    root=$(cd "$KERNEL_ROOT" && pwd)
    prefix=$root/lib/modules/$KVER/
    declare -A seen=()
    for name in "$@"; do
        deps=$(modprobe -d "$root" -S "$KVER" --show-depends "$name") ||
            die "the kernel has no module $name"
        # Lines are "insmod /path/x.ko [params]" or "builtin x".
        while read -r line; do
            case "$line" in
                insmod\ *) ;;
                *) continue ;;
            esac
            path=${line#insmod }
            path=${path%% *}
            path=${path#"$prefix"}
            [ -n "${seen[$path]:-}" ] && continue
            seen[$path]=1
            echo "$path"
        done <<<"$deps"
    done
}

# Copies the modules named in $2.. (and what they need) into root tree $1,
# with modules.dep made by depmod (busybox modprobe reads it) and the load
# order in lib/modules/$KVER/$list_name ($LIST_NAME, default filterbox.load).
install_modules() {
    local dest=$1 list_name=${LIST_NAME:-filterbox.load}
    shift
    local moddir=$dest/lib/modules/$KVER src=$KERNEL_ROOT/lib/modules/$KVER
    local order path
    order=$(module_load_order "$@") || exit 1
    mkdir -p "$moddir"
    while read -r path; do
        mkdir -p "$moddir/$(dirname "$path")"
        cp "$src/$path" "$moddir/$path"
    done <<<"$order"
    # depmod lists modules in modules.order's order: keep it stable.
    echo "$order" | sort >"$moddir/modules.order"
    cp "$src/modules.builtin" "$src/modules.builtin.modinfo" "$moddir/"
    depmod -b "$dest" "$KVER" || die "depmod failed on $moddir"
    echo "$order" >"$moddir/$list_name"
}
