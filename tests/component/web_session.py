"""The web app over the test store for the HTTP tests: one staff member per role, a client
that neither follows redirects nor raises the app's errors, and a login through the form."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from appliance.paths import Paths
from appliance.services import auth
from appliance.web.app import create_app
from appliance.web.core import WebSettings
from tests.conftest import PINS

PASSWORDS = {role: f"pass-{pin}" for role, pin in PINS.items()}
USERNAMES = {role: role.replace("_", ".") for role in PINS}


def add_staff_per_role(ctx) -> None:
    """One staff member per role, USERNAMES[role] / PASSWORDS[role]; the admin, added first
    by nobody, adds the others."""
    admin = None
    for role in PINS:
        auth.add_staff(
            ctx,
            admin,
            username=USERNAMES[role],
            display_name=f"{role.title()} Test",
            role=role,
            password=PASSWORDS[role],
        )
        if admin is None:
            admin = auth.login(ctx, "admin", password=PASSWORDS["admin"])


def web_app(home: Path, fake_time: Callable[[], float]):
    return create_app(
        WebSettings(Paths.for_home(home), now=fake_time, clock_options={"boot_id": "boot-1"})
    )


@contextmanager
def web_client(app) -> Iterator[TestClient]:
    """Redirects and server errors come back as answers, for the tests to assert on."""
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as c:
        yield c


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


def login(client: TestClient, role: str) -> str:
    """Log in as the role's staff member through the form; the CSRF token of the session."""
    token = csrf_of(client.get("/").text)
    r = client.post(
        "/login", data={"username": USERNAMES[role], "password": PASSWORDS[role], "csrf": token}
    )
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/").text)
