"""The safe shutdown: a countdown the kiosk shows, then the records closed before the power goes.

At the deadline of a low battery's countdown the appliance enters the LOW-POWER WAIT, each step
attempted even if the one before failed (the battery will not wait):

1. checkpoint the WAL (TRUNCATE): this daemon's last records are in the main file;
2. stop the other services (web, kiosk, modem): each checkpoints and closes its own store on
   SIGTERM;
3. checkpoint again: what they wrote last is folded in too;
4. screen off: the official 7" display's backlight (`bl_power` = 4) and the framebuffer an HDMI
   screen or the console shows (`blank` = 1); a path that does not exist is skipped;
5. the 3G stick's USB port powered off with `uhubctl`, only where `[power.wait]
   modem_usb_hub` names the hub (not every hub can switch its ports).

keneya-power goes on reading the battery. When it has recovered (or staff hold the panel
button) the services come back in the reverse order: USB power on, screen on, `systemctl
start` (the kiosk starts at its login screen).

A CRITICAL battery ends in the READ-ONLY HOLD, not a poweroff: a halted Pi draws so little
that the battery's voltage recovers, the charge controller's low-voltage disconnect never
comes and its reconnect never boots the Pi. So the Pi stays on at the wait's draw with nothing
left to write: checkpoint, services stopped if they still run (screen and 3G stick off too),
checkpoint, the database closed, `sync`, the data folder's filesystem remounted read-only,
then the kernel's emergency sync and read-only remount of every filesystem (`s` then `u` to
/proc/sysrq-trigger; root may write it whatever kernel.sysrq says). The controller's cut is
then harmless and its reconnect boots the Pi; if the battery recovers first, or staff hold
the panel button, keneya-power reboots it (`systemctl reboot --force`: nothing to stop).

On the appliance keneya-power runs as the `keneya` user, not root: it cannot remount or
write /proc/sysrq-trigger, and PID 1 refuses it `systemctl reboot --force` (the Reboot()
method wants CAP_SYS_BOOT). So there the hold's last steps are one root unit it may start
(`systemctl start keneya-readonly.service`: sync, remount, SysRq s and u; polkit allows that
unit to keneya), and the reboot goes through logind (`systemctl reboot`, polkit's
org.freedesktop.login1.reboot): see `for_this_user`.

A true poweroff (checkpoint, services stopped if they still run, checkpoint, the database
closed, `systemctl poweroff`) is only for the panel button held while running (someone is
there to switch the appliance on again).

Commands go through an injected runner and sysfs/procfs writes through an injected writer:
the real ones on the appliance, recorders in the simulator and the tests. `journal` keeps
every step taken, in order.
"""

from __future__ import annotations

import glob
import logging
import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from appliance.facility_file import read_section
from power.errors import ConfigurationError

if TYPE_CHECKING:
    from appliance.store import Store

log = logging.getLogger(__name__)

STOP_SERVICES = ("systemctl", "stop", "keneya-web", "keneya-kiosk", "keneya-modem")
# The modem first: the web app's outbox finds its link up; the kiosk last, at its login.
START_SERVICES = ("systemctl", "start", "keneya-modem", "keneya-web", "keneya-kiosk")
POWEROFF = ("systemctl", "poweroff")
SYNC = ("sync",)
# --force: the filesystems are already read-only, there is nothing left to stop cleanly
REBOOT = ("systemctl", "reboot", "--force")
# The kernel's magic SysRq: "s" syncs every filesystem, "u" remounts them all read-only.
SYSRQ_TRIGGER = "/proc/sysrq-trigger"
DATA_DIR = Path("/var/lib/keneya")
# What a keneya-power that is not root runs instead (keneya-readonly.service does sync,
# remount and SysRq as root; logind reboots, the filesystems already read-only).
READ_ONLY_UNIT = ("systemctl", "start", "keneya-readonly.service")
REBOOT_UNPRIVILEGED = ("systemctl", "reboot")
COMMAND_TIMEOUT_S = 60.0
# The official 7" display's backlight (0: on, 4: FB_BLANK_POWERDOWN) and the framebuffer's
# blanking (HDMI and the console: 1 blank, 0 shown).
BACKLIGHT_GLOB = "/sys/class/backlight/*/bl_power"
FB_BLANK = "/sys/class/graphics/fb0/blank"

