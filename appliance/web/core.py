"""What every page needs: a store connection from the pool, the browser session, the logged-in
staff member, the translator, and responses that carry the session cookie and no-store."""

from __future__ import annotations

import asyncio
import hmac
import logging
import queue
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from appliance.paths import Paths
from appliance.services import login_throttle
from appliance.services.auth import actor_for, token_hash
from appliance.services.context import Actor, Context
from appliance.store import Store
from appliance.store.diskspace import DiskProblem, check, disk_errors, open_store
from appliance.web.i18n import DEFAULT_LANGUAGE, LANGUAGES, Translator

log = logging.getLogger("keneya.web")

COOKIE = "keneya_session"
# A browser's device token: sent to auth.login, which remembers it for the account on success,
# so that guesses at that account from other addresses never lock this browser out
# (appliance/services/login_throttle.py). Random, HttpOnly, no meaning of its own.
DEVICE_COOKIE = "keneya_device"
DEVICE_COOKIE_MAX_AGE_S = int(login_throttle.DEVICE_KEEP_S)  # as long as the server keeps it
IDLE_TIMEOUT_S = 15 * 60
# last_seen is written at most once a minute per session: 20 tablets must not queue on the
# database's one writer just to say they are still there.
TOUCH_EVERY_S = 60
ANONYMOUS_KEEP_S = 24 * 3600
# Sent by requests a page makes by itself (hx-headers), not by a person's action.
BACKGROUND_HEADER = "X-Keneya-Background"


class NeedLogin(Exception):
    """No staff member is logged in (or the session timed out)."""

    def __init__(self, expired: bool = False):
        self.expired = expired


class CsrfRefused(Exception):
    pass


@dataclass
class WebSettings:
    paths: Paths
    idle_timeout_s: float = IDLE_TIMEOUT_S
    now: Callable[[], float] = time.time  # the machine clock, injectable for tests
    clock_options: dict[str, Any] = field(default_factory=dict)
    leases_file: Path | None = None
    pool_size: int = 8
    # `keneya serve` brings the follow-up items to the new day when the nightly timer has not
    # (a laptop has no timer; the Pi may have been off); tests keep their items still
    keep_due_items_current: bool = False


# How long a request waits for a database connection before it is told 503 "retry": a
# tablet's page normally gets one at once; waiting longer only piles up requests.
SLOT_WAIT_S = 2.0


class PoolBusy(Exception):
    """No database connection came free in time: the server is saturated (503, retry)."""


class StorePool:
    """One SQLite connection per concurrent request, reused. A connection is never used by
    two requests at once (the store's transaction depth is per connection). On a full or
    read-only disk a request gets a read-only connection of its own (not kept: the next
    request tries a writable one again), and the app starts all the same.

    A request waits for its slot on the event loop (`async with pool.store(wait_s)`), never on
    a worker thread: the sync routes need worker threads to finish, so a thread parked on a
    slot is a thread a slot holder may need, and with as many parked threads as the thread
    pool has, nobody finishes (the freeze of issue 20). The wait is bounded (PoolBusy)."""

    def __init__(self, path: Path, size: int):
        try:
            with disk_errors(path):
                Store(path).close()  # migrate once, before any request
        except DiskProblem as problem:
            log.warning("keneya web: %s; starting all the same, pages say so", problem)
        self.path = path
        self.size = size
        self._free: queue.LifoQueue[Store] = queue.LifoQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(size)

    def _slots_here(self) -> asyncio.Semaphore:
        # asyncio's semaphore belongs to one loop; a test client may run the app on another
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._slots = loop, asyncio.Semaphore(self.size)
        return self._slots

    @asynccontextmanager
    async def store(self, wait_s: float = SLOT_WAIT_S) -> AsyncIterator[Store]:
        slots = self._slots_here()
        try:
            # FIFO: whoever waits longest gets the next slot, so each waiter leaves within
            # wait_s, served or refused.
            await asyncio.wait_for(slots.acquire(), wait_s)
        except TimeoutError:
            raise PoolBusy() from None
        try:
            store = await run_in_threadpool(self._take)
            try:
                yield store
            finally:
                self._give_back(store)
        finally:
            slots.release()

    def _take(self) -> Store:
        try:
            return self._free.get_nowait()
        except queue.Empty:
            return open_store(self.path, migrate=False)

    def _give_back(self, store: Store) -> None:
        if store.conn is not None and store.conn.in_transaction:
            store.conn.execute("ROLLBACK")
        if store.read_only:
            store.close()
        else:
            self._free.put(store)

    def close(self) -> None:
        while True:
            try:
                self._free.get_nowait().close()
            except queue.Empty:
                return


def client_address(request: Request) -> str:
    """The address a request came from (the tablet or phone on the hotspot): what per-client
    limits count by. "unknown" when the server was not told (a test client, a Unix socket)."""
    client = request.client
    return client.host if client is not None and client.host else "unknown"


