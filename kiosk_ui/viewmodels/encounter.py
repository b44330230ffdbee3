"""Recording care on the touchscreen: short forms, a draft saved at every change, what the
clinical engine says while the form is being typed, and the French errors after saving."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from appliance.clinical import dosing
from appliance.clinical.alerts import action_text, alerts_for, reason_text
from appliance.clinical.growth import nutrition_of
from appliance.domain.encounters import DIAGNOSES, InvalidEncounter, validate
from appliance.domain.permissions import write
from appliance.services import drafts, encounters, patients
from appliance.services.errors import ServiceError
from appliance.web import forms
from appliance.web.i18n import N_
from appliance.web.labels import STATUS, ZSCORES, label
from kiosk_ui.viewmodels.state import DENIED, SAVE_ERRORS, KioskState, dmy, iso_date

log = logging.getLogger("keneya.kiosk")

KIOSK_KINDS = ("consultation", "anc", "immunization", "growth")
KIOSK_FIELDS = {  # short forms for a touchscreen
    "consultation": (
        "care_date",
        "temperature_c",
        "weight_kg",
        "malaria_rdt",
        "diagnoses",
        "bp_systolic",
        "bp_diastolic",
    ),
    "anc": (
        "care_date",
        "gestational_age_weeks",
        "bp_systolic",
        "bp_diastolic",
        "weight_kg",
        "danger_signs",
    ),
    "immunization": ("care_date", "antigen", "dose"),
    "growth": ("care_date", "weight_kg", "height_cm", "measured", "muac_mm", "oedema"),
}
_KEYBOARD = {"number": "numeric", "decimal": "numeric", "date": "numeric"}
_NUTRITION_SEVERITY = {"sam": "urgent", "mam": "high", "normal": "ok"}
IMPLAUSIBLE = N_("%(index)s hors des valeurs plausibles : mesurez à nouveau.")
DOSING = N_("Posologie suggérée : %(drug)s — %(dose)s")
NO_DOSING = N_("Pas de posologie suggérée : %(why)s")


class _Form:
    """The kiosk's values as the web form parser (forms.parse) reads a submitted form."""

    def __init__(self, values: dict[str, Any]):
        self._values = values

    def get(self, name: str) -> Any:
        if name.startswith("diagnoses-0-"):
            value = self._values.get("diagnoses")
            return value if name.endswith("-code") and value else None
        value = self._values.get(name)
        if value is True:
            return "on"
        if value is False or value is None or value == "":
            return None
        if isinstance(value, list):
            return None
        return str(value)

    def getlist(self, name: str) -> list[str]:
        value = self._values.get(name)
        return [str(v) for v in value] if isinstance(value, list) else []


