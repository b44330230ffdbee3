"""The training library as staff use it: list, search, open (every role); import from a stick
and remove (the admin). Documents live in the data folder's `library/` as `<id>.pdf`.

An import checks everything it can before copying (the index, each file is a plain PDF under
the size cap, the space left), then copies document by document: copy to a temporary file,
SHA-256 checked against the index as read and as written, text read, renamed into place, and
only then listed, with its audit row, in one transaction. A bad index or a checksum mismatch
stops it with one line; what was already listed is whole."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.domain.permissions import MANAGE_LIBRARY, READ_LIBRARY
from appliance.ids import uuid7
from appliance.library import LibraryError, files, topics
from appliance.library.files import Source
from appliance.paths import private_dir
from appliance.services.context import Actor, Context
from appliance.services.errors import NotFound
from appliance.store.diskspace import size_text, space

FOLDER = "library"
# Left free on the data partition after an import: the records come first.
RESERVE_BYTES = 100 * 1024 * 1024
# The text kept in the database is about a tenth of a PDF's size, at most; counted in the need.
TEXT_SHARE = 0.1
# Where the web app keeps an import's progress (several workers may answer the polls).
PROGRESS_SETTING = "library.import"

Progress = Callable[[dict[str, Any]], None]


def library_dir(data_dir: Path) -> Path:
    return data_dir / FOLDER


def document_path(data_dir: Path, document_id: str) -> Path:
    return library_dir(data_dir) / f"{document_id}.pdf"


def listing(ctx: Context, actor: Actor) -> dict[str, Any]:
    ctx.require(actor, READ_LIBRARY)
    totals = ctx.store.library.totals()
    return {
        "documents": ctx.store.library.listing(),
        "count": totals["documents"],
        "bytes": totals["bytes"],
        "pages": totals["pages"],
    }


def search(ctx: Context, actor: Actor, text: str, *, limit: int = 20) -> list[dict[str, Any]]:
    ctx.require(actor, READ_LIBRARY)
    return ctx.store.library.search(text, limit=limit)


def get(ctx: Context, actor: Actor, document_id: str) -> dict[str, Any]:
    ctx.require(actor, READ_LIBRARY)
    row = ctx.store.library.get(document_id)
    if row is None:
        raise NotFound(f"no document {document_id} in the library")
    return row


def pdf_file(ctx: Context, actor: Actor, data_dir: Path, document_id: str) -> Path:
    """The stored PDF of a listed document (never a path from the request)."""
    row = get(ctx, actor, document_id)
    path = document_path(data_dir, row["id"])
    if not path.is_file():
        raise NotFound(f"the file of document {document_id} is missing")
    return path


def page_text(ctx: Context, actor: Actor, document_id: str, page: int) -> str:
    row = get(ctx, actor, document_id)
    if not 1 <= page <= row["pages"]:
        raise NotFound(f"document {document_id} has no page {page}")
    return ctx.store.library.page_text(document_id, page) or ""


def job_aids(ctx: Context, actor: Actor, items: list[Any]) -> dict[str, dict[str, Any]]:
    """topic → the library's document for it, for the topics of these alerts or due items."""
    ctx.require(actor, READ_LIBRARY)
    wanted = sorted({t for t in (topics.topic_of(i) for i in items) if t})
    return ctx.store.library.for_topics(wanted)


# -- import ------------------------------------------------------------------------------------
def _need(total: int) -> int:
    return int(total * (1 + TEXT_SHARE))


def _prepare(ctx: Context, folder: Path, data_dir: Path):
    where = files.stick_folder(folder)
    sources = files.check_sources(where, files.read_index(where))
    present = ctx.store.library.by_sha256([s.entry.sha256 for s in sources])
    new = [s for s in sources if s.entry.sha256 not in present]
    new_bytes = sum(s.size for s in new)
    room = space(data_dir)
    free = room.free_bytes if room else 0
    need = _need(new_bytes) + RESERVE_BYTES if new else 0
    described = {
        "folder": str(where),
        "documents": [
            {
                "file": s.entry.file,
                "title": s.entry.title,
                "language": s.entry.language,
                "topic": s.entry.topic,
                "bytes": s.size,
                "present": s.entry.sha256 in present,
            }
            for s in sources
        ],
        "new": len(new),
        "new_bytes": new_bytes,
        "need_bytes": need,
        "free_bytes": free,
        "fits": free >= need,
    }
    return where, sources, present, new, described


