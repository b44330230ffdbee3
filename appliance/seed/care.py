"""The care a synthetic person received over the seeded years: consultations, pregnancies,
immunizations, growth monitoring, family planning and chronic follow-up."""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

# Approximate WHO 2006 medians (boys) by age in months, for plausible synthetic measures only.
# Consultation diagnoses, weights by season: (code, rainy-season weight, dry-season weight)
DIAGNOSES = (
    ("malaria_confirmed", 38, 12),
    ("malaria_suspected", 6, 3),
    ("respiratory_infection", 14, 24),
    ("pneumonia", 4, 6),
    ("diarrhoea", 12, 9),
    ("skin_infection", 5, 6),
    ("intestinal_worms", 4, 5),
    ("urinary_infection", 3, 4),
    ("eye_infection", 2, 4),
    ("anaemia", 2, 3),
    ("trauma", 4, 5),
    ("other", 6, 10),
)
# EPI doses (antigen, dose, age in days, share of children who receive it)
EPI = (
    ("bcg", 1, 0, 0.95),
    ("opv", 0, 0, 0.90),
    ("penta", 1, 42, 0.90),
    ("opv", 1, 42, 0.89),
    ("pcv", 1, 42, 0.89),
    ("rota", 1, 42, 0.88),
    ("penta", 2, 70, 0.83),
    ("opv", 2, 70, 0.82),
    ("pcv", 2, 70, 0.82),
    ("rota", 2, 70, 0.81),
    ("rota", 3, 98, 0.74),
    ("penta", 3, 98, 0.76),
    ("opv", 3, 98, 0.75),
    ("pcv", 3, 98, 0.75),
    ("ipv", 1, 98, 0.74),
    ("mr", 1, 274, 0.70),
    ("yf", 1, 274, 0.68),
    ("menafrivac", 1, 274, 0.66),
    ("mr", 2, 456, 0.50),
)
FP_METHODS = (
    ("injectable_dmpa_im", 45, 91),
    ("implant", 22, 1095),
    ("pill_coc", 18, 84),
    ("condom_male", 8, 30),
    ("iud", 4, 1825),
    ("injectable_dmpa_sc", 3, 91),
)
# HPV: Mali added a single dose for 10-year-old girls to the EPI on 1 November 2024 (Ministry of
# Health launch, Gavi-supported; about 268,000 girls targeted for 2024), given at fixed, advanced
# and mobile sessions, schools included. No national coverage figure was published when this
# was written; new introductions in the region reached roughly half their first cohort, so the
# seed gives the dose to 50% of the girls who turned 10 since the introduction (and of the 2024
# cohort), within months of it. Older girls (11-14 at the introduction) were not the target;
# 15% of them got it later, at a visit (opportunistic catch-up, the schedule offers it to 14).
HPV_INTRODUCED = date(2024, 11, 1)
HPV_COHORT_COVERAGE = 0.50
HPV_CATCH_UP_COVERAGE = 0.15
HPV_MEAN_DELAY_DAYS = 60
ANC_WEEKS = (12, 20, 26, 30, 34, 36, 38, 40)
# Share of pregnant women reaching ANC1..ANC8 (falls from ANC1 to ANC4 and beyond).
ANC_SHARES = (0.85, 0.70, 0.55, 0.42, 0.25, 0.15, 0.10, 0.06)

_MONTHS = (0, 6, 12, 24, 36, 60)
_WEIGHT = (3.3, 7.9, 9.6, 12.2, 14.3, 18.3)
_HEIGHT = (49.9, 67.6, 75.7, 87.1, 96.1, 110.0)


def _interp(xs: tuple, ys: tuple, x: float) -> float:
    i = min(max(bisect.bisect_right(xs, x), 1), len(xs) - 1)
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 + (y1 - y0) * (min(x, x1) - x0) / (x1 - x0)


def _birthday(birth: date, years: int) -> date:
    try:
        return birth.replace(year=birth.year + years)
    except ValueError:  # 29 February
        return date(birth.year + years, 3, 1)


