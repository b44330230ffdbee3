"""The home screen: greeting, today's follow-up counts, the district's new replies, recent
gravity alerts, my drafts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from appliance.clinical.alerts import SEVERITIES, action_text, reason_text
from appliance.domain.permissions import READ_PATIENT
from appliance.services import clinical, drafts, follow_up, opinions
from appliance.services.clinical import RECENT_ALERT_DAYS
from appliance.services.errors import ServiceError
from appliance.web.labels import ENCOUNTER_TYPES
from kiosk_ui.viewmodels.due import UPCOMING_DAYS
from kiosk_ui.viewmodels.referral import late_count
from kiosk_ui.viewmodels.state import SAVE_ERRORS, KioskState, dmy

MAX_ALERTS = 10
WEEK = UPCOMING_DAYS[0]  # "Cette semaine": the due screen's first look-ahead


class HomeVM:
    def __init__(self, state: KioskState):
        self.state = state
        self.due_today = 0  # due and overdue today (follow_up.today's count)
        self.defaulters = 0
        self.this_week = 0  # upcoming within WEEK days: what the due screen lists on a tap
        self.alerts: list[dict[str, Any]] = []
        self.drafts: list[dict[str, Any]] = []
        self.referrals_late = 0  # referrals with no counter-referral after the district's days
        # replies to this clinician's questions not yet read on the record, newest first
        self.opinion_news: list[dict[str, Any]] = []
        self.error: str | None = None

    @property
    def is_technician(self) -> bool:
        return self.state.actor is not None and self.state.actor.role == "technician"

    @property
    def greeting(self) -> str:
        actor = self.state.actor
        hello = self.state.t("Bonjour")
        return f"{hello}, {actor.display_name}" if actor else hello

    def load_counts(self) -> None:
        """Quick (indexed reads of the stored items and this person's drafts): on the UI
        thread, so the home shows its figures at once."""
        state, actor = self.state, self.state.actor
        self.error = None
        self.drafts = self._drafts()
        if actor is None or not state.may(READ_PATIENT):
            self.due_today = self.defaulters = self.this_week = 0
            return
        on = state.today
        try:
            with state.storage():
                today = follow_up.today(state.ctx, actor, limit=1)
                week = follow_up.listing(
                    state.ctx,
                    actor,
                    start=on,
                    end=on + timedelta(days=WEEK),
                    states=("upcoming",),
                    limit=1,
                )
                news = opinions.news(state.ctx, actor)
        except (*SAVE_ERRORS, ValueError) as e:
            self.error = state.error_text(e)
            return
        self.due_today, self.defaulters = today["count"], today["defaulters"]
        self.this_week = week["total"]
        self.referrals_late = late_count(state)
        self.opinion_news = news

    @property
    def reply_patient(self) -> dict[str, str] | None:
        """The patient whose record the home's reply line opens: the newest reply's."""
        if not self.opinion_news:
            return None
        n = self.opinion_news[0]
        return {"id": n["patient_id"], "name": f"{n['family_name']} {n['given_names']}"}

    def load_alerts(self) -> None:
        """Blocking: a pass over the patients seen in the last fortnight (the view runs it on
        a thread, so it reads through a connection of its own)."""
        state, actor = self.state, self.state.actor
        if actor is None or not state.may(READ_PATIENT):
            self.alerts = []
            return
        on, t = state.today, state.t
        with state.own_context() as ctx:
            found = clinical.facility_alerts(
                ctx, actor, since=on - timedelta(days=RECENT_ALERT_DAYS), on=on
            )
        alerts = [
            {
                "patient_id": p["patient"]["id"],
                "name": f"{p['patient']['family_name']} {p['patient']['given_names']}",
                "severity": a["severity"],
                "reason": reason_text(a, t),
                "action": action_text(a, t),
            }
            for p in found
            for a in p["alerts"]
        ]
        alerts.sort(key=lambda a: SEVERITIES.index(a["severity"]))  # stable: urgent first
        self.alerts = alerts[:MAX_ALERTS]

    def load(self) -> None:
        """Everything at once (tests, scripts): the counts, then the alerts."""
        self.load_counts()
        if self.error is None:
            self.load_alerts()

    def _drafts(self) -> list[dict[str, Any]]:
        t = self.state.t
        try:
            rows = drafts.pending(self.state.ctx, self.state.actor)
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