@dataclass
class Web:
    """One request's view of the app."""

    request: Request
    settings: WebSettings
    ctx: Context
    session: dict[str, Any] | None = None
    token: str | None = None
    actor: Actor | None = None
    expired: bool = False
    _set_cookie: str | None = None
    _clear_cookie: bool = False
    _set_device: str | None = None

    # -- sessions --------------------------------------------------------------------------
    @classmethod
    def load(cls, request: Request, settings: WebSettings, ctx: Context) -> Web:
        web = cls(request, settings, ctx)
        token = request.cookies.get(COOKIE)
        if not token:
            return web
        row = ctx.store.web_sessions.get(token_hash(token))
        if row is None:
            web._clear_cookie = True
            return web
        now = settings.now()
        idle = now - row["last_seen_s"]
        if row["staff_id"] and idle > settings.idle_timeout_s:
            web._unless_disk_full(lambda: ctx.store.web_sessions.delete(row["token_hash"]))
            web._clear_cookie = True
            web.expired = True
            return web
        web.session, web.token = row, token
        if row["staff_id"]:
            web.actor = actor_for(ctx, row["staff_id"])
        # A page's own background refresh (the power banner) is no sign of a person: it must
        # not keep an idle tablet logged in.
        if idle > TOUCH_EVERY_S and request.headers.get(BACKGROUND_HEADER) != "1":
            web._unless_disk_full(lambda: ctx.store.web_sessions.touch(row["token_hash"], now))
        return web

    def _unless_disk_full(self, write: Callable[[], object]) -> None:
        """A session's bookkeeping, skipped on a full or read-only disk: pages that only read
        still open (idle time then counts from the last write that succeeded)."""
        try:
            with disk_errors(self.ctx.store.path):
                write()
        except DiskProblem as problem:
            log.warning("session not updated: %s", problem)

    @cached_property
    def disk_problem(self) -> DiskProblem | None:
        """The data folder's problem (full, read-only), for the banner every page shows."""
        return check(self.settings.paths.data_dir)

    def _open(self, *, staff_id: str | None, lang: str) -> None:
        token = secrets.token_urlsafe(32)
        now = self.settings.now()
        self.ctx.store.web_sessions.create(
            token_hash=token_hash(token),
            csrf=secrets.token_urlsafe(32),
            lang=lang,
            staff_id=staff_id,
            now_s=now,
        )
        self.token, self._set_cookie = token, token
        self.session = self.ctx.store.web_sessions.get(token_hash(token))

    def ensure_session(self) -> None:
        """A visitor gets an anonymous session: it carries the login form's CSRF token."""
        if self.session is None:
            self._open(staff_id=None, lang=DEFAULT_LANGUAGE)

    @cached_property
    def device_token(self) -> str | None:
        """The device token this browser sent (its keneya_device cookie), if it looks like one."""
        sent = self.request.cookies.get(DEVICE_COOKIE, "")
        return sent if 20 <= len(sent) <= 100 else None

    @cached_property
    def next_device_token(self) -> str:
        """The token the browser gets in place of its own if the login succeeds."""
        return secrets.token_urlsafe(32)

    def start_login_session(self, actor: Actor) -> None:
        """A new token at login (the one from before login is never promoted)."""
        lang = self.lang
        with self.ctx.store.transaction():
            if self.session is not None:
                self.ctx.store.web_sessions.delete(self.session["token_hash"])
            self.ctx.store.web_sessions.prune(idle_before_s=self.settings.now() - ANONYMOUS_KEEP_S)
            self._open(staff_id=actor.id, lang=lang)
        self.actor = actor
        self._set_device = self.next_device_token

    def end_session(self) -> None:
        if self.session is not None:
            self.ctx.store.web_sessions.delete(self.session["token_hash"])
        self.session = self.actor = None
        self._clear_cookie = True

    def set_lang(self, lang: str) -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"language {lang!r}: expected one of {', '.join(LANGUAGES)}")
        self.ensure_session()
        self.ctx.store.web_sessions.set_lang(self.session["token_hash"], lang)  # type: ignore[index]
        self.session = {**self.session, "lang": lang}  # type: ignore[dict-item]

    @property
    def lang(self) -> str:
        return self.session["lang"] if self.session else DEFAULT_LANGUAGE

    @property
    def t(self) -> Translator:
        return Translator(self.lang)

    @property
    def csrf(self) -> str:
        if self.session is None and self.disk_problem is not None:
            return ""  # no session can be written: pages show no form that needs one
        self.ensure_session()
        return self.session["csrf"]  # type: ignore[index]

    def check_csrf(self, sent: str | None) -> None:
        if (
            self.session is None
            or not sent
            or not hmac.compare_digest(str(sent), self.session["csrf"])
        ):
            raise CsrfRefused()

    def require_login(self) -> Actor:
        if self.actor is None:
            raise NeedLogin(expired=self.expired)
        return self.actor

    @property
    def is_htmx(self) -> bool:
        return self.request.headers.get("HX-Request") == "true"

    # -- responses -------------------------------------------------------------------------
    def finish(self, response: Response) -> Response:
        if self._set_cookie:
            response.set_cookie(
                COOKIE,
                self._set_cookie,
                httponly=True,
                samesite="strict",
                path="/",
                # No max_age: the cookie ends with the browser; the server ends it sooner.
            )
        elif self._clear_cookie:
            response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        if self._set_device:
            response.set_cookie(
                DEVICE_COOKIE,
                self._set_device,
                max_age=DEVICE_COOKIE_MAX_AGE_S,
                httponly=True,
                samesite="strict",
                path="/",
            )
        return response

    def render(self, template: str, *, status_code: int = 200, **values: Any) -> Response:
        from appliance.web.render import render

        html = render(template, web=self, **values)
        return self.finish(HTMLResponse(html, status_code=status_code))

    def redirect(self, url: str) -> Response:
        if self.is_htmx:
            return self.finish(Response(status_code=204, headers={"HX-Redirect": url}))
        return self.finish(RedirectResponse(url, status_code=303))
