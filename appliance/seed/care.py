"""The care a synthetic person received over the seeded years: consultations, pregnancies,
immunizations, growth monitoring, family planning and chronic follow-up."""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from appliance.clinical.growth import nutrition_of

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
# EPI sessions of the child schedule: (recommended age in days, share of children reached,
# doses given). One draw per child (how far the programme reaches it) decides the last session
# it comes to, so doses are nested: a child with Penta3 had Penta1 and Penta2, and the shares
# fall along the schedule within the ranges Mali's EDS 2018 and the WHO/UNICEF estimates
# (WUENIC) give: Penta1 85-95 %, Penta3 70-80 %, MCV1 65-75 %, drop-out Penta1-Penta3 near 12 %.
# A family comes days to weeks after the due age, so most MR1 doses fall before 12 months.
EPI_SESSIONS = (
    (0, 0.95, (("bcg", 1), ("opv", 0))),
    (42, 0.93, (("penta", 1), ("opv", 1), ("pcv", 1), ("rota", 1))),
    (70, 0.88, (("penta", 2), ("opv", 2), ("pcv", 2), ("rota", 2))),
    (98, 0.83, (("penta", 3), ("opv", 3), ("pcv", 3), ("rota", 3), ("ipv", 1))),
    (274, 0.75, (("mr", 1), ("yf", 1), ("menafrivac", 1))),
    (456, 0.52, (("mr", 2),)),
)
# A dose missing although the child came to the session (stock-outs; a 20-dose BCG vial not
# opened for one child), not caught up in the seed.
EPI_MISSED = {"bcg": 0.05, "pcv": 0.03, "rota": 0.03, "ipv": 0.03, "yf": 0.03, "menafrivac": 0.03}
EPI_MIN_INTERVAL_DAYS = 28
OPV0_MAX_AGE_DAYS = 14
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
# Share of pregnant women reaching ANC1..ANC8 (falls from ANC1 to ANC4 and beyond). Against
# the expected pregnancies (4 % of the area, more than its births) the dashboard then shows
# ANC1 near 80 % and ANC4 near 45 % (Mali EDS 2018: about 80 % and 43 %).
ANC_SHARES = (0.92, 0.75, 0.62, 0.50, 0.28, 0.16, 0.10, 0.06)
# Pregnancies still running today: the last menstrual period this many days ago (a woman is
# rarely seen before 6 weeks), at the area's birth rate.
ONGOING_LMP_DAYS = (40, 280)
# Births in a facility with a skilled attendant (Mali EDS 2018: 67 %).
FACILITY_BIRTH_SHARE = 0.70
# Acute malnutrition (6-59 months). An episode starts between growth visits, at a monthly
# risk higher at 6-23 months and in the lean season (June-September), and is found at the
# next visit; the child is then treated in the outpatient programme (SAM: weekly visits,
# MAM: fortnightly; Mali PCIMA protocol) until two normal visits in a row. Outcomes follow the
# programme figures of the Sahel (most cured within 90 days, some defaulting).
WASTING_RISK = {"sam": 0.006, "mam": 0.014}  # a month, at 24-59 months outside the lean season
WASTING_YOUNG, WASTING_LEAN = 2.0, 1.6
# The deficit when found, in the child's z units (weight-for-height falls about 1.6 z a unit):
# MAM about -2.2 to -2.9, SAM below -3 and a MUAC near or under 115 mm.
WASTING_DEFICIT = {"sam": (2.0, 2.8), "mam": (1.4, 1.8)}
FOLLOW_UP_EVERY = {"sam": 7, "mam": 14}
# (outcome, share): cured by the programme; never seen again within 90 days; seen a few times
# then lost while still malnourished; still malnourished at 90 days (non-response, referral)
WASTING_OUTCOMES = {
    "sam": (("cured", 0.78), ("not_seen", 0.12), ("defaulted", 0.05), ("non_response", 0.05)),
    "mam": (("cured", 0.76), ("not_seen", 0.14), ("defaulted", 0.05), ("non_response", 0.05)),
}
# The most severe SAM episodes (about one in eight) come with oedema for their first weeks.
OEDEMA_ABOVE, OEDEMA_DAYS = 2.7, 14
OUTCOME_WINDOW_DAYS = 90

