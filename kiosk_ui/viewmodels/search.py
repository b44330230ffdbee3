"""Patient search while typing: name, health number or phone number."""

from __future__ import annotations

from datetime import date
from typing import Any

from appliance.services import patients
from appliance.services.errors import ServiceError
from appliance.web.i18n import N_
from appliance.web.labels import CHOICES, age_label
from kiosk_ui.viewmodels.state import KioskState

MIN_CHARS = 2
RESULTS_MAX = 20  # a page: the screen shows them with a pool of as many rows
TOO_SHORT = N_("Tapez au moins 2 lettres")
# The web search page's messages
NOT_A_QUERY = N_("Tapez un nom (des lettres), un numéro de santé ou un numéro de téléphone.")
NO_RESULTS = N_("Aucun patient trouvé.")
MORE = N_("Plus de résultats")


class SearchVM:
    def __init__(self, state: KioskState):
        self.state = state
        self.query = ""
        self.results: list[dict[str, Any]] = []
        self.message: str | None = None
        self.offset = 0  # where the page shown starts among all results
        self.more = False  # a next page exists ("Plus de résultats")

    def set_query(self, text: str) -> None:
        self.state.touch()
        self.query = text or ""
        self._load(0)

    def next_page(self) -> None:
        """The next page of the same search, in place of this one (the screen's rows stay a
        page)."""
        self.state.touch()
        if self.more:
            self._load(self.offset + len(self.results))

    def _load(self, offset: int) -> None:
        state, t = self.state, self.state.t
        self.results, self.more, self.offset = [], False, offset
        if sum(ch.isalnum() for ch in self.query) < MIN_CHARS:
            self.message = t(TOO_SHORT)
            return
        try:
            page = patients.search_page(
                state.ctx, state.actor, self.query, limit=RESULTS_MAX, offset=offset
            )
        except ServiceError as e:
            self.message = state.error_text(e)
            return
        except ValueError:
            self.message = t(NOT_A_QUERY)
            return
        today = state.today
        self.results = [self._row(r, today) for r in page["results"]]
        self.more = page["more"]
        self.message = None if self.results else t(NO_RESULTS)

    def _row(self, r: dict[str, Any], today: date) -> dict[str, Any]:
        t = self.state.t
        # calendar months, as the record: a child registered as 15 months shows 15
        detail = [t(CHOICES.get(r["sex"], r["sex"])), age_label(r["birth_date"], today, t)]
        if r.get("village"):
            detail.append(r["village"])
        return {
            "id": r["id"],
            "name": f"{r['family_name']} {r['given_names']}",
            "detail": " · ".join(detail),
            "health_number": r["health_number"],
        }
