"""keneya library: the guidelines and job aids kept on the appliance (add from a stick, list,
search, remove). Reading is for every staff member, adding and removing for the admin."""

from __future__ import annotations

from pathlib import Path

import click

from appliance.cli.common import as_option, emit, json_option, login_as, open_context, paths
from appliance.services import library as service
from appliance.store.library import HIT_END, HIT_START


def size(n: int) -> str:
    """2,4 Ko, 3,1 Mo, 7,5 Go: French, as the pages say it."""
    if n >= 1024**3:
        value, unit = n / 1024**3, "Go"
    else:
        value, unit = (n / 1024, "Ko") if n < 1024**2 else (n / 1024**2, "Mo")
    return f"{value:.1f}".replace(".", ",") + f" {unit}"


def _line(d: dict) -> str:
    page = f", p. {d['page']}" if d.get("page") else ""
    return (
        f"{d['id']}  [{d['topic']}{page}] {d['title']} ({d['language']}, {d['pages']} p.,"
        f" {size(d['bytes'])})"
    )


@click.group("library")
def library() -> None:
    """Guidelines and job aids (PDF): from a USB stick's keneya-bibliotheque/, searchable."""


@library.command("add")
@click.argument("folder", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--yes", is_flag=True, help="Copy without asking (after checking everything).")
@as_option
@json_option
@click.pass_context
def add_cmd(ctx, folder, yes, as_user, as_json):
    """Copy the documents of FOLDER (a stick's top or its keneya-bibliotheque/) after checking
    the index, each file and the space; those already here are skipped."""
    data_dir = paths(ctx).data_dir
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        plan = service.plan(kctx, actor, folder, data_dir)
        click.echo(
            f"{plan['new']} document(s) à copier ({size(plan['new_bytes'])}),"
            f" {len(plan['documents']) - plan['new']} déjà présent(s) ; place libre"
            f" {size(plan['free_bytes'])}",
            err=True,
        )
        if plan["new"] and not yes:
            click.confirm("Copier ces documents ?", abort=True, err=True)

        def progress(step: dict) -> None:
            if step["state"] == "copying":
                click.echo(
                    f"[{step['n']}/{step['of']}] {step['file']} ({size(step['bytes'])})…", err=True
                )

        out = service.import_folder(kctx, actor, folder, data_dir, progress=progress)
    emit(
        out,
        as_json,
        f"{len(out['added'])} document(s) ajouté(s) ({size(out['bytes'])},"
        f" {out['seconds']} s), {len(out['skipped'])} déjà présent(s)",
    )


@library.command("list")
@as_option
@json_option
@click.pass_context
def list_cmd(ctx, as_user, as_json):
    """Every document, French first, with the space the library takes."""
    with open_context(ctx) as kctx:
        out = service.listing(kctx, login_as(kctx, as_user))
    lines = [_line(d) for d in out["documents"]]
    lines.append(f"{out['count']} document(s), {size(out['bytes'])}")
    emit(out, as_json, "\n".join(lines))


@library.command("search")
@click.argument("query")
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True)
@as_option
@json_option
@click.pass_context
def search_cmd(ctx, query, limit, as_user, as_json):
    """Documents whose title or text holds every word of QUERY (accents ignored)."""
    with open_context(ctx) as kctx:
        found = service.search(kctx, login_as(kctx, as_user), query, limit=limit)
    for d in found:
        d["snippet"] = " ".join(d["snippet"].split()).replace(HIT_START, "«").replace(HIT_END, "»")
    lines = [f"{_line(d)}\n    p. {d['hit_page']} : {d['snippet']}" for d in found]
    emit({"query": query, "documents": found}, as_json, "\n".join(lines) or "aucun document")


@library.command("remove")
@click.argument("document_id")
@as_option
@json_option
@click.pass_context
def remove_cmd(ctx, document_id, as_user, as_json):
    """Remove a document (its file and its text) from the library."""
    with open_context(ctx) as kctx:
        row = service.remove(kctx, login_as(kctx, as_user), paths(ctx).data_dir, document_id)
    emit({"removed": row}, as_json, f"retiré : {row['title']}")


@library.command("stick-in", hidden=True)
@click.argument("device", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def stick_in_cmd(ctx, device):
    """(root, keneya-library-usb@DEV) Keep DEVICE mounted read-only for the import pages when
    it holds a keneya-bibliotheque/ folder; let it go otherwise."""
    from appliance.library import stick

    try:
        point = stick.stick_in(device, owner_of=paths(ctx).data_dir)
    except stick.StickError as e:
        raise click.ClickException(str(e)) from None
    if point is None:
        click.echo(f"{device} : pas de bibliothèque sur la clé / no library on the stick")
    else:
        click.echo(f"{device} : bibliothèque en lecture seule sous {point} / library read-only")


@library.command("stick-out", hidden=True)
@click.argument("device", type=click.Path(dir_okay=False, path_type=Path))
def stick_out_cmd(device):
    """(root, keneya-library-usb@DEV stopping: the stick was pulled out) Let go of its mount."""
    from appliance.library import stick

    try:
        stick.stick_out(device)
    except stick.StickError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{device} : clé libérée / stick let go")


COMMANDS = (library,)
