"""The image build's own steps on small trees: the venv from wheels, the units, the partitions.

The full build (mmdebstrap under qemu-user, about 1.5 GB) runs in `make image`; these tests run
the same functions on a few files with the real mkfs.vfat, mke2fs, sfdisk and mtools.
"""

from __future__ import annotations

import base64
import hashlib
import marshal
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from image_build import build
from provisioning import card

pytestmark = pytest.mark.component


def make_wheel(folder: Path, name: str = "demo_app", version: str = "1.0") -> Path:
    """A minimal wheel with a module and a console script, as a build backend writes one."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": b"def main():\n    print('hello')\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
        f"{dist}/entry_points.txt": f"[console_scripts]\ndemo-app = {name}:main\n".encode(),
    }
    lines = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{path},sha256={digest},{len(data)}")
    lines.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = ("\n".join(lines) + "\n").encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
    return wheel


EPOCH = 1_767_225_600  # 2026-01-01


def write_users(root: Path, uid: int = 995) -> None:
    """The root's /etc/passwd and /etc/group with root and the service user."""
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc/passwd").write_text(
        f"root:x:0:0:root:/root:/bin/sh\nkeneya:x:{uid}:{uid}::/var/lib/keneya:/usr/sbin/nologin\n"
    )
    (root / "etc/group").write_text(f"root:x:0:\nkeneya:x:{uid}:\n")