_GOLDEN = (5**0.5 - 1) / 2
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
        # malnutrition episodes by child: (start, end, deficit at the start)
        self.episodes: dict[str, list[tuple[date, date, float]]] = {}
        # How far the EPI reaches each child, how many ANC contacts each pregnancy has, where
        # it ends and which women are pregnant today follow a golden-ratio sequence (in birth
        # order; each start drawn from the seed) rather than independent draws: each month's
        # hundred or so births then reach the shares within a point or two instead of
        # scattering by five or more at 3,000 patients.
        self._spread = {name: self.rng.random() for name in ("epi", "anc", "birth", "ongoing")}
        self.reach: dict[str, float] = {}
        self.pregnancy_u: dict[tuple[str, str], tuple[float, float]] = {}
        six_years_ago = _birthday(gen.today, -6).isoformat()
        for p in sorted(people, key=lambda p: p["birth_date"]):
            if p["mother_id"]:
                key = (p["mother_id"], p["birth_date"])
                self.pregnancy_u.setdefault(key, (self._evenly("anc"), self._evenly("birth")))
            if p["birth_date"] > six_years_ago:
                self.reach[p["id"]] = self._evenly("epi")
        # pregnancies running today at the area's birth rate (births of the last year for
        # each woman of 15-49)
        year_ago = (gen.today - timedelta(days=365)).isoformat()
        born = sum(1 for p in people if p["birth_date"] > year_ago)
        oldest = _birthday(gen.today, -50).isoformat()
        youngest = _birthday(gen.today, -15).isoformat()
        women = sum(1 for p in people if p["sex"] == "F" and oldest < p["birth_date"] <= youngest)
        span = ONGOING_LMP_DAYS[1] - ONGOING_LMP_DAYS[0]
        self.ongoing_share = min(born / max(women, 1), 0.4) * span / 365

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
    def _evenly(self, name: str) -> float:
        """The next value in [0, 1) of the sequence `name`."""
        self._spread[name] = (self._spread[name] + _GOLDEN) % 1.0
        return self._spread[name]

    def _deficit(self, pid: str, day: date) -> float:
        """How far an episode of acute malnutrition pulls the child's weight down on `day`
        (z units; it falls back to 0 as the child recovers)."""
        for start, end, deficit in self.episodes.get(pid, ()):
            if start <= day < end:
                return deficit * (end - day).days / (end - start).days
        return 0.0

    def _measures(self, pid: str, birth: date, day: date) -> tuple[float, float]:
        months = (day - birth).days / 30.4375
        z = self.child_z.get(pid, -0.5)
        # the child's size (stunting and weight alike) from z, wasting from the deficit
        wasted = z - self._deficit(pid, day)
        weight = (
            _interp(_MONTHS, _WEIGHT, months) * (1 + 0.11 * wasted) * self.rng.uniform(0.97, 1.03)
        )
        height = _interp(_MONTHS, _HEIGHT, months) * (1 + 0.035 * max(z, -3))
        return round(max(weight, 1.2), 1), round(height, 1)

    def _immunizations(self, p: dict[str, Any], birth: date) -> None:
        reach = self.reach[p["id"]]
        # some families come within days of the due date, others weeks late (mean 2 weeks)
        lateness = 4 + self.rng.expovariate(1 / 10)
        previous: date | None = None
        for age_days, share, doses in EPI_SESSIONS:
            if reach >= share:
                return  # dropped out: no later session either
            day = birth + timedelta(days=age_days)
            if previous is not None:
                day = max(day, previous + timedelta(days=EPI_MIN_INTERVAL_DAYS))
            day += timedelta(days=int(self.rng.expovariate(1 / lateness)))
            if age_days:
                previous = day
            outreach = self.rng.random() < 0.3
            for antigen, dose in doses:
                if antigen == "opv" and dose == 0 and (day - birth).days > OPV0_MAX_AGE_DAYS:
                    continue
                if self.rng.random() < EPI_MISSED.get(antigen, 0.0):
                    continue
                self.add(
                    p,
                    "immunization",
                    day,
                    {"antigen": antigen, "dose": dose, "outreach": outreach},
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
        pid, today = p["id"], self.gen.today
        last = min(today, birth + timedelta(days=5 * 365 - 1))
        day = birth + timedelta(days=30)
        while day <= last:
            age = (day - birth).days
            step = 30 if age < 730 else 91
            if self.rng.random() < (0.55 if age < 730 else 0.3):
                onset = age >= 183 and not self._deficit(pid, day)  # from 6 months, once
                kind = self._onset(pid, day, age, step) if onset else None
                data = self._growth_visit(p, birth, day, height=kind is not None)
                if kind is None and self._malnourished(p, birth, day, data):
                    kind = "mam"  # a borderline child: enrolled, soon discharged
                if kind is not None:
                    self.add(p, "growth", day, data, "health_worker")
                    day = self._treatment(p, birth, day, kind)
                    continue
                self.add(p, "growth", day, data, "health_worker")
            day += timedelta(days=step)

    def _onset(self, pid: str, day: date, age: int, step: int) -> str | None:
        """The kind of an episode of acute malnutrition begun since the last visit, if any;
        the episode is recorded from `day` (its end set by the treatment)."""
        risk = step / 30 * (WASTING_YOUNG if age < 730 else 1.0)
        if day.month in (6, 7, 8, 9):
            risk *= WASTING_LEAN
        u = self.rng.random()
        for kind in ("sam", "mam"):
            if u < WASTING_RISK[kind] * risk:
                low, high = WASTING_DEFICIT[kind]
                # a placeholder end: _treatment sets the real one
                self.episodes.setdefault(pid, []).append(
                    (day, day + timedelta(days=1), self.rng.uniform(low, high))
                )
                return kind
            u -= WASTING_RISK[kind] * risk
        return None

    def _growth_visit(self, p: dict[str, Any], birth: date, day: date, *, height: bool) -> dict:
        pid = p["id"]
        weight, height_cm = self._measures(pid, birth, day)
        data: dict[str, Any] = {"weight_kg": weight}
        if height or self.rng.random() < 0.4:
            data["height_cm"] = height_cm
            data["measured"] = "lying" if (day - birth).days < 731 else "standing"
        if (day - birth).days >= 183:
            z, deficit = self.child_z[pid], self._deficit(pid, day)
            muac = 142 + 3 * max(z, -3) - 10 * deficit + self.rng.gauss(0, 3)
            data["muac_mm"] = int(min(max(muac, 95), 190))
        data["oedema"] = any(
            start <= day < start + timedelta(days=OEDEMA_DAYS) and deficit > OEDEMA_ABOVE
            for start, _end, deficit in self.episodes.get(pid, ())
        )
        return data

    def _malnourished(self, p: dict[str, Any], birth: date, day: date, data: dict) -> bool:
        """A visit outside an episode that still classes the child MAM or SAM (a small or
        borderline child); judged only when the measures come near the cut-offs."""
        if data.get("muac_mm", 200) >= 128 and self.child_z[p["id"]] > -2:
            return False
        status = nutrition_of(p["sex"], (day - birth).days, data)["status"]
        return status in ("mam", "sam")

    def _treatment(self, p: dict[str, Any], birth: date, found: date, kind: str) -> date:
        """The outpatient programme's visits after a child is found malnourished on `found`;
        returns the day routine growth monitoring resumes."""
        pid = p["id"]
        outcomes, shares = zip(*WASTING_OUTCOMES[kind], strict=True)
        outcome = self.rng.choices(outcomes, shares)[0]
        episodes = self.episodes.get(pid, [])
        if episodes and episodes[-1][0] == found:  # a new episode: how long it lasts
            if outcome == "non_response":
                days = self.rng.randrange(120, 200)
            elif outcome == "cured":
                days = self.rng.randrange(35, 70) if kind == "sam" else self.rng.randrange(21, 56)
            else:  # recovered (or not) away from the programme
                days = self.rng.randrange(60, 150)
            episodes[-1] = (found, found + timedelta(days=days), episodes[-1][2])
        # normal again after the episode's end (a borderline child: at once)
        end = next((e for s, e, _d in episodes if s <= found < e), found)
        every = FOLLOW_UP_EVERY[kind]
        if outcome == "not_seen":
            return found + timedelta(days=OUTCOME_WINDOW_DAYS + self.rng.randrange(1, 90))
        visits = self.rng.randrange(1, 4) if outcome == "defaulted" else None
        day, normal = found, 0
        while True:
            day += timedelta(days=every + self.rng.randrange(-1, 3))
            if day > self.gen.today:
                return day
            if outcome == "non_response" and (day - found).days > OUTCOME_WINDOW_DAYS - every:
                break  # referred on: routine visits again
            data = self._growth_visit(p, birth, day, height=True)
            self.add(p, "growth", day, data, "health_worker")
            normal = normal + 1 if day >= end else 0
            if visits is not None:
                visits -= 1
                if not visits:
                    return found + timedelta(days=OUTCOME_WINDOW_DAYS + self.rng.randrange(1, 90))
            elif normal == 2:
                break  # discharged cured
        return day + timedelta(days=30)

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
        if self._evenly("ongoing") < self.ongoing_share:
            ongoing = self.gen.today - timedelta(days=self.rng.randrange(*ONGOING_LMP_DAYS))
        age_years = (self.gen.today - birth).days / 365.25
        parity = len(births)
        for end in deliveries + ([None] if ongoing else []):
            lmp = (end - timedelta(days=280)) if end else ongoing
            drawn = self.pregnancy_u.get((p["id"], end.isoformat())) if end else None
            u = drawn[0] if drawn else self._evenly("anc")
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
        drawn = self.pregnancy_u.get((mother["id"], day.isoformat()))
        if (drawn[1] if drawn else self._evenly("birth")) < FACILITY_BIRTH_SHARE:
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
