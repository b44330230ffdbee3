"""`keneya power …`: battery status and history from the store, the daemon, and calling off a
pending shutdown. `appliance.cli.main` loads this group through the `keneya.commands` entry
point; heavy imports (the daemon, gpiozero) wait until `run` is called.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import math
import os
import signal
import sqlite3
import warnings
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from appliance.cli.common import as_option, emit, json_option, login_as, open_context, paths
from appliance.clock import Clock, read_boot_id
from appliance.services.power import cancel_shutdown as cancel_pending_shutdown
from appliance.store import Store, StoreError
from appliance.store.diskspace import check, open_store
from power import views
from power.check import check_command
from power.sim.scenarios import SCENARIOS

if TYPE_CHECKING:
    from pathlib import Path

    from power.config import PowerConfig
    from power.daemon import PowerDaemon, Summary
    from power.gpio import StatusPanel
    from power.shutdown import WaitOptions

MAX_HOURS = 24 * 366 * 20
# beside the database: held (flock) by the one monitor of this data folder
LOCK_FILE = "keneya-power.lock"
KEPT_IN_MEMORY = (
    "the battery is watched all the same; readings and events wait in memory until the"
    " database can be written"
)


@click.group()
def power() -> None:
    """Battery and solar: status, history, the monitor daemon, a pending shutdown."""


@power.command("status")
@json_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """The latest reading and state, as keneya-power last recorded them."""
    database = paths(ctx).database
    row, now = None, datetime.now(UTC)
    if database.exists():  # no database yet is "no sample yet", not an error
        with open_store(database) as store:
            row = store.power.state()
            now = Clock(store).now().now
    out = views.status(row, now=now)
    emit(out, as_json, views.status_text(out))


@power.command("history")
@click.option(
    "--hours",
    type=click.FloatRange(min=0, min_open=True, max=MAX_HOURS),
    default=24.0,
    show_default=True,
    help="How far back from the latest sample (or now, if later).",
)
@json_option
@click.pass_context
def history(ctx: click.Context, hours: float, as_json: bool) -> None:
    """Stored points: per minute for 48 h, per 15 min for 90 days, per day before that."""
    database = paths(ctx).database
    points = []
    if database.exists():
        with open_store(database) as store:
            now_s = Clock(store).now().now.timestamp()
            latest = store.power.latest_sample()
            # A simulation can run ahead of the clock: the window ends at whichever is later.
            end_s = max(now_s, latest["start_s"] + latest["resolution_s"]) if latest else now_s
            points = views.history_points(store.power.history(end_s - hours * 3600, until_s=end_s))
    emit(points, as_json, views.history_text(points))


@power.command("events")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@json_option
@click.pass_context
def events(ctx: click.Context, limit: int, as_json: bool) -> None:
    """The latest power events, newest first."""
    database = paths(ctx).database
    rows = []
    if database.exists():
        with open_store(database) as store:
            rows = store.power.events(limit=limit)
    emit(rows, as_json, views.events_text(rows))


@power.command("cancel-shutdown")
@as_option
@json_option
@click.pass_context
def cancel_shutdown(ctx: click.Context, as_user: str | None, as_json: bool) -> None:
    """Call off a pending shutdown (the power came back). The daemon acts on it within one
    sample; if the battery is still low it will decide again."""
    if not as_user:
        raise click.UsageError("say who is cancelling: --as USERNAME (PIN on stdin or KENEYA_PIN)")
    with open_context(ctx) as kctx:
        actor = login_as(kctx, as_user)
        out = cancel_pending_shutdown(kctx, actor)
    emit(out, as_json, out["message"])


@power.command("run")
@click.option(
    "--simulate",
    "scenario",
    type=click.Choice(sorted(SCENARIOS)),
    help="Read a simulated INA219 instead of the real one (bus 1).",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    help=(
        "With --simulate: simulated seconds per real second (3600: an hour a second)."
        " Default: as fast as the CPU allows."
    ),
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop after this many seconds of (simulated) time.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.5, max=3600),
    help="Seconds between sensor reads (default: [power] sample_s, else 5).",
)
@click.option(
    "--start-hour",
    type=click.FloatRange(min=0, max=24, max_open=True),
    help="With --simulate: simulated time of day (UTC) to start at (default: now's).",
)
@click.option(
    "--report-every",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Print a status line every this many (simulated) seconds; 0: events only.",
)
@json_option
@click.pass_context
def run(
    ctx: click.Context,
    scenario: str | None,
    speed: float | None,
    duration: float | None,
    interval: float | None,
    start_hour: float | None,
    report_every: float,
    as_json: bool,
) -> None:
    """The battery monitor (the keneya-power service). Stops cleanly on SIGTERM."""
    from appliance.facility_file import read_section
    from appliance.sdnotify import Notifier
    from power import config
    from power.daemon import Settings
    from power.errors import ConfigurationError
    from power.sim import get as get_scenario
    from power.simulated import NO_SCREEN, simulated_daemon
    from power.timebase import SimTime

    if scenario is None and (speed is not None or start_hour is not None):
        raise click.UsageError("--speed and --start-hour only make sense with --simulate")
    p = paths(ctx)
    # the section itself too: a simulation reads it again on the scenario's battery
    section = read_section(p.facility_file, "power", error=ConfigurationError)
    cfg = config.from_mapping(section)
    wait = cfg.wait  # [power.wait]: the low-power wait's screen and USB hub
    settings = Settings(
        sample_s=interval or cfg.sample_s,
        batch_s=cfg.batch_s,
        report_every_s=report_every,
        min_free_fraction=cfg.min_free_percent / 100,
    )

    def echo(line: str) -> None:
        click.echo(line, err=as_json)  # --json keeps stdout for the summary

    def open_database() -> Store:
        return open_store(p.database, create=True)

    with ExitStack() as stack:
        _one_monitor(stack, p.database)
        store = _open_at_start(open_database)
        if store is not None:
            stack.callback(store.close)
        boot_id = read_boot_id()
        common = {
            "settings": settings,
            "notifier": stack.enter_context(Notifier()),
            "boot_id": boot_id,
            "echo": echo,
            "reopen": open_database,
            "database": p.database,
        }
        sim = None
        if scenario is not None:
            now, trusted = _now(store, boot_id)
            start_s = start_hour * 3600 if start_hour is not None else SimTime.seconds_into_day(now)
            chosen = get_scenario(scenario)
            duration = duration or chosen.days * 86_400
            # the scenario is the hardware; the file's decisions apply on top of it (a file
            # that names no chemistry takes the scenario battery's)
            battery = chosen.battery.chemistry
            sim_cfg = config.from_mapping({"chemistry": str(battery), **section})
            if sim_cfg.chemistry is not battery:
                echo(
                    f"keneya power: the facility file says chemistry = {sim_cfg.chemistry}, the"
                    f" {scenario} scenario's battery is {battery}: the file's thresholds are"
                    " tried on it"
                )
            sim = stack.enter_context(
                simulated_daemon(
                    store,
                    chosen.with_(start_s=math.floor(start_s)),
                    origin=now,
                    speed=speed,  # None: as fast as the CPU allows
                    trusted=trusted,
                    config=sim_cfg,
                    # the commands are only recorded; the real screen is left alone
                    wait=dataclasses.replace(
                        wait, backlight=NO_SCREEN.backlight, fb_blank=NO_SCREEN.fb_blank
                    ),
                    **common,
                )
            )
            daemon = sim.daemon
        else:
            daemon = _hardware(stack, store, boot_id, cfg, wait, p.database.parent, common)
        summary = _run_with_signals(daemon, duration)
        if sim is not None:
            sim.finish()
    out = summary.to_dict()
    emit(out, as_json, run_text(out))


def run_text(out: dict[str, Any]) -> str:
    """The run's summary in a few lines: what was read, and what the safe shutdown did."""
    lines = [
        f"stopped ({out['stopped_by']}): {out['samples']} readings, {out['faults']} failed,"
        f" {out['writes']} writes; state {out['state']}"
    ]

    def when(prefix: str) -> str:
        at, hours = out[prefix + "_at"], out[prefix + "_h"]
        return f"{at}" if hours is None else f"{at} ({hours:.2f} h)"

    # what happened, in the order it happened (a stable sort: ties keep this order)
    timed: list[tuple[float, str]] = []

    def add(prefix: str, line: str) -> None:
        if out[prefix + "_at"]:
            timed.append((out[prefix + "_h"] or 0.0, line))

    add("shutdown_decided", f"shutdown decided {when('shutdown_decided')}")
    if out["shutdown_executed"]:
        add(
            "shutdown_executed",
            f"services stopped {when('shutdown_executed')} by {out['shutdown_how']}",
        )
    add("hold_started", f"critical: records closed, filesystems read-only {when('hold_started')}")
    add("poweroff", f"powered off {when('poweroff')}")
    if out["reboot_at"]:
        add(
            "reboot",
            f"rebooted out of the read-only hold {when('reboot')} ({out['reboot_by']})",
        )
    if out["services_back_at"] and out["services_back_at"] != out["back_at"]:
        add("services_back", f"services back {when('services_back')}")  # else: the line below
    if out["cutoff_at"]:
        margin = "" if out["margin_s"] is None else f", {out['margin_s'] / 60:.0f} min after"
        add("cutoff", f"charge controller cut the load {when('cutoff')}{margin}")
    if out["back_at"]:
        how = "its reconnect booted" if out["back_by"] == "reconnect" else "the reboot booted"
        add("back", f"back by itself {when('back')}: {how} the Pi")
    lines += [line for _, line in sorted(timed, key=lambda item: item[0])]
    if out["wait_wh"]:
        lines.append(f"low-power wait used {out['wait_wh']:.1f} Wh")
    if out["hold_wh"]:
        lines.append(f"read-only hold used {out['hold_wh']:.1f} Wh")
    return "\n".join(lines)


