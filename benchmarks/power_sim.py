"""Power simulator figures, printed as JSON.

* cloudy: minutes between the shutdown decision and the battery running out
  (0 % or the controller's low-voltage disconnect);
* sunny week with spikes: number of shutdown decisions (expected 0);
* driver: INA219 reads per second (wall clock) on the fake SMBus.

Run: .venv/bin/python benchmarks/power_sim.py [--sample-s 60] [--reads 5000]
"""

from __future__ import annotations

import argparse
import json
import time

from power.ina219 import Ina219
from power.sim import FakeIna219, FakeSMBus, SimClock, get
from power.sim.harness import simulate


def scenario_figures(name: str, sample_s: float) -> dict[str, object]:
    started = time.perf_counter()
    r = simulate(get(name), sample_s=sample_s)
    return {
        "simulated_h": round(r.samples * sample_s / 3600, 2),
        "samples": r.samples,
        "sensor_faults": r.faults,
        "shutdowns": r.shutdowns,
        "shutdown_at_h": None if r.shutdown_at is None else round(r.shutdown_at / 3600, 3),
        "shutdown_reason": r.shutdown_reason or None,
        "battery_empty_at_h": None if r.empty_at is None else round(r.empty_at / 3600, 3),
        "margin_min": None if r.margin_min is None else round(r.margin_min, 1),
        "wall_s": round(time.perf_counter() - started, 3),
    }


def driver_reads_per_s(reads: int) -> float:
    clock = SimClock()
    chip = FakeIna219(lambda t: (-0.4, 12.3), clock=clock, shunt_ohms=0.01)
    with Ina219(
        FakeSMBus({0x40: chip}), shunt_ohms=0.01, max_current_a=10.0, sleep=clock.advance
    ) as dev:
        dev.configure()
        started = time.perf_counter()
        for _ in range(reads):
            clock.advance(0.2)  # longer than a 2 x 68 ms conversion cycle: fresh data each read
            dev.read()
        return reads / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample-s", type=float, default=60.0, help="simulated sampling period")
    parser.add_argument("--reads", type=int, default=5000, help="driver reads to time")
    args = parser.parse_args()
    cloudy = scenario_figures("cloudy", args.sample_s)
    spikes = scenario_figures("spikes", args.sample_s)
    out = {
        "sample_s": args.sample_s,
        "cloudy": cloudy,
        "cloudy_margin_min": cloudy["margin_min"],
        "sunny_spikes": spikes,
        "sunny_spikes_shutdowns": spikes["shutdowns"],
        "driver_reads_per_s": round(driver_reads_per_s(args.reads)),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
