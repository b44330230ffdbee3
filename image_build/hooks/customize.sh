#!/bin/sh
# mmdebstrap customize hook ($1 = the root being built): runs once every package is in.
set -eu
root="$1"

# Boot partition contents (raspi-firmware's kernel hook writes them into /boot/firmware, which
# the assembler moves into the FAT partition): the root as slot A (partition 2 of the image's
# fixed MBR id; the initramfs's keneya-slot may choose slot B instead), the serial console on
# the Pi's mini UART (GPIO 14/15) and the screen.
cat > "$root/etc/default/raspi-firmware" <<'CONF'
# Written by the Keneya image build.
ROOTPART=PARTUUID=4b4e5941-02
CONSOLES="tty1 ttyS1,115200"
CMA=64M
KERNEL_ARCH=arm64
CONF
# Appended to config.txt. Debian boots the mainline device trees, which already enable I2C bus 1
# and the vc4 KMS display driver (checked with dtc on bcm2837-rpi-3-b.dtb and bcm2711-rpi-4-b.dtb);
# dtparam keeps I2C on should the Raspberry Pi device trees be used instead.
cat > "$root/etc/default/raspi-firmware-custom" <<'CONF'
# Keneya: INA219 power sensor on I2C bus 1 (GPIO 2/3)
dtparam=i2c_arm=on
# The touchscreen or HDMI screen edge to edge
disable_overscan=1
# Serial console on GPIO 14/15 (ttyS1, 115200 baud) for the technician
enable_uart=1
CONF
printf 'i2c-dev\n' > "$root/etc/modules-load.d/keneya.conf"

# What the appliance never uses, before the initramfs and the kernel hook read the modules:
# kernel modules for other hardware (hooks/prune-modules), the device trees of other boards
# (raspi-firmware copies the Broadcom ones to the boot partition), and the documentation and
# translations of the packages installed before dpkg's exclusions (essential.sh) applied.
python3 "$KENEYA_HOOKS/prune-modules" "$root"
for kernel in "$root"/usr/lib/modules/*; do
    chroot "$root" depmod "${kernel##*/}"
done
for dtbs in "$root"/usr/lib/linux-image-*; do
    find "$dtbs" -mindepth 1 -maxdepth 1 -type d ! -name broadcom -exec rm -rf {} +
done
find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/groff" \
    "$root/usr/share/lintian"
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -type d ! -name fr ! -name en \
    -exec rm -rf {} +
# Wi-Fi firmware: the Pi 3 B (43430), Zero 2 W (43436), 3 B+, 4 and 400 (43455, 43456) only, of
# the 60 Broadcom/Cypress chips firmware-brcm80211 carries (links first, then their targets).
find "$root/usr/lib/firmware/brcm" "$root/usr/lib/firmware/cypress" -mindepth 1 \
    ! -name 'brcmfmac4343[06]*' ! -name 'brcmfmac4345[56]*' \
    ! -name 'cyfmac4343[06]*' ! -name 'cyfmac4345[56]*' -delete

# Restore update-initramfs, then build the one initramfs; raspi-firmware's hooks copy it, the
# kernel and the device trees into /boot/firmware and write config.txt and cmdline.txt.
rm "$root/usr/sbin/update-initramfs"
chroot "$root" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs
install -m 0755 "$KENEYA_HOOKS/initramfs-storage" "$root/etc/initramfs-tools/hooks/keneya-storage"
install -D -m 0755 "$KENEYA_HOOKS/initramfs-growdata" \
    "$root/etc/initramfs-tools/scripts/local-premount/keneya-growdata"
install -D -m 0755 "$KENEYA_HOOKS/initramfs-slot" \
    "$root/etc/initramfs-tools/scripts/local-premount/keneya-slot"
chroot "$root" update-initramfs -c -k all
for kernel in "$root"/boot/vmlinuz-*; do
    chroot "$root" /etc/kernel/postinst.d/z50-raspi-firmware "${kernel#"$root"/boot/vmlinuz-}"
done

# Every card gets its own identity at first boot: machine id and SSH host keys (sshd is off
# unless the facility file's [ssh] authorized_keys names a key: first boot then enables it, and
# its host keys are made when it first starts).
: > "$root/etc/machine-id"
rm -f "$root"/etc/ssh/ssh_host_*
mkdir -p "$root/etc/systemd/system/ssh.service.d"
printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
    > "$root/etc/systemd/system/ssh.service.d/keneya-host-keys.conf"
chroot "$root" systemctl disable ssh.service
echo keneya > "$root/etc/hostname"

# The firewall (default drop; first boot writes the facility's rules to /etc/nftables.conf).
chroot "$root" systemctl enable nftables.service
