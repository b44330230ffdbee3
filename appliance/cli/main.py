"""`keneya` — the appliance's command line. Bad input gives one line and exit status 2."""

from __future__ import annotations

import sqlite3
import sys
from importlib.metadata import entry_points

import click

from appliance.cli.common import Env
from appliance.paths import Paths
from appliance.services.errors import ServiceError
from appliance.store.db import StoreError
from appliance.store.diskspace import classify

EXIT_BAD_INPUT = 2
# Other packages (power, modem, provisioning, …) add their subcommands through this entry-point
# group, so that `appliance` never imports them (dependencies point one way).
PLUGIN_GROUP = "keneya.commands"


class PluginGroup(click.Group):
    """A click group that also offers the subcommands other packages declare, loaded only when
    used so that `keneya patient …` does not pay for importing the modem driver."""

    def _plugins(self) -> dict[str, object]:
        return {ep.name: ep for ep in entry_points(group=PLUGIN_GROUP)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._plugins()))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None and name in (plugins := self._plugins()):
            command = plugins[name].load()  # type: ignore[attr-defined]
        return command


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    envvar="KENEYA_HOME",
    help="One folder holding config and data (default: /etc/keneya, /var/lib/keneya).",
)
@click.pass_context
def cli(ctx: click.Context, home: str | None) -> None:
    """Keneya: the health centre's records, reports, power and modem."""
    global _paths
    ctx.obj = Env(_paths := Paths.resolve(home))


# The paths of the command being run: main() judges a database or OS error on their folder.
_paths: Paths | None = None


def _register() -> None:
    from appliance.cli import (
        backup,
        clinical,
        dashboard,
        library,
        maintenance,
        opinion,
        outbox,
        records,
        referral,
        reminders,
        reports,
        settings,
        status,
        web,
    )

    for group in (
        *maintenance.COMMANDS,
        *backup.COMMANDS,
        *status.COMMANDS,
        *records.COMMANDS,
        *clinical.COMMANDS,
        *outbox.COMMANDS,
        *opinion.COMMANDS,
        *reports.COMMANDS,
        *dashboard.COMMANDS,
        *web.COMMANDS,
        *reminders.COMMANDS,
        *referral.COMMANDS,
        *settings.COMMANDS,
        *library.COMMANDS,
    ):
        cli.add_command(group)


_register()


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="keneya", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("keneya: aborted", err=True)
        sys.exit(1)
    except click.ClickException as e:
        click.echo(f"keneya: {e.format_message()}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except (
        ServiceError,
        StoreError,
        ValueError,
        LookupError,
        sqlite3.DatabaseError,
        OSError,
    ) as e:
        click.echo(f"keneya: {one_line(e)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        sys.exit(130)


def one_line(e: Exception) -> str:
    """What went wrong, in one line: a full or read-only data folder first, whichever layer
    noticed it (SQLite or the OS)."""
    if isinstance(e, sqlite3.DatabaseError | OSError):
        problem = classify(e, _paths.database if _paths else None)
        if problem is not None:
            return str(problem)
    if isinstance(e, ServiceError | StoreError | ValueError | LookupError | PermissionError):
        return str(e)
    if isinstance(e, sqlite3.DatabaseError):
        return f"database problem: {e}"
    if isinstance(e, OSError):
        return f"{e.strerror or e}: {e.filename or ''}".rstrip(": ")
    return str(e)


if __name__ == "__main__":
    main()