def test_venv_is_laid_out_for_the_pi_with_its_interpreter_and_compiled_bytecode(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    wheel = make_wheel(tmp_path)
    build.install_venv(root, [wheel], "3.11.2")
    venv = root / "opt/keneya/venv"
    cfg = (venv / "pyvenv.cfg").read_text()
    assert "home = /usr/bin" in cfg and "version = 3.11.2" in cfg
    assert os.readlink(venv / "bin/python3") == "/usr/bin/python3.11"
    script = (venv / "bin/demo-app").read_text()
    # The #! names the Pi's venv, not the Python that ran the build.
    assert script.startswith("#!/opt/keneya/venv/bin/python3\n")
    assert os.access(venv / "bin/demo-app", os.X_OK)
    site = venv / "lib/python3.11/site-packages"
    assert (site / "demo_app/__init__.py").exists()
    (pyc,) = (site / "demo_app/__pycache__").glob("__init__.cpython-*.pyc")
    data = pyc.read_bytes()
    assert int.from_bytes(data[4:8], "little") == 0b01  # hash-based, not checked against mtime
    code = marshal.loads(data[16:])
    assert code.co_filename == "/opt/keneya/venv/lib/python3.11/site-packages/demo_app/__init__.py"
    assert (site / "demo_app-1.0.dist-info/INSTALLER").read_text() == "keneya-image\n"


def test_units_are_installed_and_enabled_like_systemctl_enable(tmp_path):
    root = tmp_path / "root"
    (root / "usr/lib/systemd/system").mkdir(parents=True)
    units = build.unit_files()
    enabled = build.enable_units(root, units)
    assert "multi-user.target: keneya-modem.service" in enabled
    assert "timers.target: keneya-backup.timer" in enabled
    assert "timers.target: keneya-due.timer" in enabled
    link = root / "etc/systemd/system/multi-user.target.wants/keneya-firstboot.service"
    assert os.readlink(link) == "/usr/lib/systemd/system/keneya-firstboot.service"
    assert (root / "usr/lib/systemd/system/keneya-firstboot.service").is_file()
    # Every unit the repository holds is installed, and enabled somewhere unless a timer or
    # udev starts it.
    started_by_others = {
        "keneya-backup.service",
        "keneya-due.service",
        "keneya-clock-save.service",
        "keneya-warnings.service",
        "keneya-usb-backup@.service",
        "keneya-readonly.service",  # keneya-power starts it, in the read-only hold
        "keneya-update-usb@.service",  # udev, as the backup's
        "keneya-library-usb@.service",  # udev too, after the other two
        "keneya-update-install.service",  # the web app, when the admin confirms
        "keneya-update-fetched.service",  # keneya-modem, when it fetched an update
    }
    assert {e.split(": ")[1] for e in enabled} == {u.name for u in units} - started_by_others
    for name in started_by_others:
        assert (root / "usr/lib/systemd/system" / name).is_file()
    assert not list((root / "etc/systemd/system").rglob("keneya-usb-backup@*"))


def test_the_usb_stick_rule_goes_where_udev_reads_it(tmp_path):
    root = tmp_path / "root"
    assert build.install_udev_rules(root) == ["90-keneya-usb-backup.rules"]
    rule = root / "usr/lib/udev/rules.d/90-keneya-usb-backup.rules"
    assert rule.read_bytes() == (build.HERE / "udev/90-keneya-usb-backup.rules").read_bytes()
    assert rule.stat().st_mode & 0o777 == 0o644


def test_partition_layout_is_aligned_and_fills_the_image():
    layout = build.Layout(boot=256 * build.MIB, root=1000 * build.MIB, data=128 * build.MIB)
    script = layout.sfdisk_script()
    assert "label: dos" in script and "type=c, bootable" in script
    starts = [int(line.split("start=")[1].split(",")[0]) for line in script.splitlines() if
              line.startswith("start=")]  # fmt: skip
    # boot, root slot A, root slot B (the same size), data
    assert starts == [8192, 8192 + 256 * 2048, 8192 + 1256 * 2048, 8192 + 2256 * 2048]
    assert all(s % 8192 == 0 for s in starts)  # 4 MiB erase blocks
    assert layout.total == (4 + 256 + 1000 + 1000 + 128) * build.MIB
    assert f"label-id: 0x{build.DISK_ID}" in script  # the slots' PARTUUIDs in system.conf


def test_recipe_hash_follows_the_package_list(tmp_path, monkeypatch):
    before = build.recipe_hash()
    assert before == build.recipe_hash()
    fake = tmp_path / "image_build"
    shutil.copytree(build.HERE / "hooks", fake / "hooks")
    packages = fake / "packages.txt"
    packages.write_text((build.HERE / "packages.txt").read_text() + "htop\n")
    monkeypatch.setattr(build, "HERE", fake)
    assert build.recipe_hash() != before
    assert build.debian_packages(packages)[-1] == "htop"
    assert "# " not in " ".join(build.debian_packages(packages))


def test_dpkg_status_gives_installed_packages_and_the_target_python(tmp_path):
    status = tmp_path / "var/lib/dpkg/status"
    status.parent.mkdir(parents=True)
    status.write_text(
        "Package: python3.11-minimal\nStatus: install ok installed\nVersion: 3.11.2-6+deb12u6\n\n"
        "Package: nano\nStatus: deinstall ok config-files\nVersion: 7.2-1\n\n"
        "Package: zstd\nStatus: install ok installed\nVersion: 1.5.4+dfsg2-5\n"
    )
    assert build.dpkg_packages(tmp_path) == {
        "python3.11-minimal": "3.11.2-6+deb12u6",
        "zstd": "1.5.4+dfsg2-5",
    }
    assert build.target_python(tmp_path) == "3.11.2"


def test_image_has_its_partitions_readable_without_mounting(tmp_path, monkeypatch):
    boot, root, data = tmp_path / "boot", tmp_path / "root", tmp_path / "data"
    (boot / "keneya").mkdir(parents=True)
    (boot / "cmdline.txt").write_text("root=LABEL=keneya-root rootwait\n")
    (boot / "keneya/LISEZ-MOI.txt").write_text(build.CARD_README, encoding="utf-8")
    (root / "etc").mkdir(parents=True)
    (root / "etc/keneya-release").write_text("0.1.0-test\n")
    write_users(root)
    data.mkdir()
    for name, value in dict(BOOT_MIB=128, DATA_MIB=16, ROOT_SPARE_MIB=16, SLOT_MIB=48).items():
        monkeypatch.setattr(build, name, value)
    image = tmp_path / "card.img"
    layout = build.make_image(boot, root, data, tmp_path, image, EPOCH)
    assert image.stat().st_size == layout.total
    parts = card.partitions(image)
    assert [p.start for p in parts] == [
        layout.boot_start, layout.root_start, layout.root_b_start, layout.data_start
    ]  # fmt: skip
    slot_b = image.read_bytes()[layout.root_b_start : layout.data_start]
    assert not slot_b.strip(b"\0")  # empty until the first update
    assert parts[0].type_id == 0x0C
    # The boot partition is where `provision write-card` will find it.
    assert card.boot_partition(image).start == layout.boot_start
    assert card.read_file(image, "cmdline.txt") == b"root=LABEL=keneya-root rootwait\n"
    assert card.list_dir(image, "keneya") == ["LISEZ-MOI.txt"]
    dumped = tmp_path / "release"
    subprocess.run(
        ["debugfs", "-R", f"dump /etc/keneya-release {dumped}",
         f"{image}?offset={layout.root_start}"],
        check=True, capture_output=True,
    )  # fmt: skip
    assert dumped.read_text() == "0.1.0-test\n"
    labels = []
    for start in (layout.root_start, layout.data_start):
        dump = ["dumpe2fs", "-h", f"{image}?offset={start}"]
        out = subprocess.run(dump, check=True, capture_output=True, text=True).stdout
        labels.append(next(ln.split(":", 1)[1].strip() for ln in out.splitlines()
                           if ln.startswith("Filesystem volume name")))  # fmt: skip
    assert labels == ["keneya-root", "keneya-data"]
    # 4 KiB blocks even on the small data partition (it grows to the whole card)
    assert "Block size:               4096" in out


def test_the_boot_test_of_a_missing_image_says_what_to_do(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "image_build", "test", str(tmp_path / "none.img.xz")],
        capture_output=True,
        text=True,
        cwd=build.PROJECT,
        timeout=120,
    )
    assert r.returncode == 1
    assert "no image at" in r.stderr and "make image" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_second_build_in_the_same_work_folder_is_refused(tmp_path):
    with (
        build.work_folder_lock(tmp_path / "work"),
        pytest.raises(build.BuildError, match="another image build is running"),
    ):
        build.build(tmp_path / "out", tmp_path / "cache", tmp_path / "work")
    with build.work_folder_lock(tmp_path / "work"):  # free again once the first is done
        pass
