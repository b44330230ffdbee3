"""The due list: what each patient should come back for, and how to reach them.

`due_for_patient` combines the schedules of this package for one patient's current
encounters (dicts as the store returns them). Each item carries the dates at which it
changes state (data/follow_up.json gives the windows, with their sources):

  upcoming   before its due date (shown by default from `upcoming_from`)
  due        from the due date until the kind's grace delay
  overdue    past the grace delay, until the tracing delay
  defaulter  past the tracing delay: lost to follow-up, to trace in the community
  (gone)     after `ends_on`: past the kind's list limit, or no longer applicable

so the state on any later day follows from the dates alone (`state_on`); the store keeps
these items per patient and its queries derive the state in SQL the same way.

Priority (1 = first to act on):
  1  referral for delivery at 41 weeks; the newborn's or mother's 24-hour postnatal check
  2  overdue
  3  due
  4  upcoming
  5  defaulter (a separate list: tracing, not today's consultations)

Rules not fixed by a national protocol are in `DueConfig` (defaults documented there); pass
another `DueConfig` to change them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from appliance.clinical import immunization as imm
from appliance.clinical import pregnancy as preg
from appliance.clinical.dates import as_date
from appliance.clinical.texts import N_, Translate, render

KINDS = (
    "immunization",
    "anc",
    "pnc",
    "growth_monitoring",
    "family_planning",
    "chronic",
    "refer_delivery",
    "td",
    "iptp",
)
UNKNOWN_VILLAGE = ""  # group_by_village key for patients without a village

# Short names as the vaccination card writes them (msgids: OPV, MR, YF in English).
ANTIGEN_LABELS = {
    "bcg": N_("BCG"),
    "opv": N_("VPO"),
    "penta": N_("Penta"),
    "pcv": N_("PCV"),
    "rota": N_("Rota"),
    "ipv": N_("VPI"),
    "mr": N_("RR"),
    "yf": N_("VAA"),
    "menafrivac": N_("MenAfriVac"),
    "malaria": N_("Paludisme R21"),
    "hpv": N_("HPV"),
    "td": N_("Td"),
}
PNC_LABELS = {
    "24h": N_("24 h"),
    "j3": N_("jour 3"),
    "j7": N_("jours 7-14"),
    "6sem": N_("6 semaines"),
}
PNC_SUBJECTS = {"mother": N_("mère"), "newborn": N_("nouveau-né")}
CHRONIC_LABELS = {
    "hypertension": N_("HTA"),
    "diabetes": N_("diabète"),
    "hiv": N_("VIH"),
    "tb": N_("tuberculose"),
    "epilepsy": N_("épilepsie"),
    "asthma": N_("asthme"),
    "sickle_cell": N_("drépanocytose"),
}
FP_LABELS = {
    "pill_coc": N_("pilules (COC) : réapprovisionnement"),
    "pill_pop": N_("pilules (POP) : réapprovisionnement"),
    "injectable_dmpa_im": N_("réinjection DMPA-IM"),
    "injectable_dmpa_sc": N_("réinjection DMPA-SC"),
    "implant": N_("implant : retrait/remplacement"),
    "iud": N_("DIU : retrait/remplacement"),
    "condom_male": N_("préservatifs : réapprovisionnement"),
    "condom_female": N_("préservatifs féminins : réapprovisionnement"),
    "lam": N_("MAMA : relais par une autre méthode"),
}
# An item's reason, by kind: a French template (msgid) filled from its reason code
# (reason_message), so a stored item can be shown in English too.
REASONS = {
    "immunization": N_("%(antigen)s %(dose)s (vaccin)"),
    "growth:monthly": N_("Pesée mensuelle (suivi de croissance)"),
    "growth:quarterly": N_("Pesée trimestrielle (suivi de croissance)"),
    "refer_delivery": N_("Référer pour l'accouchement (%(weeks)s semaines)"),
    "anc": N_("CPN %(n)s (%(weeks)s semaines)"),
    "td": N_("Td %(dose)s (femme enceinte)"),
    "iptp": N_("TPI-SP %(dose)s (paludisme, grossesse)"),
    "pnc": N_("CPoN %(who)s %(when)s"),
    "family_planning": N_("PF : %(what)s"),
    "chronic": N_("Suivi %(condition)s"),
}
# Items whose reminder never goes to a parent's phone: reproductive health is confidential,
# adolescents included.
_PRIVATE_KINDS = frozenset({"anc", "refer_delivery", "td", "iptp", "family_planning"})
GUARDIAN_UNDER_DAYS = 15 * 365  # the mother's phone stands in for a child under 15


@dataclass(frozen=True)
class DueConfig:
    # Growth monitoring and promotion (WHO/UNICEF GMP practice, Mali PCIME): monthly weighing
    # under 24 months, quarterly from 24 to 59 months (programme choice for the latter).
    growth_monthly_days: int = 30
    growth_quarterly_days: int = 91
    growth_monthly_until_days: int = 731  # 24 months, as in growth.HEIGHT_FROM_DAYS
    growth_until_days: int = 1826  # 5 years
    # Family planning (WHO Selected Practice Recommendations, 3rd ed. 2016, and the WHO
    # Family Planning Handbook, 2018):
    pill_cycle_days: int = 28
    dmpa_interval_days: int = 91  # 13 weeks
    implant_years: int = 3  # etonogestrel 3 y; levonorgestrel (Jadelle) 5 y: data lacks type
    iud_years: int = 10  # copper T 380A labelled 10 y; WHO handbook: effective 12 y
    # Condoms: USAID couple-years-of-protection factor, 120 condoms a year = 10 a month.
    condoms_per_year: int = 120
    condom_max_days: int = 365
    condom_default_days: int = 30  # quantity not recorded
    lam_until_days: int = 182  # LAM protects until 6 months after birth (FP Handbook)
    # Chronic care when the clinician gave no next_visit (programme choice; WHO HEARTS:
    # monthly until controlled; WHO HIV 2021: 3-6-monthly visits once stable on ART).
    chronic_interval_days: dict[str, int] = field(
        default_factory=lambda: {
            "hypertension": 30,
            "diabetes": 30,
            "hiv": 90,
            "tb": 30,
            "epilepsy": 90,
            "asthma": 90,
            "sickle_cell": 90,
        }
    )
    chronic_default_days: int = 90


DEFAULT_CONFIG = DueConfig()

STATES = ("upcoming", "due", "overdue", "defaulter")
# The lists look at most this far ahead; the store keeps items a little further, so a list
# stays whole for a day or two before the nightly rebuild brings the next items in.
MAX_LOOKAHEAD_DAYS = 92
STORED_HORIZON_DAYS = 100

_RULES = "data/follow_up.json"
_WINDOW_KEYS = ("lookahead_days", "grace_days", "tracing_days", "list_until_days")


@dataclass(frozen=True, slots=True)
class Window:
    lookahead_days: int
    grace_days: int  # due -> overdue once more than this many days late
    tracing_days: int  # overdue -> defaulter once more than this many days late
    list_until_days: int  # leaves every list once more than this many days late


@dataclass(frozen=True)
class FollowUpRules:
    version: str
    default_lookahead_days: int
    kinds: dict[str, Window]
    by_code: dict[str, Window]  # reason-code overrides (a method, a condition)
    fingerprint: str  # of the file's text: the store rebuilds its items when it changes

    def window(self, kind: str, code: str) -> Window:
        return self.by_code.get(code) or self.kinds[kind]


def parse_rules(raw: dict[str, Any], *, text: str = "") -> FollowUpRules:
    """Check the follow-up windows read from JSON; raise ValueError naming the bad entry."""
    kinds: dict[str, Window] = {}
    by_code: dict[str, Window] = {}
    for kind in KINDS:
        entry = (raw.get("kinds") or {}).get(kind)
        if entry is None:
            raise ValueError(f"follow-up rules: no entry for {kind}")
        missing = [k for k in _WINDOW_KEYS if not isinstance(entry.get(k), int)]
        if missing:
            raise ValueError(f"follow-up rules, {kind}: {', '.join(missing)} must be whole days")
        w = Window(*(int(entry[k]) for k in _WINDOW_KEYS))
        if not 0 <= w.grace_days <= w.tracing_days <= w.list_until_days or w.lookahead_days < 0:
            raise ValueError(
                f"follow-up rules, {kind}: need 0 <= grace <= tracing <= list_until and"
                " lookahead >= 0"
            )
        kinds[kind] = w
        for key, field_name in (
            ("grace_days_by_code", "grace_days"),
            ("tracing_days_by_code", "tracing_days"),
        ):
            for code, days in (entry.get(key) or {}).items():
                base = by_code.get(code, w)
                values = {k: getattr(base, k) for k in _WINDOW_KEYS}
                values[field_name] = int(days)
                values["tracing_days"] = max(values["tracing_days"], values["grace_days"])
                by_code[code] = Window(**values)
    return FollowUpRules(
        version=str(raw.get("version", "")),
        default_lookahead_days=int(raw.get("default_lookahead_days", 7)),
        kinds=kinds,
        by_code=by_code,
        fingerprint=hashlib.sha256(text.encode()).hexdigest()[:16],
    )


@cache
def _default_rules() -> FollowUpRules:
    text = resources.files("appliance.clinical").joinpath(_RULES).read_text(encoding="utf-8")
    return parse_rules(json.loads(text), text=text)


def load_rules(path: str | Path | None = None) -> FollowUpRules:
    """The shipped follow-up windows (read once), or a district's file at `path`."""
    if path is None:
        return _default_rules()
    text = Path(path).read_text(encoding="utf-8")
    return parse_rules(json.loads(text), text=text)


