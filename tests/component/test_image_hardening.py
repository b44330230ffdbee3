"""The image's hardening as the build makes it: one commit gives one image, the data partition
is the service user's alone, the overlay lands with its modes, nothing the Pi never uses is in
the venv or among the kernel modules, the card is written little (fstab, journald); and the
boot test's outside checks read what they claim to read (real debugfs, systemd-analyze,
sockets)."""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import shutil
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from image_build import boothardening, build
from tests.component.test_image_build import EPOCH, write_users

pytestmark = pytest.mark.component

HOOKS = build.HERE / "hooks"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def debugfs(image: Path, offset: int, request: str) -> str:
    done = subprocess.run(
        ["debugfs", "-R", request, f"{image}?offset={offset}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def small_trees(base: Path) -> tuple[Path, Path, Path]:
    boot, root, data = base / "boot", base / "root", base / "data"
    (boot / "keneya").mkdir(parents=True)
    (boot / "cmdline.txt").write_text("root=LABEL=keneya-root rootwait\n")
    (boot / "keneya/LISEZ-MOI.txt").write_text(build.CARD_README, encoding="utf-8")
    (root / "etc/keneya").mkdir(parents=True)
    (root / "etc/keneya-release").write_text("0.1.0-test\n")
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/tool").write_text("#!/bin/sh\n")
    (root / "usr/bin/link").symlink_to("tool")
    write_users(root, uid=995)
    data.mkdir()
    return boot, root, data


def test_two_builds_of_one_tree_give_the_same_image_and_a_closed_data_partition(
    tmp_path, monkeypatch
):
    for name, value in dict(BOOT_MIB=128, DATA_MIB=16, ROOT_SPARE_MIB=8).items():
        monkeypatch.setattr(build, name, value)
    images = []
    for n in (1, 2):
        # Each build starts from its own fresh copy: new inodes, ctimes and mtimes of now.
        base = tmp_path / f"b{n}"
        boot, root, data = small_trees(base)
        image = base / "card.img"
        layout = build.make_image(boot, root, data, base, image, EPOCH)
        images.append(image)
    assert sha256(images[0]) == sha256(images[1])
    data_stat = boothardening.parse_debugfs_stat(debugfs(images[0], layout.data_start, "stat /"))
    assert data_stat == {"mode": 0o700, "uid": 995, "gid": 995}
    root_stat = boothardening.parse_debugfs_stat(debugfs(images[0], layout.root_start, "stat /"))
    assert root_stat == {"mode": 0o755, "uid": 0, "gid": 0}
    # Every time of a file is the epoch (mtime clamped, ctime/atime/crtime set by debugfs).
    stat = debugfs(images[0], layout.root_start, "stat /etc/keneya-release")
    assert stat.count("0x6955b900:00000000") == 4, stat  # hex(EPOCH), no nanoseconds
    subprocess.run(["e2fsck", "-fn", f"{images[0]}?offset={layout.root_start}"], check=False)


def test_the_epoch_is_the_commits_time_unless_given(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert build.source_date_epoch() == 1_700_000_000
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    commit = subprocess.run(
        ["git", "-C", str(build.PROJECT), "log", "-1", "--format=%ct"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert build.source_date_epoch() == int(commit)


def test_the_overlay_lands_at_its_paths_with_its_modes_and_owners(tmp_path):
    overlay, root = tmp_path / "overlay", tmp_path / "root"
    (overlay / "etc/demo").mkdir(parents=True)
    (overlay / "etc/demo/plain.conf").write_text("a=1\n")
    (overlay / "etc/demo/run.sh").write_text("#!/bin/sh\n")
    (overlay / "etc/demo/run.sh").chmod(0o755)
    (overlay / "etc/demo/private.conf").write_text("secret\n")
    modes = tmp_path / "overlay.modes"
    modes.write_text("# path mode owner\n/etc/demo/private.conf 0640 root:keneya\n")
    write_users(root, uid=990)
    copied = build.install_overlay(root, overlay, modes)
    assert copied == ["/etc/demo/plain.conf", "/etc/demo/private.conf", "/etc/demo/run.sh"]
    st = {p: os.stat(root / "etc/demo" / p) for p in ("plain.conf", "run.sh", "private.conf")}
    assert st["plain.conf"].st_mode & 0o7777 == 0o644
    assert st["run.sh"].st_mode & 0o7777 == 0o755
    assert st["private.conf"].st_mode & 0o7777 == 0o640
    assert (st["private.conf"].st_uid, st["private.conf"].st_gid) == (0, 990)
    modes.write_text("/etc/demo/private.conf 0640 root:nobody-here\n")
    with pytest.raises(build.BuildError, match="no group 'nobody-here' in the image"):
        build.install_overlay(root, overlay, modes)


def test_the_image_overlay_is_a_valid_tree():
    """Every line of the real overlay.modes names a file of the overlay, with a mode and owner."""
    assert build.OVERLAY.is_dir()
    journald = build.OVERLAY / "etc/systemd/journald.conf.d/keneya.conf"
    assert "Storage=volatile" in journald.read_text()
    if build.OVERLAY_MODES.exists():
        for raw in build.OVERLAY_MODES.read_text().splitlines():
            line = raw.split("#", 1)[0].split()
            if line:
                path, mode, owner = line
                assert (build.OVERLAY / path.lstrip("/")).exists(), path
                assert int(mode, 8) <= 0o7777 and ":" in owner


def test_the_venv_loses_what_the_pi_never_runs(tmp_path):
    site = tmp_path / "site-packages"
    for folder in ("pip", "setuptools", "_distutils_hack", "image_build", "kivy/tests",
                   "kivy/core", "appliance", "babel/locale-data"):  # fmt: skip
        (site / folder).mkdir(parents=True)
        (site / folder / "__init__.py").write_text("x = 1\n" * 500)
    (site / "pip-24.0.dist-info").mkdir()
    (site / "distutils-precedence.pth").write_text("import _distutils_hack\n")
    for locale in ("root", "fr", "fr_ML", "en", "en_GB", "de", "bm", "zh_Hant_TW"):
        (site / "babel/locale-data" / f"{locale}.dat").write_bytes(b"x" * 100)
    freed = build.prune_venv(site)
    left = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_dir())
    assert left == ["appliance", "babel", "babel/locale-data", "kivy", "kivy/core"]
    kept = sorted(p.stem for p in (site / "babel/locale-data").glob("*.dat"))
    assert kept == ["en", "en_GB", "fr", "fr_ML", "root"]
    assert not (site / "distutils-precedence.pth").exists()
    assert freed > 4 * 3000


def load_prune_modules():
    loader = importlib.machinery.SourceFileLoader("prune_modules", str(HOOKS / "prune-modules"))
    spec = importlib.util.spec_from_loader("prune_modules", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_module_pruning_keeps_what_a_kept_driver_needs(tmp_path):
    prune = load_prune_modules()
    moddir = tmp_path / "usr/lib/modules/6.1.0-test-arm64"
    deps = {
        # vc4 (kept) needs the sound and CEC cores, which are in dropped folders
        "kernel/drivers/gpu/drm/vc4/vc4.ko": ["kernel/sound/core/snd.ko",
                                              "kernel/drivers/media/cec/core/cec.ko"],
        "kernel/sound/core/snd.ko": ["kernel/sound/soundcore.ko"],
        "kernel/sound/soundcore.ko": [],
        "kernel/drivers/media/cec/core/cec.ko": [],
        "kernel/drivers/media/usb/uvc/uvcvideo.ko": [],
        "kernel/drivers/gpu/drm/amd/amdgpu/amdgpu.ko": [],
        "kernel/drivers/net/wireless/broadcom/brcm80211/brcmfmac/brcmfmac.ko": [],
        "kernel/drivers/net/wireless/realtek/rtw88/rtw88_core.ko": [],
        "kernel/drivers/net/ethernet/broadcom/genet/genet.ko": [],
        "kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko": [],
        "kernel/drivers/net/usb/smsc95xx.ko": [],
        "kernel/drivers/scsi/sd_mod.ko": [],
        "kernel/drivers/scsi/qla2xxx/qla2xxx.ko": [],
        "kernel/fs/ext4/ext4.ko": [],
        "kernel/fs/btrfs/btrfs.ko": [],
        "kernel/net/netfilter/nf_tables.ko": [],
        "kernel/net/bluetooth/bluetooth.ko": [],
    }  # fmt: skip
    for name in deps:
        (moddir / name).parent.mkdir(parents=True, exist_ok=True)
        (moddir / name).write_bytes(b"\0" * 1024)
    (moddir / "modules.dep").write_text("".join(f"{m}: {' '.join(d)}\n" for m, d in deps.items()))
    prune.main(tmp_path)
    left = sorted(str(p.relative_to(moddir)) for p in moddir.rglob("*.ko"))
    assert left == sorted([
        "kernel/drivers/gpu/drm/vc4/vc4.ko",
        "kernel/sound/core/snd.ko",
        "kernel/sound/soundcore.ko",
        "kernel/drivers/media/cec/core/cec.ko",
        "kernel/drivers/net/wireless/broadcom/brcm80211/brcmfmac/brcmfmac.ko",
        "kernel/drivers/net/ethernet/broadcom/genet/genet.ko",
        "kernel/drivers/net/usb/smsc95xx.ko",
        "kernel/drivers/scsi/sd_mod.ko",
        "kernel/fs/ext4/ext4.ko",
        "kernel/net/netfilter/nf_tables.ko",
    ])  # fmt: skip
    assert not (moddir / "kernel/drivers/gpu/drm/amd").exists()  # empty folders go too


def test_the_card_is_checked_and_written_little():
    fstab = {line.split()[1]: line.split() for line in build.FSTAB.splitlines()
             if line and not line.startswith("#")}  # fmt: skip
    # fsck at each boot: the data by systemd (pass 2); the root, whichever slot, by the
    # initramfs before it mounts it (/dev/root, pass 0: not a second time)
    assert fstab["/"][0] == "/dev/root" and fstab["/"][5] == "0"
    assert fstab["/var/lib/keneya"][5] == "2"
    assert "commit=60" in fstab["/"][3] and "commit=60" in fstab["/var/lib/keneya"][3]
    assert fstab["/tmp"][2] == "tmpfs"
    boot = fstab["/boot/firmware"][3].split(",")
    assert "noauto" in boot and "x-systemd.automount" in boot
    assert any(o.startswith("x-systemd.idle-timeout=") for o in boot)
    essential = (HOOKS / "essential.sh").read_text()
    # the initramfs's fsck hook cannot find the root's type in the build chroot
    assert "FSTYPE=ext4" in essential
    assert "path-include=/usr/share/doc/*/copyright" in essential
    assert "path-include=/usr/share/locale/fr/*" in essential
    customize = (HOOKS / "customize.sh").read_text()
    assert "systemctl enable nftables.service" in customize
    assert customize.index("prune-modules") < customize.index("update-initramfs -c")
    assert "! -name 'brcmfmac4345[56]*'" in customize  # the Pi 3 B+/4's Wi-Fi stays
    assert {"nftables", "polkitd"} <= set(build.debian_packages())


# ------------------------------------------------------------ the boot test's outside eyes


def test_debugfs_stat_is_read_from_a_real_file_system(tmp_path):
    tree = tmp_path / "tree"
    (tree / "secrets").mkdir(parents=True)
    (tree / "secrets/token").write_text("x\n")
    (tree / "secrets/token").chmod(0o600)
    (tree / "secrets").chmod(0o700)
    image = tmp_path / "fs.img"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-d", str(tree), "-F", str(image), "8m"],
                   check=True)  # fmt: skip
    stat = boothardening.parse_debugfs_stat(debugfs(image, 0, "stat /secrets/token"))
    assert stat["mode"] == 0o600 and stat["uid"] == os.getuid()
    assert boothardening.parse_debugfs_stat(debugfs(image, 0, "stat /secrets"))["mode"] == 0o700
    done = subprocess.run(["debugfs", "-R", "stat /nothing", str(image)],
                          capture_output=True, text=True)  # fmt: skip
    assert boothardening.parse_debugfs_stat(done.stdout) is None


def test_unit_scores_and_users_are_read_as_systemd_gives_them(tmp_path):
    loose = tmp_path / "loose.service"
    loose.write_text("[Service]\nExecStart=/bin/true\n")
    tight = build.HERE / "units/keneya-warnings.service"
    scores = {}
    for unit in (loose, tight):
        done = subprocess.run(
            ["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit)],
            capture_output=True, text=True,
        )  # fmt: skip
        scores[unit.name] = boothardening.exposure(done.stdout + done.stderr)
    assert scores["loose.service"] > 9.0
    assert scores["keneya-warnings.service"] <= boothardening.SECURITY_GOAL
    assert boothardening.unit_user(tight.read_text()) == "keneya"
    assert boothardening.unit_user(loose.read_text()) == "root"
    passwd = "root:x:0:0::/root:/bin/sh\nkeneya:x:996:993::/var/lib/keneya:/usr/sbin/nologin\n"
    assert boothardening.passwd_ids(passwd, "keneya") == (996, 993)
    assert boothardening.passwd_ids(passwd, "nobody") is None


def test_console_and_block_statistics_are_parsed():
    console = "\n".join([
        "Begin: Will now check root file system ... fsck from util-linux 2.38.1",
        "[/sbin/fsck.ext4 (1) -- /dev/vda2] fsck.ext4 -y -C0 /dev/vda2",
        "keneya-root: clean, 40000/100000 files, 200000/400000 blocks",
        "[  OK  ] Finished systemd-fsck@dev-disk-by\\x2dlabel-keneya\\x2ddata.service - File"
        " System Check on /dev/disk/by-label/keneya\\x2ddata.",
        "[  OK  ] Mounted tmp.mount - /tmp.",
        "[  OK  ] Finished nftables.service - nftables.",
        "[  OK  ] Started ssh.service - OpenBSD Secure Shell server.",
    ])  # fmt: skip
    assert all(boothardening.console_facts(console).values())
    assert not boothardening.console_facts(console.replace("Mounted", "Unmounted"))["tmp_in_ram"]
    assert not boothardening.console_facts("nothing")["fsck_root_ran"]
    stats = "virtio0: rd_bytes=1000 wr_bytes=123456 rd_operations=3 wr_operations=4\n"
    assert boothardening.blockstats_written(stats) == 123456
    assert boothardening.blockstats_written("") is None


def test_a_persistent_journal_is_found_in_its_machine_id_folder(tmp_path):
    """The card check lists /var/log/journal and each folder in it, as debugfs shows them: a
    journal a persistent journald would leave (in its machine-id folder) is found."""
    tree = tmp_path / "tree"
    (tree / "var/log/journal/0123abcd").mkdir(parents=True)
    (tree / "var/log/journal/0123abcd/system.journal").write_bytes(b"LPKSHHRH")
    fs = tmp_path / "root.ext4"
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-d", str(tree), str(fs), "8M"], check=True)

    def ls(path):
        done = subprocess.run(["debugfs", "-R", f"ls -p {path}", str(fs)],
                              capture_output=True, text=True, check=True)  # fmt: skip
        return done.stdout

    folders = boothardening.journal_folders(ls("/var/log/journal"))
    assert folders == ["/var/log/journal/0123abcd"]
    assert boothardening.debugfs_names(ls(folders[0])) == ["system.journal"]
    assert boothardening.debugfs_names(ls("/var/log/journal")) == ["0123abcd"]


def serve_once(banner: bytes | None) -> tuple[int, threading.Event]:
    """A local TCP server that sends `banner` (or nothing) to its first client."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    done = threading.Event()

    def run():
        conn, _ = server.accept()
        if banner:
            conn.sendall(banner)
        done.wait(5)
        conn.close()
        server.close()

    threading.Thread(target=run, daemon=True).start()
    return server.getsockname()[1], done


def test_ssh_answers_only_when_a_banner_comes_back():
    port, done = serve_once(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
    assert boothardening.ssh_answers(port, wait=3)
    done.set()
    # qemu accepts the host's connection itself: a guest that drops sends nothing back
    port, done = serve_once(None)
    assert not boothardening.ssh_answers(port, wait=1)
    done.set()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    assert not boothardening.ssh_answers(port, wait=1)


def test_tools_the_outside_checks_need_are_installed_by_setup():
    for tool in ("debugfs", "dumpe2fs", "systemd-analyze", "systemd-sysusers"):
        assert shutil.which(tool), f"{tool} missing: scripts/setup.sh must install it"


def test_the_boot_test_knows_the_same_root_units_as_the_unit_tests():
    from tests.component.test_least_privilege import ROOT_UNITS

    assert set(boothardening.ROOT_UNITS) == set(ROOT_UNITS)
