"""The SD-card image: Debian bookworm arm64 from packages, the app in a venv, one file to flash.

Stages (each line of progress on stderr says which, with the seconds since the start):
1. root filesystem: `mmdebstrap --arch=arm64` with the packages of `packages.txt` and the hooks
   in `hooks/`, to a tar cached by the recipe's hash (a rebuild after an app change skips it);
2. wheels: the app built as a wheel, its dependencies downloaded as aarch64 wheels for the
   target's Python, so the Pi never compiles anything;
3. assembly: the tar unpacked, the venv laid out in /opt/keneya/venv, the systemd units
   installed and enabled, fstab, /etc/keneya-release;
4. partitions: FAT boot (mkfs.vfat + mtools), root slot A (ext4), root slot B (empty: the
   first update fills it), data (ext4) — `mke2fs -d`, an MBR written with sfdisk on the image
   file; nothing is mounted, so it runs in CI;
5. `keneya-<version>-arm64.img.xz`, its `.sha256` and a manifest (packages and versions).

Runs as root (mmdebstrap's root mode, and the files' owners survive into the ext4 images).
"""

from __future__ import annotations

import compileall
import configparser
import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import platform
import py_compile
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from provisioning.delta import sha256_file

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent

SUITE = "bookworm"
# raspi-firmware and firmware-brcm80211 are in non-free-firmware.
APT_SOURCES = (
    f"deb http://deb.debian.org/debian {SUITE} main non-free-firmware",
    f"deb http://deb.debian.org/debian {SUITE}-updates main non-free-firmware",
    f"deb http://deb.debian.org/debian-security {SUITE}-security main non-free-firmware",
)
# Wheels built for glibc 2.17 (manylinux2014) up to bookworm's 2.36 run on the Pi; pip is given
# each tag (it does not widen a given tag to the older ones).
WHEEL_PLATFORMS = ("manylinux2014_aarch64", *(f"manylinux_2_{n}_aarch64" for n in range(17, 37)))
VENV = "/opt/keneya/venv"
SERVICE_USER = "keneya"  # the daemons' user (overlay/usr/lib/sysusers.d/keneya.conf)
# The development key pair that signs the tests' update bundles. A card for a clinic carries
# the district's certificate instead (--update-cert); its key never enters this repository.
DEV_CERT = HERE / "dev-keys/development.cert.pem"
DEV_KEY = HERE / "dev-keys/development.key.pem"

BOOT_LABEL = "KENEYA-BOOT"  # FAT: at most 11 characters
ROOT_LABEL = "keneya-root"
DATA_LABEL = "keneya-data"
MIB = 1024 * 1024
FIRST_SECTOR = 8192  # partitions start at 4 MiB, on an erase-block boundary of most SD cards
BOOT_MIB = 256
DATA_MIB = 128  # grown to the rest of the card at first boot (hooks/initramfs-growdata)
ROOT_SPARE_MIB = 384  # free space on the root for logs and an update
# Each root slot's partition: room for the root file system of later versions (this one's is
# about 1.5 GiB; RAUC grows a new slot's file system to the partition, resize=true).
SLOT_MIB = 2048
ROOT_A_PARTITION, ROOT_B_PARTITION, DATA_PARTITION = 2, 3, 4
DISK_ID = "4b4e5941"  # the MBR's id: slots are found as PARTUUID=4b4e5941-02 and -03
SLOTS_RECORD = "primary=A\nA_state=good\nA_attempts=0\nB_state=empty\nB_attempts=0\n"

# Debian packages the build itself needs on the host, by the command that shows they are there.
HOST_TOOLS = {
    "mmdebstrap": "mmdebstrap",
    "arch-test": "arch-test",  # mmdebstrap needs it for --arch=arm64 (only a Recommends)
    "mke2fs": "e2fsprogs",
    "e2fsck": "e2fsprogs",
    "mkfs.vfat": "dosfstools",
    "mcopy": "mtools",
    "sfdisk": "fdisk",
    "xz": "xz-utils",
    "debugfs": "e2fsprogs",
    "dumpe2fs": "e2fsprogs",
    "systemd-sysusers": "systemd",
}
QEMU_USER = Path("/usr/libexec/qemu-binfmt/aarch64-binfmt-P")
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
BINFMT_CONF = Path("/usr/lib/binfmt.d/qemu-aarch64.conf")


class BuildError(Exception):
    """What stopped the build, in words a technician can act on."""


_t0 = time.monotonic()


