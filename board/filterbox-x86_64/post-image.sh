#!/usr/bin/env bash
# Post-image script of filterbox-x86_64: GRUB for BIOS, its environment block,
# then the disk image laid out by genimage.cfg. Called as Buildroot calls a
# post-image script: $1 is the directory holding rootfs.squashfs; the disk
# image is written there as filterbox-x86_64.img.
#
#   GRUB_PC_DIR    GRUB's i386-pc directory (modules, boot.img) (/usr/lib/grub/i386-pc)
#   GRUB_MKIMAGE   grub-mkimage (grub-mkimage)
#   GRUB_EDITENV   grub-editenv (grub-editenv)
#   GENIMAGE       genimage (genimage)
#
# grub-bios-setup cannot be used on an image file (it probes the host's own
# disks), so this does its job: core.img goes into the BIOS boot partition at
# a fixed offset, and the sector numbers are patched in by hand.
set -euo pipefail

out=${1:?usage: post-image.sh BINARIES_DIR}
board=$(cd "$(dirname "$0")" && pwd)
grub_dir=${GRUB_PC_DIR:-/usr/lib/grub/i386-pc}
mkimage=${GRUB_MKIMAGE:-grub-mkimage}
editenv=${GRUB_EDITENV:-grub-editenv}
genimage=${GENIMAGE:-genimage}

# The BIOS boot partition's offset in genimage.cfg (1 MiB), in 512-byte sectors.
CORE_SECTOR=2048
# Its size: core.img must fit.
BIOS_PART_BYTES=$((1024 * 1024))
# The modules built into core.img: disk, GPT, FAT (grub.cfg, grubenv),
# squashfs+gzip (the kernel inside the slots), the commands grub.cfg uses.
GRUB_MODULES="biosdisk part_gpt fat squash4 gzio linux normal echo test true
    loadenv regexp serial terminal boot reboot halt sleep"
# boot.img: where the sector of core.img goes (GRUB_BOOT_MACHINE_KERNEL_SECTOR).
BOOT_KERNEL_SECTOR_OFFSET=$((0x5c))
# core.img (diskboot.img): its first blocklist, at the end of its first sector:
# start sector (8 bytes), sector count (2, filled by grub-mkimage), segment (2).
CORE_BLOCKLIST_OFFSET=$((0x200 - 12))
# The part of boot.img before the MBR's disk signature and partition table.
MBR_CODE_BYTES=440

# Writes $2 as an 8-byte little-endian number at byte $3 of file $1.
put_le64() {
    local file=$1 value=$2 offset=$3 bytes="" i
    for i in 0 1 2 3 4 5 6 7; do
        bytes+=$(printf '\\x%02x' $(((value >> (8 * i)) & 0xff)))
    done
    printf '%b' "$bytes" | dd of="$file" bs=1 seek="$offset" conv=notrunc status=none
}

# Reads the unsigned little-endian number of $3 bytes at byte $2 of file $1.
get_le() {
    od -An -t "u$3" -j "$2" -N "$3" --endian=little "$1" | tr -d ' '
}

[ -f "$out/rootfs.squashfs" ] || { echo "post-image.sh: no $out/rootfs.squashfs" >&2; exit 1; }
[ -f "$grub_dir/boot.img" ] || { echo "post-image.sh: no GRUB in $grub_dir" >&2; exit 1; }

# shellcheck disable=SC2086 # the module list is split on purpose
"$mkimage" -d "$grub_dir" -O i386-pc -p '(hd0,gpt2)/grub' -o "$out/core.img" $GRUB_MODULES
core_bytes=$(stat -c %s "$out/core.img")
if [ "$core_bytes" -gt "$BIOS_PART_BYTES" ]; then
    echo "post-image.sh: core.img ($core_bytes bytes) does not fit the bios partition" >&2
    exit 1
fi
core_sectors=$(((core_bytes + 511) / 512))
listed=$(get_le "$out/core.img" $((CORE_BLOCKLIST_OFFSET + 8)) 2)
if [ "$listed" -ne $((core_sectors - 1)) ]; then
    echo "post-image.sh: core.img lists $listed sectors, expected $((core_sectors - 1))" >&2
    exit 1
fi
# diskboot.img loads the rest of core.img from the sector after its own.
put_le64 "$out/core.img" $((CORE_SECTOR + 1)) "$CORE_BLOCKLIST_OFFSET"

cp "$grub_dir/boot.img" "$out/boot.img"
put_le64 "$out/boot.img" "$CORE_SECTOR" "$BOOT_KERNEL_SECTOR_OFFSET"
head -c "$MBR_CODE_BYTES" "$out/boot.img" >"$out/mbr.img"

cp "$board/grub.cfg" "$out/grub.cfg"
rm -f "$out/grubenv"
"$editenv" "$out/grubenv" create
"$editenv" "$out/grubenv" set "ORDER=A B" A_OK=1 A_TRY=0 B_OK=1 B_TRY=0

empty_root=$(mktemp -d)
trap 'rm -rf "$empty_root"' EXIT
rm -rf "$out/genimage.tmp" "$out/filterbox-x86_64.img"
"$genimage" --config "$board/genimage.cfg" --rootpath "$empty_root" \
    --tmppath "$out/genimage.tmp" --inputpath "$out" --outputpath "$out" >"$out/genimage.log" 2>&1 || {
    cat "$out/genimage.log" >&2
    exit 1
}
rm -rf "$out/genimage.tmp"

# The GPT's first entry (entries at sector 2, 128 bytes each; first LBA at +32)
# must be where mbr.img and core.img were told core.img is.
first_lba=$(get_le "$out/filterbox-x86_64.img" $((2 * 512 + 32)) 8)
if [ "$first_lba" -ne "$CORE_SECTOR" ]; then
    echo "post-image.sh: the bios partition starts at sector $first_lba, not $CORE_SECTOR" >&2
    exit 1
fi
