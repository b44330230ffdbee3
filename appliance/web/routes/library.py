"""/library: the guidelines and job aids. Every staff member lists, searches and opens them
(the PDF inline, by id only); the admin imports a stick's keneya-bibliotheque/ after seeing
what it holds and removes a document. An import runs on a thread of its own and leaves its
progress in the database, which the page polls (any worker can answer)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool

from appliance.clock import Clock
from appliance.domain.permissions import MANAGE_LIBRARY
from appliance.library import LibraryError, files
from appliance.services import library as service
from appliance.services.context import Actor, Context
from appliance.services.errors import ServiceError
from appliance.store import Store
from appliance.store.library import HIT_END, HIT_START

if TYPE_CHECKING:
    from appliance.web.core import Web, WebSettings

log = logging.getLogger("keneya.web")
_one_import = threading.Lock()


def snippet_html(text: str) -> Markup:
    """The search snippet, escaped, with the words found in <mark>."""
    return Markup(str(escape(text)).replace(HIT_START, "<mark>").replace(HIT_END, "</mark>"))


def size_text(n: int, lang: str) -> str:
    value, unit = (n / 1024, "Ko") if n < 1024**2 else (n / 1024**2, "Mo")
    if n >= 1024**3:
        value, unit = n / 1024**3, "Go"
    text = f"{value:.1f}"
    if lang == "fr":
        return f"{text.replace('.', ',')} {unit}"
    return f"{text} {unit.replace('o', 'B')}"


def _import_in_background(settings: WebSettings, actor: Actor, folder: Path) -> None:
    def run() -> None:
        with _one_import, Store(settings.paths.database, migrate=False) as store:
            ctx = Context(store, Clock(store, machine_time=settings.now, **settings.clock_options))
            state: dict[str, Any] = {"state": "running", "folder": str(folder), "steps": []}

            def progress(step: dict[str, Any]) -> None:
                if step["state"] == "done":
                    state["steps"].append(step)
                state["current"] = step if step["state"] == "copying" else None
                service.record_progress(ctx, state)

            service.record_progress(ctx, state)
            try:
                out = service.import_folder(
                    ctx, actor, folder, settings.paths.data_dir, progress=progress
                )
                state.update(state="done", added=len(out["added"]), skipped=len(out["skipped"]))
            except (LibraryError, ServiceError, OSError) as e:
                state.update(state="failed", error=str(e), current=None)
            except Exception:
                log.exception("library import from %s", folder)
                state.update(state="failed", error="erreur inattendue", current=None)
            service.record_progress(ctx, state)

    threading.Thread(target=run, name="library-import", daemon=True).start()


def router(web_dependency) -> APIRouter:
    r = APIRouter()
    W = Depends(web_dependency)

    @r.get("/library")
    def page(q: str = "", web: Web = W) -> Response:
        actor = web.require_login()
        q = q[:200]
        found = service.search(web.ctx, actor, q) if q.strip() else None
        listing = service.listing(web.ctx, actor)
        return web.render(
            "library.html",
            q=q,
            found=found,
            listing=listing,
            size=lambda n: size_text(n, web.lang),
            snippet=snippet_html,
            manage=_may_manage(actor),
        )

    @r.get("/library/{document_id}.pdf")
    def open_pdf(document_id: str, web: Web = W) -> Response:
        actor = web.require_login()
        path = service.pdf_file(web.ctx, actor, web.settings.paths.data_dir, document_id)
        row = service.get(web.ctx, actor, document_id)
        name = quote(row["file_name"])
        return web.finish(
            FileResponse(
                path,
                media_type="application/pdf",
                headers={"Content-Disposition": f"inline; filename*=UTF-8''{name}"},
            )
        )

    @r.get("/library/import")
    def import_page(web: Web = W) -> Response:
        actor = web.require_login()
        web.ctx.require(actor, MANAGE_LIBRARY)
        return web.render(
            "library_import.html",
            sticks=[str(p) for p in files.find_sticks()],
            plan=None,
            progress=service.read_progress(web.ctx),
            size=lambda n: size_text(n, web.lang),
            error=None,
        )

    @r.get("/library/import/progress")
    def progress_part(web: Web = W) -> Response:
        actor = web.require_login()
        web.ctx.require(actor, MANAGE_LIBRARY)
        return web.render(
            "_library_progress.html",
            progress=service.read_progress(web.ctx),
            size=lambda n: size_text(n, web.lang),
            power=None,
        )

    @r.post("/library/import/plan")
    async def plan(request: Request, web: Web = W) -> Response:
        form = await request.form()
        return await run_in_threadpool(_plan, web, form)

    def _stick(web: Web, form) -> Path:
        # only a folder the page offered: never a path typed into the form
        chosen = str(form.get("folder") or "")
        for stick in files.find_sticks():
            if str(stick) == chosen:
                return stick
        raise LibraryError(web.t("Cette clé n'est plus là : rebranchez-la et recommencez."))

    def _plan(web: Web, form) -> Response:
        web.check_csrf(form.get("csrf"))
        actor = web.require_login()
        web.ctx.require(actor, MANAGE_LIBRARY)
        values: dict[str, Any] = {
            "sticks": [str(p) for p in files.find_sticks()],
            "progress": None,
            "size": lambda n: size_text(n, web.lang),
            "plan": None,
            "error": None,
        }
        try:
            values["plan"] = service.plan(
                web.ctx, actor, _stick(web, form), web.settings.paths.data_dir
            )
        except LibraryError as e:
            values["error"] = str(e)
            return web.render("library_import.html", status_code=422, **values)
        return web.render("library_import.html", **values)

    @r.post("/library/import")
    async def start_import(request: Request, web: Web = W) -> Response:
        form = await request.form()
        return await run_in_threadpool(_start, web, form)

    def _start(web: Web, form) -> Response:
        web.check_csrf(form.get("csrf"))
        actor = web.require_login()
        web.ctx.require(actor, MANAGE_LIBRARY)
        try:
            folder = _stick(web, form)
        except LibraryError as e:
            return web.render(
                "library_import.html",
                status_code=422,
                sticks=[],
                plan=None,
                progress=None,
                size=lambda n: size_text(n, web.lang),
                error=str(e),
            )
        if _one_import.locked():
            return web.redirect("/library/import")
        service.record_progress(web.ctx, {"state": "running", "folder": str(folder), "steps": []})
        _import_in_background(web.settings, actor, folder)
        return web.redirect("/library/import")

    @r.post("/library/{document_id}/remove")
    async def remove(document_id: str, request: Request, web: Web = W) -> Response:
        form = await request.form()
        return await run_in_threadpool(_remove, web, document_id, form)

    def _remove(web: Web, document_id: str, form) -> Response:
        web.check_csrf(form.get("csrf"))
        actor = web.require_login()
        service.remove(web.ctx, actor, web.settings.paths.data_dir, document_id)
        return web.redirect("/library")

    return r


def _may_manage(actor: Actor) -> bool:
    from appliance.domain.permissions import allowed

    return allowed(actor.role, MANAGE_LIBRARY)


def job_aid_lookup(web: Web):
    """For templates: the library's document for an alert or a due item (its topic), or
    None; one query per topic a page shows."""
    from appliance.library.topics import topic_of

    found: dict[str, dict[str, Any] | None] = {}

    def job_aid(item: Any) -> dict[str, Any] | None:
        topic = topic_of(item)
        if topic is None or web.actor is None:
            return None
        if topic not in found:
            try:
                found[topic] = service.job_aids(web.ctx, web.actor, [item]).get(topic)
            except ServiceError:
                found[topic] = None
        return found[topic]

    return job_aid
