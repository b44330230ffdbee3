"""Registering a new patient, with the near-duplicate check a person must look at."""

from __future__ import annotations

from typing import Any

from appliance.domain.encounters import InvalidEncounter
from appliance.services import patients
from appliance.services.errors import PossibleDuplicates
from appliance.web import forms
from appliance.web.labels import CHOICES, age_label, label
from kiosk_ui.viewmodels.state import SAVE_ERRORS, KioskState, dmy, iso_date

# (name, widget, keyboard)
FIELDS = (
    ("family_name", "text", "text"),
    ("given_names", "text", "text"),
    ("sex", "select", "none"),
    ("age_years", "number", "numeric"),
    ("age_months", "number", "numeric"),
    ("birth_date", "date", "numeric"),
    ("village", "text", "text"),
    ("phone", "text", "numeric"),
)
# SMS reminders: sms_consent "1" agrees (opt-in, nothing chosen is no), sms_language fr or bm
SMS_FIELDS = ("sms_consent", "sms_language")
FIELD_NAMES = (*(f[0] for f in FIELDS), *SMS_FIELDS)


class RegisterVM:
    def __init__(self, state: KioskState):
        self.state = state
        self.values: dict[str, str] = dict.fromkeys(FIELD_NAMES, "")
        self.errors: dict[str, list[str]] = {}
        self.duplicates: list[dict[str, Any]] = []
        self.saved: dict[str, Any] | None = None

    @property
    def fields(self) -> list[dict[str, Any]]:
        t = self.state.t
        return [
            {
                "name": name,
                "label": t(label(name)),
                "widget": widget,
                "keyboard": keyboard,
                "required": name in ("family_name", "given_names", "sex"),
                "choices": [(c, t(CHOICES[c])) for c in ("F", "M")] if name == "sex" else [],
            }
            for name, widget, keyboard in FIELDS
        ]

    def set(self, name: str, value: Any) -> None:
        if name not in FIELD_NAMES:
            raise KeyError(f"{name!r} is not a registration field")
        self.state.touch()
        self.values[name] = "" if value is None else str(value)
        self.errors.pop(name, None)
        self.duplicates = []  # the data changed: the duplicates must be looked for again

    def first_unfilled(self) -> str | None:
        """The first field still needed that the keyboard does not fill (⏎ after the last
        text field goes there rather than saving a form sure to be refused): the sex, then
        the age (years, months or a birth date)."""
        v = self.values
        if not v["sex"]:
            return "sex"
        if not (v["age_years"] or v["age_months"] or v["birth_date"]):
            return "age_years"
        return None

    def data(self) -> dict[str, Any]:
        data = forms.patient_data(self.values)
        if "birth_date" in data:  # typed JJ/MM/AAAA on the kiosk
            data["birth_date"] = iso_date(data["birth_date"])
        return data

    def save(self, accept_duplicates: bool = False) -> str | None:
        """The new patient's id; None with `errors`, or with `duplicates` to look at first."""
        self.state.touch()
        state = self.state
        try:
            with state.storage():
                row = patients.register(
                    state.ctx, state.actor, self.data(), accept_duplicates=accept_duplicates
                )
        except PossibleDuplicates as e:
            self.errors = {}
            self.duplicates = [self._candidate(c) for c in e.candidates]
            return None
        except InvalidEncounter as e:  # InvalidPatient
            self.errors = forms.explain(e.details, state.t)
            self.duplicates = []
            return None
        except SAVE_ERRORS as e:  # a full disk: the form keeps every value typed
            self.errors = {"": [state.error_text(e)]}
            return None
        self.errors, self.duplicates, self.saved = {}, [], row
        return row["id"]

    def _candidate(self, c: dict[str, Any]) -> dict[str, Any]:
        t = self.state.t
        detail = [
            t(CHOICES.get(c["sex"], c["sex"])),
            age_label(c["birth_date"], self.state.today, t),
        ]
        detail.append(dmy(c["birth_date"]))
        detail += [v for v in (c.get("village"), c.get("phone")) if v]
        return {
            "id": c["id"],
            "name": f"{c['family_name']} {c['given_names']}",
            "detail": " · ".join(detail),
            "health_number": c["health_number"],
        }