Runner = Callable[[Sequence[str]], int]
Writer = Callable[[Path, str], bool]
T = TypeVar("T")


def run_command(argv: Sequence[str], *, timeout_s: float = COMMAND_TIMEOUT_S) -> int:
    """Run a system command; its exit status, or -1 when it could not run or timed out (a
    stuck `systemctl stop` must not eat the battery's last minutes)."""
    try:
        return subprocess.run(list(argv), timeout=timeout_s, check=False).returncode
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("%s: %s", " ".join(argv), exc)
        return -1


def write_sysfs(path: Path, value: str) -> bool:
    """Write one value to an existing sysfs or procfs attribute (never creates a file); False
    (logged) when it is absent or the kernel refuses it."""
    try:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as exc:
        log.warning("%s: %s", path, exc)
        return False
    return True


def mount_point(path: Path) -> Path:
    """The mount point of the filesystem holding `path` (its nearest existing ancestor)."""
    p = Path(os.path.abspath(path))
    while not p.exists() and p != p.parent:
        p = p.parent
    while not os.path.ismount(p) and p != p.parent:
        p = p.parent
    return p


class CommandRecorder:
    """A runner that records the commands instead of running them."""

    def __init__(self, echo: Callable[[str], object] | None = None) -> None:
        self.calls: list[tuple[str, ...]] = []
        self._echo = echo

    def __call__(self, argv: Sequence[str]) -> int:
        self.calls.append(tuple(argv))
        if self._echo is not None:
            self._echo(f"simulated: {' '.join(argv)}")
        return 0

    def count(self, argv: Sequence[str]) -> int:
        return self.calls.count(tuple(argv))


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitOptions:
    """What the low-power wait switches off besides the services: `[power.wait]` in the
    facility file.

    [power.wait]
    modem_usb_hub = "1-1"      # uhubctl's -l: the hub the 3G stick is on (unset: left on)
    modem_usb_port = "2"       # uhubctl's -p (unset: every port of that hub)
    backlight = "/sys/class/backlight/*/bl_power"
    fb_blank = "/sys/class/graphics/fb0/blank"   # "" leaves out either screen path
    """

    backlight: str = BACKLIGHT_GLOB
    fb_blank: str = FB_BLANK
    modem_usb_hub: str | None = None
    modem_usb_port: str | None = None

    def usb_power(self, on: bool) -> tuple[str, ...] | None:
        if not self.modem_usb_hub:
            return None
        port = ("-p", self.modem_usb_port) if self.modem_usb_port else ()
        return ("uhubctl", "-l", self.modem_usb_hub, *port, "-a", "on" if on else "off")

    def screen_paths(self) -> list[tuple[Path, str, str]]:
        """(attribute, value for off, value for on) of each screen present now."""
        found = sorted(glob.glob(self.backlight)) if self.backlight else []
        out = [(Path(p), "4", "0") for p in found]
        if self.fb_blank and Path(self.fb_blank).exists():
            out.append((Path(self.fb_blank), "1", "0"))
        return out


WAIT_KEYS = {"backlight", "fb_blank", "modem_usb_hub", "modem_usb_port"}


def wait_options(section: dict[str, Any]) -> WaitOptions:
    """WaitOptions from the parsed `[power.wait]` table."""
    unknown = set(section) - WAIT_KEYS
    if unknown:
        raise ConfigurationError(f"[power.wait] unknown keys: {', '.join(sorted(unknown))}")
    kw: dict[str, str | None] = {}
    for key, value in section.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ConfigurationError(f"[power.wait] {key} must be a string")
        kw[key] = str(value) or (None if key.startswith("modem") else "")
    return WaitOptions(**kw)  # type: ignore[arg-type]


def split_wait_options(power: dict[str, Any]) -> tuple[WaitOptions, dict[str, Any]]:
    """The `[power.wait]` options from the parsed `[power]` table, and the rest of the table
    (what power.config reads)."""
    rest = dict(power)
    section = rest.pop("wait", None) or {}
    if not isinstance(section, dict):
        raise ConfigurationError("[power] wait must be a table ([power.wait])")
    return wait_options(section), rest


