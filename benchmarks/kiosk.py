"""Kiosk figures in a real (offscreen) Kivy window at 800x480: start-up to the PIN screen, login
to the home ready (its follow-up counts shown, then its gravity alerts), each screen change, a
search while typing, 20 rounds home -> due list -> next page -> home, and the process's
resident memory after each step (VmRSS now, VmHWM the peak so far). Prints one JSON object.

    .venv/bin/python benchmarks/kiosk.py --home DIR   # a seeded facility (see benchmarks/web.py)

Without --home a facility of --patients is seeded in a temporary folder first. Never passes or
fails on time.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before Kivy and the app are imported: start-up counts them

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

ROUNDS = 20


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def rss_mb() -> float:
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    return _status_mb("VmHWM")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, help="a seeded facility")
    ap.add_argument("--patients", type=int, default=2000, help="when seeding (no --home)")
    ap.add_argument("--rounds", type=int, default=ROUNDS, help="home -> due -> home rounds")
    ap.add_argument(
        "--rounds-first",
        action="store_true",
        help="the home/due rounds right after login, before the other screens are opened",
    )
    args = ap.parse_args()

    from kiosk_ui.app import kivy_env

    kivy_env(headless=True)
    from kivy.config import Config

    Config.set("graphics", "width", "800")
    Config.set("graphics", "height", "480")
    from kivy.base import EventLoop
    from kivy.core.window import Window

    from appliance.paths import Paths
    from appliance.services import auth
    from appliance.services.context import Context
    from appliance.store import Store
    from kiosk_ui.app import build_root
    from kiosk_ui.viewmodels.search import SearchVM
    from kiosk_ui.viewmodels.state import KioskState

    home = args.home
    seeded_s = None
    if home is None:
        from appliance.seed.facility import seed_facility

        home = Path(tempfile.mkdtemp(prefix="keneya-bench-kiosk-"))
        t0 = time.perf_counter()
        seed_facility(
            Paths.for_home(home).database, patients=args.patients, seed=7, years=3, logins_dir=home
        )
        seeded_s = round(time.perf_counter() - t0, 1)
        started = time.perf_counter()
    else:
        started = STARTED

    def idle(n: int = 2) -> None:
        for _ in range(n):
            EventLoop.idle()

    def wait_until(condition, seconds: float = 300) -> None:
        end = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > end:
                raise TimeoutError("the kiosk did not get there in time")
            time.sleep(0.01)
            idle(1)

    rss_after: list[float] = []  # after each timed screen change: which screen costs memory

    def timed(action) -> float:
        t0 = time.perf_counter()
        action()
        idle(2)  # drawn
        spent = (time.perf_counter() - t0) * 1000
        rss_after.append(rss_mb())
        return spent

    logins = {}
    for line in (home / "demo-logins.txt").read_text(encoding="utf-8").splitlines():
        username, role, pin = line.split()
        logins[role] = (username, pin)

    with Store(Paths.for_home(home).database) as store:
        EventLoop.ensure_window()
        Window.size = (800, 480)
        state = KioskState(Context.open(store), data_dir=home)
        root = build_root(state, timers=False)
        Window.add_widget(root)
        idle(3)
        startup_s = time.perf_counter() - started
        patients = store.patients.count()

        memory = {"at_pin_screen": {"rss_mb": rss_mb(), "peak_mb": peak_rss_mb()}}

        username, pin = logins["nurse"]
        t0 = time.perf_counter()
        state.actor = auth.login(state.ctx, username, pin=pin)
        login_ms = (time.perf_counter() - t0) * 1000

        # Login -> home: the follow-up counts are read at once (indexed), the gravity alerts
        # (a pass over the fortnight's patients) on a thread.
        homescreen = root.screen("home")
        root.go("home")
        idle(2)
        home_counts_ms = (time.perf_counter() - t0) * 1000
        wait_until(lambda: homescreen.loaded)
        home_ready_ms = (time.perf_counter() - t0) * 1000
        memory["home_ready"] = {"rss_mb": rss_mb(), "peak_mb": peak_rss_mb()}
        home_counts = {
            "today": homescreen.vm.due_today,
            "defaulters": homescreen.vm.defaulters,
            "this_week": homescreen.vm.this_week,
        }

        due = root.screen("due")

        def rounds() -> dict:
            """Home (alerts loaded) -> a count's list -> its next page -> home, --rounds times.
            The memory must not climb from round to round."""
            per_round_mb, round_ms = [], []
            for i in range(args.rounds):
                t0 = time.perf_counter()
                root.go("home")
                idle(1)
                wait_until(lambda: homescreen.loaded)
                root.go("due", list=("today", "defaulters", "upcoming")[i % 3])
                idle(1)
                due.page(+1)
                idle(1)
                root.go("home")
                wait_until(lambda: homescreen.loaded)
                round_ms.append((time.perf_counter() - t0) * 1000)
                per_round_mb.append(rss_mb())
            return {
                "rss_mb_after_each": per_round_mb,
                "growth_mb_round_2_to_last": round(per_round_mb[-1] - per_round_mb[1], 1),
                "peak_mb": peak_rss_mb(),
                "round_ms_p50": round(statistics.median(round_ms), 1),
            }

        if args.rounds_first:
            memory["rounds"] = rounds()

        # Screen changes (the home's alerts load on a thread, not counted here).
        changes = {
            "home": timed(lambda: root.go("home")),
            "search": timed(lambda: root.go("search")),
        }

        # A search while typing: each prefix as the debounce would send it.
        search = root.screen("search")
        per_key = []
        for prefix in ("co", "cou", "coul", "couli", "coulib", "coulibaly"):
            search.field.text = prefix
            per_key.append(timed(search.search_now))
        vm = SearchVM(state)
        vm_only = []
        for prefix in ("co", "cou", "coul", "couli", "coulib", "coulibaly"):
            t0 = time.perf_counter()
            vm.set_query(prefix)
            vm_only.append((time.perf_counter() - t0) * 1000)
        patient_id = vm.results[0]["id"]
        changes["record"] = timed(lambda: root.go("record", patient_id=patient_id))
        changes["encounter_form"] = timed(
            lambda: root.go("encounter", patient_id=patient_id, kind="consultation")
        )
        changes["due"] = timed(lambda: root.go("due", list="today"))
        changes["due_next_page"] = timed(due.vm.next_page)
        changes["due_defaulters"] = timed(lambda: root.go("due", list="defaulters"))
        changes["status"] = timed(lambda: root.go("status"))
        changes["home_again"] = timed(lambda: root.go("home"))
        wait_until(lambda: homescreen.loaded)

        memory["after_screen_changes"] = {
            "rss_mb": rss_mb(),
            "peak_mb": peak_rss_mb(),
            "rss_mb_after_each_change": rss_after,
        }
        if not args.rounds_first:
            memory["rounds"] = rounds()
        changes = {k: round(v, 1) for k, v in changes.items()}

    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "patients": patients,
                "seeded_s": seeded_s,
                "startup_to_pin_screen_s": round(startup_s, 2),
                "login_pin_ms": round(login_ms, 1),
                "login_to_home_counts_ms": round(home_counts_ms, 1),
                "login_to_home_ready_ms": round(home_ready_ms, 1),
                "home_counts": home_counts,
                "screen_change_ms": changes,
                "search_while_typing_ms": {
                    "per_keystroke": [round(v, 1) for v in per_key],
                    "p50": round(statistics.median(per_key), 1),
                    "max": round(max(per_key), 1),
                    "view_model_only_p50": round(statistics.median(vm_only), 1),
                },
                "memory": memory,
                "rss_mb": rss_mb(),
                "max_rss_mb": round(usage.ru_maxrss / 1024, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
