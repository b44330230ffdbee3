"""The home page's lists: today's follow-up (due and overdue, defaulters apart) and the
gravity alerts of the patients seen this fortnight.

Today's follow-up is an indexed read of the stored items: it is read on every request. The
alerts still cost a pass over the patients seen in 14 days (about 200 ms at 20,000 patients
on a laptop, over a second on a Pi), so they are computed in the background with a
connection of their own and shared by every tablet for a few minutes; a tablet asking while
they are being computed gets the previous ones at once, and the very first one waits
briefly, then is told to try again."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from appliance.clock import Clock
from appliance.services import clinical, follow_up, opinions
from appliance.services.context import Actor, Context
from appliance.store import Store
from appliance.web.due_views import with_people

log = logging.getLogger("keneya.web")
REFRESH_S = 300
HOME_ROWS = 10  # the first items of today's list; the rest on /due
WEEK_DAYS = 7
ALERTS_WAIT_S = 2.0  # the due part never waits longer than this for the first alerts


class HomeLists:
    """The gravity alerts, computed in the background and shared."""

    def __init__(self, settings: Any, *, refresh_s: float = REFRESH_S):
        self.settings = settings
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._value: dict[str, Any] | None = None
        self._expires = 0.0
        self._running = False

    def get(self, actor: Actor, *, wait_s: float = ALERTS_WAIT_S) -> dict[str, Any] | None:
        """The latest alerts, starting a refresh when they are old; None while the first
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
                on = ctx.now().today
                value = {
                    "today": on,
                    "alerts": clinical.facility_alerts(
                        ctx, actor, since=on - timedelta(days=clinical.RECENT_ALERT_DAYS), on=on
                    ),
                }
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


def home_lists(ctx: Context, actor: Actor, alerts: HomeLists) -> dict[str, Any]:
    """What the home page shows under the search: today's follow-up read now, the coming
    week's count, and the shared alerts (None while the first ones are computed)."""
    today = follow_up.today(ctx, actor, limit=HOME_ROWS)
    on = ctx.now().today
    with_people(ctx, today["items"], on)
    week = follow_up.listing(
        ctx,
        actor,
        start=on,
        end=on + timedelta(days=WEEK_DAYS),
        states=("upcoming",),
        limit=1,
    )["total"]
    cached = alerts.get(actor)
    return {
        "due": today,
        "week": week,
        "alerts": cached["alerts"] if cached is not None else None,
        # replies from the district to this clinician's questions, until the record is opened
        "opinion_news": opinions.news(ctx, actor),
    }
