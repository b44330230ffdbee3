"""The home page's facility-wide lists (today's due list, recent gravity alerts).

They cost a pass over every record (seconds at 100,000 patients), so they are computed once
in the background with a connection of their own and shared by every tablet for a few
minutes; a tablet asking while they are being computed gets the previous lists at once, and
the very first one waits briefly, then is told to try again."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from appliance.clock import Clock
from appliance.services import clinical
from appliance.services.context import Actor, Context
from appliance.store import Store

log = logging.getLogger("keneya.web")
REFRESH_S = 300


class HomeLists:
    def __init__(self, settings: Any, *, refresh_s: float = REFRESH_S):
        self.settings = settings
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._value: dict[str, Any] | None = None
        self._expires = 0.0
        self._running = False

    def get(self, actor: Actor, *, wait_s: float = 10.0) -> dict[str, Any] | None:
        """The latest lists, starting a refresh when they are old; None while the first
        computation is still running after `wait_s`."""
        with self._lock:
            if time.monotonic() >= self._expires and not self._running:
                self._running = True
                threading.Thread(
                    target=self._refresh, args=(actor,), name="home-lists", daemon=True
                ).start()
            value = self._value
        if value is None:
            self._ready.wait(wait_s)
            value = self._value
        return value

    def _refresh(self, actor: Actor) -> None:
        try:
            with Store(self.settings.paths.database, migrate=False) as store:
                ctx = Context(
                    store,
                    Clock(store, machine_time=self.settings.now, **self.settings.clock_options),
                )
                value = clinical.todays_lists(ctx, actor, ctx.now().today)
            with self._lock:
                self._value = value
                self._expires = time.monotonic() + self.refresh_s
        except Exception:
            log.exception("home lists could not be computed")
            with self._lock:
                self._expires = time.monotonic() + 30  # try again soon, not in a loop
        finally:
            with self._lock:
                self._running = False
            self._ready.set()
