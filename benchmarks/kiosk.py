"""Kiosk figures in a real (offscreen) Kivy window: start-up to the PIN screen, then --rounds
rounds over EVERY screen, and the process's resident memory after each round. One JSON object.

A round: the PIN screen (lock, tap the nurse, her PIN) -> home (its alerts loaded) -> search,
typing a family name one key at a time -> the first result's record -> each encounter form ->
registration -> each due list and its next page -> home -> the PIN screen again and the
technician -> status. Resident memory (VmRSS) is read after each round: the goal is no growth
after the first round (round 2 -> last), and <= 250 MB at 50,000 patients.

    .venv/bin/python benchmarks/kiosk.py --home DIR   # a seeded facility (see benchmarks/web.py)
    .venv/bin/python benchmarks/kiosk.py --home DIR --diagnose  # + widgets, textures, heap

Without --home a facility of --patients is seeded in a temporary folder first. Times are the
UI thread's work until the next frame is drawn (a keystroke: the search the debounce would run,
without the debounce's wait). Never passes or fails on time.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before Kivy and the app are imported: start-up counts them

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import traceback  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

ROUNDS = 20
TYPED = "coulibaly"  # a common family name of the seed's villages, typed key by key


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def rss_mb() -> float:
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    return _status_mb("VmHWM")


def smaps_mb() -> dict[str, float]:
    """Where the resident memory is: anonymous (heaps, textures in a software GL) vs files."""
    out = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        if name in ("Rss", "Anonymous", "Private_Dirty", "Shared_Clean", "Private_Clean"):
            out[name] = round(int(rest.split()[0]) / 1024, 1)
    return out


def pymalloc_mb() -> dict[str, float]:
    """Python's small-object allocator: the arenas it holds vs the bytes in use in them (the
    gap is memory kept by a few live objects in otherwise empty arenas)."""
    import re

    with tempfile.TemporaryFile() as f:
        saved = os.dup(2)
        os.dup2(f.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        text = f.read().decode()
    out = {}
    for key, pattern in (
        ("arenas_mb", r"# arenas allocated current\s*=\s*([\d,]+)"),
        ("in_use_mb", r"# bytes in allocated blocks\s*=\s*([\d,]+)"),
    ):
        m = re.search(pattern, text)
        if m:
            n = int(m.group(1).replace(",", ""))
            # an arena is 1 MiB (Python 3.10+ on 64-bit)
            out[key] = float(n) if key == "arenas_mb" else round(n / 2**20, 1)
    return out


def p50(values: list[float]) -> float:
    return round(statistics.median(values), 1) if values else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, help="a seeded facility")
    ap.add_argument("--patients", type=int, default=2000, help="when seeding (no --home)")
    ap.add_argument("--rounds", type=int, default=ROUNDS, help="rounds over every screen")
    ap.add_argument("--size", default="800x480", help="window size")
    ap.add_argument(
        "--no-release",
        action="store_true",
        help="without kiosk_ui.memory (malloc settings, release after a screen change)",
    )
    ap.add_argument(
        "--diagnose",
        action="store_true",
        help="per round also: live widgets/labels/textures, smaps, the Python heap (slower)",
    )
    args = ap.parse_args()
    width, height = (int(p) for p in args.size.split("x"))
    if args.diagnose and os.environ.get("BENCH_TRACEMALLOC"):
        import tracemalloc

        tracemalloc.start()

    os.environ["KCFG_GRAPHICS_WIDTH"], os.environ["KCFG_GRAPHICS_HEIGHT"] = str(width), str(height)
    from kiosk_ui import memory as kiosk_memory
    from kiosk_ui.app import kivy_env

    if not args.no_release:
        kiosk_memory.tune_malloc()  # as the kiosk's start does

    kivy_env(headless=True)
    from kivy.base import EventLoop
    from kivy.core.window import Window

    from appliance.paths import Paths
    from appliance.services.context import Context
    from appliance.store import Store
    from kiosk_ui import offscreen
    from kiosk_ui.app import build_root
    from kiosk_ui.viewmodels.encounter import KIOSK_KINDS
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

    logins = offscreen.read_logins(home)

    times: dict[str, list[float]] = defaultdict(list)  # per step, one value a round
    step_rss: dict[str, list[float]] = defaultdict(list)  # --diagnose: RSS after each step

    with Store(Paths.for_home(home).database) as store:
        EventLoop.ensure_window()
        Window.size = (width, height)
        state = KioskState(Context.open(store), data_dir=home)
        root = build_root(state, timers=False)
        Window.add_widget(root)
        idle(3)
        startup_s = time.perf_counter() - started
        patients = store.patients.count()
        memory = {"at_pin_screen": {"rss_mb": rss_mb(), **smaps_mb()}}
        login, homescreen = root.screen("login"), root.screen("home")
        search, due = root.screen("search"), root.screen("due")

        def step(name: str, action) -> None:
            t0 = time.perf_counter()
            action()
            idle(2)  # laid out and drawn
            times[name].append((time.perf_counter() - t0) * 1000)
            if args.diagnose:
                step_rss[name].append((rss_mb(), peak_rss_mb()))
            if not args.no_release:
                # what the kiosk does once a new screen has been shown for a moment
                t1 = time.perf_counter()
                kiosk_memory.release()
                times["release_ms"].append((time.perf_counter() - t1) * 1000)

        def log_in(role: str) -> None:
            """The PIN screen as staff use it: their name, their PIN, Entrer."""
            root.lock()
            idle(2)
            username, pin = logins[role]
            login.select(username)
            for digit in pin:
                login._digit(None, digit)
            login._ok(None)
            if root.current == "clock":  # a clock to confirm first: the clock screen is seen
                root.go("home")

        def type_search() -> list[float]:
            search.field.text = ""
            per_key = []
            for ch in TYPED:
                t0 = time.perf_counter()
                search.field.insert_text(ch)
                search.search_now()
                idle(2)
                per_key.append((time.perf_counter() - t0) * 1000)
            return per_key

        snapshots: list = []
        keystrokes: list[float] = []
        per_round: list[dict] = []
        for _round in range(args.rounds):
            t0 = time.perf_counter()
            step("login_to_home", lambda: log_in("nurse"))
            wait_until(lambda: homescreen.loaded)  # its alerts, read on a thread
            times["login_to_home_alerts_loaded"].append((time.perf_counter() - t0) * 1000)
            step("search", lambda: root.go("search"))
            keystrokes.extend(type_search())
            results = search.vm.results
            if not results:
                raise SystemExit(f"no patient found for {TYPED!r}: seed the facility first")
            pid = results[0]["id"]
            step("record", lambda p=pid: root.go("record", patient_id=p))
            for kind in KIOSK_KINDS:
                step(
                    f"encounter_{kind}",
                    lambda k=kind, p=pid: root.go("encounter", patient_id=p, kind=k),
                )
            step("register", lambda: root.go("register"))
            for name in ("today", "defaulters", "upcoming"):
                step(f"due_{name}", lambda n=name: root.go("due", list=n))
                step(f"due_{name}_next_page", lambda: due.page(+1))
            step("home", lambda: root.go("home"))
            wait_until(lambda: homescreen.loaded)
            step("login_technician", lambda: log_in("technician"))
            step("status", lambda: root.go("status"))
            idle(3)
            row = {"rss_mb": rss_mb()}
            if args.diagnose:
                import tracemalloc

                row.update(smaps_mb())
                row.update(kiosk_memory.live_objects())
                row.update(pymalloc_mb())
                if tracemalloc.is_tracing():
                    row["python_heap_mb"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
                    snap = tracemalloc.take_snapshot()
                    if snapshots:
                        row["heap_growth_top"] = [
                            str(d) for d in snap.compare_to(snapshots[0], "lineno")[:12]
                        ]
                    snapshots.append(snap)
            per_round.append(row)
        root.lock()
        idle(2)

    rss = [r["rss_mb"] for r in per_round]
    first = {name: round(values[0], 1) for name, values in times.items()}
    later = {name: p50(values[1:]) for name, values in times.items()}
    print(
        json.dumps(
            {
                "patients": patients,
                "window": [width, height],
                "seeded_s": seeded_s,
                "memory_release": not args.no_release,
                "startup_to_pin_screen_s": round(startup_s, 2),
                "screen_change_ms_first_visit": first,
                "screen_change_ms_p50_later_rounds": later,
                "keystroke_to_results_ms": {
                    "typed": TYPED,
                    "p50": p50(keystrokes),
                    "max": round(max(keystrokes), 1),
                    "first_round": [round(v, 1) for v in keystrokes[: len(TYPED)]],
                },
                "memory": {
                    **memory,
                    "rss_mb_after_each_round": rss,
                    "growth_mb_round_2_to_last": round(rss[-1] - rss[1], 1)
                    if len(rss) > 1
                    else None,
                    "peak_mb": peak_rss_mb(),
                    "rounds": args.rounds,
                    **(
                        {"per_round": per_round, "rss_and_peak_after_step": step_rss}
                        if args.diagnose
                        else {}
                    ),
                },
            },
            indent=2,
        ),
        file=sys.__stdout__,  # Kivy has taken over sys.stdout
    )


if __name__ == "__main__":
    try:
        main()
    except Exception:
        traceback.print_exc(file=sys.__stderr__)  # Kivy has taken over sys.stderr
        sys.exit(1)
