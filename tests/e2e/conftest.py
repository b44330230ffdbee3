"""Browser tests against the real web app: a small seeded facility served by `keneya serve`
in a subprocess, driven by Playwright with the system Chromium (never a downloaded one)."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from appliance.paths import Paths
from kiosk_ui import offscreen

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
TABLET = {"width": 1280, "height": 800}

START_TIMEOUT_S = 30


@dataclass
class Server:
    base_url: str
    logins: dict[str, tuple[str, str]]  # role → (username, password)
    home: Path
    database: Path
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def log_in(self, page, role: str) -> None:
        """Log in through the login form as the seeded staff member of `role`, and wait until
        the app's header names them."""
        from playwright.sync_api import expect

        username, password = self.logins[role]
        page.goto("/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.get_by_role("button", name="Se connecter").click()
        expect(page.locator("input[name=password]")).to_have_count(0)
        expect(page.locator("header .me")).to_be_visible()

    def db(self) -> sqlite3.Connection:
        """A read-only look at the facility's database, to pick seeded patients."""
        conn = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        return conn


def seed_with_logins(
    home: Path, database: Path, *, patients: int, years: int
) -> dict[str, tuple[str, str]]:
    """Seed a facility (seed 7) into `database`; its demo logins, role -> (username, PIN)."""
    return offscreen.seed_demo(home, patients=patients, years=years, database=database)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("keneya-home")
    database = Paths.resolve(home).database
    pins = seed_with_logins(home, database, patients=300, years=3)
    logins = {role: (username, f"demo-{pin}") for role, (username, pin) in pins.items()}

    keneya = Path(sys.executable).parent / "keneya"
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = home / "server.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("KENEYA_HOME", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(keneya), "--home", str(home), "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    srv = Server(base_url, logins, home, database, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(base_url + "/"):
            if proc.poll() is not None:
                pytest.fail(
                    f"keneya serve exited with {proc.returncode} before answering:\n"
                    + srv.log_text()
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"keneya serve did not answer {base_url}/ within {START_TIMEOUT_S} s:\n"
                    + srv.log_text()
                )
            time.sleep(0.2)
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install the system browser with `apt-get install chromium` "
            "(scripts/setup.sh does it). Never run `playwright install`."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield b
        finally:
            b.close()


@dataclass
class Problems:
    """Console errors and uncaught page errors (a CSP violation is a console error).

    A form refused on purpose answers 409 or 422, which Chromium logs as a failed resource:
    `allow` names such an expected answer (status and path), and only that one is let pass."""

    messages: list[str] = field(default_factory=list)
    allowed: list[tuple[int, str]] = field(default_factory=list)

    def allow(self, status: int, path: str) -> None:
        self.allowed.append((status, path))

    def _expected(self, text: str, url: str) -> bool:
        return any(
            f"status of {status} " in text and urlsplit(url).path == path
            for status, path in self.allowed
        )

    def _console(self, message) -> None:
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        if not self._expected(message.text, url):
            self.messages.append(f"console: {message.text} (at {url})")

    def watch(self, page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.messages.append(f"pageerror: {e} (at {page.url})"))


@pytest.fixture
def problems() -> Problems:
    return Problems()


@pytest.fixture
def new_page(browser, server: Server, problems: Problems):
    """A factory of pages, each in its own context (own cookies), tablet-sized by default."""
    contexts = []

    def make(viewport: dict[str, int] | None = None):
        ctx = browser.new_context(
            viewport=viewport or TABLET, base_url=server.base_url, locale="fr-FR"
        )
        ctx.set_default_timeout(10_000)
        contexts.append(ctx)
        page = ctx.new_page()
        problems.watch(page)
        return page

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


# --------------------------------------------------------------------------- the kiosk window
# Kivy's Window is a process-wide singleton that needs its environment before `import kivy`:
# a kiosk test file is also a script, run in a process of its own, that prints one JSON line
# of what it saw. `run_kiosk_script` is the test's side; the rest runs in that process, where
# this file is imported as `conftest` (the script's folder comes first on sys.path).
KIOSK_SCRIPT_TIMEOUT_S = 300


@pytest.fixture
def run_kiosk_script(tmp_path: Path) -> Callable[..., dict]:
    """Run `script HOME OUT *args` in an offscreen window (a fresh home and Kivy home under
    tmp_path) and return the JSON it printed; a failure shows the end of its stderr. OUT is
    made if missing; `clear` first deletes the screenshots an earlier run left in it."""

    def run(script: str, out: Path, *args: str, clear: bool = False) -> dict:
        out.mkdir(parents=True, exist_ok=True)
        if clear:
            for old in out.glob("*.png"):
                old.unlink()
        env = {**os.environ, "SDL_VIDEODRIVER": "offscreen", "KIVY_HOME": str(tmp_path / "kivy")}
        env.pop("KENEYA_HOME", None)
        proc = subprocess.run(
            [sys.executable, script, str(tmp_path / "home"), str(out), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=KIOSK_SCRIPT_TIMEOUT_S,
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    return run


def kiosk_script_main(scenario: Callable[..., dict]) -> None:
    """The script's side: `scenario(home, out, *rest of argv)`, its result as one JSON line on
    the real stdout, or the traceback on the real stderr and exit status 1."""
    home, out = Path(sys.argv[1]), Path(sys.argv[2])
    os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="kiosk-kivy-"))
    try:
        result = scenario(home, out, *sys.argv[3:])
    except BaseException:
        traceback.print_exc(file=sys.__stderr__)  # Kivy has taken over sys.stderr
        sys.exit(1)
    print(json.dumps(result, ensure_ascii=False, default=str), file=sys.__stdout__)


def kiosk_window(w: int, h: int):
    """Kivy's EventLoop and its offscreen Window at w x h, made now (kiosk_ui.offscreen: the
    size must be in Kivy's config before the window is made)."""
    return offscreen.open_window(w, h)
