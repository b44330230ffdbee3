"""The library on the kiosk: the list and the search (title and text), and a reader that
shows a document's text page by page. The kiosk shows the text the import extracted rather
than the page as drawn: no PDF renderer to ship or keep in memory, and the words are large on
a 7-inch screen; the drawn page (tables, pictures) is a tablet's job (/library)."""

from __future__ import annotations

from typing import Any

from appliance.services import library as service
from appliance.services.errors import ServiceError
from appliance.store.library import HIT_END, HIT_START
from appliance.web.i18n import N_
from kiosk_ui.viewmodels.state import KioskState

MIN_CHARS = 2
EMPTY_LIBRARY = N_(
    "La bibliothèque est vide : l'administrateur ajoute les documents depuis une tablette."
)
NO_MATCH = N_("Aucun document ne contient ces mots.")
NO_TEXT = N_(
    "Cette page n'a pas de texte lisible ici (image scannée) : ouvrez le document sur une tablette."
)
PAGE_OF = N_("Page %(n)s sur %(of)s")
PAGES = N_("%(n)s p.")


class LibraryVM:
    def __init__(self, state: KioskState):
        self.state = state
        self.query = ""
        self.documents: list[dict[str, Any]] = []
        self.message: str | None = None

    def load(self) -> None:
        self.set_query(self.query)

    def set_query(self, text: str) -> None:
        state, t = self.state, self.state.t
        state.touch()
        self.query = text or ""
        self.message = None
        try:
            if sum(ch.isalnum() for ch in self.query) < MIN_CHARS:
                rows = service.listing(state.ctx, state.actor)["documents"]
                self.documents = [self._row(r) for r in rows]
                if not rows:
                    self.message = t(EMPTY_LIBRARY)
                return
            found = service.search(state.ctx, state.actor, self.query)
        except ServiceError as e:
            self.documents, self.message = [], state.error_text(e)
            return
        self.documents = [self._row(r, r["hit_page"], r["snippet"]) for r in found]
        if not found:
            self.message = t(NO_MATCH)

    def _row(self, r: dict[str, Any], page: int | None = None, snippet: str = "") -> dict:
        t = self.state.t
        detail = [r["topic"].upper(), t(PAGES) % {"n": r["pages"]}]
        return {
            "id": r["id"],
            "title": r["title"],
            "detail": " · ".join(detail),
            # a search opens the page it found; the list, the document's job-aid page or 1
            "page": page or r.get("page") or 1,
            "snippet": " ".join(snippet.split()).replace(HIT_START, "").replace(HIT_END, ""),
        }


class ReaderVM:
    def __init__(self, state: KioskState, document_id: str, page: int = 1):
        self.state = state
        self.document_id = document_id
        self.title = ""
        self.pages = 0
        self.page = 1
        self.text = ""
        self.error: str | None = None
        try:
            row = service.get(state.ctx, state.actor, document_id)
        except ServiceError as e:
            self.error = state.error_text(e)
            return
        self.title, self.pages = row["title"], row["pages"]
        self.go(page)

    @property
    def where(self) -> str:
        return self.state.t(PAGE_OF) % {"n": self.page, "of": self.pages}

    def go(self, page: int) -> None:
        if not self.pages:
            return
        self.state.touch()
        self.page = min(max(page, 1), self.pages)
        try:
            text = service.page_text(self.state.ctx, self.state.actor, self.document_id, self.page)
        except ServiceError as e:
            self.error, self.text = self.state.error_text(e), ""
            return
        self.text = text or self.state.t(NO_TEXT)

    def next(self) -> None:
        self.go(self.page + 1)

    def previous(self) -> None:
        self.go(self.page - 1)
