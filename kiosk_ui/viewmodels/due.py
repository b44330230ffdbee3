"""Who is due (or overdue) for care, for the outreach list of the day or the week."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from appliance.services import clinical
from appliance.services.errors import ServiceError
from appliance.web.labels import STATUS
from kiosk_ui.viewmodels.state import KioskState, dmy

MAX_DAYS = 90  # as the web due page
# A 7" screen and a Pi 3's memory: past this many rows, choose a village.
MAX_ROWS = 60


class DueVM:
    def __init__(self, state: KioskState):
        self.state = state
        self.items: list[dict[str, Any]] = []
        self.villages: list[str] = []
        self.total = 0  # items due, before MAX_ROWS
        self.error: str | None = None

    def load(self, days: int = 0, village: str | None = None) -> None:
        """Blocking: a pass over every record (the view runs it on a thread, so it reads
        through a connection of its own)."""
        state = self.state
        today = state.today
        days = max(0, min(int(days), MAX_DAYS))
        try:
            with state.own_context() as ctx:
                rows = clinical.facility_due(
                    ctx,
                    state.actor,
                    start=today,
                    end=today + timedelta(days=days),
                    village=(village or "").strip() or None,
                )
        except (ServiceError, ValueError) as e:
            self.items, self.total, self.error = [], 0, state.error_text(e)
            return
        self.error = None
        self.total = len(rows)
        self.items = [self._row(i) for i in rows[:MAX_ROWS]]
        if not village:  # the picker offers every village of the unfiltered list
            self.villages = sorted({(i["contact"].get("village") or "") for i in rows} - {""})

    def _row(self, i: dict[str, Any]) -> dict[str, Any]:
        t, c = self.state.t, i["contact"]
        name = f"{c.get('family_name', '')} {c.get('given_names', '')}".strip()
        return {
            "patient_id": i["patient_id"],
            "name": name,
            "reason": i["reason"],
            "due_date": dmy(i["due_date"]),
            "status": i["status"],
            "status_label": t(STATUS.get(i["status"], i["status"])),
            "phone": c.get("phone") or "",
            "village": c.get("village") or "",
        }
