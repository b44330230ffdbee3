"""Throughput of the WHO growth z-scores: wfa + hfa + wfh for random plausible children.

Prints one JSON object; no pass/fail. Run: .venv/bin/python benchmarks/growth.py
"""

import json
import platform
import random
import sys
import time

from appliance.clinical import growth

CHILDREN = 50_000
ROUNDS = 3


def plausible_children(n: int, seed: int = 2006) -> list[tuple]:
    """Ages 0-1856 days; length/height and weight scattered around WHO's medians."""
    rng = random.Random(seed)
    children = []
    for _ in range(n):
        sex = rng.choice("MF")
        day = rng.randint(0, growth.MAX_AGE_DAYS)
        code = 1 if sex == "M" else 2
        _, m_cm, s_cm = growth._table("lenanthro")[code][1][day]
        _, m_kg, s_kg = growth._table("weianthro")[code][1][day]
        cm = round(m_cm * (1 + s_cm * rng.gauss(0, 1.2)), 1)
        kg = round(m_kg * (1 + s_kg * rng.gauss(0, 1.2)), 2)
        measured = rng.choice([None, "lying", "standing"])
        children.append((sex, day, kg, cm, measured))
    return children


def run(children: list[tuple]) -> float:
    wfa, hfa, wfh = growth.wfa, growth.hfa, growth.wfh
    start = time.perf_counter()
    for sex, day, kg, cm, measured in children:
        wfa(sex, day, kg)
        hfa(sex, day, cm, measured)
        wfh(sex, day, kg, cm, measured)
    return time.perf_counter() - start


def main() -> None:
    children = plausible_children(CHILDREN)
    run(children[:100])  # load the tables outside the timing
    best = min(run(children) for _ in range(ROUNDS))
    computed = 3 * len(children)
    print(
        json.dumps(
            {
                "benchmark": "who_growth_zscores",
                "children": len(children),
                "zscores": computed,
                "best_of": ROUNDS,
                "seconds": round(best, 4),
                "zscores_per_second": round(computed / best),
                "python": sys.version.split()[0],
                "machine": platform.machine(),
            }
        )
    )


if __name__ == "__main__":
    main()
