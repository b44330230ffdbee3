"""What one guess at a PIN or a password costs, printed as JSON.

An offline attacker holding a hash pays one argon2id verification per guess; so does the
appliance at each login. For the hashers in appliance/services/auth.py (and any extra
`--params T:M_KIB`), the figures are the median, min and max time of one verification (ms),
and the hours one core needs to try every 6-digit PIN at that rate.

With `--pi-profile PATH` (the Pi 3 stand-in script: a sixth of one core, needs root), the same
measurement also runs under it and its figures come under "pi_profile".

Run: .venv/bin/python benchmarks/login_hash.py [--rounds 5] [--params 2:19456]
     [--pi-profile ../../shared/tools/pi-profile]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from argon2 import PasswordHasher

from appliance.services.auth import PASSWORD_HASHER, PIN_HASHER

PINS_6_DIGITS = 10**6


def measure(time_cost: int, memory_kib: int, rounds: int) -> dict:
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
    stored = hasher.hash("482916")
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        hasher.verify(stored, "482916")
        times.append((time.perf_counter() - start) * 1000)
    median = statistics.median(times)
    return {
        "time_cost": time_cost,
        "memory_kib": memory_kib,
        "verify_ms": {"median": round(median, 1), "min": round(min(times), 1),
                      "max": round(max(times), 1)},
        "all_6_digit_pins_h_one_core": round(PINS_6_DIGITS * median / 1000 / 3600, 1),
    }  # fmt: skip


def grid(extra: list[str]) -> list[tuple[str, int, int]]:
    rows = [
        ("pin", PIN_HASHER.time_cost, PIN_HASHER.memory_cost),
        ("password", PASSWORD_HASHER.time_cost, PASSWORD_HASHER.memory_cost),
    ]
    for spec in extra:
        t, m = spec.split(":")
        rows.append((spec, int(t), int(m)))
    return rows


def run(rounds: int, extra: list[str]) -> dict:
    return {name: measure(t, m, rounds) for name, t, m in grid(extra)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--params", action="append", default=[], help="T:M_KIB, repeatable")
    parser.add_argument("--pi-profile", help="path of the Pi 3 stand-in script")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    out = {"here": run(args.rounds, args.params)}
    if args.inner:
        print(json.dumps(out["here"]))
        return
    if args.pi_profile:
        command = [args.pi_profile, sys.executable, __file__, "--inner",
                   "--rounds", str(max(2, args.rounds // 2))]  # fmt: skip
        for spec in args.params:
            command += ["--params", spec]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            out["pi_profile"] = json.loads(done.stdout)
        else:
            out["pi_profile"] = {"error": done.stderr.strip()[-500:]}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
