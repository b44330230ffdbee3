"""Web app under load: 20 tablets at once against the real server (uvicorn on loopback), each
searching by name, opening a record and saving a consultation, over and over. Prints JSON;
never passes or fails on time.

    .venv/bin/python benchmarks/web.py [--home DIR] [--patients 100000] [--tablets 20]
                                       [--duration 60]

The synthetic facility is seeded once into --home (reused when it already has a database);
the seeding time is kept beside it, in bench-seed.json, and printed with every run. The
tablets are spread over the doctor, nurse and midwife logins; after the (unmeasured) logins
all of them open the home page at once, measured on its own, then the loop runs. A midwife may
not record a consultation: her tablets save a growth measure for an under-five in the results,
or else a family-planning visit for a woman of 15-49, or nothing. Each run adds its encounters
to the facility in --home.

Before the load, one nurse's tablet alone reads the follow-up pages (--list-runs times each):
the home's lists, /due (today, the largest village's 30 days, defaulters) and the outreach
round, and the server's processes' peak resident memory (VmHWM) is read after that phase and
after the load. `--duration 0` measures the lists only.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx

from appliance.paths import Paths
from appliance.seed.facility import seed_facility
from appliance.store import Store

SEED_FIGURES = "bench-seed.json"


def ensure_home(home: Path, patients: int) -> dict[str, object]:
    """Seed `home` unless it already holds a facility; the seeding figures either way."""
    home.mkdir(parents=True, exist_ok=True)
    db = Paths.resolve(home).database
    figures_file = home / SEED_FIGURES
    if db.exists() and figures_file.exists():
        return {**json.loads(figures_file.read_text()), "reused": True}
    if db.exists():
        return {"reused": True, "seed_s": None}
    t0 = time.perf_counter()
    seed_facility(db, patients=patients, seed=7, years=3, logins_dir=home)
    figures = {"patients_requested": patients, "seed_s": round(time.perf_counter() - t0, 1)}
    figures_file.write_text(json.dumps(figures))
    return {**figures, "reused": False}


# Common family names of the seed's villages: what a receptionist types.
NAMES = ("Traoré", "Coulibaly", "Diarra", "Koné", "Dembélé", "Samaké", "Sangaré", "Keita")
# With a given name too, so that the tablets open records across the facility rather than the
# twenty oldest of each family name.
GIVEN = ("Aminata", "Fatoumata", "Mariam", "Awa", "Moussa", "Mamadou", "Ibrahim", "Seydou")
CLINICAL_ROLES = ("doctor", "nurse", "midwife")
STEPS = ("search", "open_record", "save_encounter")
# A search result: the record's id, then "Femme · 14/03/1995" (the French labels).
RESULT = re.compile(r'<a href="/patients/([^"/]+)">.*?<span>(\w+) · (\d\d)/(\d\d)/(\d{4})', re.S)
LANDING_TIMEOUT_S = 600
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summary(ms: list[float]) -> dict[str, float]:
    if not ms:
        return {"n": 0}
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(percentile(ms, 95), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path, port: int, stderr, workers: int = 1) -> subprocess.Popen:
    keneya = Path(sys.executable).with_name("keneya")
    command = [str(keneya)] if keneya.exists() else [sys.executable, "-m", "appliance.cli.main"]
    server = subprocess.Popen(
        [
            *command,
            "--home",
            str(home),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited with {server.returncode}; see its stderr")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/favicon.ico", timeout=1).status_code == 204:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise SystemExit("server did not answer within 60 s")


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (the uvicorn workers), from /proc."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def memory_mb(pid: int) -> dict[str, object]:
    """Peak (VmHWM) and current (VmRSS) resident memory of each process of the server, and
    the largest peak among them (a uvicorn worker's, the process that serves the pages)."""
    processes = []
    for p in process_tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
            command = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        processes.append(
            {
                "pid": p,
                "role": "server" if p == pid else "child",
                "command": b" ".join(command[1:4]).decode(errors="replace")[:80],
                **{
                    k: round(int(fields[k].split()[0]) / 1024, 1)
                    for k in ("VmHWM", "VmRSS")
                    if k in fields
                },
            }
        )
    return {
        "largest_peak_mb": max((p.get("VmHWM", 0) for p in processes), default=None),
        "processes": processes,
    }


def largest_village(database: Path) -> str:
    """The village with the most follow-up items listed today: the longest lists."""
    with sqlite3.connect(database) as conn:
        row = conn.execute(
            "SELECT village FROM due_items WHERE village != '' AND ends_on >= date('now')"
            " GROUP BY village ORDER BY COUNT(*) DESC LIMIT 1"
        ).fetchone()
    return row[0] if row else ""


def follow_up_pages(
    base: str, username: str, password: str, village: str, runs: int
) -> dict[str, object]:
    """One tablet alone: the follow-up pages, each `runs` times, one after the other."""
    tablet = Tablet(base, "nurse", username, password, seed=99)
    client = tablet.client
    round_day = (datetime.now().date() + timedelta(days=7)).isoformat()
    pages = {
        "home_lists": ("/home/lists", {}, {"HX-Request": "true"}),
        "due_today": ("/due", {"tab": "today"}, {}),
        "due_today_page_5": ("/due", {"tab": "today", "page": 5}, {}),
        "due_village_30_days": ("/due", {"tab": "upcoming", "days": 30, "village": village}, {}),
        "due_defaulters": ("/due", {"tab": "defaulters"}, {}),
        "due_outreach_village": ("/due/outreach", {"village": village, "date": round_day}, {}),
        "api_due_today": ("/api/v1/due/today", {}, {}),
    }
    out: dict[str, object] = {"village": village}
    for name, (path, params, headers) in pages.items():
        times, codes = [], Counter()
        size = 0
        for _ in range(runs):
            t0 = time.perf_counter()
            reply = client.get(path, params=params, headers=headers)
            times.append((time.perf_counter() - t0) * 1000)
            codes[reply.status_code] += 1
            size = len(reply.content)
        out[name] = {**summary(times), "status": dict(codes), "bytes": size}
    client.close()
    return out


def weight_for(birth_year: int, today: date) -> float:
    age = today.year - birth_year
    return 7.5 if age < 1 else 13.0 if age < 5 else 25.0 if age < 12 else 58.0


class Tablet:
    """One browser: its own connection and cookie, logged in through the HTML form."""

    def __init__(self, base: str, role: str, username: str, password: str, seed: int):
        self.role = role
        self.saved: dict[str, int] = {}
        self.skipped = 0
        self.client = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
        self.rng = random.Random(seed)
        self.times: dict[str, list[float]] = {s: [] for s in STEPS}
        self.errors: list[str] = []
        self.error_count = 0
        page = self.client.get("/")
        csrf = CSRF.search(page.text)
        if page.status_code != 200 or csrf is None:
            raise RuntimeError(f"GET / → {page.status_code}, no login form")
        reply = self.client.post(
            "/login", data={"username": username, "password": password, "csrf": csrf[1]}
        )
        if reply.status_code != 303:
            raise RuntimeError(f"login {username} → {reply.status_code}")
        # The session's new CSRF token, from the (cheap) search page: the home page is
        # measured on its own, see landing().
        page = self.client.get("/patients")
        csrf = CSRF.search(page.text)
        if page.status_code != 200 or csrf is None:
            raise RuntimeError(f"GET /patients after login → {page.status_code}, no csrf")
        self.csrf = csrf[1]

    def landing(self) -> tuple[float, str]:
        """The home page the login lands on (due list and alerts over the whole facility)."""
        t0 = time.perf_counter()
        try:
            reply = self.client.get("/", timeout=LANDING_TIMEOUT_S)
            outcome = str(reply.status_code)
        except httpx.HTTPError as e:
            outcome = type(e).__name__
        return (time.perf_counter() - t0) * 1000, outcome

    def _step(self, step: str, send) -> httpx.Response | None:
        t0 = time.perf_counter()
        try:
            reply = send()
        except Exception as e:  # a dropped connection or a timeout is an error, not a crash
            self.times[step].append((time.perf_counter() - t0) * 1000)
            self._error(f"{step}: {type(e).__name__}: {e}")
            return None
        self.times[step].append((time.perf_counter() - t0) * 1000)
        if not 200 <= reply.status_code < 400:
            self._error(
                f"{step}: {reply.request.method} {reply.request.url.path} → "
                f"{reply.status_code} {reply.text[:200]!r}"
            )
            return None
        return reply

    def _error(self, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < 5:
            self.errors.append(message)

    def visit(self, today: date) -> None:
        name = f"{self.rng.choice(NAMES)} {self.rng.choice(GIVEN)}"
        found = self._step(
            "search",
            lambda: self.client.get(
                "/patients", params={"q": name}, headers={"HX-Request": "true"}
            ),
        )
        if found is None:
            return
        results = RESULT.findall(found.text)
        if not results:
            self._error(f"search {name!r}: no patient in the results")
            return
        kind = "consultation"
        if self.role == "midwife":
            # A midwife records no consultation (permissions.py): she weighs an under-five,
            # or else renews a woman's contraception.
            children = [r for r in results if today.year - int(r[4]) < 5]
            women = [r for r in results if r[1] == "Femme" and 15 <= today.year - int(r[4]) < 50]
            results, kind = (
                (children, "growth")
                if children
                else (women, "family_planning")
                if women
                else (results, None)
            )
        patient_id, _, _, _, year = self.rng.choice(results)
        if self._step("open_record", lambda: self.client.get(f"/patients/{patient_id}")) is None:
            return
        if kind is None:
            self.skipped += 1
            return
        form = {
            "csrf": self.csrf,
            "type": kind,
            "care_date": today.isoformat(),
            "weight_kg": f"{weight_for(int(year), today):.1f}",
        }
        if kind == "family_planning":
            form = {
                "csrf": self.csrf,
                "type": kind,
                "care_date": today.isoformat(),
                "method": "pill_coc",
                "user": "continuing",
                "quantity": "3",
            }
        if kind == "consultation":
            form["temperature_c"] = f"{self.rng.uniform(36.4, 39.5):.1f}"
            form["diagnoses-0-code"] = "malaria_suspected"
        self.saved[kind] = self.saved.get(kind, 0) + 1
        saved = self._step(
            "save_encounter",
            lambda: self.client.post(f"/patients/{patient_id}/encounters/new", data=form),
        )
        if saved is not None and saved.status_code != 303:
            self._error(f"save_encounter: {patient_id} → {saved.status_code}, not a redirect")

    def run(self, start: threading.Barrier, seconds: float) -> None:
        start.wait()
        today = datetime.now().date()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.visit(today)
        self.client.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, help="seeded facility (seeded here when empty)")
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--tablets", type=int, default=20)
    ap.add_argument("--duration", type=float, default=60, help="seconds of load")
    ap.add_argument("--workers", type=int, default=2, help="keneya serve --workers")
    ap.add_argument("--list-runs", type=int, default=40, help="reads of each follow-up page")
    args = ap.parse_args()
    home = (args.home or Path(tempfile.mkdtemp(prefix="keneya-bench-web-"))).resolve()
    figures: dict[str, object] = {"seed": ensure_home(home, args.patients)}
    with Store(Paths.resolve(home).database) as store:
        figures["patients"] = store.patients.count()
    logins = {}
    for line in (home / "demo-logins.txt").read_text(encoding="utf-8").splitlines():
        username, role, pin = line.split()
        logins[role] = (username, f"demo-{pin}")

    roles = [
        (role, *logins[role])
        for role in (CLINICAL_ROLES[i % len(CLINICAL_ROLES)] for i in range(args.tablets))
    ]
    # The server works on a copy: the encounters a run saves never slow down the next run.
    work = Path(tempfile.mkdtemp(prefix="keneya-bench-web-run-"))
    with Store(Paths.resolve(home).database) as source:
        target = sqlite3.connect(Paths.resolve(work).database)
        source.conn.backup(target)
        target.close()
    port = free_port()
    stderr_path = home / "bench-server.stderr"
    with stderr_path.open("wb") as stderr:
        server = start_server(work, port, stderr, args.workers)
        try:
            base = f"http://127.0.0.1:{port}"
            figures["memory_after_start_mb"] = memory_mb(server.pid)
            figures["follow_up_pages"] = follow_up_pages(
                base,
                *logins["nurse"],
                largest_village(Paths.resolve(work).database),
                args.list_runs,
            )
            figures["memory_after_follow_up_pages_mb"] = memory_mb(server.pid)
            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.tablets) as pool:
                tablets = list(
                    pool.map(
                        lambda i: Tablet(base, *roles[i], seed=i),
                        range(args.tablets),
                    )
                )
            figures["login_all_tablets_s"] = round(time.perf_counter() - t0, 1)
            # Every tablet opens the home page at once, as after the morning's logins.
            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.tablets) as pool:
                landings = list(pool.map(lambda t: t.landing(), tablets))
            figures["home_page_all_tablets_at_once"] = {
                **summary([ms for ms, _ in landings]),
                "wall_s": round(time.perf_counter() - t0, 1),
                "outcomes": dict(Counter(outcome for _, outcome in landings)),
            }
            start = threading.Barrier(args.tablets + 1)
            threads = [threading.Thread(target=t.run, args=(start, args.duration)) for t in tablets]
            for thread in threads:
                thread.start()
            start.wait()
            t0 = time.perf_counter()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - t0
            figures["memory_after_load_mb"] = memory_mb(server.pid)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
            shutil.rmtree(work, ignore_errors=True)
    log = stderr_path.read_text(encoding="utf-8", errors="replace")

    requests = sum(len(t.times[s]) for t in tablets for s in STEPS)
    errors = [m for t in tablets for m in t.errors]
    figures.update(
        {
            "tablets": args.tablets,
            "workers": args.workers,
            "roles": {r: sum(1 for t in tablets if t.role == r) for r in CLINICAL_ROLES},
            "duration_s": round(elapsed, 1),
            "steps": {s: summary([ms for t in tablets for ms in t.times[s]]) for s in STEPS},
            "encounters_sent": {
                k: sum(t.saved.get(k, 0) for t in tablets)
                for k in ("consultation", "growth", "family_planning")
            },
            "midwife_visits_without_child_or_woman_in_results": sum(t.skipped for t in tablets),
            "requests": requests,
            "requests_per_s": round(requests / elapsed, 1),
            "errors": sum(t.error_count for t in tablets),
            "first_errors": errors[:5],
            "server_database_locked": log.count("database is locked"),
            "server_tracebacks": log.count("Traceback (most recent call last)"),
            "server_stderr": str(stderr_path),
        }
    )
    print(json.dumps(figures, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