def _one_monitor(stack: ExitStack, database: Path) -> None:
    """One monitor per data folder: two would both write (minute rows averaging two
    batteries) and, on a Pi, both stop services and power off. An exclusive flock on
    LOCK_FILE beside the database, held for the process's life: the kernel lets it go with
    the process, even on kill -9, so a stale lock cannot keep the monitor from starting. A
    read-only data folder takes the lock on an existing file (lock file or database); with
    neither, there is nothing to share and the battery is watched all the same."""
    lock = database.parent / LOCK_FILE
    fd = None
    with contextlib.suppress(OSError):
        database.parent.mkdir(parents=True, exist_ok=True)
    for path, flags in (
        (lock, os.O_RDWR | os.O_CREAT),
        (lock, os.O_RDONLY),
        (database, os.O_RDONLY),
    ):
        try:
            fd = os.open(path, flags | os.O_CLOEXEC, 0o644)
            break
        except OSError:
            continue
    if fd is None:
        return
    stack.callback(os.close, fd)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        except OSError:
            pid = "unknown"
        raise click.ClickException(f"another keneya-power is running (pid {pid})") from None
    # the pid, for the second monitor's message; a full disk may refuse it (the lock holds)
    with contextlib.suppress(OSError):
        if os.fstat(fd).st_ino == os.stat(lock).st_ino:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)


