#!/usr/bin/env bash
# Run one command line as root in /src of the clean Debian 12 root that .ci/run made, the way a
# container engine would, without one: usage (from .ci/run only)
#     unshare --mount --pid --fork --propagation private --kill-child \
#         .ci/clean-room.sh ROOT STATE 'make test'
# This script is process 1 of a new PID namespace in a private mount namespace: every mount
# below and every process the command leaves behind (servers, qemu) dies with it, even when it
# is killed; the trap also unmounts everything, in reverse order, on any exit.
#
# What the command finds, and why:
#   /proc        a new procfs (this PID namespace only), with the kernel's binfmt_misc on
#                /proc/sys/fs/binfmt_misc as systemd mounts it on a booted Debian: qemu-user's
#                registration there is the host kernel's (binfmt_misc is not namespaced)
#   /sys         sysfs, read-only
#   /dev         a tmpfs with the usual device nodes only (no disks, no loop devices: the image
#                build mounts nothing), its own devpts on /dev/pts, a tmpfs on /dev/shm (Chromium
#                and Python's multiprocessing need it)
#   /run         an empty tmpfs, as at boot (so no systemd is seen running: package scripts
#                start no services)
#   /tmp         the root's own folder, on disk, as on a Debian 12 install
#   /var/cache/keneya-image   this machine's, read-write: the cached arm64 root filesystem
#   /var/cache/apt/archives   an overlay: this machine's .deb files read-only below, the
#                root's downloads above (in STATE, dropped with it)
#   environment  what a root login has (PATH, HOME, LANG=C.UTF-8), plus STATE/env (proxies,
#                PIP_CERT) written by .ci/run; stdin is /dev/null
set -euo pipefail
root=$1 state=$2 command=$3

mounted=()
unmount_all() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount --lazy "${mounted[i]}" || echo "clean room: cannot unmount ${mounted[i]}" >&2
    done
}
trap unmount_all EXIT
# mnt ARGS... TARGET: mount, and remember TARGET for the unmount.
mnt() {
    mount "$@"
    mounted+=("${*: -1}")
}

mount --make-rprivate /
mnt -t proc -o nosuid,nodev,noexec proc "$root/proc"
mnt -t binfmt_misc binfmt_misc "$root/proc/sys/fs/binfmt_misc"
mnt -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"

mnt -t tmpfs -o nosuid,mode=0755,size=16m tmpfs "$root/dev"
for node in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
    IFS=: read -r name major minor <<<"$node"
    mknod -m 0666 "$root/dev/$name" c "$major" "$minor"
done
ln -s pts/ptmx "$root/dev/ptmx"
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
mkdir "$root/dev/pts" "$root/dev/shm"
mnt -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec devpts "$root/dev/pts"
mnt -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$root/dev/shm"

mnt -t tmpfs -o nosuid,nodev,mode=0755 tmpfs "$root/run"
mkdir -m 1777 "$root/run/lock"

cache=${KENEYA_IMAGE_CACHE:-/var/cache/keneya-image}
mkdir -p "$cache" "$root/var/cache/keneya-image"
mnt --bind "$cache" "$root/var/cache/keneya-image"

if [ -d /var/cache/apt/archives ]; then
    mkdir -p "$state/apt/upper" "$state/apt/work"
    mnt -t overlay overlay \
        -o "lowerdir=/var/cache/apt/archives,upperdir=$state/apt/upper,workdir=$state/apt/work" \
        "$root/var/cache/apt/archives"
fi

env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root USER=root
    LOGNAME=root SHELL=/bin/bash LANG=C.UTF-8 TERM="${TERM:-dumb}")
if [ -s "$state/env" ]; then
    mapfile -t extra <"$state/env"
    env+=("${extra[@]}")
fi

echo "clean room: # $command"
set +e
chroot "$root" /usr/bin/env -i "${env[@]}" /bin/bash -c "cd /src && $command" </dev/null
status=$?
set -e
[ "$status" -eq 0 ] || echo "clean room: '$command' exited with status $status" >&2
exit "$status"
