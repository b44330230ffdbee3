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
# FSTYPE: the initramfs's fsck hook looks the root's type up by its device, which does not
# exist in the build chroot; without it the initramfs has no fsck and the root is never checked.
mkdir -p "$root/etc/initramfs-tools/conf.d" "$root/etc/initramfs-tools/hooks"
printf 'MODULES=list\nCOMPRESS=zstd\nFSTYPE=ext4\n' > "$root/etc/initramfs-tools/conf.d/keneya.conf"

# No documentation, manual pages or translations but French and English on the card: nobody
# reads them on the appliance (about 65 MiB). The copyright files stay (they are the licences).
mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
cat > "$root/etc/dpkg/dpkg.cfg.d/keneya-nodoc" <<'CONF'
# Written by the Keneya image build: what dpkg does not unpack on the appliance.
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/groff/*
path-exclude=/usr/share/lintian/*
path-exclude=/usr/share/linda/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/fr/*
path-include=/usr/share/locale/en/*
path-include=/usr/share/locale/locale.alias
CONF
