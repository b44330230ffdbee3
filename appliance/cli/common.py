"""What every subcommand shares: the home folder, opening the store, acting as a staff
member, and printing results for people or for scripts (--json)."""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import click

from appliance.paths import Paths
from appliance.services import auth
from appliance.services.context import Actor, Context
from appliance.store.diskspace import open_store


@dataclass
class Env:
    paths: Paths


def paths(ctx: click.Context) -> Paths:
    return ctx.find_object(Env).paths


@contextmanager
def open_context(click_ctx: click.Context, *, create: bool = False) -> Iterator[Context]:
    """The service context on the database; read-only when the disk is full or read-only
    (reads work, a write then fails naming the cause)."""
    with open_store(paths(click_ctx).database, create=create) as store:
        yield Context.open(store)


def _read_stdin_line(what: str) -> str:
    if sys.stdin is None or sys.stdin.closed:
        raise click.UsageError(f"{what}: nothing on standard input")
    if sys.stdin.isatty():
        return getpass.getpass(f"{what}: ")
    line = sys.stdin.readline()
    if not line:
        raise click.UsageError(f"{what}: nothing on standard input")
    return line.rstrip("\r\n")


def actor_pin() -> str:
    """The PIN of the staff member named by --as: KENEYA_PIN, else the first stdin line."""
    return os.environ.get("KENEYA_PIN") or _read_stdin_line("PIN")


def login_as(ctx: Context, username: str | None) -> Actor:
    if not username:
        raise click.UsageError(
            "this command reads or writes patient data: say who you are "
            "with --as USERNAME (PIN on stdin or in KENEYA_PIN)"
        )
    return auth.login(ctx, username, pin=actor_pin(), client="console")


def secret_from_stdin(what: str) -> str:
    return _read_stdin_line(what)


def emit(data: Any, as_json: bool, human: str | None = None) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        click.echo(
            human
            if human is not None
            else json.dumps(data, ensure_ascii=False, indent=2, default=str)
        )


as_option = click.option(
    "--as",
    "as_user",
    metavar="USERNAME",
    help="Act as this staff member (PIN on stdin or in KENEYA_PIN).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
