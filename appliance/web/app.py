"""The tablet web app: FastAPI with server-rendered pages (Jinja2, htmx) and a JSON API under
/api/v1. Every page goes through the service layer as the logged-in staff member."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from html import escape
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware

from appliance.clock import Clock
from appliance.paths import Paths
from appliance.services import follow_up
from appliance.services.context import Context
from appliance.services.errors import NotFound, PermissionDenied
from appliance.store import Store
from appliance.store.diskspace import DiskProblem, classify
from appliance.web import disk
from appliance.web.assets import static_app, static_url
from appliance.web.clients import ClientLimits, not_now
from appliance.web.core import CsrfRefused, NeedLogin, PoolBusy, StorePool, Web, WebSettings
from appliance.web.home import HomeLists
from appliance.web.i18n import N_, Translator
from appliance.web.limits import RequestLimits

log = logging.getLogger("keneya.web")
STATIC = Path(__file__).parent / "static"
API_PREFIX = "/api/v1"
BACK_HOME = N_("Retour à l'accueil")

# No inline script or style anywhere: htmx is told (meta htmx-config) not to add its own
# style element, and charts use SVG presentation attributes.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    """Headers on every response; no-store on everything but the static files, so no patient
    page stays in a shared tablet's cache."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        static = scope["path"].startswith("/static/")

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                # the static files keep the lifetime they were given (content-hashed names
                # for a year); every other answer is no-store
                cached = static and any(k.lower() == b"cache-control" for k, _ in headers)
                if not cached:
                    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                    headers.append(
                        (b"cache-control", b"public, max-age=86400" if static else b"no-store")
                    )
                headers += SECURITY_HEADERS
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class CompressPages:
    """gzip for pages and JSON (a record page is ~10 times smaller), not for /static, whose
    files are compressed ahead of time. Plain HTTP on the hotspot: no TLS, so no BREACH-style
    secret recovery through compressed sizes to worry about."""

    def __init__(self, app):
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=500, compresslevel=6)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and not scope["path"].startswith("/static/"):
            return await self.gzip(scope, receive, send)
        return await self.app(scope, receive, send)


DUE_CHECK_S = 600
# Worker threads besides one per pool slot: static files are read on threads too, and so is
# the watchdog's probe. No thread ever waits for a pool slot (core.StorePool), so a slot
# holder waits for a thread only while other threads finish a file read or a query (itself
# bounded by SQLite's busy timeout): the two pools cannot lock each other.
SPARE_THREADS = 16
BUSY_LOG_EVERY_S = 10


@contextmanager
def own_context(settings: WebSettings) -> Iterator[Context]:
    """A context of its own (its own connection) for work on a background thread."""
    with Store(settings.paths.database, migrate=False) as store:
        yield Context(store, Clock(store, machine_time=settings.now, **settings.clock_options))


async def _keep_due_items_current(settings: WebSettings) -> None:
    """Every few minutes: when the stored follow-up items are not today's, rebuild them on a
    thread with its own connection (one at a time; the pages read the stored ones meanwhile,
    whose states already follow the date)."""
    while True:
        try:
            follow_up.rebuild_in_background(lambda: own_context(settings))
        except Exception:
            log.exception("the follow-up items could not be checked")
        await asyncio.sleep(DUE_CHECK_S)


