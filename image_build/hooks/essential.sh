#!/bin/sh
# mmdebstrap essential hook ($1 = the root being built): runs before the packages of
# packages.txt are installed.
set -eu
root="$1"

# Build the initramfs once, at the end (customize.sh), instead of once per package that asks
# for it: under qemu-user each run costs minutes.
chroot "$root" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs
ln -s /bin/true "$root/usr/sbin/update-initramfs"

# Only the modules that find the root filesystem: SD/eMMC on the Pi 3 and 4, USB storage,
# virtio under qemu. "most" would put hundreds of unused modules in every boot.
mkdir -p "$root/etc/initramfs-tools/conf.d" "$root/etc/initramfs-tools/hooks"
printf 'MODULES=list\nCOMPRESS=zstd\n' > "$root/etc/initramfs-tools/conf.d/keneya.conf"