def load_wait_options(facility_file: Path) -> WaitOptions:
    power = read_section(facility_file, "power", error=ConfigurationError)
    return split_wait_options(power)[0]


@dataclass(frozen=True, slots=True)
class PendingShutdown:
    event_id: int  # the shutdown_decided event; a cancel request names it
    origin: str  # "policy" (low battery) or "button"
    reason: str
    decided_t: float  # loop time
    deadline_t: float  # loop time
    deadline_wall_s: float  # Unix seconds, for the countdown on screens

    def due(self, t: float) -> bool:
        return t >= self.deadline_t


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    checkpoints: tuple[tuple[int, int, int] | None, ...]
    stop_status: int | None  # None: the services were already stopped
    poweroff_status: int | None  # None: no poweroff (the low-power wait)
    how: str = "poweroff"  # or "low_power_wait", "critical_hold"
    steps: tuple[str, ...] = ()


class SafeShutdown:
    def __init__(
        self,
        *,
        grace_s: float = 120.0,
        runner: Runner = run_command,
        stop_services: Sequence[str] = STOP_SERVICES,
        start_services: Sequence[str] = START_SERVICES,
        poweroff: Sequence[str] = POWEROFF,
        wait: WaitOptions | None = None,
        write: Writer = write_sysfs,
        reboot: Sequence[str] = REBOOT,
        data_dir: Path | None = None,
        sysrq_trigger: str | None = SYSRQ_TRIGGER,
        find_mount: Callable[[Path], Path] = mount_point,
        read_only: Sequence[str] | None = None,
    ) -> None:
        """`data_dir`: the data folder, whose filesystem the hold remounts read-only (None:
        that step is left out); `sysrq_trigger` "" or None leaves out the emergency remount.
        `read_only`: a command that does the hold's sync, remount and SysRq itself (a root
        unit, for a monitor that is not root); then those steps are that command."""
        if grace_s < 60:
            raise ValueError("the countdown must leave people at least 60 s")
        self.grace_s = grace_s
        self.runner = runner
        self.stop_services = tuple(stop_services)
        self.start_services = tuple(start_services)
        self.poweroff = tuple(poweroff)
        self.wait = wait or WaitOptions()
        self.write = write
        self.reboot_command = tuple(reboot)
        self.data_dir = data_dir
        self.sysrq_trigger = sysrq_trigger
        self.find_mount = find_mount
        self.read_only = tuple(read_only) if read_only else None
        self.journal: list[str] = []  # every step taken, in order
        # Called after every command: each may take up to COMMAND_TIMEOUT_S, several in a row
        # longer than the unit's watchdog, which must not restart the monitor mid-way.
        self.after_step: Callable[[], object] | None = None

    def start(
        self, t: float, *, wall_s: float, event_id: int, origin: str, reason: str
    ) -> PendingShutdown:
        return PendingShutdown(
            event_id=event_id,
            origin=origin,
            reason=reason,
            decided_t=t,
            deadline_t=t + self.grace_s,
            deadline_wall_s=wall_s + self.grace_s,
        )

    # -- steps -------------------------------------------------------------------------------
    def _run(self, argv: Sequence[str]) -> int:
        self.journal.append(" ".join(argv))
        try:
            return self.runner(argv)
        except Exception as exc:  # the next step must still run
            log.error("safe shutdown: %s failed: %s", " ".join(argv), exc)
            return -1
        finally:
            if self.after_step is not None:
                _attempt("tell the watchdog", self.after_step)

    def _checkpoint(self, store: Store | None) -> tuple[int, int, int] | None:
        if store is None:
            return None
        self.journal.append("checkpoint")
        return _attempt("checkpoint", store.power.checkpoint)

    def _screen(self, on: bool) -> int:
        """Screen on or off; how many attributes took the write."""
        done = 0
        for path, off_value, on_value in self.wait.screen_paths():
            value = on_value if on else off_value
            self.journal.append(f"screen {'on' if on else 'off'}: {path} = {value}")
            done += bool(_attempt(f"write {path}", lambda p=path, v=value: self.write(p, v)))
        return done

    def _usb(self, on: bool) -> int | None:
        argv = self.wait.usb_power(on)
        return None if argv is None else self._run(argv)

    def _sysrq(self, key: str) -> None:
        if not self.sysrq_trigger:
            return
        path = Path(self.sysrq_trigger)
        self.journal.append(f"sysrq {key}: {path}")
        _attempt(f"write {path}", lambda: self.write(path, key))

    def _remount_data_read_only(self) -> None:
        if self.data_dir is None:
            return
        mount = _attempt(
            "find the data folder's mount point", lambda: self.find_mount(self.data_dir)
        )
        if mount is not None:
            self._run(("mount", "-o", "remount,ro", str(mount)))

    def _stop_and_close(
        self, store: Store | None, services_running: bool
    ) -> tuple[tuple[tuple[int, int, int] | None, ...], int | None]:
        """Checkpoint, stop the services (when running), checkpoint what they wrote on the way
        out, close the database: the common start of the poweroff and the hold. The two
        checkpoints and the stop command's status (None when nothing was running)."""
        first = self._checkpoint(store)
        stop_status = self._run(self.stop_services) if services_running else None
        second = self._checkpoint(store)
        if store is not None:
            self.journal.append("close the database")
            _attempt("close the database", store.close)
        return (first, second), stop_status

    # -- the four ways -----------------------------------------------------------------------
    def enter_wait(self, store: Store | None) -> ExecutionReport:
        """Steps 1-5 of the low-power wait. The caller has recorded (or kept) its event."""
        start = len(self.journal)
        first = self._checkpoint(store)
        stop_status = self._run(self.stop_services)
        second = self._checkpoint(store)
        self._screen(on=False)
        self._usb(on=False)
        return ExecutionReport(
            (first, second), stop_status, None, "low_power_wait", tuple(self.journal[start:])
        )

    def resume(self) -> int:
        """The services back after the wait: USB power, screen, then `systemctl start`; the
        start command's status."""
        self._usb(on=True)
        self._screen(on=True)
        return self._run(self.start_services)

    def execute(self, store: Store | None, *, services_running: bool = True) -> ExecutionReport:
        """The poweroff. The caller has already recorded the event (or kept it, when the
        disk refused it). No store (none could be opened): no checkpoint."""
        start = len(self.journal)
        checkpoints, stop_status = self._stop_and_close(store, services_running)
        poweroff_status = self._run(self.poweroff)
        return ExecutionReport(
            checkpoints, stop_status, poweroff_status, "poweroff", tuple(self.journal[start:])
        )

    def hold(self, store: Store | None, *, services_running: bool = True) -> ExecutionReport:
        """The read-only hold of a critical battery. The caller has recorded (or kept) its
        event. Each step is attempted whatever the one before did; after the last, nothing
        on the appliance can be written any more."""
        start = len(self.journal)
        checkpoints, stop_status = self._stop_and_close(store, services_running)
        if services_running:  # the hold draws what the wait draws
            self._screen(on=False)
            self._usb(on=False)
        if self.read_only is not None:
            self._run(self.read_only)
        else:
            self._run(SYNC)
            self._remount_data_read_only()
            self._sysrq("s")
            self._sysrq("u")
        return ExecutionReport(
            checkpoints, stop_status, None, "critical_hold", tuple(self.journal[start:])
        )

    def reboot(self) -> int:
        """Out of the hold (battery recovered, or the button): the filesystems are read-only
        already, so the reboot need not stop anything."""
        return self._run(self.reboot_command)


def for_this_user(**kw: Any) -> SafeShutdown:
    """The SafeShutdown of the real monitor: root does every step itself; any other user
    (the appliance's `keneya`) starts the root unit for the read-only steps and reboots
    through logind."""
    if os.geteuid() != 0:
        kw.setdefault("read_only", READ_ONLY_UNIT)
        kw.setdefault("reboot", REBOOT_UNPRIVILEGED)
    return SafeShutdown(**kw)


def _attempt(what: str, step: Callable[[], T]) -> T | None:
    try:
        return step()
    except Exception as exc:  # the next step must still run
        log.error("safe shutdown: %s failed: %s", what, exc)
        return None
