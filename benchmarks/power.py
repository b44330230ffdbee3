"""Power daemon figures, printed as JSON.

* idle CPU: `keneya power run --simulate sunny --speed 1` in a subprocess (reads every 5 s,
  writes once a minute, as on the Pi); its CPU time (utime + stime from /proc/PID/stat) over a
  window of real time after start-up, as % of one core; also its resident memory. /proc
  counts whole 10 ms ticks, so the loop's cost per reading is also measured in-process
  (`loop_cost`, process_time) to give a figure below the tick resolution;
* bytes written to the database per simulated day: the daemon in this process on a sunny
  day (speed unlimited); counted as the bytes this process handed to write()/pwrite() during
  the day (`wchar` of /proc/self/io: WAL frames and checkpoint copies -- the daemon writes
  nothing else), plus `write_bytes` (what reached the block layer) and the commits;
* the cloudy margin (harness): minutes between the shutdown decision and the battery running
  out; and for the daemon itself, from the services stopped (the low-power wait, after the
  countdown) to the cut a running appliance would have met;
* sunny week with spikes (harness): number of shutdown decisions (expected 0).

Run: .venv/bin/python benchmarks/power.py [--cpu-window 30] [--sample-s 5]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

# This script is named like the package it measures: keep its own folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from appliance.store import Store  # noqa: E402
from power.daemon import Settings  # noqa: E402
from power.sim import get  # noqa: E402
from power.sim.harness import simulate  # noqa: E402
from power.simulated import simulated_daemon  # noqa: E402

KENEYA = str(Path(sys.executable).parent / "keneya")
ORIGIN = datetime(2026, 10, 15, tzinfo=UTC)
DAY_S = 86_400


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def idle_cpu(window_s: float, warmup_s: float) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k not in ("KENEYA_HOME", "NOTIFY_SOCKET")}
    with tempfile.TemporaryDirectory() as home:
        proc = subprocess.Popen(
            [KENEYA, "--home", home, "power", "run", "--simulate", "sunny", "--speed", "1"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(warmup_s)  # imports, migrations, first reading
            cpu0, wall0 = cpu_seconds(proc.pid), time.monotonic()
            time.sleep(window_s)
            cpu1, wall1 = cpu_seconds(proc.pid), time.monotonic()
            rss = rss_kib(proc.pid)
            proc.send_signal(signal.SIGTERM)
            status, usage = wait_with_usage(proc, timeout_s=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    tick = 1 / os.sysconf("SC_CLK_TCK")
    window = wall1 - wall0
    return {
        "window_s": round(window, 1),
        "cpu_s": round(cpu1 - cpu0, 3),
        # /proc/PID/stat counts whole clock ticks: 0 ticks means below one tick per window
        "cpu_pct_one_core": round(100 * (cpu1 - cpu0) / window, 3),
        "cpu_pct_upper_bound": round(100 * max(cpu1 - cpu0, tick) / window, 3),
        "startup_cpu_s": round(cpu0, 2),
        "lifetime_cpu_s": None if usage is None else round(usage, 3),
        "rss_mib": round(rss / 1024, 1),
        "exit_status_on_sigterm": status,
        "clock_tick_s": tick,
    }


def wait_with_usage(proc: subprocess.Popen, *, timeout_s: float) -> tuple[int, float | None]:
    """Exit status and total CPU seconds (rusage: finer than /proc's ticks) of the child."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_utime + usage.ru_stime
        time.sleep(0.05)
    return proc.wait(timeout=1), None


def cpu_per_reading(sample_s: float, readings: int = 5000) -> dict[str, object]:
    """CPU of the daemon's loop per reading (sensor, estimator, policy, aggregation, the
    once-a-minute write), in this process on the simulator: the steady-state idle load."""
    settings = Settings(sample_s=sample_s)
    with (
        tempfile.TemporaryDirectory() as d,
        Store(Path(d) / "keneya.db", create=True) as store,
        simulated_daemon(store, get("sunny"), origin=ORIGIN, settings=settings) as sim,
    ):
        started = time.process_time()
        summary = sim.daemon.run(duration_s=(readings - 1) * sample_s)
        cpu = time.process_time() - started
    per = cpu / summary.samples
    return {
        "readings": summary.samples,
        "cpu_us_per_reading": round(per * 1e6, 1),
        "cpu_pct_one_core_at_sample_s": round(100 * per / sample_s, 4),
    }


def io_counters() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/io").read_text().splitlines():
        key, value = line.split(":")
        out[key] = int(value)
    return out


def bytes_per_day(sample_s: float, batch_s: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "keneya.db"
        with Store(path, create=True) as store:
            store.power.checkpoint()  # schema creation is not part of the day
            before = io_counters()
            settings = Settings(sample_s=sample_s, batch_s=batch_s)
            with simulated_daemon(store, get("sunny"), origin=ORIGIN, settings=settings) as sim:
                summary = sim.daemon.run(duration_s=DAY_S)
            after = io_counters()
            totals = store.power.totals()
        size = path.stat().st_size
    return {
        "sample_s": sample_s,
        "batch_s": batch_s,
        "readings": summary.samples,
        "commits": summary.writes,
        "bytes_written_per_day": after["wchar"] - before["wchar"],
        "block_layer_bytes_per_day": after["write_bytes"] - before["write_bytes"],
        "minute_rows": totals["power_samples_1m"]["rows"],
        "database_bytes_after_day": size,
    }


def daemon_cloudy(sample_s: float) -> dict[str, object]:
    scenario = get("cloudy")
    settings = Settings(sample_s=sample_s)
    with (
        tempfile.TemporaryDirectory() as d,
        Store(Path(d) / "keneya.db", create=True) as store,
        simulated_daemon(store, scenario, origin=ORIGIN, settings=settings) as sim,
    ):
        summary = sim.daemon.run(duration_s=scenario.days * DAY_S)
    empty_at = scenario.battery_empty_at()
    # simulated seconds since the start (0): when the services were stopped
    executed_at = None if summary.executed is None else summary.executed[0]
    margin = None if empty_at is None or executed_at is None else (empty_at - executed_at) / 60
    return {
        "shutdown_executed": summary.execution is not None,
        "how": None if summary.execution is None else summary.execution.how,
        "executed_at_h": None if executed_at is None else round(executed_at / 3600, 3),
        "battery_empty_at_h": None if empty_at is None else round(empty_at / 3600, 3),
        "margin_after_stop_min": None if margin is None else round(margin, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-window", type=float, default=30.0, help="real seconds measured")
    parser.add_argument("--warmup", type=float, default=5.0, help="real seconds before that")
    parser.add_argument("--sample-s", type=float, default=5.0, help="daemon's sensor period")
    args = parser.parse_args()

    cloudy = simulate(get("cloudy"), sample_s=args.sample_s)
    spikes = simulate(get("spikes"), sample_s=args.sample_s)
    per_day = bytes_per_day(args.sample_s, 60.0)
    out = {
        "idle_cpu_pct_one_core": None,
        "bytes_written_per_simulated_day": per_day["bytes_written_per_day"],
        "cloudy_margin_min": None if cloudy.margin_min is None else round(cloudy.margin_min, 1),
        "sunny_spikes_shutdowns": spikes.shutdowns,
        "idle": idle_cpu(args.cpu_window, args.warmup),
        "loop_cost": cpu_per_reading(args.sample_s),
        "writes": [per_day, bytes_per_day(args.sample_s, 300.0)],
        "cloudy": {
            "sample_s": args.sample_s,
            "decision_at_h": None if cloudy.shutdown_at is None else cloudy.shutdown_at / 3600,
            "reason": cloudy.shutdown_reason,
            "daemon": daemon_cloudy(args.sample_s),
        },
        "sunny_spikes": {"samples": spikes.samples, "sample_s": args.sample_s},
    }
    out["idle_cpu_pct_one_core"] = out["idle"]["cpu_pct_one_core"]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
