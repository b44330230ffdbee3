#!/usr/bin/env bash
# Prepare this machine for `make demo` / `make test` (and, with the argument `image`, for
# `make image` / `make image-test`): Debian packages (installed when run as root, otherwise the
# exact apt-get line is printed), then .venv with the project inside.
set -euo pipefail
cd "$(dirname "$0")/.."

# python3-venv: Debian's python3 cannot create a venv without it; sqlite3: the database shell
# for a technician; openssl: the tests make a private CA for the HTTPS sender; chromium: the
# browser tests drive Debian's Chromium through Playwright (never a downloaded browser);
# libegl1, libgl1, libgl1-mesa-dri: the kiosk's OpenGL window (Kivy's SDL2 draws offscreen
# with Mesa's software renderer when there is no screen, as in the tests); mtools, dosfstools,
# fdisk: `provision write-card` and its tests write a card image's FAT without mounting it;
# dnsmasq-base, network-manager: the hotspot's generated files are checked by `dnsmasq --test`
# and `nmcli --offline`; systemd: `systemd-analyze verify` checks the image's units; age:
# backups leave the appliance encrypted to the district's public keys (and the technician's
# laptop decrypts them to restore); ca-certificates: Debian's pip (the one a new venv starts
# with) trusts only the system's CA bundle, so it cannot reach PyPI without it; libatomic1:
# Playwright's driver is a Node.js that links against it (missing on a minimal Debian 12, the
# browser tests fail with "Connection closed while reading from the driver");
# mobile-broadband-provider-info: the operators' APNs and credentials the modem uses, whose
# XML the APN tests read (they fail, never skip, without it); libduktape207: the JavaScript
# engine polkitd reads rules with, in which the tests evaluate the appliance's polkit rules;
# nftables, iproute2: the firewall's rulesets are checked by `nft -c` and loaded into network
# namespaces that `ip` makes (as root); git: the image's time stamps are the commit's time
# (SOURCE_DATE_EPOCH from `git log`), which the image tests read too; rauc, squashfs-tools,
# e2fsprogs: update bundles are built and their signatures checked by Debian's RAUC (the same
# version as on the card), which packs them with mksquashfs; debugfs edits a root without
# mounting it; xz-utils: the district's 3G deltas are made with `tar --xz` (the tests make
# them too), and openssl signs and checks their index.
packages=(python3-venv ca-certificates sqlite3 openssl chromium libegl1 libgl1 libgl1-mesa-dri
    libatomic1 mtools dosfstools fdisk dnsmasq-base network-manager systemd age
    mobile-broadband-provider-info libduktape207 nftables iproute2 git rauc squashfs-tools
    e2fsprogs xz-utils)
# The image: mmdebstrap builds the arm64 root, running its programs through qemu-user-static;
# e2fsprogs, dosfstools, mtools and fdisk make the partitions without mounting anything; xz
# compresses the file to flash; qemu-system-arm and qemu-utils boot it for the test;
# arch-test: mmdebstrap refuses a foreign architecture without it (only a Recommends of it);
# git (installed for the tests already): the app's wheel is built from the files git lists
# (`git ls-files`), so nothing ignored slips into the image.
if [ "${1:-}" = image ]; then
    packages+=(mmdebstrap arch-test qemu-user-static e2fsprogs xz-utils qemu-system-arm qemu-utils)
fi

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
fi
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "setup: installing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q --no-install-recommends "${missing[@]}"
    else
        echo "setup: these Debian packages are missing. Run as root:" >&2
        echo "    apt-get update && apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

stamp=.venv/.installed
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing Keneya and its dependencies into .venv (log: .venv/pip.log)"
    if ! { .venv/bin/python -m pip install --upgrade pip \
           && .venv/bin/python -m pip install -e ".[test,image]"; } >.venv/pip.log 2>&1; then
        tail -n 30 .venv/pip.log >&2
        echo "setup: pip failed; the whole log is in .venv/pip.log" >&2
        exit 1
    fi
    touch "$stamp"
fi
