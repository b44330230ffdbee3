"""Kiosk view-model fixtures: a KioskState per role over the shared test store."""

from __future__ import annotations

import pytest

from appliance.services import patients
from kiosk_ui.viewmodels.state import KioskState


class Monotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def monotonic() -> Monotonic:
    return Monotonic()


@pytest.fixture
def kiosk(ctx, actors, monotonic, tmp_path):
    """kiosk(role) → a KioskState logged in as that role's fixture staff member."""

    def make(role: str | None = None, lang: str = "fr") -> KioskState:
        state = KioskState(ctx, lang=lang, monotonic=monotonic, data_dir=tmp_path)
        state.actor = actors[role] if role else None
        return state

    return make


@pytest.fixture
def child(ctx, actors) -> dict:
    """An 18-month-old girl (the clock says 15/10/2026)."""
    return patients.register(
        ctx,
        actors["nurse"],
        {
            "family_name": "Coulibaly",
            "given_names": "Fanta",
            "sex": "F",
            "birth_date": "2025-04-15",
            "village": "Kalaban",
        },
    )
