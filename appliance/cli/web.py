"""`keneya serve`: the tablet web app (uvicorn).

Under systemd (`Type=notify`, keneya-web.service) it says READY=1 once uvicorn listens,
pings the watchdog while a database query through the requests' own pool succeeds, and says
STOPPING=1 when asked to stop. Without $NOTIFY_SOCKET all of that is a no-op.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from appliance.cli.common import paths
from appliance.malloc import tune_malloc
from appliance.sdnotify import Notifier, watchdog_period_s

GRACEFUL_STOP_S = 3


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
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 8),
    help="Processes serving requests (one per CPU core the other services can spare).",
)
@click.pass_context
def serve(ctx, host, port, leases_file, workers):
    """Serve the records to the tablets' browsers until stopped (Ctrl-C or SIGTERM)."""
    import uvicorn

    from appliance.web.app import create_app
    from appliance.web.core import WebSettings
    from appliance.web.systemd import NotifyingServer, run_workers

    p = paths(ctx)
    if not p.database.exists():
        raise click.UsageError(
            f"no database at {p.database}: provision the appliance, or run `keneya demo` first"
        )
    if workers > 1 and watchdog_period_s() is not None:
        # Several processes: no single event loop can vouch for all of them.
        raise click.UsageError("--workers above 1 cannot keep systemd's watchdog: use one")
    logins = p.data_dir / "demo-logins.txt"
    click.echo(f"Keneya web app on http://{host}:{port}/  (Ctrl-C to stop)")
    if logins.exists():
        click.echo("Demo logins (username, password):")
        for line in logins.read_text(encoding="utf-8").splitlines():
            username, role, pin = line.split()
            click.echo(f"  {username:<12} demo-{pin:<10} {role}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    tune_malloc()  # before any thread: a login's 19 MiB is given back (appliance/malloc.py)
    from appliance.web.clients import GuardedHttpTools

    options = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "access_log": False,
        # per-client connection limit and a deadline on a request's head (web/clients.py)
        "http": GuardedHttpTools,
        "timeout_keep_alive": 5,
        # On SIGTERM, requests under way get this long, then are cancelled: a hung client
        # cannot hold the stop (systemd's TimeoutStopSec is 10 s, the goal 5 s).
        "timeout_graceful_shutdown": GRACEFUL_STOP_S,
    }
    with Notifier() as notifier:
        if workers == 1:
            leases = Path(leases_file) if leases_file else None
            app = create_app(WebSettings(p, leases_file=leases, keep_due_items_current=True))
            server = NotifyingServer(
                uvicorn.Config(app, **options), notifier, probe=app.state.database_answers
            )
            server.run()
            if not server.started:  # the port was taken, or the app failed to start
                ctx.exit(1)
            return
        # Worker processes import the app themselves, from the environment.
        if p.config_dir == p.data_dir:  # a home folder (else the system paths, as here)
            os.environ["KENEYA_HOME"] = str(p.data_dir)
        if leases_file:
            os.environ["KENEYA_LEASES_FILE"] = str(Path(leases_file).resolve())
        run_workers(
            uvicorn.Config(
                "appliance.web.app:app_from_environment",
                factory=True,
                workers=workers,
                **options,
            ),
            notifier,
        )


COMMANDS = (serve,)
