"""`keneya serve`: the tablet web app (uvicorn)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from appliance.cli.common import paths


@click.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (the hotspot address on the appliance).",
)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--leases-file",
    type=click.Path(dir_okay=False),
    help="dnsmasq leases file, for the hotspot clients on the status page.",
)
@click.pass_context
def serve(ctx, host, port, leases_file):
    """Serve the records to the tablets' browsers until stopped (Ctrl-C or SIGTERM)."""
    import uvicorn

    from appliance.web.app import create_app
    from appliance.web.core import WebSettings

    p = paths(ctx)
    if not p.database.exists():
        raise click.UsageError(
            f"no database at {p.database}: provision the appliance, or run `keneya demo` first"
        )
    app = create_app(WebSettings(p, leases_file=Path(leases_file) if leases_file else None))
    logins = p.data_dir / "demo-logins.txt"
    click.echo(f"Keneya web app on http://{host}:{port}/  (Ctrl-C to stop)")
    if logins.exists():
        click.echo("Demo logins (username, password):")
        for line in logins.read_text(encoding="utf-8").splitlines():
            username, role, pin = line.split()
            click.echo(f"  {username:<12} demo-{pin:<10} {role}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


COMMANDS = (serve,)
