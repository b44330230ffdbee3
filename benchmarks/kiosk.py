"""Kiosk figures in a real (offscreen) Kivy window at 800x480: start-up to the PIN screen, each
screen change, a search while typing, and the process's resident memory. Prints one JSON object.

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


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, help="a seeded facility")
    ap.add_argument("--patients", type=int, default=2000, help="when seeding (no --home)")
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

    def timed(action) -> float:
        t0 = time.perf_counter()
        action()
        idle(2)  # drawn
        return (time.perf_counter() - t0) * 1000

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

        username, pin = logins["nurse"]
        t0 = time.perf_counter()
        state.actor = auth.login(state.ctx, username, pin=pin)
        login_ms = (time.perf_counter() - t0) * 1000

        # Screen changes (the home's facility-wide lists load on a thread, not counted here).
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
        changes["due"] = timed(lambda: root.go("due"))
        due = root.screen("due")
        t0 = time.perf_counter()
        while due.loading:  # the list is worked out on a thread; the screen answers meanwhile
            time.sleep(0.02)
            idle(1)
        due_list_ready_s = round(time.perf_counter() - t0, 2)
        changes["status"] = timed(lambda: root.go("status"))
        changes["home_again"] = timed(lambda: root.go("home"))
        changes = {k: round(v, 1) for k, v in changes.items()}

    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "patients": patients,
                "seeded_s": seeded_s,
                "startup_to_pin_screen_s": round(startup_s, 2),
                "login_pin_ms": round(login_ms, 1),
                "screen_change_ms": changes,
                "due_list_ready_after_s": due_list_ready_s,
                "search_while_typing_ms": {
                    "per_keystroke": [round(v, 1) for v in per_key],
                    "p50": round(statistics.median(per_key), 1),
                    "max": round(max(per_key), 1),
                    "view_model_only_p50": round(statistics.median(vm_only), 1),
                },
                "rss_mb": rss_mb(),
                "max_rss_mb": round(usage.ru_maxrss / 1024, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
