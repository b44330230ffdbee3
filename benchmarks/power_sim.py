"""Power simulator figures, printed as JSON.

For every scenario, the daemon (production code above the fake register map) runs on a real
SQLite file over the scenario's days, and the physics goes on after its decisions (the
low-power wait's smaller draw, the read-only hold of a critical battery, the charge
controller's cut and reconnect):

* decided_h, executed_h (services first stopped safely), how (how it ended: the low-power
  wait, the read-only hold or a poweroff; `steps` every safe stop in order), hold_h (the
  read-only hold began), poweroff_h, services_back_h -- hours since the start;
* cutoff_h: the controller's low-voltage disconnect if it came; margin_min its distance to
  the last safe stop before it (the hold: when the records were closed);
  margin_since_stopped_min its distance to the services' first stop;
* back_h, back_by: the appliance back by itself after the hold -- the controller's reconnect
  booting the Pi, or its own reboot when the battery recovered first;
* cutoff_if_running_h and margin_if_running_min: the cut a running appliance would have met
  (no safe stop), and how long before it the services were stopped;
* shutdowns: shutdown decisions; wait_h and wait_wh_per_night (a 11.75 h night at the wait's
  mean draw); services_back_after_h (recovery: from the stop to the services back);
* goals (issue 17): margin >= 30 min in every fault scenario, no shutdown at all in sunny,
  spikes and wrong-shunt, the ageing and dead-sensor appliances back by themselves;
* driver: INA219 reads per second (wall clock) on the fake SMBus.

Run: .venv/bin/python benchmarks/power_sim.py [--sample-s 60] [--reads 5000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

# benchmarks/power.py is named like the package measured here: keep this folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from appliance.store import Store  # noqa: E402
from power.daemon import Settings  # noqa: E402
from power.ina219 import Ina219  # noqa: E402
from power.sim import SCENARIOS, FakeIna219, FakeSMBus, SimClock, get  # noqa: E402
from power.simulated import simulated_daemon  # noqa: E402

ORIGIN = datetime(2026, 10, 15, tzinfo=UTC)
FAULT_SCENARIOS = ("sensor-fault", "dead-sensor", "reversed-shunt", "wrong-shunt")
NO_SHUTDOWN = ("sunny", "spikes", "wrong-shunt")
BACK_BY_ITSELF = ("ageing", "dead-sensor")
MIN_MARGIN_MIN = 30.0


def _min(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def scenario_figures(name: str, sample_s: float, folder: Path) -> dict[str, object]:
    scenario = get(name)
    settings = Settings(sample_s=sample_s, batch_s=600)
    started = time.perf_counter()
    with (
        Store(folder / f"{name}.db", create=True) as store,
        simulated_daemon(store, scenario, origin=ORIGIN, settings=settings) as sim,
    ):
        summary = sim.daemon.run(duration_s=scenario.days * 86_400)
    sim.finish()
    wall_s = time.perf_counter() - started
    out = summary.to_dict()
    back = None
    if out["services_back_h"] is not None and out["shutdown_executed_h"] is not None:
        back = round(out["services_back_h"] - out["shutdown_executed_h"], 2)
    return {
        "days": scenario.days,
        "samples": out["samples"],
        "sensor_faults": out["faults"],
        "faults_named": summary.event_counts["fault"],
        "shutdowns": summary.event_counts["shutdown_decided"],
        "decided_h": out["shutdown_decided_h"],
        "executed_h": out["shutdown_executed_h"],
        "how": out["shutdown_hows"][-1] if out["shutdown_hows"] else None,
        "steps": out["shutdown_hows"],
        "hold_h": out["hold_started_h"],
        "poweroff_h": out["poweroff_h"],
        "cutoff_h": out["cutoff_h"],
        "margin_min": _min(out["margin_s"]),
        "margin_since_stopped_min": (
            None
            if out["cutoff_h"] is None or out["shutdown_executed_h"] is None
            else round((out["cutoff_h"] - out["shutdown_executed_h"]) * 60, 1)
        ),
        "cutoff_if_running_h": out["cutoff_if_running_h"],
        "margin_if_running_min": _min(out["margin_if_running_s"]),
        "services_back_h": out["services_back_h"],
        "services_back_after_h": back,
        "wait_h": out["wait_h"],
        "wait_wh": out["wait_wh"],
        "wait_wh_per_night": out["wait_wh_per_night"],
        "hold_wh": out["hold_wh"],
        "reboot_h": out["reboot_h"],
        "back_h": out["back_h"],
        "back_at": out["back_at"],
        "back_by": out["back_by"],
        "boots": len(out["boots_at"]),
        "stopped_by": out["stopped_by"] or "end",
        "final_state": out["state"],
        "wall_s": round(wall_s, 2),
    }


def goals(figures: dict[str, dict[str, object]]) -> dict[str, bool]:
    """The issue's goals, scenario by scenario."""
    out = {}
    for name in FAULT_SCENARIOS:
        f = figures[name]
        margins = [m for m in (f["margin_min"], f["margin_if_running_min"]) if m is not None]
        cut_unsafe = f["cutoff_h"] is not None and f["margin_min"] is None
        out[f"{name}: margin >= 30 min"] = not cut_unsafe and all(
            m >= MIN_MARGIN_MIN for m in margins
        )
    for name in NO_SHUTDOWN:
        out[f"{name}: no shutdown"] = figures[name]["shutdowns"] == 0
    out["recovery: services back"] = figures["recovery"]["services_back_h"] is not None
    for name in BACK_BY_ITSELF:
        out[f"{name}: back by itself"] = figures[name]["back_h"] is not None
    return out


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
    with tempfile.TemporaryDirectory() as folder:
        figures = {name: scenario_figures(name, args.sample_s, Path(folder)) for name in SCENARIOS}
    out = {
        "sample_s": args.sample_s,
        "scenarios": figures,
        "goals": goals(figures),
        "driver_reads_per_s": round(driver_reads_per_s(args.reads)),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
