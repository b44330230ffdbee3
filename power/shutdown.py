"""The safe shutdown: a countdown the kiosk shows, then the records closed before the power goes.

Order at the deadline, each step attempted even if the one before failed (the battery will
not wait):

1. checkpoint the WAL (TRUNCATE): this daemon's last records are in the main file;
2. stop the other services (web, kiosk, modem): each closes its own store on SIGTERM;
3. checkpoint again and close the database: what they wrote last is folded in too;
4. power off.

Commands go through an injected runner: `systemctl` on the appliance, a recorder in the
simulator and the tests.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from appliance.domain.permissions import CANCEL_SHUTDOWN, ROLES, allowed

if TYPE_CHECKING:
    from appliance.store import Store

log = logging.getLogger(__name__)

STOP_SERVICES = ("systemctl", "stop", "keneya-web", "keneya-kiosk", "keneya-modem")
POWEROFF = ("systemctl", "poweroff")
COMMAND_TIMEOUT_S = 60.0
# Who may call off a pending shutdown: the permission table says (CANCEL_SHUTDOWN).
CANCEL_ROLES = frozenset(r for r in ROLES if allowed(r, CANCEL_SHUTDOWN))

Runner = Callable[[Sequence[str]], int]
T = TypeVar("T")


def may_cancel(role: str) -> bool:
    return allowed(role, CANCEL_SHUTDOWN)


def run_command(argv: Sequence[str], *, timeout_s: float = COMMAND_TIMEOUT_S) -> int:
    """Run a system command; its exit status, or -1 when it could not run or timed out (a
    stuck `systemctl stop` must not eat the battery's last minutes)."""
    try:
        return subprocess.run(list(argv), timeout=timeout_s, check=False).returncode
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("%s: %s", " ".join(argv), exc)
        return -1


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
    stop_status: int
    poweroff_status: int


class SafeShutdown:
    def __init__(
        self,
        *,
        grace_s: float = 120.0,
        runner: Runner = run_command,
        stop_services: Sequence[str] = STOP_SERVICES,
        poweroff: Sequence[str] = POWEROFF,
    ) -> None:
        if grace_s < 60:
            raise ValueError("the countdown must leave people at least 60 s")
        self.grace_s = grace_s
        self.runner = runner
        self.stop_services = tuple(stop_services)
        self.poweroff = tuple(poweroff)

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

    def execute(self, store: Store | None) -> ExecutionReport:
        """Steps 1-4 above. The caller has already recorded the executed-shutdown event (or
        kept it, when the disk refused it). No store (none could be opened): 2 and 4 only."""
        first = _attempt("checkpoint", store.power.checkpoint) if store is not None else None
        stop_status = self.runner(self.stop_services)
        second = _attempt("checkpoint", store.power.checkpoint) if store is not None else None
        if store is not None:
            _attempt("close the database", store.close)
        poweroff_status = self.runner(self.poweroff)
        return ExecutionReport((first, second), stop_status, poweroff_status)


def _attempt(what: str, step: Callable[[], T]) -> T | None:
    try:
        return step()
    except Exception as exc:  # the next step must still run
        log.error("safe shutdown: %s failed: %s", what, exc)
        return None
