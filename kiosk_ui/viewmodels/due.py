"""Who to see again: today's work, what is coming, who is lost to follow-up; a page at a time.

Each page is an indexed read of the stored follow-up items (services.follow_up), cheap enough
for the UI thread: no facility-wide pass, only the rows shown are in memory."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from appliance.clinical.due import reason_text
from appliance.services import follow_up
from appliance.web.i18n import N_
from kiosk_ui.viewmodels.state import SAVE_ERRORS, KioskState, dmy

PAGE = 20
LISTS = ("today", "upcoming", "defaulters")
LIST_TITLES = {
    "today": N_("Aujourd'hui"),
    "upcoming": N_("À venir"),
    "defaulters": N_("Perdus de vue"),
}
UPCOMING_DAYS = (7, 14, 30)
# State in words (the screen adds its colour); priority 1 is said "urgent" whatever its state.
STATE_LABELS = {
    "upcoming": N_("à venir"),
    "due": N_("à faire"),
    "overdue": N_("en retard"),
    "defaulter": N_("perdu de vue"),
    "urgent": N_("urgent"),
}


class DueVM:
    def __init__(self, state: KioskState):
        self.state = state
        self.list = "today"
        self.days = UPCOMING_DAYS[0]
        self.village: str | None = None
        self.offset = 0
        self.total = 0
        self.items: list[dict[str, Any]] = []
        self.villages: list[str] = []
        self.error: str | None = None

    # -- what is shown -------------------------------------------------------------------------
    def choose(
        self, *, list_name: str | None = None, days: int | None = None, village: Any = ...
    ) -> None:
        """Another list, period or village (None: every village): back to its first page."""
        if list_name is not None:
            if list_name not in LISTS:
                raise ValueError(f"unknown list {list_name!r}; expected one of {', '.join(LISTS)}")
            self.list = list_name
        if days is not None:
            self.days = days if days in UPCOMING_DAYS else UPCOMING_DAYS[0]
        if village is not ...:
            self.village = (village or "").strip() or None
        self.offset = 0
        self.load()

    def next_page(self) -> None:
        if self.has_next:
            self.offset += PAGE
            self.load()

    def previous_page(self) -> None:
        if self.has_previous:
            self.offset = max(0, self.offset - PAGE)
            self.load()

    @property
    def has_previous(self) -> bool:
        return self.offset > 0

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.items) < self.total

    @property
    def range_text(self) -> str:
        """ "21–40 sur 318": which rows of how many."""
        if not self.total:
            return self.state.t("0 sur 0")
        return self.state.t("%(first)s–%(last)s sur %(total)s") % {
            "first": self.offset + 1,
            "last": self.offset + len(self.items),
            "total": self.total,
        }

    # -- reading -------------------------------------------------------------------------------
    def load_villages(self) -> None:
        state = self.state
        try:
            with state.storage():
                self.villages = follow_up.villages(state.ctx, state.actor)
        except (*SAVE_ERRORS, ValueError) as e:
            self.villages, self.error = [], state.error_text(e)

    def load(self) -> None:
        """The page at `offset` of the chosen list; a page past the end (the list shrank
        since) falls back to the last one."""
        state = self.state
        try:
            with state.storage():
                total, rows = self._read()
                if not rows and total and self.offset >= total:
                    self.offset = (total - 1) // PAGE * PAGE
                    total, rows = self._read()
        except (*SAVE_ERRORS, ValueError) as e:
            self.items, self.total, self.error = [], 0, state.error_text(e)
            return
        self.error = None
        self.total = total
        self.items = [self._row(i) for i in rows]

    def _read(self) -> tuple[int, list[dict[str, Any]]]:
        state = self.state
        ctx, actor, on = state.ctx, state.actor, state.today
        if self.list == "defaulters":
            data = follow_up.defaulters(
                ctx, actor, village=self.village, limit=PAGE, offset=self.offset
            )
        elif self.list == "upcoming":
            data = follow_up.listing(
                ctx,
                actor,
                start=on,
                end=on + timedelta(days=self.days),
                village=self.village,
                states=("upcoming",),
                sort="date",
                limit=PAGE,
                offset=self.offset,
            )
        else:  # today: the home's count, one village or all
            data = follow_up.listing(
                ctx,
                actor,
                start=on,
                end=on,
                village=self.village,
                states=follow_up.TODAY_STATES,
                limit=PAGE,
                offset=self.offset,
            )
        return data["total"], data["items"]

    def _row(self, i: dict[str, Any]) -> dict[str, Any]:
        t, c = self.state.t, i["contact"]
        state = "urgent" if i["priority"] == 1 else i["state"]
        name = f"{c.get('family_name', '')} {c.get('given_names', '')}".strip()
        when = t("dû le %(date)s") % {"date": dmy(i["due_date"])}
        if i["days_overdue"]:
            when += " · " + t("%(n)s j de retard") % {"n": i["days_overdue"]}
        phone = c.get("phone") or ""
        if phone and c.get("phone_of") == "mother":
            phone += " " + t("(mère)")
        guardian = " ".join(
            p for p in (c.get("mother_family_name"), c.get("mother_given_names")) if p
        )
        return {
            "patient_id": i["patient_id"],
            "key": f"{i['patient_id']}:{i['reason_code']}",  # one item of one patient
            "name": name,
            "reason": reason_text(i, t),
            "due_date": dmy(i["due_date"]),
            "due_iso": i["due_date"],
            "when": when,
            "state": state,
            "state_label": t(STATE_LABELS.get(state, state)),
            "village": c.get("village") or "",
            "phone": phone,
            "guardian": t("mère : %(name)s") % {"name": guardian} if guardian else "",
        }
