"""Modem figures, printed as JSON.

* SMS per report: every month of a seeded facility (2,000 patients, 3 years) turned into its
  dataValueSet and into the SMS fallback's texts: SMS count, characters and bytes per report
  (goal: at most 3 SMS);
* bytes per report over 3G data: the dataValueSet JSON as stored, and gzipped as it is sent;
* daemon idle CPU: `keneya modem run --simulate --device LINK` in a subprocess against the
  E173 simulator in another process (`keneya modem simulate`, periodic URCs on), nothing to
  send; its CPU time (utime + stime from /proc/PID/stat) over a window after it reached
  `ready`, as % of one core (goal: at most 0.5 %); and its resident memory.

Run: .venv/bin/python benchmarks/modem.py [--cpu-window 60] [--patients 2000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

# This script is named like the package it measures: keep its own folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from appliance.reports import formats  # noqa: E402
from appliance.seed.facility import seed_facility  # noqa: E402
from appliance.services import auth  # noqa: E402
from appliance.services import reports as report_service  # noqa: E402
from appliance.services.context import Context  # noqa: E402
from appliance.services.status import modem_report  # noqa: E402
from appliance.store import Store  # noqa: E402
from modem.sms import sms_figures  # noqa: E402

KENEYA = str(Path(sys.executable).parent / "keneya")
TODAY = date(2026, 11, 1)


def months(count: int) -> list[str]:
    year, month, out = TODAY.year, TODAY.month, []
    for _ in range(count):
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        out.append(f"{year:04d}-{month:02d}")
    return out[::-1]


def report_sizes(patients: int) -> dict[str, object]:
    mapping = formats.load_mapping()
    with tempfile.TemporaryDirectory() as home:
        summary = seed_facility(
            Path(home) / "keneya.db",
            patients=patients,
            seed=11,
            years=3,
            logins_dir=Path(home),
            today=TODAY,
        )
        pin = next(x.split()[2] for x in summary["logins"] if x.split()[1] == "doctor")
        noon = datetime(TODAY.year, TODAY.month, TODAY.day, 12, tzinfo=UTC).timestamp()
        with Store(Path(home) / "keneya.db") as store:
            ctx = Context.open(store, machine_time=lambda: noon, boot_id="bench")
            doctor = auth.login(ctx, "dr.traore", pin=pin)
            payloads = [
                formats.to_dhis2(report_service.monthly(ctx, doctor, p), mapping)[0]
                for p in months(36)
            ]
    texts = [
        json.dumps(p, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
        for p in payloads
    ]
    zipped = [len(gzip.compress(t, mtime=0)) for t in texts]
    return {
        "facility": {"patients": patients, "months": len(payloads)},
        "sms": sms_figures(payloads, mapping, facility=summary["facility_code"]),
        "data_bytes": {
            "json_max": max(len(t) for t in texts),
            "json_mean": round(sum(len(t) for t in texts) / len(texts)),
            "gzip_max": max(zipped),
            "gzip_mean": round(sum(zipped) / len(zipped)),
        },
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def idle_cpu(window_s: float) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k not in ("KENEYA_HOME", "NOTIFY_SOCKET")}
    with tempfile.TemporaryDirectory() as home:
        link = Path(home) / "ttyE173"
        sim = subprocess.Popen(
            [KENEYA, "--home", home, "modem", "simulate", "--pty-link", str(link)]
            + ["--registration-delay", "1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        daemon = None
        try:
            deadline = time.monotonic() + 30
            while not link.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            daemon = subprocess.Popen(
                [KENEYA, "--home", home, "modem", "run", "--simulate", "--device", str(link)]
                + ["--outage", "100000", "1"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 60
            state = None
            while time.monotonic() < deadline:
                if (Path(home) / "keneya.db").exists():
                    with Store(Path(home) / "keneya.db") as store:
                        state = modem_report(store).get("state")
                if state == "ready":
                    break
                time.sleep(0.5)
            time.sleep(5)  # past the start-up imports
            before, started = cpu_seconds(daemon.pid), time.monotonic()
            time.sleep(window_s)
            used, elapsed = cpu_seconds(daemon.pid) - before, time.monotonic() - started
            rss = rss_kib(daemon.pid)
        finally:
            if daemon is not None:
                stop(daemon)
            stop(sim)
    return {
        "state": state,
        "window_s": round(elapsed, 1),
        "cpu_s": round(used, 3),
        "cpu_percent_of_one_core": round(100 * used / elapsed, 3),
        "rss_mib": round(rss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cpu-window", type=float, default=60.0)
    parser.add_argument("--patients", type=int, default=2000)
    args = parser.parse_args()
    out = {"reports": report_sizes(args.patients), "daemon_idle": idle_cpu(args.cpu_window)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