def rules_fingerprint(malaria_vaccine: bool, schedule: imm.Schedule | None = None) -> str:
    """What the stored items were computed with: when it changes they are rebuilt."""
    sched = schedule or imm.load_schedule()
    return f"{_default_rules().fingerprint}:{sched.version}:{int(malaria_vaccine)}"


@dataclass(slots=True)
class DueItem:
    patient_id: str
    kind: str
    reason: str
    reason_code: str
    due_date: date
    upcoming_from: date  # shown as upcoming by default from this day
    overdue_from: date
    defaulter_from: date
    ends_on: date  # the last day the item is listed
    urgent: bool  # priority 1 whatever its state
    contact: dict[str, Any]
    state: str = "due"  # on the day it was computed for
    days_overdue: int = 0

    @property
    def status(self) -> str:  # the name the lists used before defaulters existed
        return self.state

    @property
    def priority(self) -> int:
        return priority_of(self.kind, self.state, self.reason_code)

    def to_json(self) -> dict[str, Any]:
        return {
            "patient_id": self.patient_id,
            "kind": self.kind,
            "reason": self.reason,
            "reason_code": self.reason_code,
            "due_date": self.due_date.isoformat(),
            "days_overdue": self.days_overdue,
            "priority": self.priority,
            "state": self.state,
            "status": self.state,
            "overdue_from": self.overdue_from.isoformat(),
            "defaulter_from": self.defaulter_from.isoformat(),
            "ends_on": self.ends_on.isoformat(),
            "contact": dict(self.contact),
        }