def progress(message: str) -> None:
    print(f"[{time.monotonic() - _t0:7.1f} s] {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command; a failure becomes a BuildError with the end of its output."""
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise BuildError(f"{cmd[0]} failed (exit {proc.returncode}):\n{tail}")
    return proc


# --- the recipe ----------------------------------------------------------------------------


def debian_packages(path: Path = HERE / "packages.txt") -> list[str]:
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    return names


def recipe_files() -> list[Path]:
    # files only: a test that imports prune-modules leaves a __pycache__ folder beside it
    hooks = sorted(p for p in (HERE / "hooks").iterdir() if p.is_file())
    return [HERE / "packages.txt", *hooks]


def recipe_hash() -> str:
    """What the cached root filesystem depends on: the package list, the hooks, the sources."""
    h = hashlib.sha256()
    h.update(json.dumps([SUITE, APT_SOURCES]).encode())
    for path in recipe_files():
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def app_version() -> str:
    """pyproject's version and the commit, e.g. 0.1.0-915ea8c (-dirty with local changes)."""
    version = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["version"]
    try:
        rev = subprocess.run(
            ["git", "-C", str(PROJECT), "describe", "--always", "--dirty", "--abbrev=7"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return version
    return f"{version}-{rev}"


def source_date_epoch() -> int:
    """SOURCE_DATE_EPOCH when set, else the commit's time: every time stamp in the image is at
    most this, so two builds of one commit give the same file (reproducible-builds.org)."""
    if os.environ.get("SOURCE_DATE_EPOCH", "").isdigit():
        return int(os.environ["SOURCE_DATE_EPOCH"])
    try:
        return int(run(["git", "-C", str(PROJECT), "log", "-1", "--format=%ct"]).stdout.strip())
    except (OSError, BuildError, ValueError):
        return 0


# --- host checks ---------------------------------------------------------------------------


def check_host() -> None:
    if os.geteuid() != 0:
        raise BuildError("the image build runs as root (sudo make image)")
    missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if shutil.which(tool) is None})
    if platform.machine() != "aarch64" and not QEMU_USER.exists():
        missing.append("qemu-user-static")
    if missing:
        raise BuildError(
            "missing Debian packages for the image build: "
            f"apt-get install {' '.join(missing)}  (make image installs them)"
        )
    ensure_binfmt()


def ensure_binfmt() -> None:
    """arm64 programs run in the chroot through qemu-user, registered with binfmt_misc."""
    if platform.machine() == "aarch64":
        return
    if not (BINFMT_DIR / "register").exists():
        proc = subprocess.run(
            ["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT_DIR)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise BuildError(
                f"cannot mount binfmt_misc on {BINFMT_DIR} ({proc.stderr.strip()}): arm64"
                " programs cannot run here. On a container host: modprobe binfmt_misc, or"
                " run the build on a machine (or VM) where root may mount it."
            )
    if not (BINFMT_DIR / "qemu-aarch64").exists():
        if not BINFMT_CONF.exists():
            raise BuildError(f"{BINFMT_CONF} is missing: apt-get install qemu-user-static")
        rule = BINFMT_CONF.read_text().strip().splitlines()[-1]
        try:
            (BINFMT_DIR / "register").write_text(rule)
        except OSError as e:
            raise BuildError(f"cannot register qemu-aarch64 with binfmt_misc: {e}") from e
    if (BINFMT_DIR / "qemu-aarch64").read_text().splitlines()[0] != "enabled":
        (BINFMT_DIR / "qemu-aarch64").write_text("1")


# --- stage 1: root filesystem --------------------------------------------------------------


def rootfs_tar(cache: Path) -> Path:
    """Where the root filesystem of this recipe is (or will be) cached."""
    return cache / f"rootfs-{SUITE}-arm64-{recipe_hash()[:16]}.tar"


def build_rootfs(cache: Path) -> Path:
    tar = rootfs_tar(cache)
    if tar.exists():
        progress(f"root filesystem: cached ({tar})")
        return tar
    cache.mkdir(parents=True, exist_ok=True)
    partial = tar.with_suffix(".partial")
    hooks = HERE / "hooks"
    cmd = [
        "mmdebstrap",
        "--arch=arm64",
        "--variant=minbase",
        "--mode=root",
        "--format=tar",
        "--components=main,non-free-firmware",
        f"--include={','.join(debian_packages())}",
        f'--essential-hook={hooks / "essential.sh"} "$1"',
        f'--customize-hook={hooks / "customize.sh"} "$1"',
        SUITE,
        str(partial),
        *APT_SOURCES,
    ]
    progress(f"root filesystem: mmdebstrap {SUITE} arm64 (cold: 5 to 20 minutes under qemu-user)")
    env = dict(os.environ, KENEYA_HOOKS=str(hooks))
    lines: list[str] = []
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip())
            if line.startswith(("I: ", "E: ", "W: ")) or "update-initramfs" in line:
                progress("  " + line.rstrip())
    if proc.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BuildError("mmdebstrap failed:\n" + "\n".join(lines[-30:]))
    partial.rename(tar)
    progress(f"root filesystem: {tar.stat().st_size / MIB:.0f} MiB tar in the cache")
    return tar


# --- stage 2: wheels -----------------------------------------------------------------------


def fetch_wheels(dest: Path, python_version: str) -> list[Path]:
    """The app as a wheel, and every dependency as a wheel for aarch64 and the target Python."""
    dest.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    progress("wheels: building the app's wheel")
    run([*pip, "wheel", "--no-deps", "--wheel-dir", str(dest), str(source_tree(dest / "src"))])
    shutil.rmtree(dest / "src")
    (app,) = dest.glob("keneya-*.whl")
    progress(f"wheels: downloading the dependencies for aarch64, Python {python_version}")
    major, minor = python_version.split(".")[:2]
    try:
        run(
            [
                *pip,
                "download",
                "--dest",
                str(dest),
                "--only-binary=:all:",
                *(f"--platform={tag}" for tag in WHEEL_PLATFORMS),
                f"--python-version={major}.{minor}",
                "--implementation=cp",
                f"--abi=cp{major}{minor}",
                str(app),
            ]
        )
    except BuildError as e:
        raise BuildError(
            f"{e}\nA dependency has no aarch64 wheel for Python {major}.{minor}: the Pi would"
            " have to compile it. Pin a version that has one."
        ) from e
    return sorted(dest.glob("*.whl"))


def source_tree(dest: Path) -> Path:
    """The project's files that git knows (tracked, or new and not ignored), copied to dest.

    The wheel is built from this copy, so nothing ignored (setuptools' own build/ folder with
    files of modules since deleted, a demo home, caches) can slip into the image.
    """
    listed = run(
        ["git", "-C", str(PROJECT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    ).stdout.split("\0")
    for name in filter(None, listed):
        src = PROJECT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


# --- stage 3: assembly ---------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Sizes and offsets of the four partitions, in bytes: boot, root slots A and B, data."""

    boot: int
    root: int  # each slot's partition
    data: int

    @property
    def boot_start(self) -> int:
        return FIRST_SECTOR * 512

    @property
    def root_start(self) -> int:
        return self.boot_start + self.boot

    @property
    def root_b_start(self) -> int:
        return self.root_start + self.root

    @property
    def data_start(self) -> int:
        return self.root_b_start + self.root

    @property
    def total(self) -> int:
        return self.data_start + self.data

    def sfdisk_script(self) -> str:
        """MBR (the Pi 3's boot ROM reads no GPT); a fixed disk id keeps the build repeatable."""

        def sectors(n: int) -> int:
            return n // 512

        return (
            "label: dos\n"
            f"label-id: 0x{DISK_ID}\n"
            "unit: sectors\n\n"
            f"start={sectors(self.boot_start)}, size={sectors(self.boot)}, type=c, bootable\n"
            f"start={sectors(self.root_start)}, size={sectors(self.root)}, type=83\n"
            f"start={sectors(self.root_b_start)}, size={sectors(self.root)}, type=83\n"
            f"start={sectors(self.data_start)}, size={sectors(self.data)}, type=83\n"
        )


def round_mib(n: int) -> int:
    return -(-n // MIB) * MIB


def tree_size(path: Path) -> int:
    """Bytes the files under path take, in 4 KiB blocks as ext4 stores them.

    Hard links count once: Mesa installs one 24 MB driver under 43 names.
    """
    total = 0
    seen: set[int] = set()
    for dirpath, dirnames, filenames in os.walk(path):
        total += 4096 * (1 + len(dirnames))
        for name in filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if st.st_nlink > 1:
                if st.st_ino in seen:
                    continue
                seen.add(st.st_ino)
            total += -(-st.st_size // 4096) * 4096
    return total


def target_python(root: Path) -> str:
    """The X.Y.Z of the root's python3, from dpkg's record (the chroot cannot be run here)."""
    status = (root / "var/lib/dpkg/status").read_text(encoding="utf-8")
    for block in status.split("\n\n"):
        if re.search(r"^Package: python3\.\d+-minimal$", block, re.M):
            version = re.search(r"^Version: (\d+\.\d+\.\d+)", block, re.M)
            if version:
                return version.group(1)
    raise BuildError("no python3.X-minimal in the root filesystem: is python3 in packages.txt?")


def install_venv(root: Path, wheels: list[Path], python_version: str) -> None:
    """/opt/keneya/venv as `python3 -m venv` would make it, filled from the wheels.

    The target's Python cannot run here, so the venv is laid out by hand (it is three symlinks
    and pyvenv.cfg) and the wheels are unpacked by `installer` with the target's interpreter in
    the scripts' #! lines. Bytecode is compiled now, so the Pi does not do it at first start.
    """
    from installer import install
    from installer.destinations import SchemeDictionaryDestination
    from installer.sources import WheelFile

    xy = ".".join(python_version.split(".")[:2])
    venv = root / VENV.lstrip("/")
    (venv / "bin").mkdir(parents=True)
    site = f"{VENV}/lib/python{xy}/site-packages"
    (root / site.lstrip("/")).mkdir(parents=True)
    (venv / "lib64").symlink_to("lib")
    (venv / "bin/python3").symlink_to(f"/usr/bin/python{xy}")
    (venv / "bin/python").symlink_to("python3")
    (venv / f"bin/python{xy}").symlink_to("python3")
    (venv / "pyvenv.cfg").write_text(
        f"home = /usr/bin\ninclude-system-site-packages = false\nversion = {python_version}\n"
        f"executable = /usr/bin/python{xy}\ncommand = /usr/bin/python3 -m venv {VENV}\n"
    )
    scheme = {
        "purelib": site,
        "platlib": site,
        "headers": f"{VENV}/include/site/python{xy}",
        "scripts": f"{VENV}/bin",
        "data": VENV,
    }
    destination = SchemeDictionaryDestination(
        scheme, interpreter=f"{VENV}/bin/python3", script_kind="posix", destdir=str(root)
    )
    for wheel in wheels:
        with WheelFile.open(wheel) as source:
            install(source, destination, additional_metadata={"INSTALLER": b"keneya-image\n"})
    freed = prune_venv(root / site.lstrip("/"))
    progress(f"assembly: {freed / MIB:.0f} MiB the Pi does not need removed from the venv")
    # Hash-checked .pyc files, each naming its source by the path it has on the Pi.
    ok = compileall.compile_dir(
        root / site.lstrip("/"),
        quiet=2,
        stripdir=str(root),
        prependdir="/",
        workers=os.cpu_count() or 1,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not ok:
        progress("wheels: some files did not compile to bytecode (they will be compiled on use)")


# What the venv does not need on the Pi (the wheels install them as dependencies of their
# dependencies): pip and setuptools (nothing is installed on the appliance with them), Kivy's
# own tests, the image build itself, and the locale data of languages other than French and
# English (babel's is 30 MiB; "root" is every locale's parent).
VENV_PRUNE = ("pip", "setuptools", "_distutils_hack", "image_build", "kivy/tests")
BABEL_LOCALES_KEPT = ("root", "fr", "en")


def prune_venv(site: Path) -> int:
    """Delete VENV_PRUNE and babel's unused locales from site-packages; the bytes freed."""
    freed = 0
    doomed = [site / name for name in VENV_PRUNE]
    doomed += [d for d in site.glob("*.dist-info") if d.name.split("-")[0].lower() in
               ("pip", "setuptools")]  # fmt: skip
    locales = site / "babel/locale-data"
    if locales.is_dir():
        doomed += [
            f for f in locales.glob("*.dat")
            if f.stem.split("_")[0] not in BABEL_LOCALES_KEPT
        ]  # fmt: skip
    for path in doomed:
        if path.is_dir():
            freed += tree_size(path)
            shutil.rmtree(path)
        elif path.exists():
            freed += path.stat().st_size
            path.unlink()
    for pth in site.glob("distutils-precedence.pth"):
        pth.unlink()
    return freed


OVERLAY = HERE / "overlay"
OVERLAY_MODES = HERE / "overlay.modes"


def install_overlay(root: Path, overlay: Path = OVERLAY, modes: Path = OVERLAY_MODES) -> list[str]:
    """Copy the overlay tree into the root at the same paths, root-owned: folders 0755, files
    0755 when executable in git, else 0644; then the exceptions of overlay.modes
    (`PATH MODE OWNER:GROUP`, owners by name from the root's own /etc/passwd and group)."""
    copied = []
    for src in sorted(overlay.rglob("*")):
        rel = src.relative_to(overlay)
        dst = root / rel
        if src.is_dir():
            dst.mkdir(parents=True, exist_ok=True)
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.unlink(missing_ok=True)
        shutil.copyfile(src, dst)
        dst.chmod(0o755 if os.access(src, os.X_OK) else 0o644)
        os.chown(dst, 0, 0)
        copied.append(f"/{rel}")
    if modes.exists():
        for raw in modes.read_text(encoding="utf-8").splitlines():
            line = raw.split("#", 1)[0].split()
            if not line:
                continue
            path, mode, owner = line
            user, _, group = owner.partition(":")
            target = root / path.lstrip("/")
            os.chown(target, root_id(root, "passwd", user), root_id(root, "group", group or user))
            target.chmod(int(mode, 8))
    return copied


def root_id(root: Path, table: str, name: str) -> int:
    """A user's or group's number in the root's own /etc/passwd or /etc/group."""
    for line in (root / "etc" / table).read_text(encoding="utf-8").splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2])
    raise BuildError(f"no {'user' if table == 'passwd' else 'group'} {name!r} in the image")


def create_system_users(root: Path) -> None:
    """The users and groups of the overlay's sysusers.d files, made now (not at first boot)
    so that their numbers are fixed in the image and files can be given to them."""
    confs = sorted((root / "usr/lib/sysusers.d").glob("keneya*.conf"))
    if confs:
        # Absolute paths: systemd-sysusers opens the files given as they are, not under --root.
        run(["systemd-sysusers", f"--root={root.resolve()}", *(str(c.resolve()) for c in confs)])


def unit_files(units: Path = HERE / "units") -> list[Path]:
    """The systemd units of the image: services (a template among them) and timers."""
    return sorted([*units.glob("*.service"), *units.glob("*.timer")])


def install_udev_rules(root: Path, rules: Path = HERE / "udev") -> list[str]:
    """udev rules into /usr/lib/udev/rules.d (a stick in: its backup unit)."""
    dest = root / "usr/lib/udev/rules.d"
    dest.mkdir(parents=True, exist_ok=True)
    names = []
    for rule in sorted(rules.glob("*.rules")):
        shutil.copyfile(rule, dest / rule.name)
        (dest / rule.name).chmod(0o644)
        names.append(rule.name)
    return names


def enable_units(root: Path, units: list[Path]) -> list[str]:
    """Install units into /usr/lib/systemd/system and link them as `systemctl enable` would.
    A unit without [Install] (started by a timer, or by udev) is installed, not enabled."""
    enabled = []
    lib = root / "usr/lib/systemd/system"
    for unit in units:
        shutil.copy2(unit, lib / unit.name)
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # keys are case-sensitive in systemd
        parser.read(unit)
        for target in parser.get("Install", "WantedBy", fallback="").split():
            wants = root / "etc/systemd/system" / f"{target}.wants"
            wants.mkdir(parents=True, exist_ok=True)
            link = wants / unit.name
            link.unlink(missing_ok=True)
            link.symlink_to(f"/usr/lib/systemd/system/{unit.name}")
            enabled.append(f"{target}: {unit.name}")
    return enabled


BOOT_MOUNT_OPTIONS = (
    "noauto,x-systemd.automount,x-systemd.idle-timeout=60,noatime,fmask=0077,dmask=0077"
)
FSTAB = f"""\
# Written by the Keneya image build. Partitions are found by label, so the card works in any
# reader; the root is whichever slot (A or B) the initramfs mounted, hence /dev/root. The data
# partition holds the records; the initramfs grows it to the whole card at first boot
# (x-systemd.growfs finishes the file system should that have been cut short).
# Both ext4 file systems are checked at every boot (fsck.repair=yes is on the kernel command
# line): the root by the initramfs (pass 0 here: not again), the data by systemd-fsck.
# commit=60: what is not fsync'ed reaches the card at most once a minute (SQLite syncs its own
# commits), a fifth of ext4's default writes of journal blocks. The boot partition is mounted
# only while something reads it (first boot, a kernel update) and unmounted after 60 s idle, so
# a power cut almost never finds the FAT mounted. /tmp is in RAM.
/dev/root           /                ext4   defaults,noatime,commit=60,errors=remount-ro  0  0
LABEL={BOOT_LABEL}  /boot/firmware   vfat   {BOOT_MOUNT_OPTIONS}  0  2
LABEL={DATA_LABEL}  /var/lib/keneya  ext4   defaults,noatime,commit=60,x-systemd.growfs  0  2
tmpfs               /tmp             tmpfs  mode=1777,nosuid,nodev,size=64m  0  0
"""

CARD_README = """\
Keneya - carte de démarrage / boot card

FR: Déposez ici le fichier de la structure de santé, facility.toml, préparé avec
    « keneya provision new » puis « keneya provision write-card ». Au premier démarrage le
    Pi l'applique, retire ses secrets de la carte et écrit receipt.txt (ou ERREUR.txt).
EN: Put the facility file, facility.toml, here (made with `keneya provision new`, written with
    `keneya provision write-card`). At first boot the Pi applies it, removes its secrets from
    the card and writes receipt.txt (or ERREUR.txt).
"""


def assemble(
    tar: Path, wheels: list[Path], work: Path, version: str, python_version: str,
    update_cert: Path = DEV_CERT,
) -> tuple[Path, Path, Path]:  # fmt: skip
    """Unpack the root filesystem and add the app; returns (boot, root, data) folders."""
    root, boot, data = work / "root", work / "boot", work / "data"
    for d in (root, boot, data):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    progress("assembly: unpacking the root filesystem")
    run(["tar", "-C", str(root), "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpf",
         str(tar)])  # fmt: skip
    progress(f"assembly: /opt/keneya/venv for Python {python_version} from {len(wheels)} wheels")
    install_venv(root, wheels, python_version)
    (root / "usr/local/bin/keneya").symlink_to(f"{VENV}/bin/keneya")

    copied = install_overlay(root)
    progress(f"assembly: {len(copied)} files of image_build/overlay")
    create_system_users(root)
    enabled = enable_units(root, unit_files())
    names = sorted({entry.split(": ")[1] for entry in enabled})
    progress(f"assembly: units enabled: {', '.join(names)}")
    progress(f"assembly: udev rules: {', '.join(install_udev_rules(root))}")

    (root / "etc/fstab").write_text(FSTAB)
    (root / "etc/keneya-release").write_text(version + "\n")
    # The mount point, as closed as the data partition's own root that covers it.
    (root / "var/lib/keneya").mkdir(parents=True, exist_ok=True)
    (root / "var/lib/keneya").chmod(0o700)
    # Root's SSH folder made here, empty: first boot (its unit may write /root/.ssh only, the
    # rest of /root stays read-only to it) puts the [ssh] keys in it.
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    ssh_dir.chmod(0o700)

    # The firmware, kernel, initrd and device trees go to the FAT partition; the root keeps the
    # empty mount point.
    firmware = root / "boot/firmware"
    for item in firmware.iterdir():
        shutil.move(str(item), boot / item.name)
    (boot / "keneya").mkdir()
    (boot / "keneya/LISEZ-MOI.txt").write_text(CARD_README, encoding="utf-8")
    # The root slots' record (hooks/initramfs-slot, provisioning/slots.py): A boots, B is empty.
    (boot / "keneya/slots.txt").write_text(SLOTS_RECORD, encoding="ascii")
    # The certificate whose key signs the bundles this card accepts (RAUC's keyring).
    shutil.copyfile(update_cert, root / "etc/rauc/keyring.pem")
    (root / "etc/rauc/keyring.pem").chmod(0o644)
    return boot, root, data


# --- stage 4: partitions and the image -----------------------------------------------------


def make_fat(boot: Path, out: Path, size: int, epoch: int) -> None:
    with open(out, "wb") as f:
        f.truncate(size)
    # -s 2: with default clusters mtools reads a 256 MiB FAT32 as FAT16 ("No directory slots").
    # --invariant: no random or clock-based value, so one commit gives one image.
    run(["mkfs.vfat", "-F", "32", "-s", "2", "-n", BOOT_LABEL, "-i", "4b4e5941", "--invariant",
         str(out)])  # fmt: skip
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    clamp_times(boot, epoch)
    items = [str(p) for p in sorted(boot.iterdir())]
    run(["mcopy", "-s", "-p", "-m", "-i", str(out), *items, "::/"], env=env)


def clamp_times(tree: Path, epoch: int) -> None:
    """Every file's and folder's times at most `epoch` (SOURCE_DATE_EPOCH), links included."""
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in (*dirnames, *filenames):
            path = os.path.join(dirpath, name)
            if os.lstat(path).st_mtime > epoch:
                os.utime(path, (epoch, epoch), follow_symlinks=False)
    if tree.stat().st_mtime > epoch:
        os.utime(tree, (epoch, epoch))


def used_inodes(image: Path) -> list[int]:
    """The inode numbers in use, from dumpe2fs's free ranges of each group."""
    out = run(["dumpe2fs", str(image)]).stdout
    total = int(re.search(r"^Inode count:\s+(\d+)", out, re.M).group(1))
    free = bytearray(total + 1)
    for ranges in re.findall(r"^\s+Free inodes: (.*)$", out, re.M):
        for part in filter(None, (r.strip() for r in ranges.split(","))):
            first, _, last = part.partition("-")
            for n in range(int(first), int(last or first) + 1):
                free[n] = 1
    return [n for n in range(1, total + 1) if not free[n]]


def make_ext4(
    tree: Path, out: Path, size: int, label: str, epoch: int, *, root_owner: str = "0:0",
    root_mode: int = 0o755,
) -> None:  # fmt: skip
    """An ext4 image of `tree`, the same bytes for the same tree and epoch: fixed UUID and
    directory hash seed (from the label), every time at most the epoch. mke2fs -d copies each
    file's ctime, which no one can set, so debugfs sets the change, access and creation times
    of every inode afterwards (e2fsprogs 1.47.1 does this itself with SOURCE_DATE_EPOCH;
    bookworm has 1.47.0). mke2fs -d also gives the root folder 0755 root whatever the tree
    says: `root_owner`/`root_mode` are set the same way."""
    out.unlink(missing_ok=True)
    clamp_times(tree, epoch)
    seed = hashlib.sha256(label.encode()).hexdigest()
    uuid = f"{seed[:8]}-{seed[8:12]}-4{seed[13:16]}-8{seed[17:20]}-{seed[20:32]}"
    hash_seed = f"{seed[32:40]}-{seed[40:44]}-4{seed[45:48]}-8{seed[49:52]}-{seed[52:64]}"
    env = dict(os.environ, E2FSPROGS_FAKE_TIME=str(epoch))
    # -T default: 4 KiB blocks. mke2fs would pick its "small" type (1 KiB blocks, an inode per
    # 4 KiB) for the 128 MiB data partition, which keeps that shape when grown to the card.
    run(["mke2fs", "-q", "-t", "ext4", "-T", "default", "-L", label, "-U", uuid,
         "-E", f"hash_seed={hash_seed}", "-d", str(tree), "-F", str(out), f"{size // 1024}k"],
        env=env)  # fmt: skip
    uid, gid = root_owner.split(":")
    commands = [f"sif <2> mode 0{0o040000 | root_mode:o}", f"sif <2> uid {uid}",
                f"sif <2> gid {gid}"]  # fmt: skip
    for n in used_inodes(out):
        for field in ("ctime", "atime", "crtime"):
            commands += [f"sif <{n}> {field} @{epoch}", f"sif <{n}> {field}_extra 0"]
    script = out.with_suffix(".debugfs")
    script.write_text("\n".join(commands) + "\n")
    run(["debugfs", "-w", "-f", str(script), str(out)], env=env)
    script.unlink()
    run(["e2fsck", "-fn", str(out)])


def copy_sparse(src: Path, dst, offset: int) -> None:
    """Copy src into the open image at offset, skipping zero blocks (the image stays sparse)."""
    block = MIB
    zero = bytes(block)
    with open(src, "rb") as f:
        pos = offset
        while chunk := f.read(block):
            if chunk != zero[: len(chunk)]:
                dst.seek(pos)
                dst.write(chunk)
            pos += len(chunk)


def make_image(boot: Path, root: Path, data: Path, work: Path, image: Path, epoch: int) -> Layout:
    root_size = round_mib(tree_size(root) * 11 // 10 + ROOT_SPARE_MIB * MIB)
    if root_size > SLOT_MIB * MIB:
        raise BuildError(
            f"the root file system needs {root_size // MIB} MiB, more than a slot's"
            f" {SLOT_MIB} MiB: cards already in clinics could not take this version"
        )
    layout = Layout(boot=BOOT_MIB * MIB, root=SLOT_MIB * MIB, data=DATA_MIB * MIB)
    progress(f"partitions: boot {BOOT_MIB} MiB FAT32, root slots A and B {SLOT_MIB} MiB"
             f" (A: {root_size // MIB} MiB ext4, B empty), data {DATA_MIB} MiB ext4")  # fmt: skip
    fat, root_img, data_img = work / "boot.fat", work / "root.ext4", work / "data.ext4"
    make_fat(boot, fat, layout.boot, epoch)
    progress("partitions: root filesystem (mke2fs -d)")
    make_ext4(root, root_img, root_size, ROOT_LABEL, epoch)
    # The records' partition: its root folder is the service user's alone (the database).
    owner = f"{root_id(root, 'passwd', SERVICE_USER)}:{root_id(root, 'group', SERVICE_USER)}"
    make_ext4(data, data_img, layout.data, DATA_LABEL, epoch, root_owner=owner, root_mode=0o700)
    image.unlink(missing_ok=True)
    with open(image, "wb") as f:
        f.truncate(layout.total)
    run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", str(image)],
        input=layout.sfdisk_script())  # fmt: skip
    with open(image, "r+b") as f:
        copy_sparse(fat, f, layout.boot_start)
        copy_sparse(root_img, f, layout.root_start)
        copy_sparse(data_img, f, layout.data_start)
    for part in (fat, root_img, data_img):
        part.unlink()
    return layout


# --- stage 5: the file to flash, its checksum and manifest ---------------------------------


def dpkg_packages(root: Path) -> dict[str, str]:
    installed = {}
    status = (root / "var/lib/dpkg/status").read_text(encoding="utf-8")
    for block in status.split("\n\n"):
        fields = dict(re.findall(r"^(Package|Version|Status): (.*)$", block, re.M))
        if fields.get("Status", "").endswith(" installed") and "Package" in fields:
            installed[fields["Package"]] = fields["Version"]
    return dict(sorted(installed.items()))


def wheel_versions(wheels: list[Path]) -> dict[str, str]:
    pairs = (w.name.split("-")[:2] for w in wheels)
    return dict(sorted((name.replace("_", "-").lower(), version) for name, version in pairs))


def compress(image: Path) -> tuple[Path, str]:
    """The .img.xz and its sha256 (also written beside it, as sha256sum -c reads it)."""
    xz = image.with_name(image.name + ".xz")
    xz.unlink(missing_ok=True)
    # -9: 4 % smaller than -6 for 40 % more time (212 vs 222 MB, 241 vs 170 s on 2 cores);
    # decompressing needs 65 MiB, which any flashing tool has. Multi-threaded xz cuts the
    # input into blocks of a size set by the level, not by the thread count: the same file
    # from any machine.
    progress(f"compressing: xz -9 on {os.cpu_count()} threads")
    run(["xz", "-9", "-T0", "--keep", "--force", str(image)])
    digest = sha256_file(xz)
    (xz.with_name(xz.name + ".sha256")).write_text(f"{digest}  {xz.name}\n")
    return xz, digest


def target_python_from_tar(tar: Path, work: Path) -> str:
    """Read dpkg's status file out of the tar without unpacking the rest."""
    scratch = work / "dpkg-status"
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    run(["tar", "-C", str(scratch), "-xf", str(tar), "./var/lib/dpkg/status"])
    version = target_python(scratch)
    shutil.rmtree(scratch)
    return version


@contextlib.contextmanager
def work_folder_lock(work: Path):
    """One build at a time in a work folder: a second one would unpack its root over the
    first's, or delete it under it (seen: the first's cleanup removed the second's root)."""
    work.mkdir(parents=True, exist_ok=True)
    with open(work / ".build.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildError(
                f"another image build is running with the work folder {work}: wait for it, or"
                " give this one another --work"
            ) from None
        yield


def build(
    out: Path, cache: Path, work: Path, keep_raw: bool = True, update_cert: Path | None = None
) -> dict:
    with work_folder_lock(work):
        return _build(out, cache, work, keep_raw, update_cert or DEV_CERT)


def _build(out: Path, cache: Path, work: Path, keep_raw: bool, update_cert: Path) -> dict:
    check_host()
    if not update_cert.is_file():
        raise BuildError(f"no certificate for the update keyring at {update_cert}")
    if update_cert.resolve() == DEV_CERT.resolve():
        progress("keyring: the DEVELOPMENT certificate (tests only): give the district's"
                 " with --update-cert or KENEYA_UPDATE_CERT for a card for a clinic")  # fmt: skip
    version = app_version()
    epoch = source_date_epoch()
    tar = build_rootfs(cache)
    # The target's Python version decides which wheels fit: read it from the cached root.
    python_version = target_python_from_tar(tar, work)
    wheel_dir = work / "wheels"
    if wheel_dir.exists():
        shutil.rmtree(wheel_dir)
    wheels = fetch_wheels(wheel_dir, python_version)
    boot, root, data = assemble(tar, wheels, work, version, python_version, update_cert)
    out.mkdir(parents=True, exist_ok=True)
    image = out / f"keneya-{version}-arm64.img"
    layout = make_image(boot, root, data, work, image, epoch)
    xz, digest = compress(image)
    manifest = {
        "app_version": version,
        # the commit's time (SOURCE_DATE_EPOCH), not the clock: the build is reproducible
        "build_date": dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds"),
        "recipe_hash": recipe_hash(),
        "suite": SUITE,
        "image": xz.name,
        "image_sha256": digest,
        "raw_bytes": layout.total,
        "compressed_bytes": xz.stat().st_size,
        "partitions": {
            BOOT_LABEL: [layout.boot_start, layout.boot],
            ROOT_LABEL: [layout.root_start, layout.root],
            "root-b": [layout.root_b_start, layout.root],
            DATA_LABEL: [layout.data_start, layout.data],
        },
        "update_keyring": {
            "certificate_sha256": sha256_file(update_cert),
            "development": update_cert.resolve() == DEV_CERT.resolve(),
        },
        "python": python_version,
        "python_packages": wheel_versions(wheels),
        "debian_packages": dpkg_packages(root),
    }
    manifest_path = out / f"keneya-{version}-arm64.manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    if not keep_raw:
        image.unlink()
    for d in (boot, root, data, wheel_dir):
        shutil.rmtree(d)
    return manifest
