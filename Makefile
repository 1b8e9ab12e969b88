# Firmware images (see images/build.sh). Everything lands in images/out/.
.PHONY: image bundle rootfs check-reproducible qemu clean-image

# The disk image images/out/filterbox-x86_64.img and the update bundle
# images/out/filterbox-<version>-x86_64.fbu (and the dev key pair, once).
image:
	images/build.sh all

# Only the bundle (and the rootfs it carries); FILTERBOX_VERSION=... for another version.
bundle:
	images/build.sh bundle

rootfs:
	images/build.sh rootfs

# Builds the rootfs twice in two directories and compares the squashfs images.
check-reproducible:
	images/check-reproducible.sh

# Boots images/out/filterbox-x86_64.img in QEMU with the console on this terminal.
qemu:
	images/qemu.sh

# Removes the outputs (not the package cache in images/cache).
clean-image:
	rm -rf images/out
