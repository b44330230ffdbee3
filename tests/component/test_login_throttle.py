"""Login throttling through the real app over HTTP and through the service: an attacker's
device is slowed down (429, Retry-After growing, no hash computed) while the real user on
another device gets in; unknown names are answered exactly as real ones; the counters survive
a restart; an admin sees who is attacked and clears it; the kiosk's PINs are throttled per
device too. Time passes on the fake clock only."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
from argon2 import PasswordHasher

from appliance.clock import Clock
from appliance.services import auth, login_throttle
from appliance.services.context import Context
from appliance.services.errors import LoginFailed, LoginThrottled
from appliance.services.status import status
from appliance.store import Store
from tests.component.web_session import (
    PASSWORDS,
    USERNAMES,
    add_staff_per_role,
    csrf_of,
    web_app,
)
from tests.conftest import keneya

pytestmark = pytest.mark.component

ATTACKER = "10.42.0.66"
REAL_USER = "10.42.0.7"
ADMIN_TABLET = "10.42.0.2"
THROTTLED_FR = "Trop d&#39;essais depuis cet appareil : réessayez dans"


class Counter:
    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()


class CountingHasher(PasswordHasher):
    """One of the service's hashers, counting the argon2 work done (hashes and verifications)
    in a counter shared by the PIN's and the password's."""

    def __init__(self, base: PasswordHasher, counter: Counter) -> None:
        super().__init__(
            time_cost=base.time_cost,
            memory_cost=base.memory_cost,
            parallelism=base.parallelism,
        )
        self.counter = counter

    def _count(self) -> None:
        with self.counter.lock:
            self.counter.calls += 1

    def hash(self, password, *, salt=None):  # type: ignore[override]
        self._count()
        return super().hash(password, salt=salt)

    def verify(self, hash, password):  # type: ignore[override]
        self._count()
        return super().verify(hash, password)


@pytest.fixture
def hasher(monkeypatch) -> Counter:
    counter = Counter()
    monkeypatch.setattr(auth, "PIN_HASHER", CountingHasher(auth.PIN_HASHER, counter))
    monkeypatch.setattr(auth, "PASSWORD_HASHER", CountingHasher(auth.PASSWORD_HASHER, counter))
    return counter


@pytest.fixture
def staff(ctx):
    add_staff_per_role(ctx)


@pytest.fixture
def app(tmp_path, store, fake_time, staff):
    return web_app(tmp_path, fake_time)


def device(app, address: str):
    """A tablet on the hotspot at `address` (the TestClient sets the ASGI client address)."""
    from fastapi.testclient import TestClient

    return TestClient(
        app, client=(address, 50000), raise_server_exceptions=False, follow_redirects=False
    )


def give_device_cookie(client, token: str) -> None:
    """The cookie as the server sets it (same domain and path), so the server's renewal
    replaces it rather than sitting beside it."""
    client.cookies.set("keneya_device", token, domain="testserver.local", path="/")


def form_login(client, username: str, password: str):
    token = csrf_of(client.get("/").text)
    return client.post("/login", data={"username": username, "password": password, "csrf": token})


def api_login(client, username: str, password: str):
    return client.post("/api/v1/session", json={"username": username, "password": password})


# -- the attacker waits, the real user does not -----------------------------------------------
def test_attacker_gets_429s_with_growing_waits_and_no_hash_work_while_the_real_user_gets_in(
    app, fake_time, hasher
):
    with device(app, ATTACKER) as attacker, device(app, REAL_USER) as real_user:
        token = csrf_of(attacker.get("/").text)
        answers = []
        for _ in range(25):
            r = attacker.post(
                "/login",
                data={"username": USERNAMES["midwife"], "password": "guess-1234", "csrf": token},
            )
            answers.append((r.status_code, r.headers.get("Retry-After")))
        assert answers[:3] == [(401, None)] * 3  # the free failures
        assert answers[3:] == [(429, "2")] * 22  # then refused at once, all alike
        assert hasher.calls == 3  # the 22 refusals computed no hash
        refused = attacker.post(
            "/login",
            data={"username": USERNAMES["midwife"], "password": "guess-1234", "csrf": token},
        )
        assert THROTTLED_FR in refused.text and "2 s." in refused.text

        # The real matron, on her own tablet, meanwhile: in at once with the right password.
        r = form_login(real_user, USERNAMES["midwife"], PASSWORDS["midwife"])
        assert r.status_code == 303

        # Each checked failure doubles the attacker's wait.
        waits = []
        for _ in range(8):
            fake_time.advance(int(answers[-1][1]))
            r = attacker.post(
                "/login",
                data={"username": USERNAMES["midwife"], "password": "guess-1234", "csrf": token},
            )
            assert r.status_code == 401  # the wait was served: this one was checked
            r = attacker.post(
                "/login",
                data={"username": USERNAMES["midwife"], "password": "guess-1234", "csrf": token},
            )
            assert r.status_code == 429
            answers.append((429, r.headers["Retry-After"]))
            waits.append(int(r.headers["Retry-After"]))
        assert waits == [4, 8, 16, 32, 64, 128, 256, 512]
        # one hash per checked attempt (the attacker's 11, the real user's 1), none per refusal
        assert hasher.calls == 3 + 1 + 8

    # After 11 failures the account itself slows down a little, for everyone: seconds at most.
    with device(app, "10.42.0.8") as real_user_again:
        r = form_login(real_user_again, USERNAMES["midwife"], PASSWORDS["midwife"])
        assert r.status_code == 429 and r.headers["Retry-After"] == "2"
        fake_time.advance(2)
        r = form_login(real_user_again, USERNAMES["midwife"], PASSWORDS["midwife"])
        assert r.status_code == 303
    # however long the attack, the account's own wait stays at most 15 s
    assert login_throttle.RULES["account"].wait_s(10_000) == 15


def test_the_api_is_throttled_like_the_form_and_takes_no_pin(app, hasher):
    with device(app, ATTACKER) as attacker, device(app, REAL_USER) as real_user:
        answers = [api_login(attacker, "nurse", f"guess-{n:04d}") for n in range(20)]
        assert [r.status_code for r in answers] == [401] * 3 + [429] * 17
        assert answers[0].json() == {"error": "Nom d'utilisateur ou mot de passe incorrect."}
        r = api_login(attacker, "nurse", "guess-x")
        assert r.headers["Retry-After"] == "2" and r.json()["retry_after_s"] == 2
        assert r.json()["error"] == "Trop d'essais depuis cet appareil : réessayez dans 2 s."
        assert hasher.calls == 3
        # no PIN over the network: a body without a password is refused before any check
        r = real_user.post("/api/v1/session", json={"username": "nurse", "pin": "520731"})
        assert r.status_code == 422 and hasher.calls == 3
        assert api_login(real_user, "nurse", PASSWORDS["nurse"]).status_code == 200


def test_distributed_guesses_slow_the_account_by_seconds_only(app, fake_time):
    addresses = [f"10.42.0.{n}" for n in range(100, 140)]
    for address in addresses:
        with device(app, address) as guesser:
            r = api_login(guesser, "nurse", "guess-1234")
            if r.status_code == 429:
                assert int(r.headers["Retry-After"]) <= 15
                fake_time.advance(int(r.headers["Retry-After"]))
                r = api_login(guesser, "nurse", "guess-1234")
            assert r.status_code == 401
    with device(app, REAL_USER) as real_user:
        r = api_login(real_user, "nurse", PASSWORDS["nurse"])
        assert r.status_code == 429  # 40 failures from 40 addresses: the account waits …
        wait = int(r.headers["Retry-After"])
        assert 0 < wait <= 15  # … seconds, never an hour
        fake_time.advance(wait)
        assert api_login(real_user, "nurse", PASSWORDS["nurse"]).status_code == 200


def test_an_attacker_rotating_addresses_never_keeps_the_real_user_out(app, ctx, fake_time):
    """One wrong password every 0.25 s, each from an address never seen before, takes every
    slot the account counter frees. The midwife's own tablet (a device cookie from an earlier
    login) and the kiosk get in at every try; a tablet she never used waits, and is told that
    the name, not the device, is held. A copied cookie is held after 5 wrong attempts, and is
    worth nothing once she logs in again (each login renews it)."""
    midwife = USERNAMES["midwife"]
    with device(app, REAL_USER) as her_tablet:
        assert form_login(her_tablet, midwife, PASSWORDS["midwife"]).status_code == 303
        first = her_tablet.cookies.get("keneya_device", "")
        assert len(first) >= 40
        her_tablet.post("/logout", data={"csrf": csrf_of(her_tablet.get("/").text)})
        stolen = her_tablet.cookies["keneya_device"]

    answers: dict[str, list[int]] = {"attacker": [], "her_tablet": [], "new_tablet": []}
    with device(app, REAL_USER) as her_tablet, device(app, "10.42.0.9") as new_tablet:
        give_device_cookie(her_tablet, stolen)
        for n in range(240):  # 60 s of attack
            with device(app, f"10.42.{1 + n // 200}.{n % 200 + 10}") as attacker:
                answers["attacker"].append(api_login(attacker, midwife, "guess-1234").status_code)
            if n % 16 == 15:  # every 4 s the real user tries once from each tablet
                r = api_login(her_tablet, midwife, PASSWORDS["midwife"])
                answers["her_tablet"].append(r.status_code)
                r = api_login(new_tablet, midwife, PASSWORDS["midwife"])
                answers["new_tablet"].append(r.status_code)
                if r.status_code == 429:
                    refusal = r.json()["error"]
                at_kiosk = auth.login(ctx, midwife, password=PASSWORDS["midwife"], client="kiosk")
                assert at_kiosk.username == midwife
            fake_time.advance(0.25)
    assert answers["attacker"].count(401) >= 10 and answers["attacker"].count(429) > 150
    assert answers["her_tablet"] == [200] * 15  # never held, whatever the attacker does
    assert answers["new_tablet"].count(429) >= 13  # the attacker took the slots first
    assert "sur ce nom depuis d'autres appareils" in refusal and "cet appareil" not in refusal

    # The cookie copied now and used from fresh addresses: 5 wrong attempts, then held as a
    # stranger; on her tablet the refusal no longer promises she gets in there.
    current = her_tablet.cookies["keneya_device"]
    assert current != stolen  # renewed at each login: the old copy is worth nothing
    statuses = {"old copy": [], "new copy": []}
    for n in range(8):
        for name, token in (("old copy", stolen), ("new copy", current)):
            with device(app, f"10.42.9.{n + 10}") as thief:
                give_device_cookie(thief, token)
                statuses[name].append(api_login(thief, midwife, "guess-1234").status_code)
    assert statuses["old copy"] == [429] * 8
    assert statuses["new copy"][:5] == [401] * 5 and set(statuses["new copy"][5:]) == {429}
    with device(app, REAL_USER) as her_tablet_again:
        give_device_cookie(her_tablet_again, current)
        r = api_login(her_tablet_again, midwife, PASSWORDS["midwife"])
        assert r.status_code == 429 and "dont plusieurs depuis cet appareil" in r.json()["error"]


# -- no answer tells who exists ----------------------------------------------------------------
def _answers(app, address: str, username: str) -> list[tuple[int, bytes, dict[str, str]]]:
    out = []
    with device(app, address) as client:
        for _ in range(6):
            r = api_login(client, username, "not-the-password")
            headers = {k: v for k, v in r.headers.items() if k.lower() != "set-cookie"}
            out.append((r.status_code, r.content, headers))
    return out


def test_unknown_inactive_and_real_accounts_get_byte_identical_answers(app, ctx):
    doctor = ctx.store.staff.by_username(USERNAMES["doctor"])
    ctx.store.staff.set_active(doctor["id"], False)
    real = _answers(app, "10.42.0.31", USERNAMES["midwife"])
    unknown = _answers(app, "10.42.0.32", "mat.dembele")
    inactive = _answers(app, "10.42.0.33", USERNAMES["doctor"])
    assert real == unknown == inactive
    assert [status for status, _, _ in real] == [401, 401, 401, 429, 429, 429]
    assert b"midwife" not in b"".join(body for _, body, _ in real)


def test_the_form_answers_unknown_and_real_names_alike(app):
    def page(address: str, username: str) -> list[tuple[int, str]]:
        with device(app, address) as client:
            out = []
            for _ in range(5):
                r = form_login(client, username, "not-the-password")
                text = re.sub(r'name="csrf" value="[^"]+"', "CSRF", r.text)
                out.append((r.status_code, text.replace(username, "NAME")))
            return out

    assert page("10.42.0.41", USERNAMES["midwife"]) == page("10.42.0.42", "mat.dembele")


# -- kept across a restart; cleared by an admin ------------------------------------------------
def test_throttling_survives_a_restart(tmp_path, store, fake_time, staff):
    first = web_app(tmp_path, fake_time)
    with device(first, ATTACKER) as attacker:
        for _ in range(4):
            r = api_login(attacker, "nurse", "guess-1234")
        assert r.status_code == 429
    again = web_app(tmp_path, fake_time)  # a new app on the same database, as after a restart
    with device(again, ATTACKER) as attacker, device(again, REAL_USER) as real_user:
        r = api_login(attacker, "nurse", "guess-1234")
        assert r.status_code == 429 and r.headers["Retry-After"] == "2"
        assert api_login(real_user, "nurse", PASSWORDS["nurse"]).status_code == 200


def test_admin_sees_who_is_attacked_and_clears_it(app, fake_time):
    with device(app, ATTACKER) as attacker:
        for username in ("nurse", "nurse", "nurse", "mat.dembele"):
            api_login(attacker, username, "guess-1234")
        assert api_login(attacker, "nurse", "guess-1234").status_code == 429
    with device(app, ADMIN_TABLET) as admin, device(app, REAL_USER) as nurse:
        assert api_login(nurse, "nurse", PASSWORDS["nurse"]).status_code == 200
        assert nurse.get("/api/v1/login-failures").status_code == 403
        r = api_login(admin, "admin", PASSWORDS["admin"])
        csrf = r.json()["csrf_token"]
        found = admin.get("/api/v1/login-failures").json()
        accounts = {e["account"]: e for e in found["accounts"]}
        assert accounts["nurse"]["failures"] == 3 and accounts["nurse"]["known_account"] is True
        assert accounts["mat.dembele"]["known_account"] is False
        clients = {e["client"]: e for e in found["clients"]}
        assert clients[ATTACKER]["failures"] == 4
        pair = next(e for e in found["pairs"] if e["account"] == "nurse")
        assert pair["client"] == ATTACKER and pair["retry_after_s"] == 2
        assert pair["throttled_until"] == "2026-10-15T09:30:02.000000Z"
        assert pair["last_attempt"] == "2026-10-15T09:30:00.000000Z"

        r = admin.delete("/api/v1/login-failures", params={"account": "nurse"})
        assert r.status_code == 403  # a write: the CSRF token is needed
        r = admin.delete(
            "/api/v1/login-failures", params={"account": "nurse"}, headers={"X-CSRF-Token": csrf}
        )
        assert r.status_code == 200 and r.json()["cleared"] >= 2
        found = admin.get("/api/v1/login-failures").json()
        assert not [e for e in found["pairs"] + found["accounts"] if e["account"] == "nurse"]
    with device(app, ATTACKER) as attacker:
        assert api_login(attacker, "nurse", "guess-1234").status_code == 401  # checked again


def test_admin_status_carries_the_login_failures(app, ctx):
    with device(app, ATTACKER) as attacker:
        api_login(attacker, "nurse", "guess-1234")
    admin = auth.login(ctx, "admin", password=PASSWORDS["admin"], client="test")
    s = status(ctx, admin, data_dir=ctx.store.path.parent)
    assert s["login_failures"]["clients"][0]["client"] == ATTACKER
    nurse = auth.login(ctx, "nurse", password=PASSWORDS["nurse"], client="test")
    assert "login_failures" not in status(ctx, nurse, data_dir=ctx.store.path.parent)


def test_cli_lists_failures_and_unlocks(tmp_path, store, actors, pins):
    # The command runs on the real clock: these failures are made on it too, a minute ahead,
    # so that the pair's 2 s wait after the third is still running when the second command
    # reads it, however slowly the commands start (two of them took over 2 s here).
    real_ctx = Context(
        store, Clock(store, machine_time=lambda: time.time() + 60, boot_id="boot-cli")
    )
    for _ in range(3):
        with pytest.raises(LoginFailed):
            auth.login(real_ctx, "nurse", pin="000000", client=ATTACKER)
    r = keneya(tmp_path, "staff", "failures", "--json", "--as", "admin", pin=pins["admin"])
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout)
    assert [e["failures"] for e in found["pairs"] if e["client"] == ATTACKER] == [3]
    r = keneya(tmp_path, "staff", "failures", "--as", "admin", pin=pins["admin"])
    assert r.returncode == 0 and ATTACKER in r.stdout and "throttled until" in r.stdout
    r = keneya(
        tmp_path, "staff", "unlock", "--client", ATTACKER, "--as", "admin", pin=pins["admin"]
    )
    assert r.returncode == 0, r.stderr
    assert {row["scope"] for row in real_ctx.store.staff.throttle.since(0)} == {"account"}
    assert auth.login(real_ctx, "nurse", pin=pins["nurse"], client=ATTACKER).role == "nurse"


# -- the service: PINs on the kiosk, bursts -------------------------------------------------------
def test_kiosk_pins_are_throttled_for_the_kiosk_only(ctx, actors, pins, fake_time, hasher):
    for _ in range(3):
        with pytest.raises(LoginFailed):
            auth.login(ctx, "nurse", pin="000000")  # the kiosk's client is "kiosk"
    calls = hasher.calls
    for _ in range(10):
        with pytest.raises(LoginThrottled) as e:
            auth.login(ctx, "nurse", pin=pins["nurse"])
        assert e.value.retry_after_s == 2
        assert "nurse" not in str(e.value)
    assert hasher.calls == calls
    # the same nurse from a tablet (by password there; by PIN here) is not held up
    assert auth.login(ctx, "nurse", pin=pins["nurse"], client=REAL_USER).role == "nurse"
    fake_time.advance(2)
    assert auth.login(ctx, "nurse", pin=pins["nurse"]).role == "nurse"
    # a success starts the pair afresh: three free failures again
    for _ in range(3):
        with pytest.raises(LoginFailed) as e:
            auth.login(ctx, "nurse", pin="000000")
        assert not isinstance(e.value, LoginThrottled)


def test_a_burst_from_one_device_costs_only_the_free_hashes(tmp_path, store, actors, hasher):
    """16 simultaneous wrong logins, each on its own connection (as separate workers or
    processes): each attempt is counted before its hash, so the burst sees itself."""
    barrier = threading.Barrier(16)
    outcomes: list[str] = []

    def attempt() -> None:
        with Store(store.path) as own:
            own_ctx = Context.open(own, machine_time=lambda: 1_790_000_000.0, boot_id="boot-1")
            barrier.wait()
            try:
                auth.login(own_ctx, "nurse", pin="000000", client=ATTACKER)
            except LoginThrottled:
                outcomes.append("throttled")
            except LoginFailed:
                outcomes.append("failed")

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["failed"] * 3 + ["throttled"] * 13
    assert hasher.calls == 3


def test_a_burst_with_a_copied_device_cookie_gets_only_its_free_attempts(
    store, actors, pins, hasher
):
    """16 simultaneous wrong logins from 16 addresses, all with the cookie of a tablet the
    nurse logged in from, while the name is held for everyone else: the device's own count is
    taken before the hash too, so only its 5 free attempts are checked."""
    clock = lambda: 1_790_000_000.0  # noqa: E731
    ctx = Context.open(store, machine_time=clock, boot_id="boot-1")
    auth.login(ctx, "nurse", pin=pins["nurse"], client=REAL_USER, device_renewed="t" * 43)
    for n in range(11):  # the name's free failures spent, from other addresses
        with pytest.raises(LoginFailed):
            auth.login(ctx, "nurse", pin="000000", client=f"10.42.5.{n + 1}")
    calls = hasher.calls
    barrier = threading.Barrier(16)
    outcomes: list[str] = []

    def attempt(n: int) -> None:
        with Store(store.path) as own:
            own_ctx = Context.open(own, machine_time=clock, boot_id="boot-1")
            barrier.wait()
            try:
                auth.login(own_ctx, "nurse", pin="000000", client=f"10.42.6.{n}", device="t" * 43)
            except LoginThrottled:
                outcomes.append("throttled")
            except LoginFailed:
                outcomes.append("failed")

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["failed"] * 5 + ["throttled"] * 11
    assert hasher.calls - calls == 5


def test_successes_do_not_keep_a_devices_old_failures_alive(ctx, actors, pins, fake_time):
    """The kiosk is one device for all the staff: a day of mistyped PINs must lapse, hour by
    hour, however many good logins come between them."""
    for n in range(9):
        with pytest.raises(LoginFailed):
            auth.login(ctx, f"typo.{n}", pin="000000")
    fake_time.advance(50 * 60)
    assert auth.login(ctx, "midwife", pin=pins["midwife"]).role == "midwife"
    fake_time.advance(11 * 60)  # an hour and a minute after the last failure
    with pytest.raises(LoginFailed):
        auth.login(ctx, "typo.x", pin="000000")
    kiosk = ctx.store.staff.throttle.for_attempt("typo.x", "kiosk")["client"]
    assert kiosk["failures"] == 1  # the nine old ones lapsed; the success counted for nothing


def test_a_clock_set_back_never_stretches_a_wait(ctx, actors, fake_time):
    for _ in range(3):
        with pytest.raises(LoginFailed):
            auth.login(ctx, "nurse", pin="000000")
    fake_time.advance(-3000)  # the clock stepped back by 50 minutes
    with pytest.raises(LoginThrottled) as e:
        auth.login(ctx, "nurse", pin="000000")
    assert e.value.retry_after_s == 2


def test_status_json_keeps_the_passphrase_for_the_kiosk_only(tmp_path, ctx, actors, fake_time):
    ctx.store.set_settings({"hotspot.ssid": "CSCom Kalaban"})
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "hotspot_passphrase").write_text("k7rw-m3ha-9xte\n")
    technician = actors["technician"]
    kiosk_view = status(ctx, technician, data_dir=tmp_path, secrets_dir=secrets)
    assert "k7rw-m3ha-9xte" in kiosk_view["hotspot"]["join_payload"]  # the kiosk shows it
    # the technician's tablet login is a password: give the fixture's account one
    ctx.store.staff.set_secret(
        technician.id, password_hash=auth.PASSWORD_HASHER.hash("technician-pass")
    )
    app = web_app(tmp_path, fake_time)
    with device(app, ADMIN_TABLET) as tablet:
        assert api_login(tablet, technician.username, "technician-pass").status_code == 200
        r = tablet.get("/api/v1/status")
        assert r.status_code == 200
        assert "k7rw-m3ha-9xte" not in r.text and "WIFI:" not in r.text
        assert r.json()["hotspot"]["join_qr"] == "/status/join-qr.png"
        image = tablet.get("/status/join-qr.png")
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
        page = tablet.get("/status")
        assert page.status_code == 200 and "<svg" in page.text  # the page keeps its QR code
        assert "k7rw-m3ha-9xte" not in page.text
