"""The daemon's two clocks, real or simulated.

* loop time (`now`): seconds for intervals, the estimator and the policy -- `time.monotonic()`
  on the appliance, the simulator's clock otherwise;
* wall time (`wall`): what records carry -- through `appliance.clock` on the appliance (which
  also says whether the time is trusted), a fixed origin plus simulated time otherwise.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from appliance.clock import Clock
from power.sim.clock import SECONDS_PER_DAY, SimClock

if TYPE_CHECKING:
    from appliance.store import Store


class TimeBase(Protocol):
    real_rate: float  # real seconds per loop second; 0: never waits on real time

    def now(self) -> float: ...

    def wall(self) -> tuple[float, bool]:
        """(Unix seconds, trusted)."""
        ...

    def sleep(self, seconds: float, stop: threading.Event) -> None: ...


class RealTime:
    """`stores` gives the daemon's store of the moment (None when none could be opened): the
    clock's offset lives there; without it the machine's time is untrusted."""

    real_rate = 1.0

    def __init__(
        self,
        stores: Callable[[], Store | None],
        *,
        boot_id: str,
        machine_time: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.stores = stores
        self.boot_id = boot_id
        self.machine_time = machine_time
        self._monotonic = monotonic

    def now(self) -> float:
        return self._monotonic()

    def wall(self) -> tuple[float, bool]:
        store = self.stores()
        if store is None or store.conn is None:
            return self.machine_time(), False
        try:
            reading = Clock(store, machine_time=self.machine_time, boot_id=self.boot_id).now()
        except sqlite3.Error:
            return self.machine_time(), False
        return reading.now.timestamp(), reading.trusted

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        if seconds > 0:
            stop.wait(seconds)


class SimTime:
    """Simulated time, run `speed` times faster than real time (None: as fast as the CPU goes,
    for tests). Simulated second 0 is midnight UTC of `origin`'s day, the simulator's origin."""

    def __init__(
        self,
        clock: SimClock,
        *,
        origin: datetime,
        speed: float | None = None,
        trusted: bool = False,
    ):
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive")
        if origin.tzinfo is None:
            raise ValueError("origin must carry its time zone")
        day = origin.astimezone(UTC).timestamp() // SECONDS_PER_DAY * SECONDS_PER_DAY
        self.clock = clock
        self.epoch_at_zero = day
        self.speed = speed
        self.trusted = trusted
        self.real_rate = 1 / speed if speed else 0.0

    @staticmethod
    def seconds_into_day(moment: datetime) -> float:
        return moment.astimezone(UTC).timestamp() % SECONDS_PER_DAY

    def now(self) -> float:
        return self.clock.now

    def wall(self) -> tuple[float, bool]:
        return self.epoch_at_zero + self.clock.now, self.trusted

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        if seconds <= 0:
            return
        if self.speed:
            stop.wait(seconds / self.speed)
        self.clock.advance(seconds)
