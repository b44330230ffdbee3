"""Referral on the touchscreen: the form as choices only (urgency, reason, receiving centre,
transport, SMS consent), started from the record (the reason the gravity alert suggests,
today's vital signs), and the list of referrals awaiting their counter-referral. What needs
typing at length (the counter-referral, the care given) is a tablet's job (/referrals)."""

from __future__ import annotations

from typing import Any

from appliance.domain.encounters import InvalidEncounter
from appliance.domain.permissions import REFER_PATIENT
from appliance.domain.referrals import (
    REASONS,
    TRANSPORTS,
    ReferralRules,
    ReferralSettingsError,
    vitals_line,
)
from appliance.services import referrals as service
from appliance.services.errors import ServiceError
from appliance.web.i18n import N_
from appliance.web.labels import REFERRAL_SMS as SMS_STATES
from appliance.web.labels import REFERRAL_URGENCY as URGENCY
from kiosk_ui.viewmodels.state import KioskState, dmy

CONSENT = N_("Le patient accepte le SMS au centre (sans son nom)")
NO_CENTRE = N_(
    "Aucun centre de référence dans le fichier de la structure ([referral] receiving) : "
    "demandez au technicien de l'ajouter."
)
MISSING = N_("Choisissez : %(what)s")
SAVED = N_("Référence enregistrée. Imprimez la fiche depuis une tablette : Références.")
VITALS = N_("Signes vitaux : %(v)s")
WAITING = N_("%(date)s · %(name)s — %(reason)s · %(days)s j")
LATE = N_("EN RETARD")
REQUIRED = ("urgency", "reason", "to_facility", "transport")
FIELD_NAMES = {
    "urgency": N_("Urgence"),
    "reason": N_("Motif"),
    "to_facility": N_("Centre qui reçoit"),
    "transport": N_("Transport"),
}


def facility_rules(state: KioskState) -> ReferralRules:
    return service.rules_of(state.config_dir / "facility.toml")


class ReferralVM:
    def __init__(self, state: KioskState, patient_id: str):
        self.state = state
        self.patient_id = patient_id
        self.values: dict[str, Any] = {}
        self.rules: ReferralRules | None = None
        self.name = ""
        self.vitals: dict[str, Any] = {}
        self.errors: list[str] = []
        self.saved: dict[str, Any] | None = None

    def open(self) -> None:
        state = self.state
        state.touch()
        self.errors, self.saved = [], None
        try:
            self.rules = facility_rules(state)
            with state.storage():
                start = service.prefill(state.ctx, state.actor, self.patient_id)
        except (ReferralSettingsError, ServiceError) as e:
            self.errors = [str(e) if isinstance(e, ReferralSettingsError) else state.error_text(e)]
            return
        record = start["record"]
        self.name = f"{record['family_name']} {record['given_names']} · {record['health_number']}"
        self.vitals = start["vitals"]
        self.values = {
            "care_date": start["care_date"],
            "urgency": start["urgency"],
            "reason": start["reason"],
            "alert_code": start["alert_code"],
            "transport": "ambulance" if start["urgency"] == "urgent" else "own_means",
            "sms_consent": False,
        }
        if len(self.rules.receiving) == 1:
            self.values["to_facility"] = next(iter(self.rules.receiving))
        if not self.rules.receiving:
            self.errors = [state.t(NO_CENTRE)]

    @property
    def may_refer(self) -> bool:
        return self.state.may(REFER_PATIENT)

    def choices(self, name: str) -> list[tuple[str, str]]:
        t = self.state.t
        if name == "urgency":
            return [(k, t(v)) for k, v in URGENCY.items()]
        if name == "reason":
            return [(k, t(v)[:1].upper() + t(v)[1:]) for k, v in REASONS.items()]
        if name == "transport":
            return [(k, t(v)[:1].upper() + t(v)[1:]) for k, v in TRANSPORTS.items()]
        if name == "to_facility":
            return [(f.code, f.name) for f in (self.rules.receiving.values() if self.rules else ())]
        raise KeyError(name)

    def set(self, name: str, value: Any) -> None:
        self.state.touch()
        self.values[name] = value

    @property
    def vitals_text(self) -> str:
        t = self.state.t
        return t(VITALS) % {"v": vitals_line(self.vitals, t)}

    def save(self) -> bool:
        """Write the referral; False with `errors` in the reader's language when refused."""
        state, t = self.state, self.state.t
        state.touch()
        missing = [t(FIELD_NAMES[k]) for k in REQUIRED if not self.values.get(k)]
        if missing:
            self.errors = [t(MISSING) % {"what": ", ".join(missing)}]
            return False
        data = {k: v for k, v in self.values.items() if v not in (None, "")}
        data["vitals"] = self.vitals
        try:
            with state.storage():
                self.saved = service.create(
                    state.ctx, state.actor, self.patient_id, data, rules=self.rules
                )
        except (InvalidEncounter, ServiceError, ValueError) as e:
            self.errors = [state.error_text(e)]
            return False
        self.errors = []
        return True

    @property
    def result_lines(self) -> list[str]:
        if self.saved is None:
            return []
        t = self.state.t
        lines = [t(SAVED), t(SMS_STATES[self.saved["sms_status"]])]
        if self.saved["sms_text"]:
            lines.append(f"« {self.saved['sms_text']} »")
        return lines


class ReferralsVM:
    """Referrals awaiting their counter-referral, oldest first; the late ones marked."""

    def __init__(self, state: KioskState):
        self.state = state
        self.rows: list[dict[str, Any]] = []
        self.error: str | None = None

    def load(self) -> None:
        state, t = self.state, self.state.t
        state.touch()
        self.error = None
        try:
            rules = facility_rules(state)
            found = service.awaiting(state.ctx, state.actor, rules=rules)
        except ReferralSettingsError as e:
            self.rows, self.error = [], str(e)
            return
        except ServiceError as e:
            self.rows, self.error = [], state.error_text(e)
            return
        self.rows = [
            {
                "patient_id": r["patient_id"],
                "late": r["late"],
                "text": t(WAITING)
                % {
                    "date": dmy(r["care_date"]),
                    "name": f"{r['family_name']} {r['given_names']}",
                    "reason": t(REASONS.get(r["reason"], r["reason"])),
                    "days": r["days_waiting"],
                }
                + (f" — {t(LATE)}" if r["late"] else ""),
            }
            for r in found
        ]


def late_count(state: KioskState) -> int:
    """For the home screen's line; 0 when the facility file's [referral] is wrong (the
    referrals screen says why)."""
    try:
        return service.count_late(state.ctx, rules=facility_rules(state))
    except (ReferralSettingsError, ServiceError):
        return 0
