"""The due list: what each patient should come back for, and how to reach them.

`due_for_patient` combines the schedules of this package for one patient's current
encounters (dicts as the store returns them); `due_list` and `group_by_village` cut the
facility-wide list for a day, a week or an outreach round. An item disappears as soon as the
matching encounter is recorded, because everything is recomputed from the encounters.

Priority (1 = first to act on):
  1  referral for delivery at 41 weeks; the newborn's or mother's 24-hour postnatal check
  2  overdue (past the kind's overdue delay)
  3  due (due date reached, not yet overdue)
  4  upcoming (due within the horizon)

Rules not fixed by a national protocol are in `DueConfig` (defaults documented there); pass
another `DueConfig` to change them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from appliance.clinical import immunization as imm
from appliance.clinical import pregnancy as preg
from appliance.clinical.dates import as_date

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

ANTIGEN_LABELS = {
    "bcg": "BCG",
    "opv": "VPO",
    "penta": "Penta",
    "pcv": "PCV",
    "rota": "Rota",
    "ipv": "VPI",
    "mr": "RR",
    "yf": "VAA",
    "menafrivac": "MenAfriVac",
    "malaria": "Paludisme R21",
    "hpv": "HPV",
    "td": "Td",
}
PNC_LABELS = {"24h": "24 h", "j3": "jour 3", "j7": "jours 7-14", "6sem": "6 semaines"}
CHRONIC_LABELS = {
    "hypertension": "HTA",
    "diabetes": "diabète",
    "hiv": "VIH",
    "tb": "tuberculose",
    "epilepsy": "épilepsie",
    "asthma": "asthme",
    "sickle_cell": "drépanocytose",
}
FP_LABELS = {
    "pill_coc": "pilules (COC) : réapprovisionnement",
    "pill_pop": "pilules (POP) : réapprovisionnement",
    "injectable_dmpa_im": "réinjection DMPA-IM",
    "injectable_dmpa_sc": "réinjection DMPA-SC",
    "implant": "implant : retrait/remplacement",
    "iud": "DIU : retrait/remplacement",
    "condom_male": "préservatifs : réapprovisionnement",
    "condom_female": "préservatifs féminins : réapprovisionnement",
    "lam": "MAMA : relais par une autre méthode",
}
# Items whose reminder never goes to a parent's phone: reproductive health is confidential,
# adolescents included.
_PRIVATE_KINDS = frozenset({"anc", "refer_delivery", "td", "iptp", "family_planning"})
GUARDIAN_UNDER_DAYS = 15 * 365  # the mother's phone stands in for a child under 15


@dataclass(frozen=True)
class DueConfig:
    # Immunization: see immunization.GRACE_DAYS (programme choice).
    immunization_grace_days: int = imm.GRACE_DAYS
    # Growth monitoring and promotion (WHO/UNICEF GMP practice, Mali PCIME): monthly weighing
    # under 24 months, quarterly from 24 to 59 months (programme choice for the latter).
    growth_monthly_days: int = 30
    growth_quarterly_days: int = 91
    growth_monthly_until_days: int = 731  # 24 months, as in growth.HEIGHT_FROM_DAYS
    growth_until_days: int = 1826  # 5 years
    growth_grace_days: int = 30  # one missed monthly session
    # Family planning (WHO Selected Practice Recommendations, 3rd ed. 2016, and the WHO
    # Family Planning Handbook, 2018):
    pill_cycle_days: int = 28
    pill_grace_days: int = 2  # SPR: up to 2 missed/late pills need no back-up method
    dmpa_interval_days: int = 91  # 13 weeks
    dmpa_grace_days: int = 14  # SPR 2016 allows up to 4 weeks late; 2 weeks kept here
    implant_years: int = 3  # etonogestrel 3 y; levonorgestrel (Jadelle) 5 y: data lacks type
    iud_years: int = 10  # copper T 380A labelled 10 y; WHO handbook: effective 12 y
    device_grace_days: int = 30
    # Condoms: USAID couple-years-of-protection factor, 120 condoms a year = 10 a month.
    condoms_per_year: int = 120
    condom_max_days: int = 365
    condom_default_days: int = 30  # quantity not recorded
    condom_grace_days: int = 14
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
    chronic_grace_days: int = 7  # a missed appointment is traced after a week


DEFAULT_CONFIG = DueConfig()


@dataclass(slots=True)
class DueItem:
    patient_id: str
    kind: str
    reason: str
    reason_code: str
    due_date: date
    days_overdue: int
    priority: int
    contact: dict[str, Any]
    status: str = "due"  # "due" | "overdue" | "upcoming"

    def to_json(self) -> dict[str, Any]:
        return {
            "patient_id": self.patient_id,
            "kind": self.kind,
            "reason": self.reason,
            "reason_code": self.reason_code,
            "due_date": self.due_date.isoformat(),
            "days_overdue": self.days_overdue,
            "priority": self.priority,
            "status": self.status,
            "contact": dict(self.contact),
        }


def priority_of(kind: str, status: str, reason_code: str = "") -> int:
    if kind == "refer_delivery" or (kind == "pnc" and reason_code.endswith(":24h")):
        return 1
    return {"overdue": 2, "due": 3}.get(status, 4)


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return date(d.year + years, 3, 1)


def _status(on: date, due: date, grace: int) -> tuple[str, int]:
    late = (on - due).days
    if late < 0:
        return "upcoming", 0
    return ("overdue" if late > grace else "due"), late


def _contacts(
    patient: dict[str, Any], mother: dict[str, Any] | None, age_days: int | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(contact for child-health items, contact for confidential items)."""
    own = {"phone": patient.get("phone"), "village": patient.get("village")}
    for key in ("family_name", "given_names"):
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
) -> tuple[str, date, int] | None:
    """(method, due date, grace days) of the current method's next visit, or None."""
    fps.sort(key=lambda x: x[0])
    when, data = fps[-1]
    method = data.get("method")
    if data.get("removal"):
        return None  # the method ended
    qty = data.get("quantity")
    if method in ("pill_coc", "pill_pop"):
        return method, when + timedelta(days=(qty or 1) * cfg.pill_cycle_days), cfg.pill_grace_days
    if method in ("injectable_dmpa_im", "injectable_dmpa_sc"):
        # quantity > 1 only for DMPA-SC self-injection doses taken home
        days = (qty or 1) * cfg.dmpa_interval_days
        return method, when + timedelta(days=days), cfg.dmpa_grace_days
    if method in ("implant", "iud"):
        inserted = when
        for w, d in reversed(fps):  # back to the insertion: latest "new", or run start
            if d.get("method") != method or d.get("removal"):
                break
            inserted = w
            if d.get("user") == "new":
                break
        years = cfg.implant_years if method == "implant" else cfg.iud_years
        return method, _add_years(inserted, years), cfg.device_grace_days
    if method in ("condom_male", "condom_female"):
        days = cfg.condom_default_days
        if qty:
            days = min(cfg.condom_max_days, max(1, qty * 365 // cfg.condoms_per_year))
        return method, when + timedelta(days=days), cfg.condom_grace_days
    if method == "lam":
        births = [b for b in deliveries if b <= when]
        if births:
            return method, max(births) + timedelta(days=cfg.lam_until_days), 0
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
) -> list[DueItem]:
    """Every item due, overdue or due within `horizon_days` for one patient on `on`."""
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

    def add(kind: str, reason: str, code: str, due: date, late: int, status: str) -> None:
        private = kind in _PRIVATE_KINDS or code.startswith("pnc:mother")
        items.append(
            DueItem(
                pid,
                kind,
                reason,
                code,
                due,
                late,
                priority_of(kind, status, code),
                own_contact if private else child_contact,
                status,
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
                grace_days=config.immunization_grace_days,
            ):
                label = ANTIGEN_LABELS.get(dd.antigen, dd.antigen)
                add(
                    "immunization",
                    f"{label} {dd.dose} (vaccin)",
                    f"{dd.antigen}:{dd.dose}",
                    dd.due_date,
                    dd.overdue_days,
                    dd.status,
                )

        # Newborn postnatal care from the child's own record
        if age <= preg.PNC_LAST_DAY:
            for c in preg.pnc_schedule(birth, postnatal, on, "newborn", until=horizon):
                if c.due_date <= horizon:
                    add(
                        "pnc",
                        f"CPoN nouveau-né {PNC_LABELS[c.code]}",
                        f"pnc:newborn:{c.code}",
                        c.due_date,
                        c.days_overdue,
                        c.status,
                    )

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
            if due <= horizon and (due - birth).days < config.growth_until_days:
                status, late = _status(on, due, config.growth_grace_days)
                add(
                    "growth_monitoring",
                    "Pesée mensuelle (suivi de croissance)"
                    if monthly
                    else "Pesée trimestrielle (suivi de croissance)",
                    "growth:monthly" if monthly else "growth:quarterly",
                    due,
                    late,
                    status,
                )

    delivery_dates = sorted(d for e in deliveries if (d := as_date(e["care_date"])) <= on)

    # Pregnancy: ANC contacts, referral at 41 weeks, Td, IPTp
    if anc and sex != "M":
        p = preg.current_pregnancy(anc, deliveries, on)
        if p is not None:
            for c in preg.anc_schedule(p, p.anc_dates, on, until=horizon):
                if c.due_date > horizon:
                    continue
                if c.kind == "refer_delivery":
                    add(
                        "refer_delivery",
                        "Référer pour l'accouchement (41 semaines)",
                        f"refer_delivery:{c.code}",
                        c.due_date,
                        c.days_overdue,
                        c.status,
                    )
                else:
                    add(
                        "anc",
                        f"CPN {c.number} ({c.code[:-1]} semaines)",
                        f"anc:{c.number}",
                        c.due_date,
                        c.days_overdue,
                        c.status,
                    )
            t = preg.td_due(td, on, first_contact=p.anc_dates[0] if p.anc_dates else p.dated_on)
            if t is not None and t.due_date <= horizon:
                add(
                    "td",
                    f"Td {t.dose} (femme enceinte)",
                    f"td:{t.dose}",
                    t.due_date,
                    t.days_overdue,
                    t.status,
                )
            iptp = [
                (e["data"]["iptp_dose"], as_date(e["care_date"]))
                for e in anc
                if (e.get("data") or {}).get("iptp_dose")
            ]
            s = preg.iptp_due(p, iptp, on)
            if s is not None and s.due_date <= horizon:
                add(
                    "iptp",
                    f"TPI-SP {s.dose} (paludisme, grossesse)",
                    f"iptp:{s.dose}",
                    s.due_date,
                    s.days_overdue,
                    s.status,
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
            who = "mère" if subject == "mother" else "nouveau-né"
            for c in preg.pnc_schedule(born, after, on, subject, until=horizon):
                if c.due_date <= horizon:
                    add(
                        "pnc",
                        f"CPoN {who} {PNC_LABELS[c.code]}",
                        f"pnc:{subject}:{c.code}",
                        c.due_date,
                        c.days_overdue,
                        c.status,
                    )

    # Family planning resupply / device replacement
    if fps:
        got = _fp_item(fps, delivery_dates, config)
        if got is not None:
            method, due, grace = got
            if due <= horizon:
                status, late = _status(on, due, grace)
                add(
                    "family_planning",
                    f"PF : {FP_LABELS[method]}",
                    f"fp:{method}",
                    due,
                    late,
                    status,
                )

    # Chronic follow-up: the latest visit per condition
    for cond, (when, data) in chronic.items():
        due = as_date(data.get("next_visit"))
        if due is None:
            days = config.chronic_interval_days.get(cond, config.chronic_default_days)
            due = when + timedelta(days=days)
        if due <= horizon:
            status, late = _status(on, due, config.chronic_grace_days)
            add(
                "chronic",
                f"Suivi {CHRONIC_LABELS.get(cond, cond)}",
                f"chronic:{cond}",
                due,
                late,
                status,
            )

    return items


def _sort_key(item: DueItem) -> tuple[int, date, str, str]:
    return (item.priority, item.due_date, item.patient_id, item.reason_code)


def due_list(
    items: list[DueItem], start: date, end: date, *, village: str | None = None
) -> list[DueItem]:
    """Items due from `start` to `end`, plus every item already past its due date (late
    items are always shown), optionally for one village; by priority, then due date."""
    out = [
        i
        for i in items
        if i.due_date <= end
        and (i.due_date >= start or i.days_overdue > 0)
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