def _open_at_start(open_database: Callable[[], Store]) -> Store | None:
    """The database, else None: the battery is watched even when the disk is full, read-only
    or the database unreadable (the daemon opens it again when it has something to write)."""
    from appliance.cli.main import one_line

    try:
        store = open_database()
    except (sqlite3.DatabaseError, OSError, StoreError) as exc:
        click.echo(f"keneya power: {one_line(exc)}; {KEPT_IN_MEMORY}", err=True)
        return None
    if store.read_only:
        problem = check(store.path.parent)
        why = str(problem) if problem else "the database is read-only"
        click.echo(f"keneya power: {why}; {KEPT_IN_MEMORY}", err=True)
    return store


def _now(store: Store | None, boot_id: str) -> tuple[datetime, bool]:
    """Now and whether it is trusted; the machine clock, untrusted, without a database."""
    if store is not None:
        try:
            reading = Clock(store, boot_id=boot_id).now()
            return reading.now, reading.trusted
        except sqlite3.Error:
            pass
    return datetime.now(UTC), False


def _run_with_signals(daemon: PowerDaemon, duration: float | None) -> Summary:
    """SIGTERM (systemd) and SIGINT (Ctrl-C) stop the loop; the daemon then flushes."""

    def handler(signum: int, frame: object) -> None:
        daemon.stop()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return daemon.run(duration_s=duration)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _hardware(
    stack: ExitStack,
    store: Store | None,
    boot_id: str,
    cfg: PowerConfig,
    wait: WaitOptions,
    data_dir: Path,
    common: dict[str, Any],
) -> PowerDaemon:
    """The INA219 on the Pi's I2C bus, systemctl for real, the GPIO panel if there is one."""
    from power.battery import SocEstimator
    from power.daemon import PowerDaemon
    from power.sensor import Ina219Sensor
    from power.shutdown import for_this_user
    from power.timebase import RealTime

    sensor = Ina219Sensor.open(
        bus_number=cfg.bus_number,
        address=cfg.address,
        shunt_ohms=cfg.shunt_ohms,
        max_current_a=cfg.max_current_a,
        invert=cfg.invert,
    )
    stack.enter_context(sensor)

    def panel_factory(request: Callable[[], None]) -> StatusPanel | None:
        if not cfg.gpio.pins():
            return None
        try:
            from power.gpio import StatusPanel

            with warnings.catch_warnings():  # one line below says it if no factory works
                warnings.simplefilter("ignore")
                return StatusPanel(cfg.gpio, on_shutdown_request=request)
        except Exception as exc:  # no GPIO (a laptop): the battery is still watched
            click.echo(f"keneya power: no GPIO panel ({exc})", err=True)
            return None

    daemon: PowerDaemon | None = None

    def current_store() -> Store | None:  # the daemon opens the database again after a failure
        return daemon.store if daemon is not None else store

    daemon = PowerDaemon(
        store,
        sensor,
        time_base=RealTime(current_store, boot_id=boot_id),
        estimator=SocEstimator(cfg.capacity_ah, chemistry=cfg.chemistry),
        thresholds=cfg.thresholds(),
        # critical: the read-only hold remounts the data folder's filesystem, then all of them
        shutdown=for_this_user(grace_s=cfg.grace_s, wait=wait, data_dir=data_dir),
        source="ina219",
        panel_factory=panel_factory,
        shunt_ohms=cfg.shunt_ohms,
        policy_factory=cfg.policy,  # the installation's draws and where its shunt sits
        **common,
    )
    stack.callback(daemon.close)
    return daemon


power.add_command(check_command)
