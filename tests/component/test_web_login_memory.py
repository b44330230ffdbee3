"""A dozen tablets logging in at once (the morning shift) on the real server: each login's
argon2 check takes 19 MiB. At most two run at a time (auth.BoundedHasher), and the memory is
given back afterwards (appliance/malloc.py): before both, three such rounds took the app from
89 to 245 MB and it stayed there, over its 150 MB budget (DESIGN.md)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.component.test_web_flood import Tablet, make_home, serving

pytestmark = pytest.mark.component

MIB = 1024 * 1024
ARGON2_MIB = 19


def memory_mib(pid: int) -> dict[str, float]:
    """Resident memory now (VmRSS) and at its highest (VmHWM), in MiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found


def test_a_dozen_logins_at_once_leave_no_memory_behind(tmp_path, notify_listener):
    make_home(tmp_path / "home")
    with serving(tmp_path / "home", notify_listener) as (proc, base):
        Tablet(base, "127.0.8.1")  # the app warmed up by a first login
        before = memory_mib(proc.pid)
        logged_in: list[Tablet] = []
        for _ in range(3):
            tablets = [
                threading.Thread(
                    target=lambda i=i: logged_in.append(Tablet(base, f"127.0.9.{i + 1}"))
                )
                for i in range(12)
            ]
            for t in tablets:
                t.start()
            for t in tablets:
                t.join()
        after = memory_mib(proc.pid)
        assert len(logged_in) == 36  # each one logged in (a refusal raises in its thread)
        assert proc.poll() is None
    grown = after["VmRSS"] - before["VmRSS"]
    peak_over = after["VmHWM"] - before["VmRSS"]
    assert grown < 2 * ARGON2_MIB, (before, after)  # given back (it was 156 MiB kept)
    assert peak_over < 4 * ARGON2_MIB, (before, after)  # two at a time (it was 12 at once)