def _al_tablets(weight: float) -> int:
    # Artemether-lumefantrine 20/120 weight bands (WHO malaria guidelines)
    return 1 if weight < 15 else 2 if weight < 25 else 3 if weight < 35 else 4


class CarePlan:
    def __init__(self, gen: Any, add: Callable[..., None], people: list[dict[str, Any]]):
        self.gen, self.rng, self.add = gen, gen.rng, add
        self.children: dict[str, list[dict[str, Any]]] = {}
        for p in people:
            if p["mother_id"]:
                self.children.setdefault(p["mother_id"], []).append(p)
        self.child_z: dict[str, float] = {}

    def for_person(self, p: dict[str, Any]) -> None:
        birth = date.fromisoformat(p["birth_date"])
        age_now = (self.gen.today - birth).days / 365.25
        if age_now < 5:
            self.child_z[p["id"]] = self.rng.gauss(-0.7, 1.1)
            self._immunizations(p, birth)
            self._growth(p, birth)
        if p["sex"] == "F" and age_now >= 9:
            self._hpv(p, birth)
        self._consultations(p, birth)
        if p["sex"] == "F" and 15 <= age_now <= 49:
            self._pregnancies(p, birth)
            self._family_planning(p)
        if age_now >= 15:
            self._chronic(p, age_now)

    # -- children ------------------------------------------------------------------------------
    def _measures(self, pid: str, birth: date, day: date) -> tuple[float, float]:
        months = (day - birth).days / 30.4375
        z = self.child_z.get(pid, -0.5)
        weight = _interp(_MONTHS, _WEIGHT, months) * (1 + 0.11 * z) * self.rng.uniform(0.97, 1.03)
        height = _interp(_MONTHS, _HEIGHT, months) * (1 + 0.035 * max(z, -3))
        return round(max(weight, 1.2), 1), round(height, 1)

    def _immunizations(self, p: dict[str, Any], birth: date) -> None:
        dropped = False
        for antigen, dose, age_days, share in EPI:
            if dropped or self.rng.random() > share / 0.95:
                dropped = dropped or antigen == "penta"
                continue
            day = birth + timedelta(days=age_days + int(self.rng.expovariate(1 / 12)))
            self.add(
                p,
                "immunization",
                day,
                {"antigen": antigen, "dose": dose, "outreach": self.rng.random() < 0.3},
                "health_worker",
            )

    def _hpv(self, p: dict[str, Any], birth: date) -> None:
        ten, fifteen = _birthday(birth, 10), _birthday(birth, 15)
        first = max(HPV_INTRODUCED, _birthday(birth, 9))
        last = min(fifteen - timedelta(days=1), self.gen.today)
        if first > last:
            return  # 15 before the introduction, or not yet 9
        # A generator of its own per girl, so that the rest of the seeded facility is unchanged.
        rng = random.Random(f"hpv:{self.gen.seed}:{p['id']}")
        if ten.year >= HPV_INTRODUCED.year:  # the target: 10 years old in 2024 or since
            if rng.random() >= HPV_COHORT_COVERAGE:
                return
            day = max(first, ten) + timedelta(days=int(rng.expovariate(1 / HPV_MEAN_DELAY_DAYS)))
        else:
            if rng.random() >= HPV_CATCH_UP_COVERAGE:
                return
            day = first + timedelta(days=rng.randrange((last - first).days + 1))
        if day > last:
            return  # not yet: the session has still to come
        self.add(
            p,
            "immunization",
            day,
            {"antigen": "hpv", "dose": 1, "outreach": rng.random() < 0.5},
            "health_worker",
        )

    def _growth(self, p: dict[str, Any], birth: date) -> None:
        day = birth + timedelta(days=30)
        while day <= self.gen.today and (day - birth).days < 5 * 365:
            monthly = (day - birth).days < 730
            if self.rng.random() < (0.55 if monthly else 0.3):
                weight, height = self._measures(p["id"], birth, day)
                data: dict[str, Any] = {"weight_kg": weight}
                if self.rng.random() < 0.4:
                    data["height_cm"] = height
                    data["measured"] = "lying" if (day - birth).days < 731 else "standing"
                if (day - birth).days >= 183:
                    z = self.child_z[p["id"]]
                    data["muac_mm"] = int(min(max(140 + 10 * z + self.rng.gauss(0, 4), 95), 190))
                data["oedema"] = self.child_z[p["id"]] < -3.2 and self.rng.random() < 0.3
                self.add(p, "growth", day, data, "health_worker")
            day += timedelta(days=30 if monthly else 91)

    # -- everyone ------------------------------------------------------------------------------
    def _consultations(self, p: dict[str, Any], birth: date) -> None:
        age = (self.gen.today - birth).days / 365.25
        rate = 2.2 if age < 5 else 0.8 if age < 15 else 0.7 if age < 50 else 1.1
        t = max(self.gen.start, birth)
        while True:
            t += timedelta(days=int(self.rng.expovariate(rate / 365)) + 1)
            if t > self.gen.today:
                return
            rainy = t.month in (7, 8, 9, 10, 11)
            codes, rain_w, dry_w = zip(*DIAGNOSES, strict=True)
            code = self.rng.choices(codes, rain_w if rainy else dry_w)[0]
            months = (t - birth).days / 30.4375
            weight = (
                self._measures(p["id"], birth, t)[0]
                if months < 60
                else round(self.rng.uniform(45, 80), 1)
                if age >= 15
                else round(_interp(_MONTHS, _WEIGHT, 60) + (months - 60) * 0.2, 1)
            )
            data: dict[str, Any] = {
                "new_case": self.rng.random() < 0.85,
                "weight_kg": weight,
                "diagnoses": [{"code": code, "confirmed": code != "malaria_suspected"}],
            }
            rx = []
            if code.startswith("malaria"):
                data["temperature_c"] = round(self.rng.uniform(37.8, 39.8), 1)
                data["malaria_rdt"] = "positive" if code == "malaria_confirmed" else "not_done"
                rx.append(
                    {
                        "drug": "artemether-lumefantrine 20/120",
                        "dose": f"{_al_tablets(weight)} cp",
                        "times_per_day": 2,
                        "days": 3,
                    }
                )
            elif code == "pneumonia":
                rx.append(
                    {
                        "drug": "amoxicillin 250 mg dispersible",
                        "dose": "2 cp",
                        "times_per_day": 2,
                        "days": 5,
                    }
                )
            elif code == "diarrhoea":
                rx.append({"drug": "ORS", "dose": "1 sachet", "times_per_day": 3, "days": 3})
                rx.append(
                    {
                        "drug": "zinc 20 mg",
                        "dose": "1 cp" if months >= 6 else "1/2 cp",
                        "times_per_day": 1,
                        "days": 10,
                    }
                )
            else:
                data["temperature_c"] = round(self.rng.uniform(36.4, 37.6), 1)
                rx.append(
                    {"drug": "paracetamol 500 mg", "dose": "1 cp", "times_per_day": 3, "days": 3}
                )
            data["prescriptions"] = rx
            self.add(p, "consultation", t, data, self.rng.choice(("doctor", "nurse", "nurse")))

    def _pregnancies(self, p: dict[str, Any], birth: date) -> None:
        births = [date.fromisoformat(c["birth_date"]) for c in self.children.get(p["id"], [])]
        deliveries = [b for b in births if b >= self.gen.start]
        ongoing = None
        if self.rng.random() < 0.06:
            ongoing = self.gen.today - timedelta(days=self.rng.randrange(40, 250))
        age_years = (self.gen.today - birth).days / 365.25
        parity = len(births)
        for end in deliveries + ([None] if ongoing else []):
            lmp = (end - timedelta(days=280)) if end else ongoing
            u = self.rng.random()
            contacts = sum(1 for share in ANC_SHARES if u < share)  # P(>= k) = share k
            gravida = parity + 1 + (self.rng.random() < 0.2)
            for k, weeks in enumerate(ANC_WEEKS[:contacts]):
                day = lmp + timedelta(weeks=weeks, days=self.rng.randrange(-5, 6))
                if end and day >= end:
                    break
                systolic = int(self.rng.gauss(112, 12 if age_years < 35 else 16))
                data = {
                    "contact_number": k + 1,
                    "lmp": lmp.isoformat(),
                    "gravida": gravida,
                    "parity": min(parity, gravida - 1),
                    "bp_systolic": systolic,
                    "bp_diastolic": int(systolic * 0.65),
                    "weight_kg": round(self.rng.uniform(48, 75), 1),
                    "hb_g_dl": round(self.rng.gauss(10.8, 1.4), 1),
                }
                if k == 0:
                    data["height_cm"] = round(self.rng.gauss(160, 6), 1)
                if k in (0, 2):
                    data["td_dose"] = 1 if k == 0 else 2
                if 1 <= k <= 3:
                    data["iptp_dose"] = k
                self.add(p, "anc", day, data, "midwife")
            if end:
                parity += 1
                self._delivery(p, end)

    def _delivery(self, mother: dict[str, Any], day: date) -> None:
        child = next(
            (c for c in self.children.get(mother["id"], []) if c["birth_date"] == day.isoformat()),
            None,
        )
        if self.rng.random() < 0.65:
            data = {
                "place": "facility",
                "mode": "vaginal" if self.rng.random() < 0.96 else "assisted",
                "skilled_attendant": True,
                "outcome": "live_birth",
                "birth_weight_g": int(self.rng.gauss(3000, 420)),
            }
            if child:
                data["child_id"], data["baby_sex"] = child["id"], child["sex"]
            self.add(mother, "delivery", day, data, self.rng.choice(("midwife", "matron")))
            for days, share in ((0, 0.9), (3, 0.5), (10, 0.35), (42, 0.25)):
                if self.rng.random() < share:
                    self.add(
                        mother,
                        "postnatal",
                        day + timedelta(days=days),
                        {"subject": "mother", "days_after_birth": days},
                        "midwife",
                    )
                    if child:
                        self.add(
                            child,
                            "postnatal",
                            day + timedelta(days=days),
                            {"subject": "newborn", "days_after_birth": days, "breastfeeding": True},
                            "midwife",
                        )

    def _family_planning(self, p: dict[str, Any]) -> None:
        if self.rng.random() > 0.16:
            return
        method, _, every = self.rng.choices(FP_METHODS, [m[1] for m in FP_METHODS])[0]
        day = self.gen.day_between(self.gen.start, self.gen.today)
        user = "new"
        while day <= self.gen.today:
            data: dict[str, Any] = {"method": method, "user": user}
            if method == "pill_coc":
                data["quantity"] = 3
            elif method == "condom_male":
                data["quantity"] = 30
            self.add(p, "family_planning", day, data, "midwife")
            user = "continuing"
            day += timedelta(days=every + self.rng.randrange(-7, 21))

    def _chronic(self, p: dict[str, Any], age: float) -> None:
        conditions = []
        if age >= 40 and self.rng.random() < 0.06:
            conditions.append("hypertension")
        if age >= 40 and self.rng.random() < 0.02:
            conditions.append("diabetes")
        if self.rng.random() < 0.01:
            conditions.append("hiv")
        if self.rng.random() < 0.003:
            conditions.append("tb")
        for condition in conditions:
            day = self.gen.day_between(self.gen.start, self.gen.today)
            while day <= self.gen.today:
                gap = 30 if condition == "tb" else self.rng.choice((30, 60, 90))
                data: dict[str, Any] = {
                    "condition": condition,
                    "adherence": self.rng.choice(("good", "good", "partial", "poor")),
                    "next_visit": (day + timedelta(days=gap)).isoformat(),
                }
                if condition == "hypertension":
                    s = int(self.rng.gauss(150, 18))
                    data.update(bp_systolic=s, bp_diastolic=int(s * 0.62))
                if condition == "diabetes":
                    data["glucose_mmol_l"] = round(self.rng.uniform(5.5, 14), 1)
                self.add(p, "chronic", day, data, "doctor")
                day += timedelta(
                    days=gap + (self.rng.randrange(20, 60) if self.rng.random() < 0.2 else 0)
                )
