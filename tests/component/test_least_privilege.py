"""Least privilege on the appliance: every Keneya unit but first boot runs as the `keneya`
user in systemd's sandbox, within an exposure goal that `systemd-analyze security` measures;
the user and its groups come from sysusers.d, its devices from a udev rule, and what it may ask
of systemd, logind, NetworkManager and ModemManager from one polkit rules file, evaluated here
in Duktape, the engine polkitd (Debian's polkitd 122) reads rules with."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import re
import shutil
import subprocess

import pytest

from power.shutdown import READ_ONLY_UNIT, START_SERVICES, STOP_SERVICES
from tests.component.test_units import (
    SERVICES,
    TIMERS,
    UNITS,
    clean_env,
    exposure,
    parse,
    values,
)

pytestmark = pytest.mark.component

OVERLAY = UNITS.parent / "overlay"
SYSUSERS = OVERLAY / "usr/lib/sysusers.d/keneya.conf"
DEVICE_RULES = OVERLAY / "usr/lib/udev/rules.d/60-keneya-devices.rules"
POLKIT_RULES = OVERLAY / "etc/polkit-1/rules.d/50-keneya.rules"
KENEYA_UID = 950

# The units that stay root, and why (each keeps only the capabilities named).
ROOT_UNITS = {
    # writes /etc (hostname, hosts, /etc/keneya, the hotspot profile), gives files to keneya
    "keneya-firstboot.service": {"CAP_CHOWN", "CAP_FOWNER", "CAP_DAC_OVERRIDE"},
    # mounts the USB stick (mount(2) wants CAP_SYS_ADMIN, as good as root anyway)
    # and CAP_CHOWN: SQLite as root gives the -wal/-shm files it creates the database's owner
    "keneya-usb-backup@.service": {
        "CAP_SYS_ADMIN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_CHOWN",
    },
    # the read-only hold's remount and SysRq, started by keneya-power through polkit
    "keneya-readonly.service": {"CAP_SYS_ADMIN"},
    # fake-hwclock writes root's /etc/fake-hwclock.data, and nothing else: no power at all
    "keneya-clock-save.service": set(),
    # updates: RAUC's D-Bus service answers root only; the slot record is on the FAT (root's);
    # the pre-update backup and a rollback's restore read and write the keneya-owned data
    "keneya-update-boot.service": {"CAP_CHOWN", "CAP_FOWNER", "CAP_DAC_OVERRIDE"},
    "keneya-update-health.service": {"CAP_CHOWN", "CAP_FOWNER", "CAP_DAC_OVERRIDE"},
    # and a delta's slot: mke2fs, mount, the running root copied with owners, set-id bits and
    # file capabilities
    "keneya-update-install.service": {
        "CAP_CHOWN",
        "CAP_FOWNER",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_SYS_ADMIN",
        "CAP_FSETID",
        "CAP_SETFCAP",
    },
    # checks and copies what the modem daemon fetched over 3G out of its folder
    "keneya-update-fetched.service": {
        "CAP_CHOWN",
        "CAP_FOWNER",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
    },
    # asks systemd to mount a library stick read-only (systemd-mount: only root may use
    # systemd's private socket), then looks for the index on it (the service user's files)
    "keneya-library-usb@.service": {"CAP_DAC_READ_SEARCH"},
    # mounts the stick, as the backup does
    "keneya-update-usb@.service": {
        "CAP_SYS_ADMIN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_CHOWN",
        "CAP_FOWNER",
    },
}
# `systemd-analyze security` exposure goals (0 safest, 10 most exposed).
GOAL = 3.0
GOALS = {"keneya-firstboot.service": 5.0}
# Before this hardening, as measured with systemd 252 (for the table printed below).
BEFORE = {
    "keneya-web.service": 8.2,
    "keneya-kiosk.service": 9.4,
    "keneya-firstboot.service": 9.5,
    "keneya-modem.service": 9.6,
    "keneya-power.service": 9.6,
}


def test_every_unit_stays_within_its_exposure_goal(tmp_path):
    """Prints each unit's exposure (`pytest -s` or `-rP` shows the table)."""
    assert shutil.which("systemd-analyze"), "systemd-analyze missing: apt-get install systemd"
    scores = {path.name: exposure(path, tmp_path) for path in SERVICES}
    print("\nsystemd-analyze security --offline=true (before -> now, goal):")
    for name, score in scores.items():
        before = f"{BEFORE[name]:.1f} -> " if name in BEFORE else ""
        print(f"  {name:30} {before}{score:.1f}  (<= {GOALS.get(name, GOAL):.1f})")
    over = {n: s for n, s in scores.items() if s > GOALS.get(n, GOAL)}
    assert not over, f"above the goal: {over}"


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_every_unit_runs_as_keneya_but_the_root_ones(path):
    service = parse(path)["Service"]
    caps = set(service.get("CapabilityBoundingSet", "ALL").split())
    if path.name in ROOT_UNITS:
        assert service["User"] == "root"
        assert caps == ROOT_UNITS[path.name]  # root, but only these powers of root
        if "CAP_CHOWN" in caps:  # and the system calls for it (chown is in @privileged)
            assert "~@privileged" not in " ".join(values(path, "Service", "SystemCallFilter"))
        return
    assert service["User"] == "keneya" and service["Group"] == "keneya"
    # the data folder, and the backups folder which the stick's root unit shares (given back)
    assert service["StateDirectory"] in ("keneya", "keneya keneya/backups")
    assert service["StateDirectoryMode"] == "0700"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "ProtectClock": "yes",
        "ProtectHostname": "yes",
        "ProtectProc": "invisible",
        "RestrictNamespaces": "yes",
        "RestrictRealtime": "yes",
        "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes",
        "SystemCallArchitectures": "native",
        "UMask": "0077",
    }.items():
        assert service.get(key) == value, key
    assert "@system-service" in values(path, "Service", "SystemCallFilter")
    # the clock module reads /proc/sys/kernel/random/boot_id, which ProcSubset=pid hides
    assert "ProcSubset" not in service
    if path.name == "keneya-web.service":  # port 80, and nothing else
        assert caps == {"CAP_NET_BIND_SERVICE"}
        assert service["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"
    else:
        assert caps == set() and service["AmbientCapabilities"] == ""


def test_only_the_units_that_open_devices_see_them():
    def devices(name: str) -> set[str]:
        return set(values(UNITS / name, "Service", "DeviceAllow"))

    assert parse(UNITS / "keneya-web.service")["Service"]["PrivateDevices"] == "yes"
    assert parse(UNITS / "keneya-backup.service")["Service"]["PrivateDevices"] == "yes"
    assert devices("keneya-power.service") == {
        "char-i2c rw",
        "char-gpiochip rw",
        "char-usb_device rw",
    }
    assert devices("keneya-kiosk.service") == {"char-drm rw", "char-input rw"}
    for name in ("keneya-power.service", "keneya-kiosk.service"):
        assert parse(UNITS / name)["Service"]["DevicePolicy"] == "closed"


def test_the_daemons_without_network_have_none():
    for name in ("keneya-power.service", "keneya-backup.service", "keneya-due.service"):
        service = parse(UNITS / name)["Service"]
        assert service["PrivateNetwork"] == "yes" and service["IPAddressDeny"] == "any", name
    kiosk = parse(UNITS / "keneya-kiosk.service")["Service"]
    assert "AF_INET" not in kiosk["RestrictAddressFamilies"] and kiosk["IPAddressDeny"] == "any"


def test_the_units_still_verify_with_the_root_unit_of_the_hold(tmp_path):
    """keneya-readonly.service is installed, never enabled: keneya-power starts it."""
    unit = parse(UNITS / "keneya-readonly.service")
    assert not unit.has_section("Install")
    starts = values(UNITS / "keneya-readonly.service", "Service", "ExecStart")
    assert starts == [
        "/bin/sync",
        "-/bin/mount -o remount,ro /var/lib/keneya",
        "/bin/sh -c 'echo s > /proc/sysrq-trigger; echo u > /proc/sysrq-trigger'",
    ]
    assert unit["Service"].get("ProtectKernelTunables") is None  # it writes /proc/sysrq-trigger
    assert READ_ONLY_UNIT == ("systemctl", "start", "keneya-readonly.service")
    names = {p.name for p in SERVICES} | {p.name for p in TIMERS}
    assert READ_ONLY_UNIT[-1] in names


# -- the user, its groups, its devices ----------------------------------------------------


def test_sysusers_makes_keneya_with_a_fixed_uid_and_its_device_groups(tmp_path):
    """systemd-sysusers itself, on a root holding only Debian's base groups."""
    tool = shutil.which("systemd-sysusers")
    assert tool, "systemd-sysusers missing: apt-get install systemd"
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (etc / "group").write_text(
        "root:x:0:\ndialout:x:20:\nvideo:x:44:\ninput:x:105:\nrender:x:108:\ni2c:x:112:\n"
    )
    conf = tmp_path / "usr/lib/sysusers.d"
    conf.mkdir(parents=True)
    shutil.copy(SYSUSERS, conf / SYSUSERS.name)
    r = subprocess.run(
        [tool, f"--root={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(SYSTEMD_LOG_COLOR="0"),
    )
    assert r.returncode == 0, r.stderr
    lines = (etc / "passwd").read_text().splitlines()
    passwd = {line.split(":")[0]: line.split(":") for line in lines}
    assert passwd["keneya"][2:4] == [str(KENEYA_UID), str(KENEYA_UID)]
    assert passwd["keneya"][5:] == ["/var/lib/keneya", "/usr/sbin/nologin"]
    groups = {}
    for line in (etc / "group").read_text().splitlines():
        name, _, gid, members = line.split(":")
        groups[name] = (gid, members.split(",") if members else [])
    for group in ("i2c", "dialout", "gpio", "video", "render", "input"):
        assert "keneya" in groups[group][1], group
    assert groups["i2c"][0] == "112"  # the package's group kept, not a second one
    assert "keneya" not in groups["root"][1]


def test_the_udev_rule_gives_keneya_exactly_its_devices():
    rules = [
        line
        for line in DEVICE_RULES.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    term = re.compile(r'^([A-Z_]+(?:\{[A-Za-z_]+\})?)(==|!=|\+=|=)"([^"]*)"$')
    parsed = []
    for line in rules:
        terms = [t.strip() for t in line.split(",")]
        matched = [term.match(t) for t in terms]
        assert all(matched), line
        parsed.append({m[1] + m[2]: m[3] for m in matched if m})
    gpio, hubs, backlight, fb = parsed
    assert gpio == {
        "SUBSYSTEM==": "gpio",
        "KERNEL==": "gpiochip*",
        "GROUP=": "gpio",
        "MODE=": "0660",
    }
    # hubs only (class 09), never the stick or a USB drive plugged into them
    assert hubs["ATTR{bDeviceClass}=="] == "09" and hubs["ENV{DEVTYPE}=="] == "usb_device"
    assert hubs["GROUP="] == "keneya" and hubs["MODE="] == "0660"
    assert backlight["SUBSYSTEM=="] == "backlight" and "bl_power" in backlight["RUN+="]
    assert fb["KERNEL=="] == "fb0" and "/blank" in fb["RUN+="]


# -- polkit: the rules evaluated in Duktape ---------------------------------------------------

# polkit's own objects as its JavaScript environment defines them (polkit(8): polkit.Result,
# action.id, action.lookup(), subject.user), the rules file, then the questions.
HARNESS = """
var polkit = {
    Result: {NO: "no", YES: "yes", AUTH_SELF: "auth_self", AUTH_SELF_KEEP: "auth_self_keep",
             AUTH_ADMIN: "auth_admin", AUTH_ADMIN_KEEP: "auth_admin_keep", NOT_HANDLED: null},
    _rules: [],
    addRule: function (rule) { this._rules.push(rule); },
    addAdminRule: function (rule) {},
    log: function (message) {},
    spawn: function (argv) { throw new Error("spawn is not for these rules"); }
};
%s
;
(function (questions) {
    var answers = [];
    for (var q = 0; q < questions.length; q++) {
        var details = questions[q].details;
        var action = {id: questions[q].action, lookup: function (k) { return details[k]; }};
        var subject = {user: questions[q].user, groups: [], local: true, active: false};
        var answer = null;
        for (var r = 0; r < polkit._rules.length && answer === null; r++) {
            answer = polkit._rules[r](action, subject);
        }
        answers.push(answer === undefined ? null : answer);
    }
    return JSON.stringify(answers);
})(%s)
"""

# duktape.h (2.7): duk_eval_raw flags, as its duk_peval_string macro passes them
_EVAL, _SAFE, _NOSOURCE, _STRLEN, _NOFILENAME = 1 << 3, 1 << 7, 1 << 9, 1 << 10, 1 << 11


def duktape_eval(source: str) -> tuple[bool, str]:
    """Evaluate ECMAScript in libduktape (Debian's libduktape207, which polkitd links):
    (True, the result as a string) or (False, the error)."""
    name = ctypes.util.find_library("duktape") or "libduktape.so.207"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        pytest.fail("libduktape missing (the engine of polkitd): apt-get install libduktape207")
    lib.duk_create_heap.restype = ctypes.c_void_p
    lib.duk_create_heap.argtypes = [ctypes.c_void_p] * 5
    lib.duk_eval_raw.restype = ctypes.c_int
    lib.duk_eval_raw.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint]
    lib.duk_safe_to_lstring.restype = ctypes.c_char_p
    lib.duk_safe_to_lstring.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.duk_destroy_heap.argtypes = [ctypes.c_void_p]
    ctx = lib.duk_create_heap(None, None, None, None, None)
    assert ctx
    try:
        flags = _EVAL | _SAFE | _NOSOURCE | _STRLEN | _NOFILENAME
        failed = lib.duk_eval_raw(ctx, source.encode(), 0, flags)
        return not failed, lib.duk_safe_to_lstring(ctx, -1, None).decode()
    finally:
        lib.duk_destroy_heap(ctx)


def ask(questions: list[dict]) -> list[str | None]:
    ok, out = duktape_eval(HARNESS % (POLKIT_RULES.read_text(), json.dumps(questions)))
    assert ok, out
    return json.loads(out)


def unit_question(unit: str, verb: str, user: str = "keneya") -> dict:
    return {
        "action": "org.freedesktop.systemd1.manage-units",
        "details": {"unit": unit, "verb": verb},
        "user": user,
    }


def plain(action: str, user: str = "keneya") -> dict:
    return {"action": action, "details": {}, "user": user}


ALLOWED = [
    *(
        unit_question(f"keneya-{n}.service", v)
        for n in ("web", "kiosk", "modem")
        for v in ("start", "stop", "restart")
    ),
    unit_question("keneya-readonly.service", "start"),
    *(
        plain(f"org.freedesktop.login1.{a}{variant}")
        for a in ("power-off", "reboot")
        for variant in ("", "-multiple-sessions", "-ignore-inhibit")
    ),
    plain("org.freedesktop.NetworkManager.network-control"),
    plain("org.freedesktop.NetworkManager.settings.modify.system"),
    plain("org.freedesktop.ModemManager1.Messaging"),
]
REFUSED = [
    unit_question("keneya-readonly.service", "stop"),
    unit_question("keneya-firstboot.service", "start"),
    unit_question("keneya-power.service", "stop"),  # the monitor never stops itself
    unit_question("ssh.service", "start"),
    unit_question("nftables.service", "stop"),
    unit_question("keneya-web.service", "reload"),
    unit_question("keneya-web", "start"),  # systemd always names the unit in full
    plain("org.freedesktop.systemd1.manage-unit-files"),
    plain("org.freedesktop.systemd1.reload-daemon"),
    plain("org.freedesktop.login1.suspend"),
    plain("org.freedesktop.login1.halt"),
    plain("org.freedesktop.login1.set-reboot-to-firmware-setup"),
    plain("org.freedesktop.NetworkManager.settings.modify.hostname"),
    plain("org.freedesktop.NetworkManager.wifi.share.open"),
    plain("org.freedesktop.NetworkManager.enable-disable-network"),
    plain("org.freedesktop.ModemManager1.Device.Control"),
    plain("org.freedesktop.timedate1.set-time"),
    plain("org.freedesktop.hostname1.set-hostname"),
    plain("org.freedesktop.policykit.exec"),
]


def test_the_polkit_rules_are_ecmascript_that_duktape_reads():
    ok, version = duktape_eval("Duktape.version")
    assert ok and int(version) >= 20000, version
    # the engine refuses what polkitd would refuse: an arrow function is not ES5.1
    assert duktape_eval("var f = (x) => x; 1")[0] is False
    ok, out = duktape_eval(POLKIT_RULES.read_text().replace("polkit.addRule", "void"))
    assert ok, out


def test_keneya_may_do_exactly_what_the_daemons_ask():
    assert ask(ALLOWED) == ["yes"] * len(ALLOWED)
    assert ask(REFUSED) == ["no"] * len(REFUSED)


def test_the_rules_leave_every_other_user_to_polkits_defaults():
    others = [{**q, "user": user} for q in ALLOWED + REFUSED for user in ("root", "www-data")]
    assert ask(others) == [None] * len(others)


def test_what_the_power_monitor_runs_is_allowed():
    """The units of power/shutdown.py's commands, as systemctl names them to systemd."""
    questions = [
        unit_question(f"{name}.service", verb)
        for argv in (STOP_SERVICES, START_SERVICES)
        for verb in argv[1:2]
        for name in argv[2:]
    ]
    questions.append(unit_question(READ_ONLY_UNIT[2], READ_ONLY_UNIT[1]))
    assert len(questions) == 7
    assert ask(questions) == ["yes"] * len(questions)
