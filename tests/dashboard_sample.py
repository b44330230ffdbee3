"""The dashboard's data as the service returns it, for the views' tests: the service's own
example (tests/data/dashboard_example.json) when present, else a hand-made one of the same
shape with plausible figures for a CSCom of 12,000 people."""

from __future__ import annotations

import json
from pathlib import Path

EXAMPLE = Path(__file__).parent / "data" / "dashboard_example.json"

POPULATION = {
    "total": 12000,
    "expected_pregnancies": 480,
    "live_births": 456,
    "surviving_infants": 432,
    "under_five": 720,
}
# code → group, French, English, denominator key, monthly count
_INDICATORS = (
    ("penta1", "immunization", "Penta 1", "Penta 1", "surviving_infants", 37),
    ("penta3", "immunization", "Penta 3", "Penta 3", "surviving_infants", 33),
    ("mr1", "immunization", "RR 1", "MR 1", "surviving_infants", 31),
    ("fic", "immunization", "Enfants complètement vaccinés",
     "Fully immunized children", "surviving_infants", 29),
    ("anc1", "maternal", "CPN 1", "ANC 1", "expected_pregnancies", 36),
    ("anc4", "maternal", "CPN 4", "ANC 4", "expected_pregnancies", 18),
    ("skilled_births", "maternal", "Accouchements assistés", "Skilled births",
     "expected_pregnancies", 27),
    ("sam", "nutrition", "Malnutrition aiguë sévère", "Severe acute malnutrition", None, 3),
    ("consultations", "curative", "Consultations curatives", "Curative consultations", None, 410),
)  # fmt: skip


def sample(*, year: int = 2026, through_month: int = 5, population: bool = True) -> dict:
    months = [f"{year}-{m:02d}" for m in range(1, 13)]
    indicators = []
    for code, group, fr, en, denominator, per_month in _INDICATORS:
        target = POPULATION[denominator] if population and denominator else None
        monthly, to_date, total = [], [], 0
        for i, month in enumerate(months):
            counted = i < through_month
            n = per_month + (i * 7) % 5 - 2 if counted else 0
            total += n
            den = round(target / 12) if target else None
            monthly.append(
                {"month": month, "numerator": n, "denominator": den,
                 "rate": round(n / den, 3) if den and counted else None,
                 "by_sex": {"F": n // 2, "M": n - n // 2}}
            )  # fmt: skip
            den_td = round(target * (i + 1) / 12) if target else None
            to_date.append(
                {"month": month, "numerator": total, "denominator": den_td,
                 "rate": round(total / den_td, 3) if den_td and counted else None}
            )  # fmt: skip
        indicators.append(
            {"code": code, "group": group, "label": {"fr": fr, "en": en},
             "definition": {"fr": f"Définition de {fr}.", "en": f"Definition of {en}."},
             "denominator": {"fr": "Population cible", "en": "Target population"}
             if target else None,
             "annual_target": target, "cumulative": group != "curative",
             "monthly": monthly, "to_date": to_date}
        )  # fmt: skip
    by = {i["code"]: i for i in indicators}

    def dropout(first: str, last: str) -> list[dict]:
        out = []
        for a, b in zip(by[first]["to_date"], by[last]["to_date"], strict=True):
            rate = round((a["numerator"] - b["numerator"]) / a["numerator"], 3)
            out.append({"month": a["month"], "first": a["numerator"], "last": b["numerator"],
                        "rate": rate if a["numerator"] else None})  # fmt: skip
        return out

    groups = ("0-11m", "1-4y", "5-14y", "15-24y", "25-34y", "35-49y", "50-64y", "65+y")
    return {
        "year": year,
        "through": months[through_month - 1],
        "facility": "CSCom de Kalaban",
        "population": dict(POPULATION) if population else None,
        "months": months,
        "indicators": indicators,
        "dropouts": [
            {
                "code": "penta1_penta3",
                "label": {"fr": "Penta1 → Penta3", "en": "Penta1 → Penta3"},
                "to_date": dropout("penta1", "penta3"),
            },
            {
                "code": "penta1_mr1",
                "label": {"fr": "Penta1 → RR1", "en": "Penta1 → MR1"},
                "to_date": dropout("penta1", "mr1"),
            },
        ],  # fmt: skip
        "pyramid": [
            {"group": g, "F": f, "M": m}
            for g, f, m in zip(
                groups,
                (120, 260, 210, 340, 300, 180, 90, 40),
                (130, 270, 190, 110, 95, 100, 80, 45),
                strict=True,
            )
        ],  # fmt: skip
        "top_diagnoses": [
            {
                "code": "malaria_confirmed",
                "label": {"fr": "Paludisme confirmé", "en": "Confirmed malaria"},
                "n": 410,
                "by_sex": {"F": 200, "M": 210},
            },
            {
                "code": "ari",
                "label": {
                    "fr": "Infection respiratoire aiguë",
                    "en": "Acute respiratory infection",
                },
                "n": 220,
                "by_sex": {"F": 100, "M": 120},
            },
        ],  # fmt: skip
        "follow_up": [
            {"month": m, "due": 120, "done": 95, "defaulters_traced": 12}
            for m in months[:through_month]
        ],
        "computed_ms": 42,
    }


def example() -> dict:
    if EXAMPLE.is_file():
        return json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return sample()