def create_app(settings: WebSettings) -> FastAPI:
    pool = StorePool(settings.paths.database, settings.pool_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        anyio.to_thread.current_default_thread_limiter().total_tokens = (
            settings.pool_size + SPARE_THREADS
        )
        keeper = None
        if settings.keep_due_items_current:
            keeper = asyncio.create_task(_keep_due_items_current(settings))
        yield
        if keeper is not None:
            keeper.cancel()
        pool.close()

    app = FastAPI(
        lifespan=lifespan,
        title="Keneya",
        version="1",
        description="Records of one health centre, for tablets on its Wi-Fi.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.home_lists = HomeLists(settings)
    app.state.pool = pool

    def load(request: Request, store: Store) -> Web:
        clock = Clock(store, machine_time=settings.now, **settings.clock_options)
        return Web.load(request, settings, Context(store, clock))

    async def web(request: Request) -> AsyncIterator[Web]:
        # Async: the slot is awaited on the event loop, the session read on a worker thread
        # (see StorePool). The slot is given back once the answer is handed to the server,
        # which buffers it without waiting for the client (a page is far below uvicorn's
        # 64 KiB write buffer), so a slow reader does not hold a connection.
        async with pool.store() as store:
            w = await run_in_threadpool(load, request, store)
            request.state.web = w
            yield w

    async def database_answers(wait_s: float) -> bool:
        """The watchdog's probe: a connection from the same pool, a query on the same worker
        threads as a page. False when either stays unavailable for wait_s."""
        try:
            async with pool.store(wait_s) as store:
                await run_in_threadpool(
                    lambda: store.conn.execute("SELECT count(*) FROM web_sessions").fetchone()
                )
        except PoolBusy:
            log.warning("watchdog probe: no database connection free within %.0f s", wait_s)
            return False
        except Exception:
            log.exception("watchdog probe: the database did not answer")
            return False
        return True

    app.state.database_answers = database_answers

    def error_page(request: Request, status: int, title: str, message: str, ref: str = ""):
        w: Web | None = getattr(request.state, "web", None)
        if request.url.path.startswith(API_PREFIX):
            body = {"error": message, **({"reference": ref} if ref else {})}
            return JSONResponse(body, status_code=status)
        if w is None:  # before any session was read (an unknown address): French, plain
            t = Translator("fr")
            return plain_page(t, status, t(title), t(message))
        return w.render("error.html", status_code=status, title=title, message=message, ref=ref)

    def disk_page(request: Request, problem: DiskProblem):
        """A full or read-only disk, said as such: 507 or 503, never a generic 500. Plain,
        since the usual page would try to write a session for its forms."""
        w: Web | None = getattr(request.state, "web", None)
        t = Translator(w.lang if w is not None else "fr")
        status = disk.http_status(problem)
        text = disk.disk_text(problem, t)
        log.warning("%s %s: %s", request.method, request.url.path, problem)
        if request.url.path.startswith(API_PREFIX):
            return JSONResponse({"error": text, **problem.to_dict()}, status_code=status)
        title = t(disk.TITLES.get(problem.kind, disk.TITLES["disk_full"]))
        return plain_page(t, status, title, text, t(disk.NOTHING_LOST))

    refused = {"count": 0, "logged_at": 0.0}

    @app.exception_handler(PoolBusy)
    async def busy(request: Request, exc: PoolBusy):
        # said at most every BUSY_LOG_EVERY_S: a flood must not fill the journal too
        refused["count"] += 1
        now = time.monotonic()
        if now - refused["logged_at"] >= BUSY_LOG_EVERY_S:
            log.warning("server busy: %d request(s) answered 503 (no database connection free)",
                        refused["count"])  # fmt: skip
            refused.update(count=0, logged_at=now)
        return not_now(request.url.path, 503)

    @app.exception_handler(NeedLogin)
    async def need_login(request: Request, exc: NeedLogin):
        if request.url.path.startswith(API_PREFIX):
            return JSONResponse({"error": "login required"}, status_code=401)
        w: Web = request.state.web
        target = "/?expired=1" if exc.expired else "/"
        return w.redirect(target)

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: CsrfRefused):
        return error_page(
            request,
            403,
            N_("Formulaire refusé"),
            N_(
                "Ce formulaire a expiré ou ne vient pas de cette page. Rechargez la page et "
                "recommencez."
            ),
        )

    @app.exception_handler(PermissionDenied)
    async def denied(request: Request, exc: PermissionDenied):
        return error_page(
            request,
            403,
            N_("Accès refusé"),
            N_("Votre rôle ne permet pas d'ouvrir cette page."),
        )

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound):
        return error_page(
            request, 404, N_("Introuvable"), N_("Ce dossier ou cette page n'existe pas.")
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            return error_page(request, 404, N_("Introuvable"), N_("Cette page n'existe pas."))
        if exc.status_code == 405:
            return error_page(
                request, 405, N_("Méthode refusée"), N_("Cette page ne s'ouvre pas ainsi.")
            )
        return error_page(request, exc.status_code, N_("Erreur"), str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        if request.url.path.startswith(API_PREFIX):
            return JSONResponse(
                {"error": "invalid request", "problems": _problems(exc)}, status_code=422
            )
        return error_page(
            request, 400, N_("Demande incorrecte"), N_("Cette adresse est incomplète.")
        )

    @app.exception_handler(DiskProblem)
    async def disk_problem(request: Request, exc: DiskProblem):
        return disk_page(request, exc)

    @app.exception_handler(sqlite3.Error)
    @app.exception_handler(OSError)
    async def storage_error(request: Request, exc: Exception):
        problem = classify(exc, settings.paths.database)
        if problem is None:
            return await crashed(request, exc)
        return disk_page(request, problem)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception):
        ref = secrets.token_hex(4)
        log.exception("error %s on %s %s", ref, request.method, request.url.path)
        return error_page(
            request,
            500,
            N_("Erreur inattendue"),
            N_(
                "Une erreur est survenue ; rien n'a été perdu de ce qui était déjà enregistré. "
                "Donnez cette référence au technicien :"
            ),
            ref,
        )

    # precompressed, content-hashed files, kept in memory: no database, no thread
    app.mount("/static", static_app(), name="static")
    from appliance.web import api
    from appliance.web.routes import (
        dashboard,
        library,
        opinions,
        pages,
        power,
        records,
        referrals,
        reminders,
        reports,
        status,
    )

    for module in (
        pages,
        records,
        reports,
        status,
        power,
        reminders,
        library,
        referrals,
        opinions,
        dashboard,
    ):
        app.include_router(module.router(web), include_in_schema=False)
    app.include_router(api.router(web), prefix=API_PREFIX)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:  # async: no thread, no database
        return Response(status_code=204)

    app.add_middleware(RequestLimits)
    app.add_middleware(CompressPages)
    app.add_middleware(ClientLimits)  # before anything else works for the request
    app.add_middleware(SecurityHeaders)  # added last, so outermost: on the 413s and 429s too
    return app


def plain_page(t: Translator, status: int, title: str, *paragraphs: str) -> HTMLResponse:
    """A page that needs no session (and so no write): translated text, the app's style."""
    text = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    page = (
        f'<!doctype html><html lang="{t.lang}"><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)}</title><link rel="stylesheet" href="{static_url("app.css")}">'
        f'<main><section class="card narrow"><h1>{escape(title)}</h1>{text}'
        f'<p><a class="button" href="/">{escape(t(BACK_HOME))}</a></p>'
        "</section></main></html>"
    )
    return HTMLResponse(page, status)


def _problems(exc: RequestValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg", ""))}
        for e in exc.errors()
    ]


def app_from_environment() -> FastAPI:
    """The app of `keneya serve --workers N`: each worker process builds its own from
    KENEYA_HOME and KENEYA_LEASES_FILE (set by the serve command)."""
    from appliance.web.systemd import CancelledAtStop

    logging.getLogger("uvicorn.error").addFilter(CancelledAtStop())
    leases = os.environ.get("KENEYA_LEASES_FILE")
    return create_app(
        WebSettings(
            Paths.resolve(),
            leases_file=Path(leases) if leases else None,
            keep_due_items_current=True,
        )
    )
