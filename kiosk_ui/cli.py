"""`keneya kiosk`: the touchscreen kiosk on the facility's database. Kivy is imported only
when the command runs (never for other `keneya` commands)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from appliance.cli.common import paths


def _size(_ctx, _param, value: str) -> tuple[int, int]:
    try:
        w, h = (int(p) for p in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter("expected WIDTHxHEIGHT, e.g. 800x480") from None
    if not (320 <= w <= 7680 and 240 <= h <= 4320):
        raise click.BadParameter(f"{value}: out of range")
    return w, h


@click.command()
@click.option(
    "--size",
    default="800x480",
    show_default=True,
    callback=_size,
    help='Window size (the official 7" screen is 800x480; also 1024x600, 1280x800).',
)
@click.option("--fullscreen", is_flag=True, help="Fill the screen (the appliance).")
@click.option("--lang", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
@click.option(
    "--tour",
    "tour_out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Instead: walk every screen and state of a seeded demo facility (never this one's "
    "data) in an offscreen window at --size, shoot each into this folder and print the "
    "layout findings as JSON; exit status 1 if there are any.",
)
@click.pass_context
def kiosk(
    ctx: click.Context, size: tuple[int, int], fullscreen: bool, lang: str, tour_out: Path | None
) -> None:
    """The touchscreen: staff PIN login, search, records, forms, the due list."""
    if tour_out is not None:
        _tour(size, lang, tour_out)
        return
    database = paths(ctx).database
    if not database.exists():
        raise click.UsageError(f"{database}: no database (run `keneya db init` first)")
    import os

    # Kivy makes its window on first import, from its config: the size goes in before that.
    os.environ["KCFG_GRAPHICS_WIDTH"], os.environ["KCFG_GRAPHICS_HEIGHT"] = map(str, size)
    from kiosk_ui.app import kivy_env

    kivy_env()
    from kiosk_ui.app import run

    run(
        database,
        size=size,
        fullscreen=fullscreen,
        lang=lang,
        config_dir=paths(ctx).config_dir,
    )


def _tour(size: tuple[int, int], lang: str, out: Path) -> None:
    import os
    import sys

    os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")  # no screen needed for a tour
    from kiosk_ui.tour import run_tour

    result = run_tour(size, [lang], out, None, 60)
    for f in result["findings"]:
        click.echo(
            f"[{f['rule']}] {f['state']}: {f['widget']} {f['text']!r} — {f['detail']}",
            file=sys.__stderr__,  # Kivy has taken over sys.stdout and sys.stderr
        )
    click.echo(json.dumps(result, ensure_ascii=False), file=sys.__stdout__)
    from kiosk_ui.tour import exit_now

    exit_now(1 if result["count"] else 0)  # no GL teardown at exit: it can crash
