"""The real server (`keneya serve`, uvicorn on loopback) under a flood, slow clients and a
stop: it answers everyone, never hangs, and a logged-in tablet keeps working.

Every device on the hotspot has its own address: the test's clients bind to their own
loopback addresses (127.0.X.Y all reach 127.0.0.1 on Linux), so the per-client limits see a
crowd of devices, not one. No assertion on time: each request has a generous client timeout,
and "answered at all" is the outcome checked."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
import uvicorn

from appliance.paths import Paths
from appliance.sdnotify import Notifier
from appliance.services import auth, patients
from appliance.services.context import Context
from appliance.store import Store
from appliance.web.app import create_app
from appliance.web.clients import MAX_CONNECTIONS_PER_CLIENT, MAX_REQUESTS_PER_CLIENT
from appliance.web.core import WebSettings
from appliance.web.systemd import NotifyingServer
from tests.component.web_session import PASSWORDS, USERNAMES, add_staff_per_role
from tests.conftest import running

pytestmark = pytest.mark.component

KENEYA = str(Path(sys.executable).parent / "keneya")
WAIT_S = 60  # a client's timeout: only ever reached when the server hangs
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
TABLET_ADDRESS = "127.0.0.200"
# What a flood request may get: the page, the login's refusal or redirect, or "not now"
FLOOD_ANSWERS = {200, 303, 401, 429, 503}


def make_home(home: Path) -> str:
    """A small facility: one staff member per role and a few patients; a patient's id."""
    home.mkdir(parents=True, exist_ok=True)
    with Store(home / "keneya.db", create=True) as store:
        store.set_setting("facility_code", "KLB")
        ctx = Context.open(store, boot_id="boot-1")
        add_staff_per_role(ctx)
        nurse = auth.login(ctx, USERNAMES["nurse"], password=PASSWORDS["nurse"])
        first = None
        for i, given in enumerate(("Aminata", "Fatoumata", "Mariam", "Awa", "Moussa")):
            p = patients.register(
                ctx,
                nurse,
                {
                    "family_name": "Traoré",
                    "given_names": given,
                    "sex": "M" if given == "Moussa" else "F",
                    "birth_date": f"19{80 + i}-03-14",
                    "village": "Kalaban",
                },
            )
            first = first or p["id"]
    return first


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(**extra: str) -> dict[str, str]:
    drop = ("KENEYA_HOME", "KENEYA_PIN", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
    keep = {k: v for k, v in os.environ.items() if k not in drop}
    return keep | {"PYTHONUNBUFFERED": "1"} | extra


@contextlib.contextmanager
def serving(home: Path, notify_listener, **env: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """`keneya serve` on a free loopback port, once it said READY=1."""
    port = free_port()
    argv = [KENEYA, "--home", str(home), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with running(argv, server_env(NOTIFY_SOCKET=notify_listener.address, **env)) as proc:
        notify_listener.wait_for("READY=1")
        yield proc, f"http://127.0.0.1:{port}"


def closed_by_server(s: socket.socket) -> bool:
    """The server closed this connection (it reads EOF or a reset, never a timeout)."""
    try:
        return s.recv(4096) == b""
    except ConnectionResetError:
        return True


def client_from(address: str, base: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=base, transport=transport, timeout=WAIT_S)


class Tablet:
    """A logged-in nurse's tablet, from its own address."""

    def __init__(self, base: str, address: str = TABLET_ADDRESS):
        self.client = client_from(address, base)
        page = self.client.get("/")
        assert page.status_code == 200, page.status_code
        reply = self.client.post(
            "/login",
            data={
                "username": USERNAMES["nurse"],
                "password": PASSWORDS["nurse"],
                "csrf": CSRF.search(page.text)[1],
            },
        )
        assert reply.status_code == 303, reply.text
        self.csrf = CSRF.search(self.client.get("/patients").text)[1]

    def day_goes_on(self, patient_id: str) -> None:
        """Search, open the record, save a consultation: each answered as usual."""
        found = self.client.get("/patients", params={"q": "Traoré"})
        assert found.status_code == 200 and f"/patients/{patient_id}" in found.text
        record = self.client.get(f"/patients/{patient_id}")
        assert record.status_code == 200 and "Traoré" in record.text
        saved = self.client.post(
            f"/patients/{patient_id}/encounters/new",
            data={
                "csrf": self.csrf,
                "type": "consultation",
                "care_date": date.today().isoformat(),
                "weight_kg": "58.0",
                "temperature_c": "38.2",
                "diagnoses-0-code": "malaria_suspected",
            },
        )
        assert saved.status_code == 303, saved.text[:500]


async def _flood(base: str, anonymous: int, logins: int, addresses: int) -> list[object]:
    """`anonymous` GET / and `logins` failed logins at once, spread over `addresses`
    devices; each outcome is a status or the name of the client's error (a timeout)."""

    def transport(i: int) -> httpx.AsyncHTTPTransport:
        return httpx.AsyncHTTPTransport(local_address=f"127.0.1.{1 + i % addresses}")

    # Each attacking device first gets the login form (its session's CSRF token), so that
    # its failed logins go as far as checking the password. Every request of the flood has
    # a connection of its own: this process's loop is too busy to reuse an idle one before
    # the server's keep-alive ends it (a browser would retry; httpx reports an error).
    attackers = []
    for i in range(addresses):
        async with httpx.AsyncClient(base_url=base, transport=transport(i)) as c:
            page = await c.get("/", timeout=WAIT_S)
            assert page.status_code == 200, page.status_code
            attackers.append((c.cookies, CSRF.search(page.text)[1]))

    async def get_home(i: int) -> object:
        async with httpx.AsyncClient(base_url=base, transport=transport(i), timeout=WAIT_S) as c:
            try:
                return (await c.get("/")).status_code
            except httpx.HTTPError as e:
                return type(e).__name__

    async def bad_login(i: int) -> object:
        cookies, csrf = attackers[i % addresses]
        form = {"username": USERNAMES["matron"], "password": f"guess-{i}", "csrf": csrf}
        async with httpx.AsyncClient(
            base_url=base, transport=transport(i), timeout=WAIT_S, cookies=cookies
        ) as c:
            try:
                return (await c.post("/login", data=form)).status_code
            except httpx.HTTPError as e:
                return type(e).__name__

    return await asyncio.gather(
        *(get_home(i) for i in range(anonymous)), *(bad_login(i) for i in range(logins))
    )


def test_a_flood_of_anonymous_pages_and_failed_logins_never_hangs_the_server(
    tmp_path, notify_listener
):
    patient_id = make_home(tmp_path / "home")
    with serving(tmp_path / "home", notify_listener, WATCHDOG_USEC="4000000") as (proc, base):
        tablet = Tablet(base)
        static_during_flood = []

        async def flood_and_static() -> list[object]:
            flood = asyncio.create_task(_flood(base, anonymous=220, logins=110, addresses=20))
            while not flood.done():
                async with httpx.AsyncClient(
                    base_url=base,
                    transport=httpx.AsyncHTTPTransport(local_address="127.0.0.201"),
                    timeout=WAIT_S,
                ) as device:
                    reply = await device.get("/static/app.css")
                static_during_flood.append(reply.status_code)
                await asyncio.sleep(0.05)
            return await flood

        outcomes = Counter(asyncio.run(flood_and_static()))
        assert set(outcomes) <= FLOOD_ANSWERS, outcomes  # every one answered: no timeout
        assert sum(outcomes.values()) == 330
        assert outcomes[200] > 0, outcomes  # not merely refused: pages were served
        assert static_during_flood and set(static_during_flood) == {200}, static_during_flood
        tablet.day_goes_on(patient_id)
        # The app still vouches for itself: a ping comes after the flood (the ones sent
        # during it are read first, until none is waiting).
        listener = notify_listener.sock
        listener.settimeout(0.2)
        with contextlib.suppress(TimeoutError):
            while True:
                listener.recv(4096)
        listener.settimeout(WAIT_S)
        while listener.recv(4096) != b"WATCHDOG=1":
            pass
        assert proc.poll() is None
    _, err = proc.communicate(timeout=WAIT_S)
    assert "Traceback" not in err, err[-3000:]


def test_a_supervisor_that_stops_reading_never_freezes_the_server(tmp_path, notify_listener):
    """The watchdog pings go to a listener that reads none of them (systemd stalled): once
    its queue is full, the pings are dropped and the pages still come (a blocking send froze
    the whole event loop, seen as a flood's requests all timing out)."""
    patient_id = make_home(tmp_path / "home")
    # a ping every 50 ms: the queue (a few datagrams) fills within the first second
    with serving(tmp_path / "home", notify_listener, WATCHDOG_USEC="200000") as (proc, base):
        for _ in range(int(WAIT_S / 0.05)):  # bounded: a server that never pings fails here
            if notify_listener.queue_is_full():
                break
            assert proc.poll() is None
            time.sleep(0.05)
        assert notify_listener.queue_is_full()
        tablet = Tablet(base)
        for _ in range(5):  # about 100 pings' worth of time with the queue full
            tablet.day_goes_on(patient_id)
            time.sleep(1)
        assert proc.poll() is None
        notify_listener.drain()
        while notify_listener.sock.recv(4096) != b"WATCHDOG=1":  # still vouching once read
            pass


def test_slow_clients_do_not_stop_a_tablet_being_served(tmp_path, notify_listener):
    patient_id = make_home(tmp_path / "home")
    with serving(tmp_path / "home", notify_listener) as (proc, base):
        port = int(base.rsplit(":", 1)[1])
        held = []
        for i in range(12):
            # half a request, never finished (slowloris)
            s = socket.create_connection(
                ("127.0.0.1", port), source_address=(f"127.0.2.{i + 1}", 0)
            )
            s.sendall(b"GET / HTTP/1.1\r\nHost: keneya\r\nX-Slow: ")
            held.append(s)
        for i in range(12):
            # a whole request whose answer is read never (a tiny receive window)
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
            s.bind((f"127.0.3.{i + 1}", 0))
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /static/htmx.min.js HTTP/1.1\r\nHost: keneya\r\n\r\n")
            held.append(s)
        # a request whose body never comes
        s = socket.create_connection(("127.0.0.1", port), source_address=("127.0.4.1", 0))
        s.sendall(b"POST /login HTTP/1.1\r\nHost: keneya\r\nContent-Length: 500\r\n\r\nab")
        held.append(s)
        try:
            Tablet(base).day_goes_on(patient_id)
            # The half requests are not kept for ever: the server closes them.
            for s in held[:12]:
                s.settimeout(WAIT_S)
                assert closed_by_server(s)
            # the body that never comes is refused (408), not waited for
            held[-1].settimeout(WAIT_S)
            assert held[-1].recv(4096).startswith(b"HTTP/1.1 408 ")
        finally:
            for s in held:
                s.close()


def test_connections_over_the_limit_are_told_429_before_being_closed(tmp_path, notify_listener):
    make_home(tmp_path / "home")
    with serving(tmp_path / "home", notify_listener) as (proc, base):
        port = int(base.rsplit(":", 1)[1])
        held = [
            socket.create_connection(("127.0.0.1", port), source_address=("127.0.5.1", 0))
            for _ in range(MAX_CONNECTIONS_PER_CLIENT)
        ]
        try:
            # 20 more at once, each sending its request straight away: the reply races the
            # request, and must not be lost to a reset
            body = b'{"username": "x", "password": "' + b"y" * 5000 + b'"}'
            requests = [
                b"GET / HTTP/1.1\r\nHost: keneya\r\n\r\n",
                b"POST /api/v1/session HTTP/1.1\r\nHost: keneya\r\nContent-Type: "
                b"application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
            ] * 10
            answers: list[bytes] = []

            def one(request: bytes) -> None:
                answer = b""
                with contextlib.suppress(ConnectionResetError), socket.socket() as c:
                    c.settimeout(WAIT_S)
                    c.bind(("127.0.5.1", 0))
                    c.connect(("127.0.0.1", port))
                    c.sendall(request)
                    while chunk := c.recv(65536):
                        answer += chunk
                answers.append(answer)

            threads = [threading.Thread(target=one, args=(r,)) for r in requests]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            answer = answers[0]
            answers = [a.split(b"\r\n", 1)[0] for a in answers]
            assert answers == [b"HTTP/1.1 429 Too Many Requests"] * 20
            assert b"Retry-After: 2\r\n" in answer
            assert "Trop de connexions depuis cet appareil" in answer.decode()
            # another device is served meanwhile, and this one again once it lets go
            assert client_from("127.0.5.2", base).get("/").status_code == 200
            held.pop().close()
            answers = []
            with client_from("127.0.5.1", base) as again:
                # the server sees the close a moment later: a 429 or two first at most
                while len(answers) < 50 and 200 not in answers:
                    answers.append(again.get("/").status_code)
                    time.sleep(0.05)
            assert answers[-1] == 200 and set(answers) <= {200, 429}
        finally:
            for s in held:
                s.close()


def test_sigterm_stops_the_server_while_clients_hang(tmp_path, notify_listener):
    make_home(tmp_path / "home")
    with serving(tmp_path / "home", notify_listener) as (proc, base):
        port = int(base.rsplit(":", 1)[1])
        held = []
        for i in range(5):
            s = socket.create_connection(
                ("127.0.0.1", port), source_address=(f"127.0.5.{i + 1}", 0)
            )
            s.sendall(b"GET / HTTP/1.1\r\nHost: keneya\r\nX-Slow: ")
            held.append(s)
            s = socket.create_connection(
                ("127.0.0.1", port), source_address=(f"127.0.6.{i + 1}", 0)
            )
            s.sendall(b"POST /login HTTP/1.1\r\nHost: keneya\r\nContent-Length: 500\r\n\r\nab")
            held.append(s)
        with client_from("127.0.0.9", base) as c:  # the server is at work
            assert c.get("/").status_code == 200
        try:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=20)  # generous: the goal is 5 s, not asserted
        finally:
            for s in held:
                s.close()
    assert proc.returncode is not None
    assert "keneya web: stopped" in err, (out, err[-2000:])
    assert "Traceback" not in err, err[-3000:]


@contextlib.contextmanager
def in_process_server(home: Path, notifier: Notifier | None = None):
    """The real server (uvicorn, loopback) in a thread of this process, so that a test can
    reach into its pool; (app, base URL, the server's event loop)."""
    app = create_app(WebSettings(Paths.for_home(home)))
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    with contextlib.ExitStack() as stack:
        notifier = notifier or stack.enter_context(Notifier(environ={}))
        server = NotifyingServer(config, notifier, probe=app.state.database_answers)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            while not server.started:
                assert thread.is_alive(), "the server did not start"
                threading.Event().wait(0.05)
            yield app, f"http://127.0.0.1:{port}", server.servers[0].get_loop()
        finally:
            server.should_exit = True
            thread.join(WAIT_S)
        assert not thread.is_alive()


@contextlib.contextmanager
def every_connection_held(app, loop):
    """Every connection of the server's pool taken (what a wedged app looks like inside)."""
    pool = app.state.pool
    held, release = threading.Event(), asyncio.Event()

    async def hold() -> None:
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(pool.size):
                await stack.enter_async_context(pool.store())
            held.set()
            await release.wait()

    holding = asyncio.run_coroutine_threadsafe(hold(), loop)
    assert held.wait(WAIT_S)
    try:
        yield
    finally:
        loop.call_soon_threadsafe(release.set)
        holding.result(WAIT_S)


def test_the_watchdog_stops_while_no_request_can_reach_the_database(tmp_path, notify_listener):
    """Pings while the pool answers; with every connection held, pages get 503 and the pings
    stop, so systemd would restart the app; once free again, pings resume."""
    make_home(tmp_path / "home")
    env = {"NOTIFY_SOCKET": notify_listener.address, "WATCHDOG_USEC": "1000000"}
    with (
        Notifier(environ=env) as notifier,
        in_process_server(tmp_path / "home", notifier) as (app, base, loop),
        client_from("127.0.0.9", base) as c,
    ):
        notify_listener.wait_for("READY=1")
        listener = notify_listener.sock
        assert listener.recv(4096) == b"WATCHDOG=1"
        with every_connection_held(app, loop):
            busy = c.get("/")
            assert busy.status_code == 503 and busy.headers["retry-after"] == "2"
            assert "Serveur occupé" in busy.text
            api = c.get("/api/v1/patients", params={"q": "Traoré"})
            assert api.status_code == 503 and api.headers["retry-after"] == "2"
            assert api.json()["error"] == "busy"
            assert c.get("/static/app.css").status_code == 200  # no database needed
            # the pings sent before the hold are read; then none comes
            listener.settimeout(5)
            with pytest.raises(TimeoutError):
                while True:
                    listener.recv(4096)
        listener.settimeout(WAIT_S)
        assert listener.recv(4096) == b"WATCHDOG=1"
        assert c.get("/").status_code == 200


def test_one_device_asking_too_much_at_once_gets_429_and_others_are_served(tmp_path):
    make_home(tmp_path / "home")
    with in_process_server(tmp_path / "home") as (app, base, loop):

        async def at_once(n: int) -> list[httpx.Response]:
            transport = httpx.AsyncHTTPTransport(local_address="127.0.7.1")
            async with httpx.AsyncClient(
                base_url=base, transport=transport, timeout=WAIT_S
            ) as phone:
                return await asyncio.gather(*(phone.get("/") for _ in range(n)))

        # The pool held: the phone's requests stay in flight (each waits for a connection,
        # then gets 503), so its 13th and later are over the per-device limit at once.
        with every_connection_held(app, loop):
            replies = asyncio.run(at_once(MAX_REQUESTS_PER_CLIENT + 8))
        statuses = Counter(r.status_code for r in replies)
        assert statuses[429] >= 8 and set(statuses) <= {429, 503}, statuses
        refused = next(r for r in replies if r.status_code == 429)
        assert refused.headers["retry-after"] == "2" and "Trop de demandes" in refused.text
        with client_from("127.0.0.9", base) as tablet:  # another device: served as usual
            assert tablet.get("/").status_code == 200
        # and the phone itself, once its burst is over
        assert Counter(r.status_code for r in asyncio.run(at_once(3))) == {200: 3}


def test_pages_and_json_go_compressed_static_files_as_they_are(tmp_path, notify_listener):
    patient_id = make_home(tmp_path / "home")
    with serving(tmp_path / "home", notify_listener) as (proc, base):
        tablet = Tablet(base)
        c = tablet.client
        c.headers["Accept-Encoding"] = "gzip"
        record = c.get(f"/patients/{patient_id}")
        assert record.headers["content-encoding"] == "gzip" and "Traoré" in record.text
        assert record.num_bytes_downloaded < len(record.content) / 2
        api = c.get("/api/v1/openapi.json")
        assert api.headers["content-encoding"] == "gzip" and api.json()["info"]["title"]
        tiny = c.get("/favicon.ico")
        assert tiny.status_code == 204 and "content-encoding" not in tiny.headers
        css = c.get("/static/app.css", headers={"Accept-Encoding": "gzip"})
        assert css.status_code == 200 and "body" in css.text  # readable: compressed once
        c.headers["Accept-Encoding"] = "identity"
        plain = c.get(f"/patients/{patient_id}")
        assert "content-encoding" not in plain.headers and "Traoré" in plain.text
