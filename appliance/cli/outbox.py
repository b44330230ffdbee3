"""`keneya outbox …` (reports waiting for DHIS2) and `keneya dhis2-sim` (a DHIS2 to send to)."""

from __future__ import annotations

import contextlib
import stat
import threading
from pathlib import Path

import click

from appliance.cli.common import emit, json_option, paths
from appliance.clock import Clock
from appliance.store import Store

LIST_FIELDS = (
    "id",
    "kind",
    "dataset",
    "period",
    "version",
    "status",
    "attempts",
    "last_error",
    "delivered_at",
    "import_summary",
    "sms_sent_at",  # the SMS summary sent while the upload waits for the 3G
)


@click.group()
def outbox() -> None:
    """Reports waiting to leave for the district's DHIS2."""


@outbox.command("list")
@click.option("--status", "statuses", multiple=True, help="Only items in this status.")
@json_option
@click.pass_context
def outbox_list(ctx, statuses, as_json):
    """Show the items, newest first."""
    with Store(paths(ctx).database) as store:
        items = [{k: i[k] for k in LIST_FIELDS} for i in store.outbox.list(statuses=statuses)]
    lines = [
        f"{i['period']:<8} {i['dataset']:<12} v{i['version']:<2} {i['status']:<10}"
        f" tries={i['attempts']}"
        + (f" SMS sent {i['sms_sent_at'][:16].replace('T', ' ')}Z" if i["sms_sent_at"] else "")
        + f" {i['last_error'] or ''}".rstrip()
        for i in items
    ]
    emit(items, as_json, "\n".join(lines) or "the outbox is empty")


@outbox.command("show")
@click.argument("item_id")
@json_option
@click.pass_context
def outbox_show(ctx, item_id, as_json):
    """One item with its whole history: every attempt, error and server reply."""
    with Store(paths(ctx).database) as store:
        item = store.outbox.get(item_id)
        if item is None:
            raise click.UsageError(f"no outbox item {item_id}")
        out = {
            **{k: item[k] for k in LIST_FIELDS},
            "created_at": item["created_at"],
            "history": store.outbox.attempts(item_id),
        }
    lines = [f"{out['period']} {out['dataset']} v{out['version']}: {out['status']}"]
    lines += [
        f"  {a['at']}  HTTP {a['http_status'] or '-'}  {a['error'] or 'ok'}" for a in out["history"]
    ]
    emit(out, as_json, "\n".join(lines))


def _warn_if_readable(path: Path) -> None:
    if path.exists() and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        click.echo(f"keneya: warning: {path} is readable by others; chmod 600 it", err=True)


@outbox.command("drain")
@click.option("--url", help="DHIS2 base URL (default: the dhis2_url setting).")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the API token (default: <config>/secrets/dhis2_token).",
)
@click.option(
    "--ca-file",
    type=click.Path(exists=True, dir_okay=False),
    help="CA bundle for a DHIS2 with a private certificate (default: dhis2_ca_file setting).",
)
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds per try.")
@json_option
@click.pass_context
def outbox_drain(ctx, url, token_file, ca_file, timeout, as_json):
    """Send every report that is due now."""
    from appliance.outbox.sender import Dhis2SetupError, config_from_settings, drain

    with Store(paths(ctx).database) as store:
        token_path = Path(token_file) if token_file else paths(ctx).secrets_dir / "dhis2_token"
        _warn_if_readable(token_path)
        try:
            config = config_from_settings(
                store,
                paths(ctx).secrets_dir,
                url=url,
                token_file=token_path,
                ca_file=ca_file,
                timeout_s=timeout,
            )
        except Dhis2SetupError as e:
            hint = " (or give --url)" if "address" in str(e) else ""
            raise click.UsageError(f"{e}{hint}") from None
        clock = Clock(store)
        result = drain(store, config, now=lambda: clock.now().now).as_dict()
    human = (
        f"delivered {len(result['delivered'])}, failed {len(result['failed'])},"
        f" waiting to retry {len(result['retrying'])}"
    )
    emit(result, as_json, human)


@click.command("dhis2-sim")
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--metadata",
    type=click.Path(exists=True, dir_okay=False),
    required=True,
    help="JSON: dataSets, dataElements, orgUnits, categoryOptionCombos (UIDs).",
)
@click.option("--token", "tokens", multiple=True, help="An API token it accepts.")
@click.option("--user", "users", multiple=True, metavar="NAME:PASSWORD", help="A Basic user.")
@click.option("--data-file", type=click.Path(dir_okay=False), help="Keep the values here.")
@click.option(
    "--auto-reply",
    "auto_reply",
    type=click.FloatRange(min=0),
    help="Play the district: answer each new second-opinion question after SECONDS.",
)
def dhis2_sim(port, host, metadata, tokens, users, data_file, auto_reply):
    """Run a small DHIS2 simulator until interrupted (for demos and tests)."""
    from appliance.outbox.dhis2_sim import Dhis2Metadata, Dhis2Sim

    credentials = dict(u.partition(":")[::2] for u in users)
    sim = Dhis2Sim(
        Dhis2Metadata.load(metadata),
        tokens=tokens,
        users=credentials,
        host=host,
        port=port,
        data_file=data_file,
        auto_reply_s=auto_reply,
    )
    with sim:
        click.echo(f"DHIS2 simulator on {sim.url} (Ctrl-C to stop)", err=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


COMMANDS = (outbox, dhis2_sim)
