"""Simulated time, advanced explicitly by the caller (never read from the wall clock)."""

from __future__ import annotations

SECONDS_PER_DAY = 86_400.0


class SimClock:
    """Seconds since local midnight of simulated day 0 (Mali is on UTC, no DST).

    Calling the clock returns the present simulated time, so it can be passed
    wherever a ``Callable[[], float]`` time source is expected; ``advance`` can
    be passed as a driver's ``sleep`` so that retry delays cost simulated time.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    @property
    def now(self) -> float:
        return self._now

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("simulated time only moves forward")
        self._now += seconds
        return self._now

    def advance_to(self, t: float) -> float:
        return self.advance(max(0.0, t - self._now))

    def __repr__(self) -> str:
        return f"SimClock(now={self._now:.3f})"
