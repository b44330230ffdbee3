"""Throughput of the WHO growth z-scores for random plausible children and adolescents.

who2006: wfa + hfa + wfh + bfa, ages 0-1856 days (WHO Child Growth Standards, by day).
who2007: wfa (to 120 months) + hfa + bfa, ages 1857 days to 228 months (WHO Growth Reference
2007, monthly LMS interpolated by age). Prints one JSON object; no pass/fail.
Run: .venv/bin/python benchmarks/growth.py
"""

import json
import platform
import random
import sys
import time

from appliance.clinical import growth

CHILDREN = 50_000
ROUNDS = 3


def _medians_2006(code: int, day: int) -> tuple[float, float, float, float]:
    _, m_cm, s_cm = growth._table("lenanthro")[code][1][day]
    _, m_kg, s_kg = growth._table("weianthro")[code][1][day]
    return m_cm, s_cm, m_kg, s_kg


def _medians_2007(sex: str, day: int) -> tuple[float, float, float, float]:
    _, m_cm, s_cm = growth._by_month("hfawho2007", sex, day, growth.REF2007_TO_DAYS)
    _, m_bmi, s_bmi = growth._by_month("bfawho2007", sex, day, growth.REF2007_TO_DAYS)
    # weight scattered through BMI at the median height: kg = BMI * m^2
    return m_cm, s_cm, m_bmi * (m_cm / 100) ** 2, s_bmi


def plausible_children(n: int, reference: str, seed: int = 2006) -> list[tuple]:
    """Ages in the reference's range; length/height and weight scattered around WHO's
    medians."""
    rng = random.Random(seed)
    first, last = (
        (0, growth.MAX_AGE_DAYS)
        if reference == growth.WHO2006
        else (growth.REF2007_FROM_DAYS, growth.REF2007_TO_DAYS)
    )
    children = []
    for _ in range(n):
        sex = rng.choice("MF")
        day = rng.randint(first, last)
        if reference == growth.WHO2006:
            m_cm, s_cm, m_kg, s_kg = _medians_2006(1 if sex == "M" else 2, day)
        else:
            m_cm, s_cm, m_kg, s_kg = _medians_2007(sex, day)
        cm = round(m_cm * (1 + s_cm * rng.gauss(0, 1.2)), 1)
        kg = round(m_kg * (1 + s_kg * rng.gauss(0, 1.2)), 2)
        measured = rng.choice([None, "lying", "standing"])
        children.append((sex, day, kg, cm, measured))
    return children


def run(children: list[tuple]) -> tuple[float, int]:
    """Seconds for every index of every child, and how many z-scores were not None."""
    wfa, hfa, wfh, bfa = growth.wfa, growth.hfa, growth.wfh, growth.bfa
    computed = 0
    start = time.perf_counter()
    for sex, day, kg, cm, measured in children:
        for z in (
            wfa(sex, day, kg),
            hfa(sex, day, cm, measured),
            wfh(sex, day, kg, cm, measured),
            bfa(sex, day, kg, cm, measured),
        ):
            computed += z is not None
    return time.perf_counter() - start, computed


def measure(reference: str) -> dict:
    children = plausible_children(CHILDREN, reference)
    run(children[:100])  # load the tables outside the timing
    best, computed = min(run(children) for _ in range(ROUNDS))
    return {
        "children": len(children),
        "zscores": computed,
        "seconds": round(best, 4),
        "zscores_per_second": round(computed / best),
        "children_per_second": round(len(children) / best),
    }


def main() -> None:
    print(
        json.dumps(
            {
                "benchmark": "who_growth_zscores",
                "best_of": ROUNDS,
                growth.WHO2006: measure(growth.WHO2006),
                growth.WHO2007: measure(growth.WHO2007),
                "python": sys.version.split()[0],
                "machine": platform.machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
