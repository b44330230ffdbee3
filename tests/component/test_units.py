"""The systemd units of the SD-card image (image_build/units): what they run exists, the
notify protocol they declare is the one the code speaks, and systemd itself finds nothing to
say about them. The commands run here for real, as the units run them, in a temp home."""

from __future__ import annotations

import configparser
import fnmatch
import http.client
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from appliance.store import Store
from tests.conftest import running, sigterm

pytestmark = pytest.mark.component

ROOT = Path(__file__).parents[2]
UNITS = ROOT / "image_build" / "units"
KENEYA = str(Path(sys.executable).parent / "keneya")
APP = "/opt/keneya/venv/bin/keneya"
HOOKS = UNITS.parent / "hooks"
SERVICES = sorted(UNITS.glob("*.service"))
TIMERS = sorted(UNITS.glob("*.timer"))
RULES = UNITS.parent / "udev" / "90-keneya-usb-backup.rules"
# Units that run before keneya-firstboot (it is After=local-fs.target) or are it.
EARLY = {"keneya-firstboot.service"}
# Services with no [Install]: what starts them instead.
STARTED_BY = {
    "keneya-backup.service": "keneya-backup.timer",
    "keneya-due.service": "keneya-due.timer",
    "keneya-usb-backup@.service": "udev",
    "keneya-readonly.service": "keneya-power (`systemctl start`, in the read-only hold)",
    "keneya-clock-save.service": "keneya-clock-save.timer",
    "keneya-warnings.service": "keneya-warnings.timer",
    "keneya-update-usb@.service": "udev",
    "keneya-library-usb@.service": "udev",
    "keneya-update-install.service": "the web app (`systemctl start`, when the admin confirms)",
    "keneya-update-fetched.service": "keneya-modem (`systemctl start`, an update fetched)",
}
ENV_DROPPED = ("KENEYA_HOME", "KENEYA_PIN", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def parse(path: Path) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # keys are case-sensitive in systemd
    unit.read(path, encoding="utf-8")
    return unit


def values(path: Path, section: str, key: str) -> list[str]:
    """Every value of a key that systemd allows more than once (configparser keeps the last)."""
    out, current = [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("["):
            current = line.strip("[]")
        elif current == section and line.startswith(f"{key}="):
            out.append(line.split("=", 1)[1])
    return out


def words(value: str) -> list[str]:
    return value.split()


def exec_start(path: Path) -> list[str]:
    argv = shlex.split(parse(path)["Service"]["ExecStart"])
    argv[0] = argv[0].lstrip("-@:+!")  # systemd's prefixes
    return argv


def app_argv(path: Path) -> list[str]:
    """The `keneya` command line a unit runs: its ExecStart, or the one a `/bin/sh -c` start
    command execs (the kiosk's, after its wait for a screen); [] when it runs none."""
    argv = exec_start(path)
    if argv[:2] == ["/bin/sh", "-c"] and f"exec {APP} " in argv[2]:
        tail = argv[2].split(f"exec {APP} ", 1)[1]
        return [APP, *shlex.split(tail.split(";", 1)[0])]
    return argv if argv[0] == APP else []


def keneya_units() -> list[Path]:
    return [p for p in SERVICES if app_argv(p)]


def clean_env(**extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ENV_DROPPED} | extra


def test_the_expected_units_are_there():
    names = {p.name for p in SERVICES}
    assert {
        "keneya-firstboot.service",
        "keneya-modem.service",
        "keneya-web.service",
        "keneya-power.service",
        "keneya-kiosk.service",
    } <= names


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_each_unit_is_enabled_for_the_boot_and_ordered(path):
    unit = parse(path)
    if path.name in STARTED_BY:
        assert not unit.has_section("Install")  # never enabled: the timer or udev starts it
    else:
        assert "multi-user.target" in words(unit["Install"]["WantedBy"])
    assert unit["Unit"]["Description"].strip()
    if path.name not in EARLY:
        assert "keneya-firstboot.service" in words(unit["Unit"].get("After", ""))


@pytest.mark.parametrize("path", keneya_units(), ids=lambda p: p.name)
def test_the_command_of_each_unit_exists_with_these_options(path):
    argv = app_argv(path)
    # the same arguments minus the system paths (and the options that name them)
    args: list[str] = []
    for a in argv[1:]:
        if a.startswith("/"):
            if args and args[-1].startswith("--"):
                args.pop()
        else:
            args.append(a)
    assert args[0] in {
        "serve", "kiosk", "power", "modem", "provision", "backup", "due", "update", "library"
    }  # fmt: skip
    r = subprocess.run(
        [KENEYA, *args, "--help"],
        capture_output=True,
        text=True,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    for option in (a for a in args if a.startswith("--")):
        assert option in r.stdout


def test_the_app_units_are_skipped_on_a_card_never_provisioned():
    """`keneya serve` and `keneya kiosk` stop with a usage error without a database: their
    units do not start then, instead of restarting."""
    for name in ("keneya-web.service", "keneya-kiosk.service"):
        unit = parse(UNITS / name)
        assert unit["Unit"]["ConditionPathExists"] == "/var/lib/keneya/keneya.db"
        assert unit["Service"]["Restart"] == "on-failure"
        assert int(unit["Unit"]["StartLimitBurst"]) >= 1
    with tempfile.TemporaryDirectory() as home:
        for args in (["serve"], ["kiosk"]):
            r = subprocess.run(
                [KENEYA, "--home", home, *args],
                capture_output=True,
                text=True,
                env=clean_env(),
                stdin=subprocess.DEVNULL,
                timeout=60,
            )
            assert r.returncode == 2 and "no database" in r.stderr, r.stderr


def test_the_web_unit_listens_everywhere_on_port_80_with_the_hotspot_leases():
    argv = exec_start(UNITS / "keneya-web.service")
    assert argv[1] == "serve"
    opts = dict(zip(argv[2::2], argv[3::2], strict=True))
    assert opts["--host"] == "0.0.0.0" and opts["--port"] == "80"
    assert opts["--leases-file"] == "/var/lib/NetworkManager/dnsmasq-wlan0.leases"
    assert "--workers" not in opts  # one process: READY and the watchdog speak for it
    service = parse(UNITS / "keneya-web.service")["Service"]
    assert service["ProtectSystem"] == "strict"
    assert service["StateDirectory"] == "keneya keneya/backups"
    assert "ReadWritePaths" not in service  # the data folder (StateDirectory=) and nothing else
    assert service["NoNewPrivileges"] == "yes" and service["ProtectHome"] == "yes"


def test_the_kiosk_unit_drives_the_screen_with_sdl2_on_kms():
    path = UNITS / "keneya-kiosk.service"
    unit = parse(path)
    env = dict(v.split("=", 1) for v in values(path, "Service", "Environment"))
    assert env["SDL_VIDEODRIVER"] == "kmsdrm" and env["KIVY_WINDOW"] == "sdl2"
    assert app_argv(path)[1:] == ["kiosk", "--fullscreen"]
    assert "getty@tty1.service" in words(unit["Unit"]["Conflicts"])
    assert unit["Service"]["Restart"] == "on-failure" and unit["Service"]["RestartSec"] == "5"


def kiosk_start(tmp_path: Path, *, drm_loaded: bool) -> str:
    """The kiosk's start command (its wait for a screen, then the kiosk), pointed at a fake
    /sys/class/drm and /proc/devices, without the waits, with `keneya kiosk` replaced by a
    marker line; `$$` is systemd's escape of a literal `$` (systemd.service(5), "COMMAND
    LINES")."""
    unit = parse(UNITS / "keneya-kiosk.service")["Service"]
    argv = shlex.split(unit["ExecStart"])
    assert argv[:2] == ["/bin/sh", "-c"] and "ExecCondition" not in unit
    script = argv[2].replace("$$", "$")
    for part in ("/sys/class/drm/", "/proc/devices", "sleep 1", f"exec {APP} kiosk --fullscreen"):
        assert part in script, part
    devices = tmp_path / "devices"
    devices.write_text("Character devices:\n  1 mem\n" + (" 226 drm\n" if drm_loaded else ""))
    return (
        script.replace("/sys/class/drm/", f"{tmp_path}/drm/")
        .replace("/proc/devices", str(devices))
        .replace("sleep 1", "sleep 0")
        .replace(f"exec {APP} kiosk --fullscreen", "exec echo KIOSK STARTED")
    )


def test_the_kiosk_starts_only_with_a_connected_screen(tmp_path):
    drm = tmp_path / "drm"
    (drm / "card1-HDMI-A-1").mkdir(parents=True)
    (drm / "card1-HDMI-A-1" / "status").write_text("disconnected\n")
    script = kiosk_start(tmp_path, drm_loaded=True)
    r = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    # status 0: the unit ends inactive, not failed, and Restart=on-failure leaves it alone
    assert r.returncode == 0 and "no screen connected" in r.stdout
    assert "KIOSK STARTED" not in r.stdout
    (drm / "card1-DSI-1").mkdir()
    (drm / "card1-DSI-1" / "status").write_text("connected\n")
    r = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "KIOSK STARTED\n", r.stdout


def test_a_screen_driver_loaded_after_the_start_starts_the_unit_again(tmp_path):
    """DeviceAllow=char-drm is resolved when the unit starts: with no DRM driver then, the
    command ends with the status that makes systemd start it again, counted a success."""
    (tmp_path / "drm" / "card1-HDMI-A-1").mkdir(parents=True)
    (tmp_path / "drm" / "card1-HDMI-A-1" / "status").write_text("connected\n")
    script = kiosk_start(tmp_path, drm_loaded=False)
    r = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 75 and "KIOSK STARTED" not in r.stdout, r.stdout
    service = parse(UNITS / "keneya-kiosk.service")["Service"]
    assert service["RestartForceExitStatus"] == "75" and service["SuccessExitStatus"] == "75"
    assert "char-drm rw" in values(UNITS / "keneya-kiosk.service", "Service", "DeviceAllow")


def test_the_kiosk_never_holds_up_the_boot():
    """The wait for a screen is inside the start command of a Type=exec unit: the start job
    ends when the command is running, so multi-user.target does not wait for it; nothing of
    the wait sits in ExecCondition= or ExecStartPre=, which the start job waits for."""
    service = parse(UNITS / "keneya-kiosk.service")["Service"]
    assert service["Type"] == "exec"
    assert not {"ExecCondition", "ExecStartPre", "ExecStartPost"} & set(service)
    # systemd expands a lone $ (a variable): the shell's $ is written $$
    assert "$" not in service["ExecStart"].replace("$$", "")


def test_systemd_finds_nothing_to_say_about_the_units(tmp_path):
    """`systemd-analyze verify` on copies whose executables point at this checkout (the
    venv's keneya): any diagnostic at all fails the test."""
    assert shutil.which("systemd-analyze"), "systemd-analyze missing: apt-get install systemd"
    copies = []
    for path in TIMERS:
        shutil.copy(path, tmp_path / path.name)
        copies.append(str(tmp_path / path.name))
    for path in SERVICES:
        text = path.read_text(encoding="utf-8")
        # else the rewrite proves nothing
        assert (APP in text) is (path in keneya_units()), path.name
        text = text.replace(APP, KENEYA)
        copy = tmp_path / path.name
        copy.write_text(text, encoding="utf-8")
        copies.append(str(copy))
    r = subprocess.run(
        ["systemd-analyze", "verify", *copies],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(SYSTEMD_LOG_COLOR="0"),
    )
    assert (r.returncode, r.stdout + r.stderr) == (0, "")


# -- Type=notify: run each unit's command as systemd would --------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def notify_units() -> list[Path]:
    return [p for p in SERVICES if parse(p)["Service"].get("Type") == "notify"]


def test_the_long_running_units_speak_the_notify_protocol():
    names = {p.name for p in notify_units()}
    assert {"keneya-web.service", "keneya-power.service", "keneya-modem.service"} <= names


@pytest.mark.parametrize("path", notify_units(), ids=lambda p: p.name)
def test_each_notify_unit_is_ready_pings_its_watchdog_and_says_stopping(
    path, tmp_path, notify_listener
):
    """The unit's own command line, run here without the Pi's hardware (no INA219, no 3G
    stick: both must run degraded, not exit) and with port 80 replaced by a free port. READY=1
    must come; WATCHDOG=1 must follow if and only if the unit sets WatchdogSec (the code pings
    it); SIGTERM must bring STOPPING=1 and a clean end."""
    service = parse(path)["Service"]
    argv = [KENEYA, "--home", str(tmp_path), *exec_start(path)[1:]]
    port = None
    if "--port" in argv:
        port = free_port()
        argv[argv.index("--port") + 1] = str(port)
        argv[argv.index("--host") + 1] = "127.0.0.1"
    Store(tmp_path / "keneya.db", create=True).close()
    # a bus that cannot exist here, whatever this machine has on bus 1
    (tmp_path / "facility.toml").write_text("[power]\nbus_number = 99\n", encoding="utf-8")
    watchdog = "WatchdogSec" in service
    env = clean_env(
        NOTIFY_SOCKET=notify_listener.address, WATCHDOG_USEC="2000000" if watchdog else "0"
    )
    answer = None
    with running(argv, env, cwd=tmp_path) as proc:
        notify_listener.wait_for("READY=1")
        if port is not None:  # READY means listening: the very next request is answered
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/favicon.ico")
            answer = conn.getresponse().status
            conn.close()
        if watchdog:
            notify_listener.wait_for("WATCHDOG=1")
        still_running = proc.poll() is None
        out, err = sigterm(proc, timeout=60)
        notify_listener.wait_for("STOPPING=1")
        if not watchdog:
            notify_listener.drain()
    assert still_running, err
    if port is not None:
        assert answer is not None and answer < 500
    assert ("WATCHDOG=1" in notify_listener.messages) is watchdog
    # systemd counts an exit by SIGTERM as clean, as it does status 0 (uvicorn re-raises it)
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert "Traceback" not in err


# -- growing the data partition (initramfs local-premount script) ---------------------------

GROWDATA_SCRIPT = HOOKS / "initramfs-growdata"


def fake_card(tmp_path: Path, *, label: bool, size: int, sfdisk_rc: int = 0, fsck_rc: int = 0):
    """blkid, sfdisk, e2fsck, resize2fs and udevadm as small scripts that log their arguments,
    and a fake /sys where mmcblk0p3 is partition 3 of a 2,000,000-sector mmcblk0."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"

    def tool(name: str, body: str) -> None:
        p = bin_dir / name
        p.write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\n{body}\n')
        p.chmod(0o755)

    tool("blkid", "echo /dev/mmcblk0p3" if label else "exit 2")
    tool("sfdisk", f"cat >> {log}; exit {sfdisk_rc}")
    tool("e2fsck", f"exit {fsck_rc}")
    grown = "The filesystem on /dev/mmcblk0p3 is now 245760 (4k) blocks long."
    tool("resize2fs", f"echo 'resize2fs 1.47.0'; echo; echo '{grown}'; echo")
    tool("udevadm", "exit 0")
    block = tmp_path / "sys" / "class" / "block"
    (block / "mmcblk0").mkdir(parents=True)
    (block / "mmcblk0" / "size").write_text("2000000\n")
    (block / "mmcblk0p3").mkdir()
    for name, value in (("partition", 3), ("start", 1_000_000), ("size", size)):
        (block / "mmcblk0p3" / name).write_text(f"{value}\n")
    # Nothing else on the PATH but cat: the initramfs has no tail, sed or awk.
    (bin_dir / "cat").symlink_to(shutil.which("cat"))
    env = {"PATH": str(bin_dir), "KENEYA_SYSFS": str(tmp_path / "sys")}
    return env, log


def run_growdata(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", str(GROWDATA_SCRIPT)], capture_output=True, text=True, env=env, timeout=60
    )


def test_growdata_is_an_initramfs_script_the_image_installs():
    assert GROWDATA_SCRIPT.stat().st_mode & stat.S_IXUSR
    assert GROWDATA_SCRIPT.read_text().startswith("#!/bin/sh\n")
    r = subprocess.run(["sh", str(GROWDATA_SCRIPT), "prereqs"], capture_output=True, text=True)
    assert (r.returncode, r.stdout) == (0, "\n")
    customize = (HOOKS / "customize.sh").read_text()
    assert "scripts/local-premount/keneya-growdata" in customize
    storage = (HOOKS / "initramfs-storage").read_text()
    for tool in ("blkid", "sfdisk", "e2fsck", "resize2fs"):
        assert f"copy_exec /sbin/{tool} " in storage


def test_growdata_grows_partition_3_then_its_file_system(tmp_path):
    env, log = fake_card(tmp_path, label=True, size=262144)
    r = run_growdata(env)
    assert r.returncode == 0
    calls = log.read_text().splitlines()
    assert calls == [
        "blkid -l -o device -t LABEL=keneya-data",
        "sfdisk --quiet -N 3 /dev/mmcblk0",
        ", +",
        "udevadm settle --timeout=30",
        "e2fsck -f -p /dev/mmcblk0p3",
        "resize2fs /dev/mmcblk0p3",
    ]
    assert "grown: The filesystem on /dev/mmcblk0p3 is now 245760" in r.stdout


def test_growdata_does_nothing_when_the_partition_fills_the_card(tmp_path):
    env, log = fake_card(tmp_path, label=True, size=1_000_000 - 1024)
    r = run_growdata(env)
    assert (r.returncode, r.stdout) == (0, "")
    assert log.read_text().splitlines() == ["blkid -l -o device -t LABEL=keneya-data"]


@pytest.mark.parametrize(
    ("failure", "said"),
    [
        ({"sfdisk_rc": 1}, "sfdisk could not grow it, kept at its size"),
        ({"fsck_rc": 4}, "e2fsck found problems"),
    ],
    ids=["sfdisk-refused", "fs-damaged"],
)
def test_a_failure_is_logged_leaves_the_file_system_alone_and_never_fails_the_boot(
    tmp_path, failure, said
):
    env, log = fake_card(tmp_path, label=True, size=262144, **failure)
    r = run_growdata(env)
    assert r.returncode == 0
    assert said in r.stdout
    assert "resize2fs" not in log.read_text()


def test_growdata_without_the_partition_does_nothing(tmp_path):
    env, log = fake_card(tmp_path, label=False, size=262144)
    r = run_growdata(env)
    assert r.returncode == 0
    assert "no partition labelled keneya-data" in r.stdout
    assert "sfdisk" not in log.read_text()


# -- backups: the nightly timer, the USB stick's rule and unit ------------------------------


def test_the_nightly_backup_runs_around_half_past_two_and_catches_up_after_a_night_off():
    timer = parse(UNITS / "keneya-backup.timer")
    assert timer["Timer"]["OnCalendar"] == "*-*-* 02:30:00"
    assert timer["Timer"]["Persistent"] == "yes"  # the Pi was off at 02:30: at the next boot
    delay = timer["Timer"]["RandomizedDelaySec"]
    assert delay.endswith("min") and 0 < int(delay[:-3]) <= 30
    assert timer["Timer"]["Unit"] == "keneya-backup.service"
    assert words(timer["Install"]["WantedBy"]) == ["timers.target"]
    r = subprocess.run(
        ["systemd-analyze", "calendar", "--iterations=2", timer["Timer"]["OnCalendar"]],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(SYSTEMD_LOG_COLOR="0", TZ="UTC"),
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("02:30:00") >= 2  # every day, at 02:30


def test_the_nightly_backup_gives_way_to_the_staff_and_can_touch_only_the_data():
    service = parse(UNITS / "keneya-backup.service")["Service"]
    assert service["Type"] == "oneshot" and "Restart" not in service
    assert exec_start(UNITS / "keneya-backup.service")[1:] == ["backup", "nightly"]
    assert int(service["Nice"]) >= 10 and service["IOSchedulingClass"] == "idle"
    assert service["ProtectSystem"] == "strict"
    assert service["StateDirectory"] == "keneya keneya/backups"
    assert "ReadWritePaths" not in service
    assert service["PrivateNetwork"] == "yes" and service["CapabilityBoundingSet"] == ""
    unit = parse(UNITS / "keneya-backup.service")["Unit"]
    assert unit["ConditionPathExists"] == "/var/lib/keneya/keneya.db"


def exposure(path: Path, tmp_path: Path) -> float:
    """`systemd-analyze security --offline` of a unit file (0 safest, 10 most exposed)."""
    copy = tmp_path / path.name.replace("@.", "@sda1.")
    copy.write_text(path.read_text(encoding="utf-8").replace(APP, KENEYA), encoding="utf-8")
    r = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(copy)],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(SYSTEMD_LOG_COLOR="0"),
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
    assert found, r.stdout[-500:] + r.stderr
    return float(found[1])


def test_the_backup_units_are_hardened(tmp_path):
    assert exposure(UNITS / "keneya-backup.service", tmp_path) <= 2.0
    # it mounts the stick (CAP_SYS_ADMIN), so it cannot be as closed as the nightly one
    assert exposure(UNITS / "keneya-usb-backup@.service", tmp_path) <= 5.0


def test_the_unit_of_a_stick_mounts_it_as_root_and_is_never_restarted():
    path = UNITS / "keneya-usb-backup@.service"
    unit = parse(path)
    assert exec_start(path)[1:] == ["backup", "usb", "/dev/%I"]
    service = unit["Service"]
    assert service["Type"] == "oneshot" and "Restart" not in service
    assert service["User"] == "root" and "CAP_SYS_ADMIN" in service["CapabilityBoundingSet"]
    assert 60 <= int(service["TimeoutStartSec"]) <= 3600
    assert "PrivateDevices" not in service  # it must see /dev/sdX
    assert "keneya-firstboot.service" in words(unit["Unit"]["After"])
    assert "BindsTo" not in unit["Unit"]  # a stick pulled out is reported, not killed


def test_the_nightly_command_writes_a_checked_backup(tmp_path):
    """What keneya-backup.service runs, in a temp home: a backup that `backup verify` accepts."""
    home = tmp_path / "home"
    with Store(home / "keneya.db", create=True) as store:
        store.set_setting("facility_code", "BONI")
    argv = [KENEYA, "--home", str(home), *exec_start(UNITS / "keneya-backup.service")[1:]]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=clean_env())
    assert r.returncode == 0, r.stderr
    (made,) = (home / "backups").glob("keneya-BONI-*.db")
    check = subprocess.run(
        [KENEYA, "--home", str(home), "backup", "verify", str(made), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
    )
    assert check.returncode == 0 and '"ok": true' in check.stdout, check.stdout + check.stderr


# The udev rule, read by a small evaluator of the few things it uses (match on ACTION,
# SUBSYSTEM and ENV{...} with == and != and |-alternatives, GOTO/LABEL, TAG+=, ENV{...}+=).
# Anything else in the rule fails the test, so the evaluator cannot silently skip it. The
# emulated boot test (image_build/boottest.py) runs the rule in the real udev.

_RULE_TERM = re.compile(r'\s*([A-Z_]+(?:\{[A-Z_]+\})?)\s*(==|!=|\+=|=)\s*"([^"]*)"\s*(?:,|$)')


def parse_rules(text: str) -> list[list[tuple[str, str, str]]]:
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        terms, pos = [], 0
        while pos < len(line):
            m = _RULE_TERM.match(line, pos)
            assert m, f"cannot read {line[pos:]!r}"
            terms.append(m.groups())
            pos = m.end()
        rules.append(terms)
    return rules


def udev_event(rules, properties: dict[str, str]) -> dict[str, list[str]]:
    """Run the rules on one event; the tags and SYSTEMD_WANTS they add."""
    out: dict[str, list[str]] = {"TAGS": [], "SYSTEMD_WANTS": []}
    skipping_to = None
    for terms in rules:
        if skipping_to is not None:
            if ("LABEL", "=", skipping_to) in terms:
                skipping_to = None
            continue
        matched = True
        for key, op, value in terms:
            if op in ("==", "!="):
                have = properties.get(key.removeprefix("ENV{").rstrip("}"), "")
                hit = any(fnmatch.fnmatchcase(have, alt) for alt in value.split("|"))
                matched = matched and (hit if op == "==" else not hit)
        if not matched:
            continue
        for key, op, value in terms:
            if op in ("==", "!="):
                continue
            if key == "GOTO":
                skipping_to = value
            elif key == "LABEL":
                pass
            elif key == "TAG" and op == "+=":
                out["TAGS"].append(value)
            elif key == "ENV{SYSTEMD_WANTS}" and op == "+=":
                out["SYSTEMD_WANTS"].append(value.replace("%k", properties["KERNEL"]))
            else:
                raise AssertionError(f"the test's evaluator does not know {key}{op}: extend it")
    assert skipping_to is None, f"GOTO {skipping_to} has no LABEL"
    return out


def stick(kernel: str, **env: str) -> dict[str, str]:
    base = {"ACTION": "add", "SUBSYSTEM": "block", "KERNEL": kernel, "ID_BUS": "usb"}
    return base | env


@pytest.mark.parametrize(
    ("event", "wanted"),
    [
        (stick("sda1", ID_FS_TYPE="vfat", DEVTYPE="partition"), "sda1"),
        (stick("sdb", ID_FS_TYPE="vfat", DEVTYPE="disk"), "sdb"),  # FAT with no partition table
        (stick("sdc1", ID_FS_TYPE="exfat", DEVTYPE="partition"), "sdc1"),
        (stick("sda", ID_PART_TABLE_TYPE="dos", DEVTYPE="disk"), None),  # its partition will
        (stick("sda2", ID_FS_TYPE="ext4"), None),
        (stick("sda1", ID_FS_TYPE="ntfs"), None),
        (stick("sda1", ID_FS_TYPE="vfat", ID_FS_LABEL="KENEYA-BOOT"), None),  # our own card
        (stick("sda1", ID_FS_TYPE="vfat", ACTION="change"), None),
        (stick("sda1", ID_FS_TYPE="vfat", ACTION="remove"), None),
        (stick("sda1", ID_FS_TYPE="vfat", SUBSYSTEM="usb"), None),
        (stick("mmcblk0p1", ID_FS_TYPE="vfat", ID_BUS=""), None),  # the SD card's boot
        (stick("sda1", ID_FS_TYPE="vfat", ID_BUS="ata"), None),
    ],
)
def test_the_udev_rule_wants_a_backup_for_a_fat_or_exfat_usb_stick_only(event, wanted):
    out = udev_event(parse_rules(RULES.read_text(encoding="utf-8")), event)
    if wanted is None:
        assert out == {"TAGS": [], "SYSTEMD_WANTS": []}
    else:
        assert out == {
            "TAGS": ["systemd"],
            # a backup, or the offer of the update the stick holds, then the library it holds
            # (each unit looks)
            "SYSTEMD_WANTS": [
                f"keneya-usb-backup@{wanted}.service keneya-update-usb@{wanted}.service "
                f"keneya-library-usb@{wanted}.service"
            ],
        }
        # the units it names are templates of the image
        assert (UNITS / "keneya-usb-backup@.service").is_file()
        assert (UNITS / "keneya-update-usb@.service").is_file()
        assert (UNITS / "keneya-library-usb@.service").is_file()


def test_no_desktop_automounter_competes_for_the_stick():
    packages = (UNITS.parent / "packages.txt").read_text(encoding="utf-8")
    listed = {line.split("#", 1)[0].strip() for line in packages.splitlines()}
    assert not listed & {"udisks2", "usbmount", "autofs", "gvfs", "udiskie", "pmount"}
    assert {"age", "exfatprogs", "dosfstools"} <= listed


def test_the_library_stick_unit_leaves_the_mount_to_systemd_and_follows_the_stick(tmp_path):
    """The mount must be the system's (the web app sees it in its own namespace): systemd
    makes it, so the unit keeps its whole sandbox and one capability; it
    comes after the stick's backup and update, and stops (letting go) when the stick goes."""
    path = UNITS / "keneya-library-usb@.service"
    unit = parse(path)
    assert exec_start(path)[1:] == ["library", "stick-in", "/dev/%I"]
    service = unit["Service"]
    assert service["ExecStop"].split()[1:] == ["library", "stick-out", "/dev/%I"]
    assert service["Type"] == "oneshot" and service["RemainAfterExit"] == "yes"
    assert service["User"] == "root"
    assert service["CapabilityBoundingSet"] == "CAP_DAC_READ_SEARCH"  # to look for the index
    assert unit["Unit"]["BindsTo"] == "dev-%i.device"
    after = [w for v in values(path, "Unit", "After") for w in words(v)]
    assert {"keneya-usb-backup@%i.service", "keneya-update-usb@%i.service"} <= set(after)
    assert exposure(path, tmp_path) <= 3.0