def plan(ctx: Context, actor: Actor, folder: Path, data_dir: Path) -> dict[str, Any]:
    """What an import of `folder` (a stick's top or its keneya-bibliotheque/) would add: each
    document, those already here, the space they take and whether it fits. LibraryError when
    the index or a file is refused."""
    ctx.require(actor, MANAGE_LIBRARY)
    return _prepare(ctx, folder, data_dir)[-1]


def _space_refusal(plan_: dict[str, Any]) -> LibraryError:
    return LibraryError(
        f"pas assez de place sur la carte : les documents demandent"
        f" {size_text(plan_['need_bytes'] - RESERVE_BYTES)}"
        f" et {size_text(RESERVE_BYTES)} restent réservés aux dossiers, il reste"
        f" {size_text(plan_['free_bytes'])} / not enough space on the card"
    )


def import_folder(
    ctx: Context,
    actor: Actor,
    folder: Path,
    data_dir: Path,
    *,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Copy the new documents of `folder` into the library (see the module's docstring).
    `progress` is told of each document as it starts and ends."""
    ctx.require(actor, MANAGE_LIBRARY)
    started = time.monotonic()
    where, sources, present, new, plan_ = _prepare(ctx, folder, data_dir)
    if not plan_["fits"]:
        raise _space_refusal(plan_)
    target = private_dir(library_dir(data_dir))
    files.sweep(target, {f"{i}.pdf" for i in ctx.store.library.ids()})
    added: list[dict[str, Any]] = []
    for n, source in enumerate(new, start=1):
        step = {"n": n, "of": len(new), "file": source.entry.file, "title": source.entry.title}
        if progress is not None:
            progress({**step, "state": "copying", "bytes": source.size})
        added.append(_add_one(ctx, actor, source, target))
        if progress is not None:
            progress({**step, "state": "done", "bytes": source.size})
    return {
        "folder": str(where),
        "added": [{k: d[k] for k in ("id", "title", "topic", "bytes", "pages")} for d in added],
        "skipped": [
            {"file": s.entry.file, "title": s.entry.title, "why": "present"}
            for s in sources
            if s.entry.sha256 in present
        ],
        "bytes": sum(d["bytes"] for d in added),
        "seconds": round(time.monotonic() - started, 2),
    }


def _add_one(ctx: Context, actor: Actor, source: Source, target: Path) -> dict[str, Any]:
    e = source.entry
    tmp = files.copy_checked(source, target)
    try:
        pages = files.extract_pages(tmp, e.file)
        document_id = uuid7()
        final = target / f"{document_id}.pdf"
        files.install(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    reading = ctx.now()
    row = {
        "id": document_id,
        "title": e.title,
        "language": e.language,
        "topic": e.topic,
        "page": e.page,
        "source": e.source,
        "published": e.date,
        "sha256": e.sha256,
        "file_name": e.file,
        "bytes": source.size,
        "pages": len(pages),
        "added_at": reading.iso(),
        "added_by": actor.id,
    }
    try:
        with ctx.store.transaction():
            ctx.store.library.add(row, pages)
            ctx.audit(
                actor,
                "library.add",
                detail={"document": document_id, "title": e.title, "sha256": e.sha256},
                reading=reading,
            )
    except BaseException:
        final.unlink(missing_ok=True)  # not listed: not kept
        raise
    return row


def remove(ctx: Context, actor: Actor, data_dir: Path, document_id: str) -> dict[str, Any]:
    """Unlist a document (with its audit row), then delete its file; a power cut in between
    leaves an unlisted file, which the next import sweeps."""
    ctx.require(actor, MANAGE_LIBRARY)
    with ctx.store.transaction():
        row = ctx.store.library.remove(document_id)
        if row is None:
            raise NotFound(f"no document {document_id} in the library")
        ctx.audit(actor, "library.remove", detail={"document": document_id, "title": row["title"]})
    path = document_path(data_dir, document_id)
    try:
        os.unlink(path)
        files.fsync_dir(path.parent)
    except FileNotFoundError:
        pass
    return row


# -- an import's progress, for pages that poll it -----------------------------------------------
def record_progress(ctx: Context, state: dict[str, Any]) -> None:
    ctx.store.set_setting(PROGRESS_SETTING, json.dumps(state, ensure_ascii=False))


def read_progress(ctx: Context) -> dict[str, Any] | None:
    raw = ctx.store.get_setting(PROGRESS_SETTING)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
