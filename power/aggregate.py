"""Readings every few seconds -> one row per minute. Pure: wall times are passed in.

The SD card sees one small row per minute instead of a row per reading; the row keeps what
the history needs (average, min and max voltage, average current, the last state of charge,
the worst state, how many readings were good and how many failed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from power.policy import State

BUCKET_S = 60
# Least to most severe: a minute keeps the worst state seen in it (the same order as
# appliance.store.power.STATES, which merges stored minutes).
SEVERITY = {
    State.OK: 0,
    State.WARN: 1,
    State.SENSOR_FAULT: 2,
    State.SHUTDOWN_PENDING: 3,
    State.LOW_POWER_WAIT: 4,
    State.CRITICAL: 5,
}


def worst(a: State, b: State) -> State:
    return a if SEVERITY[a] >= SEVERITY[b] else b


@dataclass(slots=True)
class Bucket:
    start_s: int
    samples: int = 0
    faults: int = 0
    v_sum: float = 0.0
    i_sum: float = 0.0
    v_min: float | None = None
    v_max: float | None = None
    soc_last: float | None = None
    state: State = State.OK
    clock_trusted: bool = True

    def row(self) -> dict[str, Any]:
        """The row as the store takes it (power_samples_* columns)."""
        n = self.samples
        return {
            "start_s": self.start_s,
            "samples": n,
            "faults": self.faults,
            "v_avg": self.v_sum / n if n else None,
            "v_min": self.v_min,
            "v_max": self.v_max,
            "i_avg": self.i_sum / n if n else None,
            "soc_last": self.soc_last,
            "state": str(self.state),
            "clock_trusted": self.clock_trusted,
        }


class MinuteAggregator:
    """Feed readings with their wall time; :meth:`add` returns the rows of buckets it closed.

    A bucket closes when a reading falls in another bucket (later, or earlier after the clock
    was stepped back: the store merges a bucket written twice).
    """

    def __init__(self, *, bucket_s: int = BUCKET_S) -> None:
        if bucket_s <= 0:
            raise ValueError("bucket_s must be positive")
        self.bucket_s = bucket_s
        self._open: Bucket | None = None

    @property
    def open(self) -> Bucket | None:
        return self._open

    def add(
        self,
        wall_s: float,
        *,
        state: State,
        trusted: bool,
        voltage_v: float | None = None,
        current_a: float | None = None,
        soc: float | None = None,
    ) -> list[dict[str, Any]]:
        """A good reading (voltage and current given) or a failed one (both None)."""
        start = int(wall_s // self.bucket_s) * self.bucket_s
        closed = []
        if self._open is not None and self._open.start_s != start:
            closed.append(self._open.row())
            self._open = None
        b = self._open = self._open or Bucket(start)
        if voltage_v is None or current_a is None:
            b.faults += 1
        else:
            b.samples += 1
            b.v_sum += voltage_v
            b.i_sum += current_a
            b.v_min = voltage_v if b.v_min is None else min(b.v_min, voltage_v)
            b.v_max = voltage_v if b.v_max is None else max(b.v_max, voltage_v)
            if soc is not None:
                b.soc_last = soc
        b.state = worst(b.state, state)  # a new bucket starts at OK, the least severe
        b.clock_trusted = b.clock_trusted and trusted
        return closed

    def flush(self) -> list[dict[str, Any]]:
        """The open, partial bucket (if any), which is then forgotten."""
        if self._open is None:
            return []
        row, self._open = self._open.row(), None
        return [row]