class EncounterVM:
    def __init__(self, state: KioskState, patient_ref: str, kind: str):
        if kind not in KIOSK_KINDS:
            raise ValueError(f"kind {kind!r}: expected one of {KIOSK_KINDS}")
        self.state = state
        self.kind = kind
        self.patient_ref = patient_ref
        self.errors: dict[str, list[str]] = {}
        self.error: str | None = None
        self.live: list[dict[str, str]] = []
        self.saved: dict[str, Any] | None = None
        self._record: dict[str, Any] | None = None
        self.values: dict[str, Any] = self._defaults()
        self._load()

    # -- the form ----------------------------------------------------------------------------
    @property
    def fields(self) -> list[dict[str, Any]]:
        t = self.state.t
        by_name = {f.name: f for f in forms.fields_of(self.kind)}
        out = []
        for name in KIOSK_FIELDS[self.kind]:
            f = by_name[name]
            widget, choices = f.widget, f.choices
            if widget == "diagnoses":
                widget, choices = "diagnosis", DIAGNOSES
            out.append(
                {
                    "name": name,
                    "label": t(label(name)),
                    "widget": widget,
                    "keyboard": _KEYBOARD.get(widget, "none"),
                    "required": f.required,
                    "choices": [(c, t(label(c))) for c in choices],
                }
            )
        return out

    def _defaults(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        by_name = {f.name: f for f in forms.fields_of(self.kind)}
        for name in KIOSK_FIELDS[self.kind]:
            widget = by_name[name].widget
            out[name] = False if widget == "checkbox" else [] if widget == "checkboxes" else ""
        care_date = forms.care_date_default(self.state.ctx.now())
        out["care_date"] = dmy(care_date) if care_date else ""
        return out

    @property
    def warnings(self) -> dict[str, list[str]]:
        """field → warnings shown beside it (the care date while the clock is unconfirmed)."""
        return forms.clock_warnings(self.state.ctx.now(), self.state.t)

    def _load(self) -> None:
        state = self.state
        if not state.may(write(self.kind)):
            self.error = state.t(DENIED)
            return
        try:
            with state.storage():  # an audited read: a full disk refuses it
                self._record = patients.record(state.ctx, state.actor, self.patient_ref)
        except SAVE_ERRORS as e:
            self.error = state.error_text(e)
            return
        self._recompute()

    @property
    def patient_id(self) -> str | None:
        return self._record["id"] if self._record else None

    @property
    def title(self) -> str:
        r = self._record
        return f"{r['family_name']} {r['given_names']}" if r else ""

    # -- drafts ------------------------------------------------------------------------------
    @property
    def draft(self) -> dict[str, Any] | None:
        """This staff member's saved draft of this form for this patient, or None."""
        if self._record is None:
            return None
        try:
            rows = drafts.pending(self.state.ctx, self.state.actor)
        except ServiceError:
            return None
        for r in rows:
            if r["patient_id"] == self._record["id"] and r["kind"] == self.kind:
                return r["data"]
        return None

    @property
    def has_draft(self) -> bool:
        return self.draft is not None

    def restore(self, draft_data: dict[str, Any]) -> None:
        known = set(KIOSK_FIELDS[self.kind])
        self.values.update({k: v for k, v in (draft_data or {}).items() if k in known})
        self.errors = {}
        self._recompute()

    def discard(self) -> None:
        if self._record is not None and self.state.actor is not None:
            try:
                with self.state.storage():
                    drafts.discard(self.state.ctx, self.state.actor, self._record["id"], self.kind)
            except SAVE_ERRORS as e:
                self.error = self.state.error_text(e)
        self.values = self._defaults()
        self.errors = {}
        self._recompute()

    def set(self, name: str, value: Any) -> None:
        """A value as typed; the draft is saved at once and the live hints recomputed."""
        if name not in KIOSK_FIELDS[self.kind]:
            raise KeyError(f"{name!r} is not a field of the {self.kind} form")
        self.state.touch()
        self.values[name] = value
        self.errors.pop(name, None)
        if self._record is not None:
            try:
                with self.state.storage():
                    drafts.save(
                        self.state.ctx, self.state.actor, self._record["id"], self.kind, self.values
                    )
            except SAVE_ERRORS as e:  # the value is kept on screen; only the draft is lost
                self.error = self.state.error_text(e)
        self._recompute()

    def relabel(self) -> None:
        """The live hints again, in the language now chosen."""
        self._recompute()

    # -- saving ------------------------------------------------------------------------------
    def data(self) -> dict[str, Any]:
        """The values as the encounter service expects them."""
        values = dict(self.values)
        values["care_date"] = iso_date(values.get("care_date") or "")
        parsed = forms.parse(self.kind, _Form(values))
        # Only the kiosk's fields: the others keep the model's defaults (new_case=True...).
        return {k: v for k, v in parsed.items() if k in KIOSK_FIELDS[self.kind]}

    def save(self) -> bool:
        self.state.touch()
        state = self.state
        if self._record is None:
            return False
        try:
            with state.storage():
                self.saved = encounters.add(
                    state.ctx, state.actor, self._record["id"], self.kind, self.data()
                )
        except InvalidEncounter as e:
            self.errors = forms.explain(e.details, state.t)
            return False
        except SAVE_ERRORS as e:  # a full disk: the form keeps every value typed
            self.errors = {"": [state.error_text(e)]}
            return False
        self.errors = {}
        try:
            with state.storage():
                drafts.discard(state.ctx, state.actor, self._record["id"], self.kind)
        except SAVE_ERRORS as e:  # saved; only the draft stays, offered again later
            log.warning("kiosk: draft kept after a save: %s", e)
        return True

    def stopping(self) -> list[str]:
        """What stops the saving, each said once, for the top of the form: the view-model's own
        error (a refused draft) and the errors tied to no field (a full disk is said by both
        the draft and the save)."""
        known = {f["name"] for f in self.fields}
        lines = [self.error or ""]
        lines += [m for name, ms in (self.errors or {}).items() if name not in known for m in ms]
        return list(dict.fromkeys(line for line in lines if line))

    @property
    def fields_in_error(self) -> bool:
        known = {f["name"] for f in self.fields}
        return any(name in known for name in self.errors or {})

    # -- live hints --------------------------------------------------------------------------
    def _care_date(self) -> date:
        try:
            return date.fromisoformat(iso_date(self.values.get("care_date") or ""))
        except (TypeError, ValueError):
            return self.state.today

    def _clean(self) -> dict[str, Any]:
        """The typed values the model accepts one by one (a half-typed form still has hints)."""
        data = self.data()
        record = self._record
        birth = date.fromisoformat(record["birth_date"])  # type: ignore[index]
        for _ in range(len(data) + 1):
            try:
                validate(self.kind, data, today=self.state.today, birth_date=birth)
                return data
            except InvalidEncounter as e:
                bad = {str(d["loc"][0]) for d in e.details if d.get("loc")}
                bad &= set(data) - {"care_date"}
                if not bad:
                    return data  # only form-level problems left (e.g. no diagnosis yet)
                for name in bad:
                    data.pop(name)
        return data

    def _recompute(self) -> None:
        self.live = []
        if self._record is None:
            return
        try:
            if self.kind == "growth":
                self.live = self._growth_live()
            elif self.kind in ("anc", "consultation"):
                self.live = self._alerts_live()
                if self.kind == "consultation":
                    self.live += self._dosing_live()
        except Exception:  # a hint must never break typing
            log.exception("kiosk: live hints failed for %s", self.kind)

    def _growth_live(self) -> list[dict[str, str]]:
        t, r = self.state.t, self._record
        data = self._clean()
        age = (self._care_date() - date.fromisoformat(r["birth_date"])).days  # type: ignore[index]
        measures = ("weight_kg", "height_cm", "muac_mm")
        if not data.get("oedema") and all(data.get(k) is None for k in measures):
            return []
        out = nutrition_of(r["sex"], age, data)  # type: ignore[index]
        live = []
        status = out["status"]
        if status in _NUTRITION_SEVERITY:
            live.append({"severity": _NUTRITION_SEVERITY[status], "text": t(STATUS[status])})
        zs = [
            f"{t(ZSCORES[k])} {out[k]:+.1f}".replace(".", ",")
            for k in ("wfa", "hfa", "wfh", "bfa")
            if out[k] is not None
        ]
        if zs:
            live.append({"severity": "info", "text": " · ".join(zs)})
        for reason in out["reasons"]:
            if reason.endswith(" implausible"):
                index = reason.split()[0]
                name = t(ZSCORES.get(index, index))
                live.append({"severity": "high", "text": t(IMPLAUSIBLE) % {"index": name}})
        return live

    def _alerts_live(self) -> list[dict[str, str]]:
        r, today = self._record, self.state.today
        data = self._clean()
        draft = {
            "id": "kiosk-draft",
            "type": self.kind,
            "care_date": self._care_date().isoformat(),
            "data": data,
        }
        before = {(a["code"], a["reason"]) for a in r["alerts"]}  # type: ignore[index]
        encs = sorted([*r["encounters"], draft], key=lambda e: e["care_date"])  # type: ignore[index]
        return [
            {
                "severity": a.severity,
                "text": f"{reason_text(a, self.state.t)} — {action_text(a, self.state.t)}",
            }
            for a in alerts_for(r, encs, today)
            if (a.code, a.reason) not in before
        ]

    def _dosing_live(self) -> list[dict[str, str]]:
        t, r = self.state.t, self._record
        data = self._clean()
        codes = [d["code"] for d in data.get("diagnoses") or []]
        weight = data.get("weight_kg")
        if not codes or weight is None:
            return []
        age = (self._care_date() - date.fromisoformat(r["birth_date"])).days  # type: ignore[index]
        live = []
        for code in codes:
            try:
                suggestions = dosing.suggest(code, weight, age, sex=r["sex"])  # type: ignore[index]
            except dosing.DosingRefused as e:
                why = dosing.refusal_text(e, t)
                live.append({"severity": "moderate", "text": t(NO_DOSING) % {"why": why}})
                continue
            for s in suggestions:
                drug, dose = dosing.text_of(s, "drug", t), dosing.text_of(s, "dose", t)
                text = t(DOSING) % {"drug": drug, "dose": dose}
                if s.times_per_day and s.days:
                    per_day = t("%(n)s fois par jour") % {"n": s.times_per_day}
                    text += f", {per_day}, " + t("%(n)s j") % {"n": s.days}
                live.append({"severity": "info", "text": text})
        return live