def reason_message(kind: str, code: str) -> tuple[str, dict[str, Any]] | None:
    """The French template of an item's reason and its values, from its kind and reason
    code ("penta:2", "anc:3", "pnc:mother:j3", "fp:implant"...); None for a code this
    version does not know (the stored French reason is then shown)."""
    parts = code.split(":")
    tail = parts[-1]
    number = int(tail) if tail.isdigit() else tail
    if kind == "immunization" and len(parts) == 2:
        label = ANTIGEN_LABELS.get(parts[0], parts[0])
        return REASONS[kind], {"antigen": label, "dose": number}
    if kind == "growth_monitoring":
        return (REASONS[code], {}) if code in REASONS else None
    if kind == "refer_delivery" and tail.endswith("w") and tail[:-1].isdigit():
        return REASONS[kind], {"weeks": int(tail[:-1])}
    if kind == "anc" and isinstance(number, int) and 1 <= number <= len(preg.ANC_WEEKS):
        return REASONS[kind], {"n": number, "weeks": preg.ANC_WEEKS[number - 1]}
    if kind in ("td", "iptp") and isinstance(number, int):
        return REASONS[kind], {"dose": number}
    if kind == "pnc" and len(parts) == 3 and parts[1] in PNC_SUBJECTS and tail in PNC_LABELS:
        return REASONS[kind], {"who": PNC_SUBJECTS[parts[1]], "when": PNC_LABELS[tail]}
    if kind == "family_planning" and tail in FP_LABELS:
        return REASONS[kind], {"what": FP_LABELS[tail]}
    if kind == "chronic" and len(parts) == 2:
        return REASONS[kind], {"condition": CHRONIC_LABELS.get(tail, tail)}
    return None


