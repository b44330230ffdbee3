"""`keneya` — the appliance's command line. Bad input gives one line and exit status 2."""

from __future__ import annotations

import sqlite3
import sys

import click

from appliance.cli.common import Env
from appliance.paths import Paths
from appliance.services.errors import ServiceError
from appliance.store.db import StoreError

EXIT_BAD_INPUT = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False),
    envvar="KENEYA_HOME",
    help="One folder holding config and data (default: /etc/keneya, /var/lib/keneya).",
)
@click.pass_context
def cli(ctx: click.Context, home: str | None) -> None:
    """Keneya: the health centre's records, reports, power and modem."""
    ctx.obj = Env(Paths.resolve(home))


def _register() -> None:
    from appliance.cli import maintenance, records

    for group in (*maintenance.COMMANDS, *records.COMMANDS):
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
    except (ServiceError, StoreError, ValueError, LookupError, PermissionError) as e:
        click.echo(f"keneya: {e}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except sqlite3.DatabaseError as e:
        click.echo(f"keneya: database problem: {e}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except OSError as e:
        click.echo(f"keneya: {e.strerror or e}: {e.filename or ''}".rstrip(": "), err=True)
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
