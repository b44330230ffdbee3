"""Web app under load: 20 tablets at once against the real server (uvicorn on loopback), each
searching by name, opening a record and saving a consultation, over and over. Prints JSON;
never passes or fails on time.

    .venv/bin/python benchmarks/web.py [--home DIR] [--patients 100000] [--tablets 20]
                                       [--duration 60] [--workers 2]
                                       [--flood [--flood-seconds 20] [--after-seconds 20]
                                        [--flood-connections 500] [--flood-logins 200]
                                        [--flood-addresses 25]]

--flood: the loop runs --duration s alone, then while a flood runs (from another process:
500 anonymous connections asking GET / again and again, 200 clients failing logins again and
again, spread over 25 device addresses), then alone again; the tablets' p50/p95 and errors
before, during and after, the p95 of each second after the flood, and hangs (no answer
within 30 s). Then the home, search and record pages' bytes as sent (first and repeat
visit), and the seconds SIGTERM takes to stop the server while a dozen clients hang.

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
import multiprocessing
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
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
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

    def __init__(
        self,
        base: str,
        role: str,
        username: str,
        password: str,
        seed: int,
        timeout: float = 60,
    ):
        self.role = role
        self.saved: dict[str, int] = {}
        self.skipped = 0
        # Each tablet from its own address, as on the hotspot (the server limits requests
        # per client address): 127.0.10.x all reach 127.0.0.1 on Linux.
        self.client = httpx.Client(
            base_url=base,
            timeout=timeout,
            follow_redirects=False,
            transport=httpx.HTTPTransport(local_address=f"127.0.10.{1 + seed % 250}"),
        )
        self.rng = random.Random(seed)
        self.times: dict[str, list[float]] = {s: [] for s in STEPS}
        # (start on the monotonic clock, step, ms, answered as expected, hung)
        self.timeline: list[tuple[float, str, float, bool, bool]] = []
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
        started = time.monotonic()
        try:
            reply = send()
        except Exception as e:  # a dropped connection or a timeout is an error, not a crash
            ms = (time.perf_counter() - t0) * 1000
            self.times[step].append(ms)
            self.timeline.append((started, step, ms, False, isinstance(e, httpx.TimeoutException)))
            self._error(f"{step}: {type(e).__name__}: {e}")
            return None
        ms = (time.perf_counter() - t0) * 1000
        self.times[step].append(ms)
        self.timeline.append((started, step, ms, 200 <= reply.status_code < 400, False))
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


# -- the flood (--flood) -------------------------------------------------------------------

GOAL_MS = 150
HANG_S = 30  # a request not answered within this is counted as a hang


def run_flood(
    base: str, seconds: float, connections: int, logins: int, addresses: int, username: str
) -> dict[str, object]:
    """In its own process (its own GIL, like a phone's own CPU would be): `connections`
    anonymous connections each asking GET / again and again, and `logins` clients each
    failing logins to `username` again and again, for `seconds`, from `addresses` devices."""
    import asyncio

    async def flood() -> dict[str, object]:
        outcomes: Counter[str] = Counter()
        until = time.monotonic() + seconds

        def client(i: int) -> httpx.AsyncClient:
            address = f"127.0.20.{1 + i % addresses}"
            return httpx.AsyncClient(
                base_url=base,
                timeout=HANG_S,
                transport=httpx.AsyncHTTPTransport(local_address=address),
            )

        async def ask(c: httpx.AsyncClient, kind: str, send) -> httpx.Response | None:
            try:
                reply = await send(c)
            except httpx.TimeoutException:
                outcomes[f"{kind} hang"] += 1
            except httpx.HTTPError as e:
                outcomes[f"{kind} {type(e).__name__}"] += 1
                await asyncio.sleep(0.1)  # a refused connection: try again a little later
            else:
                outcomes[f"{kind} {reply.status_code}"] += 1
                return reply
            return None

        async def anonymous(i: int) -> None:
            async with client(i) as c:
                while time.monotonic() < until:
                    await ask(c, "GET /", lambda c: c.get("/"))

        async def failed_logins(i: int) -> None:
            async with client(connections + i) as c:
                csrf = None
                while time.monotonic() < until:
                    if csrf is None:
                        page = await ask(c, "GET / (login form)", lambda c: c.get("/"))
                        found = CSRF.search(page.text) if page is not None else None
                        csrf = found[1] if found else None
                        continue
                    form = {"username": username, "password": f"wrong-{i}", "csrf": csrf}
                    await ask(c, "POST /login", lambda c, form=form: c.post("/login", data=form))

        t0 = time.monotonic()
        await asyncio.gather(
            *(anonymous(i) for i in range(connections)),
            *(failed_logins(i) for i in range(logins)),
        )
        return {
            "seconds": round(time.monotonic() - t0, 1),
            "connections": connections,
            "login_clients": logins,
            "addresses": addresses,
            "outcomes": dict(sorted(outcomes.items())),
            "hangs": sum(n for k, n in outcomes.items() if k.endswith(" hang")),
        }

    return asyncio.run(flood())


def flood_figures(tablets: list[Tablet], start: float, end: float, stop: float) -> dict:
    """The tablets' steps before, during and after the flood (by the time each started)."""
    steps = sorted(x for t in tablets for x in t.timeline)
    before = [x for x in steps if x[0] < start]
    during = [x for x in steps if start <= x[0] < end]
    after = [x for x in steps if x[0] >= end]
    buckets = []
    for k in range(int(stop - end)):
        ms = [x[2] for x in after if end + k <= x[0] < end + k + 1]
        buckets.append(round(percentile(ms, 95), 1) if ms else None)
    baseline = percentile([x[2] for x in before], 95) if before else None

    def back_within(limit: float | None) -> int | None:
        if limit is None:
            return None
        for k, p95 in enumerate(buckets):
            if p95 is not None and p95 <= limit:
                return k + 1
        return None

    def part(xs) -> dict[str, object]:
        return {
            "steps": {s: summary([x[2] for x in xs if x[1] == s]) for s in STEPS},
            "all_steps": summary([x[2] for x in xs]),
            "errors": sum(1 for x in xs if not x[3]),
            "hangs": sum(1 for x in xs if x[4]),
        }

    return {
        "before_flood": part(before),
        "during_flood": part(during),
        "after_flood": part(after),
        "p95_per_second_after_flood_ms": buckets[:20],
        "seconds_until_p95_within_150_ms": back_within(GOAL_MS),
        "seconds_until_p95_within_baseline": back_within(baseline),
        "tablet_hangs": sum(1 for x in steps if x[4]),
    }


def page_bytes(base: str, username: str, password: str) -> dict[str, object]:
    """Body bytes as sent (compressed) of the home, search and record pages: first visit
    (the page and each static file it links, with an empty cache) and repeat visit (the
    page alone when the files' cache lifetime keeps them)."""
    tablet = Tablet(base, "nurse", username, password, seed=98)
    c = tablet.client
    c.headers["Accept-Encoding"] = "gzip, deflate, br"
    found = c.get("/patients", params={"q": "Traoré Aminata"})
    record = RESULT.search(found.text)
    pages = {
        "home": "/",
        "search": "/patients?q=Traor%C3%A9+Aminata",
        "record": f"/patients/{record[1]}" if record else "/patients",
    }
    out: dict[str, object] = {}
    for name, path in pages.items():
        reply = c.get(path)
        page = {
            "status": reply.status_code,
            "sent": reply.num_bytes_downloaded,
            "uncompressed": len(reply.content),
            "encoding": reply.headers.get("content-encoding", "identity"),
        }
        files, first, repeat = {}, page["sent"], page["sent"]
        for url in dict.fromkeys(re.findall(r'(?:href|src)="(/static/[^"]+)"', reply.text)):
            f = c.get(url)
            cache = f.headers.get("cache-control", "")
            files[url] = {
                "sent": f.num_bytes_downloaded,
                "encoding": f.headers.get("content-encoding", "identity"),
                "cache_control": cache,
            }
            first += f.num_bytes_downloaded
            if "max-age" not in cache or "max-age=0" in cache:
                repeat += f.num_bytes_downloaded
        out[name] = {**page, "static_files": files, "first_visit": first, "repeat_visit": repeat}
    c.close()
    return out


def stop_seconds(server: subprocess.Popen, port: int) -> dict[str, object]:
    """SIGTERM while clients hang (half a request, a body that never comes): seconds to exit."""
    held = []
    for i in range(10):
        s = socket.create_connection(("127.0.0.1", port), source_address=(f"127.0.30.{i + 1}", 0))
        s.sendall(b"GET / HTTP/1.1\r\nHost: keneya\r\nX-Slow: ")
        held.append(s)
    for i in range(2):
        s = socket.create_connection(("127.0.0.1", port), source_address=(f"127.0.31.{i + 1}", 0))
        s.sendall(b"POST /login HTTP/1.1\r\nHost: keneya\r\nContent-Length: 500\r\n\r\nab")
        held.append(s)
    time.sleep(0.5)
    t0 = time.perf_counter()
    server.terminate()
    try:
        server.wait(timeout=60)
        exited = True
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        exited = False
    seconds = round(time.perf_counter() - t0, 2)
    for s in held:
        s.close()
    return {"exited_by_itself": exited, "seconds": seconds, "hung_clients": len(held)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, help="seeded facility (seeded here when empty)")
    ap.add_argument("--patients", type=int, default=100_000)
    ap.add_argument("--tablets", type=int, default=20)
    ap.add_argument("--duration", type=float, default=60, help="seconds of load")
    ap.add_argument("--workers", type=int, default=2, help="keneya serve --workers")
    ap.add_argument("--list-runs", type=int, default=40, help="reads of each follow-up page")
    ap.add_argument(
        "--flood",
        action="store_true",
        help="after --duration s of the loop, a flood for --flood-seconds, then the loop alone"
        " for --after-seconds; and the pages' bytes, and the seconds SIGTERM takes",
    )
    ap.add_argument("--flood-seconds", type=float, default=20)
    ap.add_argument("--after-seconds", type=float, default=20)
    ap.add_argument("--flood-connections", type=int, default=500)
    ap.add_argument("--flood-logins", type=int, default=200)
    ap.add_argument("--flood-addresses", type=int, default=25, help="devices the flood uses")
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
            seconds = args.duration
            if args.flood:
                seconds += args.flood_seconds + args.after_seconds
                for t in tablets:
                    t.client.timeout = httpx.Timeout(HANG_S)
                # its own process, started now: the interpreter is up when the flood begins
                flooder = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
                flooder.submit(time.sleep, 0).result()
            start = threading.Barrier(args.tablets + 1)
            threads = [threading.Thread(target=t.run, args=(start, seconds)) for t in tablets]
            for thread in threads:
                thread.start()
            start.wait()
            t0 = time.perf_counter()
            if args.flood:
                time.sleep(args.duration)
                figures["memory_before_flood_mb"] = memory_mb(server.pid)
                flood_start = time.monotonic()
                flood = flooder.submit(
                    run_flood,
                    base,
                    args.flood_seconds,
                    args.flood_connections,
                    args.flood_logins,
                    args.flood_addresses,
                    logins["doctor"][0],  # a real account: the throttle's work is real
                )
                figures["flood"] = flood.result()
                figures["memory_after_flood_mb"] = memory_mb(server.pid)
                flood_end = time.monotonic()
                flooder.shutdown()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - t0
            if args.flood:
                figures["tablets_and_flood"] = flood_figures(
                    tablets, flood_start, flood_end, time.monotonic()
                )
                figures["page_bytes"] = page_bytes(base, *logins["nurse"])
            figures["memory_after_load_mb"] = memory_mb(server.pid)
        finally:
            figures["sigterm_to_exit"] = stop_seconds(server, port)
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