def reason_text(item: dict[str, Any], t: Translate | None = None) -> str:
    """A due item's reason (a DueItem's JSON or a stored item) in the reader's language."""
    found = reason_message(item.get("kind") or "", item.get("reason_code") or "")
    if found is None:
        return item.get("reason") or ""
    return render(*found, t)


def is_urgent(kind: str, reason_code: str) -> bool:
    return kind == "refer_delivery" or (kind == "pnc" and reason_code.endswith(":24h"))


def priority_of(kind: str, status: str, reason_code: str = "") -> int:
    if is_urgent(kind, reason_code):
        return 1
    return {"overdue": 2, "due": 3, "upcoming": 4}.get(status, 5)


def state_on(
    on: date, due: date, overdue_from: date, defaulter_from: date, ends_on: date
) -> str | None:
    """The item's state on `on`, None once it has left the lists."""
    if on > ends_on:
        return None
    if on < due:
        return "upcoming"
    if on < overdue_from:
        return "due"
    if on < defaulter_from:
        return "overdue"
    return "defaulter"


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return date(d.year + years, 3, 1)


def _contacts(
    patient: dict[str, Any], mother: dict[str, Any] | None, age_days: int | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(contact for child-health items, contact for confidential items)."""
    own = {"phone": patient.get("phone"), "village": patient.get("village")}
    for key in ("family_name", "given_names", "health_number"):
        if patient.get(key):
            own[key] = patient[key]
    if mother is not None and not own["village"]:
        own["village"] = mother.get("village")
    child = own
    is_child = age_days is not None and age_days < GUARDIAN_UNDER_DAYS
    if is_child and mother is not None and not own["phone"] and mother.get("phone"):
        child = {**own, "phone": mother["phone"], "phone_of": "mother"}
        for key in ("family_name", "given_names"):
            if mother.get(key):
                child[f"mother_{key}"] = mother[key]
    return child, own


def _fp_item(
    fps: list[tuple[date, dict[str, Any]]],
    deliveries: list[date],
    cfg: DueConfig,
) -> tuple[str, date] | None:
    """(method, due date) of the current method's next visit, or None."""
    fps.sort(key=lambda x: x[0])
    when, data = fps[-1]
    method = data.get("method")
    if data.get("removal"):
        return None  # the method ended
    qty = data.get("quantity")
    if method in ("pill_coc", "pill_pop"):
        return method, when + timedelta(days=(qty or 1) * cfg.pill_cycle_days)
    if method in ("injectable_dmpa_im", "injectable_dmpa_sc"):
        # quantity > 1 only for DMPA-SC self-injection doses taken home
        days = (qty or 1) * cfg.dmpa_interval_days
        return method, when + timedelta(days=days)
    if method in ("implant", "iud"):
        inserted = when
        for w, d in reversed(fps):  # back to the insertion: latest "new", or run start
            if d.get("method") != method or d.get("removal"):
                break
            inserted = w
            if d.get("user") == "new":
                break
        years = cfg.implant_years if method == "implant" else cfg.iud_years
        return method, _add_years(inserted, years)
    if method in ("condom_male", "condom_female"):
        days = cfg.condom_default_days
        if qty:
            days = min(cfg.condom_max_days, max(1, qty * 365 // cfg.condoms_per_year))
        return method, when + timedelta(days=days)
    if method == "lam":
        births = [b for b in deliveries if b <= when]
        if births:
            return method, max(births) + timedelta(days=cfg.lam_until_days)
    # standard days (reusable beads), sterilisation: nothing to come back for
    return None


def due_for_patient(
    patient: dict[str, Any],
    encounters: list[dict[str, Any]],
    on: date,
    *,
    mother: dict[str, Any] | None = None,
    horizon_days: int = imm.HORIZON_DAYS,
    malaria_vaccine: bool = False,
    schedule: imm.Schedule | None = None,
    config: DueConfig = DEFAULT_CONFIG,
    rules: FollowUpRules | None = None,
) -> list[DueItem]:
    """Every item listed on `on` for one patient (upcoming within `horizon_days`, due,
    overdue or defaulter), with the dates at which each changes state."""
    pid = patient["id"]
    sex = patient.get("sex")
    birth = as_date(patient.get("birth_date"))
    age = (on - birth).days if birth is not None else None
    horizon = on + timedelta(days=horizon_days)

    vaccines: list[tuple[str, int, date]] = []
    td: list[tuple[int, date]] = []
    anc: list[dict[str, Any]] = []
    deliveries: list[dict[str, Any]] = []
    postnatal: list[dict[str, Any]] = []
    weighings: list[date] = []
    fps: list[tuple[date, dict[str, Any]]] = []
    chronic: dict[str, tuple[date, dict[str, Any]]] = {}
    for e in encounters:
        kind = e["type"]
        data = e.get("data") or {}
        if kind == "immunization":
            when = as_date(e["care_date"])
            if data.get("antigen") == "td":
                td.append((data["dose"], when))
            else:
                vaccines.append((data["antigen"], data["dose"], when))
        elif kind == "anc":
            anc.append(e)
            if data.get("td_dose"):
                td.append((data["td_dose"], as_date(e["care_date"])))
        elif kind == "delivery":
            deliveries.append(e)
        elif kind == "postnatal":
            postnatal.append(e)
        elif kind == "growth":
            if data.get("weight_kg") is not None:
                weighings.append(as_date(e["care_date"]))
        elif kind == "family_planning":
            fps.append((as_date(e["care_date"]), data))
        elif kind == "chronic":
            when = as_date(e["care_date"])
            cond = data.get("condition")
            if cond not in chronic or when >= chronic[cond][0]:
                chronic[cond] = (when, data)

    items: list[DueItem] = []
    child_contact, own_contact = _contacts(patient, mother, age)
    windows = rules or load_rules()

    def add(
        kind: str,
        code: str,
        due: date,
        *,
        overdue_from: date | None = None,
        last_day: date | None = None,
    ) -> None:
        """One item, its state dates from the kind's window; `overdue_from` when the
        schedule has its own window (postnatal contacts), `last_day` when the item stops
        applying on a day of its own (a vaccine's maximum age, a window, a pregnancy)."""
        if due > horizon:
            return
        message = reason_message(kind, code)
        reason = render(*message) if message else code
        w = windows.window(kind, code)
        overdue = overdue_from or due + timedelta(days=w.grace_days + 1)
        defaulter = max(overdue, due + timedelta(days=w.tracing_days + 1))
        ends = due + timedelta(days=w.list_until_days)
        if last_day is not None and last_day < ends:
            ends = last_day
        state = state_on(on, due, overdue, defaulter, ends)
        if state is None:
            return
        private = kind in _PRIVATE_KINDS or code.startswith("pnc:mother")
        items.append(
            DueItem(
                pid,
                kind,
                reason,
                code,
                due,
                due - timedelta(days=w.lookahead_days),
                overdue,
                defaulter,
                ends,
                is_urgent(kind, code),
                own_contact if private else child_contact,
                state,
                max((on - due).days, 0),
            )
        )

    # Child immunization (and HPV for girls)
    if birth is not None and age >= 0:
        sched = schedule or imm.load_schedule()
        limit = sched.max_age_days(sex)
        if limit is None or age <= limit:
            for dd in imm.due_doses(
                sex,
                birth,
                vaccines,
                on,
                malaria_vaccine=malaria_vaccine,
                schedule=sched,
                horizon_days=horizon_days,
            ):
                add(
                    "immunization",
                    f"{dd.antigen}:{dd.dose}",
                    dd.due_date,
                    last_day=dd.last_date,
                )

        # Newborn postnatal care from the child's own record
        if age <= preg.PNC_LAST_DAY:
            for c in preg.pnc_schedule(birth, postnatal, on, "newborn", until=horizon):
                _add_pnc(add, birth, c, "newborn")

        # Growth monitoring
        if age < config.growth_until_days:
            last = max(weighings, default=None)
            if last is None:  # never weighed here: the first monthly weighing, at 1 month
                due = birth + timedelta(days=config.growth_monthly_days)
                monthly = True
            else:
                monthly = (last - birth).days < config.growth_monthly_until_days
                step = config.growth_monthly_days if monthly else config.growth_quarterly_days
                due = last + timedelta(days=step)
            if (due - birth).days < config.growth_until_days:
                add(
                    "growth_monitoring",
                    "growth:monthly" if monthly else "growth:quarterly",
                    due,
                    last_day=birth + timedelta(days=config.growth_until_days - 1),
                )

    delivery_dates = sorted(d for e in deliveries if (d := as_date(e["care_date"])) <= on)

    # Pregnancy: ANC contacts, referral at 41 weeks, Td, IPTp
    if anc and sex != "M":
        p = preg.current_pregnancy(anc, deliveries, on)
        if p is not None:
            over = p.lmp + timedelta(days=preg.MAX_PREGNANCY_DAYS)
            for c in preg.anc_schedule(p, p.anc_dates, on, until=horizon):
                if c.kind == "refer_delivery":
                    add(
                        "refer_delivery",
                        f"refer_delivery:{c.code}",
                        c.due_date,
                        last_day=c.window_end,
                    )
                else:
                    add(
                        "anc",
                        f"anc:{c.number}",
                        c.due_date,
                        last_day=c.window_end,
                    )
            first = p.anc_dates[0] if p.anc_dates else p.dated_on
            t = preg.td_due(td, on, first_contact=first)
            if t is not None:
                # a dose whose interval ran out before this pregnancy is due at its first
                # contact: she was not late for a pregnancy dose while not pregnant
                add(
                    "td",
                    f"td:{t.dose}",
                    max(t.due_date, first),
                    last_day=over,
                )
            iptp = [
                (e["data"]["iptp_dose"], as_date(e["care_date"]))
                for e in anc
                if (e.get("data") or {}).get("iptp_dose")
            ]
            s = preg.iptp_due(p, iptp, on)
            if s is not None:
                add(
                    "iptp",
                    f"iptp:{s.dose}",
                    s.due_date,
                    last_day=over,
                )

    # Postnatal care after this woman's latest delivery: her own, and the baby's when the
    # baby has no record of its own (no child_id) and was born alive.
    if delivery_dates and (on - delivery_dates[-1]).days <= preg.PNC_LAST_DAY:
        born = delivery_dates[-1]
        latest = max(
            (e for e in deliveries if as_date(e["care_date"]) == born),
            key=lambda e: e.get("id", ""),
        )
        ldata = latest.get("data") or {}
        after = [e for e in postnatal if as_date(e["care_date"]) >= born]
        subjects = ["mother"]
        if not ldata.get("child_id") and ldata.get("outcome", "live_birth") != "stillbirth":
            subjects.append("newborn")
        for subject in subjects:
            for c in preg.pnc_schedule(born, after, on, subject, until=horizon):
                _add_pnc(add, born, c, subject)

    # Family planning resupply / device replacement
    if fps:
        got = _fp_item(fps, delivery_dates, config)
        if got is not None:
            method, due = got
            add("family_planning", f"fp:{method}", due)

    # Chronic follow-up: the latest visit per condition
    for cond, (when, data) in chronic.items():
        due = as_date(data.get("next_visit"))
        if due is None:
            days = config.chronic_interval_days.get(cond, config.chronic_default_days)
            due = when + timedelta(days=days)
        add("chronic", f"chronic:{cond}", due)

    return items


def _add_pnc(add: Any, birth: date, c: Any, subject: str) -> None:
    """A postnatal contact: overdue after its window, gone once the next window opens."""
    day = preg.PNC_DAYS_LISTED[c.code]
    add(
        "pnc",
        f"pnc:{subject}:{c.code}",
        c.due_date,
        overdue_from=c.window_end + timedelta(days=1),
        last_day=birth + timedelta(days=day),
    )


def _sort_key(item: DueItem) -> tuple[int, date, str, str]:
    return (item.priority, item.due_date, item.patient_id, item.reason_code)


def due_list(
    items: list[DueItem],
    start: date,
    end: date,
    *,
    village: str | None = None,
    states: tuple[str, ...] = ("upcoming", "due", "overdue"),
) -> list[DueItem]:
    """Items of `states` due by `end` (late ones whatever their date, upcoming ones from
    `start`), optionally for one village; by priority, then due date. Defaulters are a
    list of their own (states=("defaulter",))."""
    out = [
        i
        for i in items
        if i.state in states
        and i.due_date <= end
        and (i.due_date >= start or i.state != "upcoming")
        and (village is None or i.contact.get("village") == village)
    ]
    out.sort(key=_sort_key)
    return out


def group_by_village(items: list[DueItem]) -> dict[str, list[DueItem]]:
    """Items per village (UNKNOWN_VILLAGE for none), villages in name order, each list in
    due-list order."""
    groups: dict[str, list[DueItem]] = {}
    for i in sorted(items, key=_sort_key):
        groups.setdefault(i.contact.get("village") or UNKNOWN_VILLAGE, []).append(i)
    return dict(sorted(groups.items()))
