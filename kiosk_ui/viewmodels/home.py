"""The home screen: greeting, how many are due today, recent gravity alerts, my drafts."""

from __future__ import annotations

from typing import Any

from appliance.clinical.alerts import SEVERITIES
from appliance.domain.permissions import READ_PATIENT
from appliance.services import clinical, drafts
from appliance.services.context import Context
from appliance.services.errors import ServiceError
from appliance.web.labels import ENCOUNTER_TYPES
from kiosk_ui.viewmodels.state import KioskState, dmy

MAX_ALERTS = 10


class HomeVM:
    def __init__(self, state: KioskState):
        self.state = state
        self.due_today = 0
        self.alerts: list[dict[str, Any]] = []
        self.drafts: list[dict[str, Any]] = []
        self.error: str | None = None

    @property
    def is_technician(self) -> bool:
        return self.state.actor is not None and self.state.actor.role == "technician"

    @property
    def greeting(self) -> str:
        actor = self.state.actor
        hello = self.state.t("Bonjour")
        return f"{hello}, {actor.display_name}" if actor else hello

    def load(self) -> None:
        """Blocking: a pass over every record (the view runs it on a thread, so it reads
        through a connection of its own: the UI thread keeps using the shared one)."""
        state, actor = self.state, self.state.actor
        self.error = None
        with state.own_context() as ctx:
            self.drafts = self._drafts(ctx)
            if actor is None or not state.may(READ_PATIENT):
                self.due_today, self.alerts = 0, []
                return
            try:
                lists = clinical.todays_lists(ctx, actor, state.today)
            except (ServiceError, ValueError) as e:
                self.error = state.error_text(e)
                return
        self.due_today = sum(1 for i in lists["due"] if i["status"] != "upcoming")
        alerts = [
            {
                "patient_id": p["patient"]["id"],
                "name": f"{p['patient']['family_name']} {p['patient']['given_names']}",
                "severity": a["severity"],
                "reason": a["reason"],
                "action": a["action"],
            }
            for p in lists["alerts"]
            for a in p["alerts"]
        ]
        alerts.sort(key=lambda a: SEVERITIES.index(a["severity"]))  # stable: urgent first
        self.alerts = alerts[:MAX_ALERTS]

    def _drafts(self, ctx: Context) -> list[dict[str, Any]]:
        t = self.state.t
        try:
            rows = drafts.pending(ctx, self.state.actor)
        except ServiceError as e:
            self.error = self.state.error_text(e)
            return []
        return [
            {
                "patient_id": r["patient_id"],
                "kind": r["kind"],
                "name": f"{r['family_name']} {r['given_names']}",
                "kind_label": t(ENCOUNTER_TYPES.get(r["kind"], r["kind"])),
                "updated_at": f"{dmy(r['updated_at'])} {r['updated_at'][11:16]}",
                "data": r["data"],
            }
            for r in rows
        ]
