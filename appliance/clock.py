"""The one place every process asks for "now", and whether to believe it.

The Pi has no battery-backed clock: after a power cut it boots with the time fake-hwclock
saved, which can be days behind. The machine time is trusted only once, since this boot, NTP
synchronised it, the modem read the network's time, or a staff member confirmed the date.
Each such moment is stored with the offset measured then (true − machine), so times recorded
while the clock was doubted can be read correctly later; the stored times are never rewritten.

The machine clock can also be stepped later in the same boot (chrony once the 3G link is up,
`date -s`), which makes the stored offset wrong: a staff confirmation under a 1970 clock plus a
step to 2026 would read 2083. Each event therefore also keeps the boot-relative time
(CLOCK_BOOTTIME, which no step moves). When the machine clock has moved away from where the
time elapsed since the event puts it, it was stepped: if NTP now vouches for it, it is trusted
as it is (a new `ntp` event, offset 0); otherwise it is doubted again until someone confirms it.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.store import Store

log = logging.getLogger("keneya.clock")

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")
# systemd-timesyncd's flag: the fallback where the kernel cannot be asked (see ntp_synchronized)
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")
# How far the machine clock may drift from the boot clock before it counts as stepped: NTP
# slews both alike, so only a step (or a suspend, which a Pi does not do) opens a gap.
STEP_TOLERANCE_S = 2.0
TIME_ERROR = 5  # adjtimex: the clock is not synchronised
TRUST_SOURCES = ("ntp", "modem", "staff")
# A time before this cannot be right: Keneya did not exist yet.
EARLIEST_PLAUSIBLE = datetime(2026, 1, 1, tzinfo=UTC)
# Nor can a time far in the future (a modem reporting 2080 after a network glitch, a year
# wheel turned one notch too far). A Pi and its card serve years, not decades: twenty years.
LATEST_PLAUSIBLE = datetime(2046, 1, 1, tzinfo=UTC)


class ClockError(ValueError):
    """A time that cannot be accepted as the true time."""


def to_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def corrected(machine_time: datetime, offset_s: float) -> datetime:
    """The true time for a machine time recorded in a boot whose offset was later measured."""
    return machine_time + timedelta(seconds=offset_s)


def plausible(moment: datetime) -> bool:
    return EARLIEST_PLAUSIBLE <= moment < LATEST_PLAUSIBLE


@dataclass(frozen=True)
class ClockReading:
    now: datetime  # best estimate: machine time plus the offset measured in this boot
    machine: datetime  # what the machine clock said
    trusted: bool
    source: str | None  # what made it trusted (ntp, modem, staff), None when untrusted
    boot_id: str
    stepped_at: datetime | None = None  # untrusted again: the machine clock was stepped

    @property
    def today(self) -> date:
        # Mali keeps UTC all year (Africa/Bamako, no daylight saving), so the UTC date is
        # the local date.
        return self.now.date()

    def iso(self) -> str:
        return to_iso(self.now)

    def machine_iso(self) -> str:
        return to_iso(self.machine)


def read_boot_id(path: Path = BOOT_ID_PATH) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        # No /proc (a laptop that is not Linux): this process counts as its own boot.
        return _PROCESS_BOOT_ID


_PROCESS_BOOT_ID = str(uuid.uuid4())


def boot_seconds() -> float:
    """Seconds since boot, suspend included, never stepped (CLOCK_BOOTTIME on Linux)."""
    clock_id = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(clock_id) if clock_id is not None else time.monotonic()


def _adjtimex_state() -> int | None:
    """The kernel's clock state (adjtimex with no change asked), None if it cannot be asked
    (not Linux, or a seccomp filter such as systemd's ProtectClock refusing it)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        timex = ctypes.create_string_buffer(512)  # struct timex is 208 bytes; modes = 0
        state = libc.adjtimex(timex)
    except (OSError, AttributeError):
        return None
    return state if state >= 0 else None


def ntp_synchronized(flag_path: Path = TIMESYNC_FLAG) -> bool:
    """Whether NTP (chrony here) vouches for the system clock now: adjtimex does not return
    TIME_ERROR — what `timedatectl` shows as "System clock synchronized" (a `date -s` sets the
    kernel's unsynchronised flag, so a hand-set clock does not count). Where the kernel cannot
    be asked, systemd-timesyncd's flag file; with neither, no."""
    state = _adjtimex_state()
    if state is not None:
        return state != TIME_ERROR
    return flag_path.exists()


class Clock:
    """`now()` with its trust flag, backed by the store's clock events."""

    def __init__(
        self,
        store: Store,
        *,
        machine_time: Callable[[], float] = time.time,
        boot_time: Callable[[], float] | None = None,
        boot_id: str | None = None,
        boot_id_path: Path = BOOT_ID_PATH,
        synchronized: Callable[[], bool] | None = None,
        timesync_flag: Path = TIMESYNC_FLAG,
        step_tolerance_s: float = STEP_TOLERANCE_S,
    ):
        self.store = store
        self.machine_time = machine_time
        if boot_time is None:
            # A machine clock moved by hand (tests, the demo) with no boot clock beside it:
            # its moves are time passing, never a step.
            boot_time = boot_seconds if machine_time is time.time else machine_time
        self.boot_time = boot_time
        # The kernel's NTP state speaks of the real clock only: a clock moved by hand (tests,
        # the demo) is never vouched for by it unless the test says so.
        self._ntp_speaks = synchronized is not None or machine_time is time.time
        self.synchronized = synchronized or (lambda: ntp_synchronized(timesync_flag))
        self.step_tolerance_s = step_tolerance_s
        self.boot_id = boot_id or read_boot_id(boot_id_path)

    def _read(self) -> tuple[datetime, float]:
        """The machine time and the boot clock, read together."""
        machine_s = self.machine_time()
        return datetime.fromtimestamp(machine_s, UTC), self.boot_time()

    def now(self) -> ClockReading:
        machine, boot_s = self._read()
        last = self.store.clock.last_for_boot(self.boot_id)
        if last is None:
            if self._ntp_speaks and plausible(machine) and self.synchronized():
                return self._first_ntp(machine, boot_s)
            return ClockReading(machine, machine, False, None, self.boot_id)
        expected = self._expected(last, boot_s)
        if expected is not None and abs((machine - expected).total_seconds()) > (
            self.step_tolerance_s
        ):
            return self._stepped(last, machine, expected, boot_s)
        return ClockReading(
            corrected(machine, last["offset_s"]), machine, True, last["source"], self.boot_id
        )

    @staticmethod
    def _expected(event: dict[str, Any], boot_s: float) -> datetime | None:
        """Where the machine clock should be now, had nothing stepped it since `event`."""
        if event.get("boot_s") is None:
            return None  # an event from before boot times were kept
        return from_iso(event["machine_time"]) + timedelta(seconds=boot_s - event["boot_s"])

    def _stepped(
        self, last: dict[str, Any], machine: datetime, expected: datetime, boot_s: float
    ) -> ClockReading:
        """The machine clock was stepped since the last event: its offset no longer holds."""
        step_s = (machine - expected).total_seconds()
        if plausible(machine) and self.synchronized():
            try:
                self._record_ntp(last, machine, boot_s, step_s)
            except (sqlite3.Error, OSError) as e:  # a full disk, a restore: still say what is true
                log.warning("clock stepped by %.1f s (NTP): not recorded: %s", step_s, e)
            return ClockReading(machine, machine, True, "ntp", self.boot_id)
        step = self.store.clock.step_after(last["id"])
        if step is None:
            try:
                step = self._record_step(last, machine, expected, boot_s, step_s)
            except (sqlite3.Error, OSError) as e:
                log.warning("clock stepped by %.1f s: not recorded: %s", step_s, e)
        stepped_at = from_iso(step["machine_time"]) if step else machine
        return ClockReading(machine, machine, False, None, self.boot_id, stepped_at=stepped_at)

    def _first_ntp(self, machine: datetime, boot_s: float) -> ClockReading:
        """NTP synchronised the clock (chrony over the 3G link) before anything else vouched
        for it this boot: trusted, with no offset, recorded once."""
        try:
            with self.store.transaction():
                if self.store.clock.last_for_boot(self.boot_id) is None:
                    self._add_ntp_event(machine, boot_s)
        except (sqlite3.Error, OSError) as e:  # a full disk, a restore: still say what is true
            log.warning("NTP synchronised the clock: not recorded: %s", e)
        return ClockReading(machine, machine, True, "ntp", self.boot_id)

    def _add_ntp_event(self, machine: datetime, boot_s: float) -> None:
        """NTP vouches for the machine time as it is: trusted, no offset."""
        self.store.clock.add(
            boot_id=self.boot_id,
            source="ntp",
            machine_time=to_iso(machine),
            true_time=to_iso(machine),
            offset_s=0.0,
            boot_s=boot_s,
        )

    def _record_ntp(
        self, last: dict[str, Any], machine: datetime, boot_s: float, step_s: float
    ) -> None:
        with self.store.transaction():
            current = self.store.clock.last_for_boot(self.boot_id)
            if current is None or current["id"] != last["id"]:
                return  # another process recorded it (or someone confirmed) meanwhile
            self._add_ntp_event(machine, boot_s)
            self._audit(machine, "clock.step", trusted=True, step_s=step_s, source="ntp")
        log.info("clock stepped by %.1f s; NTP vouches for it: trusted, offset dropped", step_s)

    def _record_step(
        self,
        last: dict[str, Any],
        machine: datetime,
        expected: datetime,
        boot_s: float,
        step_s: float,
    ) -> dict[str, Any] | None:
        with self.store.transaction():
            if self.store.clock.add_step(
                boot_id=self.boot_id,
                after_event=last["id"],
                machine_time=to_iso(machine),
                expected_time=to_iso(expected),
                step_s=step_s,
                boot_s=boot_s,
            ):
                self._audit(machine, "clock.step", trusted=False, step_s=step_s, source=None)
                log.warning(
                    "clock stepped by %.1f s with no NTP: untrusted until confirmed", step_s
                )
        return self.store.clock.step_after(last["id"])

    def _audit(
        self, machine: datetime, action: str, *, trusted: bool, step_s: float, source: str | None
    ) -> None:
        self.store.audit.append(
            {
                "at": to_iso(machine),
                "clock_trusted": trusted,
                "action": action,
                "detail": {
                    "machine": to_iso(machine),
                    "step_s": round(step_s, 3),
                    "trusted": trusted,
                    "source": source,
                    "boot_id": self.boot_id,
                },
            }
        )

    def mark_trusted(
        self, source: str, true_time: datetime, *, staff_id: str | None = None
    ) -> ClockReading:
        """Record that, right now, the true time is `true_time` (from `source`)."""
        if source not in TRUST_SOURCES:
            raise ClockError(f"unknown time source {source!r} (expected one of {TRUST_SOURCES})")
        if true_time.tzinfo is None:
            raise ClockError("the true time must carry its time zone")
        if not plausible(true_time):
            raise ClockError(f"{to_iso(true_time)} is not a plausible date")
        machine, boot_s = self._read()
        offset = (true_time - machine).total_seconds()
        self.store.clock.add(
            boot_id=self.boot_id,
            source=source,
            machine_time=to_iso(machine),
            true_time=to_iso(true_time),
            offset_s=offset,
            staff_id=staff_id,
            boot_s=boot_s,
        )
        return self.now()

    def status(self) -> dict[str, Any]:
        reading = self.now()
        events = self.store.clock.for_boot(self.boot_id)
        return {
            "now": reading.iso(),
            "machine_time": reading.machine_iso(),
            "trusted": reading.trusted,
            "source": reading.source,
            "offset_s": events[-1]["offset_s"] if events and reading.trusted else None,
            "boot_id": self.boot_id,
            "events_this_boot": len(events),
            "plausible": plausible(reading.machine),
            "stepped_at": to_iso(reading.stepped_at) if reading.stepped_at else None,
        }


def offsets_by_boot(events: list[dict[str, Any]]) -> dict[str, float]:
    """The first offset measured in each boot: what corrects times recorded before it."""
    first: dict[str, float] = {}
    for e in events:
        first.setdefault(e["boot_id"], e["offset_s"])
    return first
