"""`keneya modem …`: the modem's status, the daemon, a test SMS, and the E173 simulator.

`appliance.cli.main` loads this group through the `keneya.commands` entry point; the driver,
the links and the simulator are imported only by the commands that use them.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from appliance.cli.common import emit, json_option, paths
from appliance.clock import Clock, plausible
from appliance.services.status import modem_report, modem_running
from appliance.store import Store

if TYPE_CHECKING:
    from appliance.paths import Paths
    from modem.config import ModemConfig
    from modem.daemon import ModemDaemon
    from modem.link import DataLink

log = logging.getLogger(__name__)

# The simulated SIM's SMS centre (a real SIM carries its operator's).
SIMULATED_SMSC = "+22300000000"
# The networks the simulator plays (modem.simulator.NETWORKS; listed here so --help does not
# import the simulator).
SIMULATED_OPERATORS = ("malitel", "orange", "telecel")
STATUS_FIELDS = (
    "present",
    "model",
    "imei",
    "sim",
    "registration",
    "operator",
    "mcc_mnc",
    "signal_dbm",
    "signal_bars",
    "apn",
    "link_up",
)


@click.group()
def modem() -> None:
    """The 3G modem: status, the daemon that sends reports, a test SMS, a simulator."""


# -- status -----------------------------------------------------------------------------------
def read_status(store: Store, *, now: datetime) -> dict[str, Any]:
    """What keneya-modem last wrote, with the outbox figures, and whether it is fresh."""
    saved = modem_report(store)
    out: dict[str, Any] = {key: saved.get(key) for key in STATUS_FIELDS}
    out["present"] = bool(out["present"])
    out["link_up"] = bool(out["link_up"])
    out["signal_bars"] = out["signal_bars"] or 0
    counts = store.outbox.counts()
    updated = saved["updated_at"]
    out.update(
        state=saved.get("state", "unknown"),
        since=saved.get("since"),
        error=saved.get("error") or saved.get("upload_error"),
        link=saved.get("link"),
        last_upload_at=saved["last_upload_at"] or store.outbox.last_delivered_at(),
        outbox_pending=counts["queued"] + counts["sending"],
        outbox_failed=counts["failed"],
        updated_at=updated,
        # a clean stop leaves its marker; a killed daemon only goes stale
        daemon_running=modem_running(saved, now),
        stopped_at=saved["stopped_at"],
    )
    if updated and not out["daemon_running"]:
        # what a stopped or silent daemon last saw is not the modem's state now (the same rule
        # as the status page: appliance.services.status._modem)
        out["last_state"], out["state"] = out["state"], "stopped" if stopped(out) else "silent"
        for key in ("registration", "operator", "mcc_mnc", "signal_dbm", "apn", "link"):
            out[key] = None
        out["signal_bars"], out["link_up"] = 0, False
    return out


def stopped(s: dict[str, Any]) -> bool:
    return bool(s.get("stopped_at"))


def status_text(s: dict[str, Any]) -> str:
    if s["updated_at"] is None:
        head = "modem: keneya-modem has not run yet"
    else:
        head = f"modem: {s['state']} since {s['since']}"
        if stopped(s):
            head = f"modem: keneya-modem stopped at {s['stopped_at']}"
        elif not s["daemon_running"]:
            head = f"modem: keneya-modem silent since {s['updated_at']} (killed or stuck?)"
        if not s["daemon_running"]:
            head += f"; it last saw {s.get('last_state')} since {s['since']}"
    lines = [head]
    if s["present"] and s["daemon_running"]:
        lines.append(f"  {s['model'] or '?'}  IMEI {s['imei'] or '?'}  SIM {s['sim'] or '?'}")
        signal_text = "unknown" if s["signal_dbm"] is None else f"{s['signal_dbm']} dBm"
        lines.append(
            f"  network {s['operator'] or '-'} ({s['mcc_mnc'] or '-'}), {s['registration']},"
            f" signal {signal_text} [{'|' * s['signal_bars']:<5}]"
        )
    apn = f", APN {s['apn']}" if s.get("apn") else ""
    lines.append(f"  data link {'up' if s['link_up'] else 'down'}{apn}")
    if s["error"]:
        lines.append(f"  ! {s['error']}")
    lines.append(
        f"  outbox: {s['outbox_pending']} waiting, {s['outbox_failed']} failed;"
        f" last upload {s['last_upload_at'] or 'never'}"
    )
    return "\n".join(lines)


@modem.command("status")
@json_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """What keneya-modem last saw: SIM, network, signal, data link, reports waiting."""
    database = paths(ctx).database
    if not database.exists():
        raise click.UsageError(f"no database at {database}: run `keneya db init` first")
    with Store(database) as store:
        out = read_status(store, now=Clock(store).now().machine)
    emit(out, as_json, status_text(out))


# -- the daemon -------------------------------------------------------------------------------
@modem.command("run")
@click.option("--simulate", is_flag=True, help="Drive a simulated E173 and a flaky link.")
@click.option(
    "--device", help="The modem's AT port (default: [modem] device, else found by USB id)."
)
@click.option(
    "--outage",
    type=(click.FloatRange(min=1), click.FloatRange(min=1)),
    default=(120.0, 60.0),
    show_default=True,
    help="With --simulate: mean seconds the link stays up, then down.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="With --simulate.")
@click.option(
    "--operator",
    type=click.Choice(SIMULATED_OPERATORS),
    default="orange",
    show_default=True,
    help="With --simulate: the Malian network the simulated SIM registers on.",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop after this many seconds (default: until SIGTERM).",
)
@click.pass_context
def run(ctx, simulate, device, outage, seed, operator, duration) -> None:
    """The modem daemon (the keneya-modem service). Stops cleanly on SIGTERM."""
    from appliance.sdnotify import Notifier
    from modem import config as modem_config
    from modem.errors import ConfigurationError

    p = paths(ctx)
    try:
        cfg = modem_config.load(p.facility_file)
    except ConfigurationError as e:
        raise click.UsageError(str(e)) from None
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with ExitStack() as stack:
        store = stack.enter_context(Store(p.database, create=True))
        notifier = stack.enter_context(Notifier())
        daemon = build_daemon(
            stack,
            store,
            p,
            cfg,
            simulate=simulate,
            device=device,
            outage=outage,
            seed=seed,
            operator=operator,
            notifier=notifier,
        )
        _run_with_signals(daemon, duration)
        snap = daemon.snapshot()
    click.echo(f"keneya-modem stopped: {snap['state']}, link {'up' if snap['link_up'] else 'down'}")


def _run_with_signals(daemon: ModemDaemon, duration: float | None) -> None:
    def handler(signum: int, frame: object) -> None:
        daemon.stop()

    previous = {
        s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM)
    }
    if duration:
        signal.setitimer(signal.ITIMER_REAL, duration)
    try:
        daemon.run()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for s, h in previous.items():
            signal.signal(s, h)


def build_daemon(
    stack: ExitStack,
    store: Store,
    p: Paths,
    cfg: ModemConfig,
    *,
    simulate: bool,
    device: str | None,
    outage: tuple[float, float] = (120.0, 60.0),
    seed: int = 1,
    operator: str = "orange",
    notifier: Any = None,
) -> ModemDaemon:
    """Everything keneya-modem needs, from the facility file, the secrets and the store."""
    from appliance.outbox.sender import config_from_settings
    from appliance.reports import formats
    from modem.apn import ApnOverrides
    from modem.config import read_secret
    from modem.daemon import ModemDaemon
    from modem.machine import ModemMachine
    from modem.uploader import SmsFallback, Uploader, next_concat_reference

    clock = Clock(store)

    def now() -> datetime:
        return clock.now().now

    link: DataLink
    if simulate:
        from modem.link import SimulatedLink, flaky_schedule
        from modem.simulator import NETWORKS, E173Simulator

        network = NETWORKS[operator]
        if device is None:
            sim = stack.enter_context(
                E173Simulator(
                    seed=seed, registration_delay_s=2.0, smsc=SIMULATED_SMSC, network=operator
                ).start()
            )
            device = sim.device
        link = SimulatedLink(
            schedule=flaky_schedule(seed, mean_up_s=outage[0], mean_down_s=outage[1]),
            operator=network.long_name,
            mcc_mnc=network.mcc_mnc,
        )
    else:
        link = _real_link(cfg)
    stack.callback(link.close)

    machine = None
    if not link.owns_modem:
        from modem.ports import find_at_port

        chosen = device or cfg.device or None
        machine = ModemMachine(
            find_port=(lambda: chosen if chosen and Path(chosen).exists() else None)
            if chosen
            else find_at_port,
            sim_pin=read_secret(p.secrets_dir / "sim_pin"),
            pin_rejected=lambda pin: store.get_setting("modem.rejected_pin") == _digest(pin),
            remember_rejected_pin=lambda pin: store.set_setting("modem.rejected_pin", _digest(pin)),
            apn_override=ApnOverrides.of(cfg),
            next_sms_reference=lambda: next_concat_reference(store),
            on_network_time=lambda moment: _network_time(clock, moment),
        )
        stack.callback(machine.close)

    uploader = Uploader(
        store,
        link=link,
        dhis2=lambda: config_from_settings(store, p.secrets_dir),
        pay_per_minute=cfg.pay_per_minute,
        now=now,
        between_items=notifier.watchdog if notifier else lambda: None,
    )
    fallback = send_sms = None
    if machine is not None:
        send_sms = machine.send_sms
    elif hasattr(link, "send_sms"):
        send_sms = link.send_sms  # ModemManager holds the stick: it sends
    if cfg.sms_gateway and send_sms is not None:
        mapping_file = p.config_dir / "dhis2-mapping.json"
        fallback = SmsFallback(
            store,
            gateway=cfg.sms_gateway,
            after_days=cfg.sms_after_days,
            mapping=formats.load_mapping(mapping_file if mapping_file.exists() else None),
            facility=store.get_setting("facility_code") or "?",
            now=now,
        )

    return ModemDaemon(
        store,
        config=cfg,
        link=link,
        uploader=uploader,
        machine=machine,
        sms=fallback,
        updates=_update_fetcher(p),
        opinions=_opinion_carrier(store, p, now),
        send_sms=send_sms,
        notifier=notifier,
        now=now,
    )


def _opinion_carrier(store: Store, p: Paths, now: Any) -> Any:
    """Second opinions to and from the district when `[opinion]` names who answers them; a
    mistake there is logged and leaves the reports going."""
    from appliance.facility_file import OpinionSettingsError, opinion_settings
    from appliance.outbox.conversations import OpinionCarrier
    from appliance.outbox.sender import config_from_settings

    try:
        settings = opinion_settings(p.facility_file)
    except OpinionSettingsError as e:
        logging.getLogger(__name__).error("no second opinions: %s", e)
        return None
    if not settings.enabled:
        return None
    return OpinionCarrier(
        store,
        settings=settings,
        dhis2=lambda: config_from_settings(store, p.secrets_dir),
        now=now,
    )


def _update_fetcher(p: Paths) -> Any:
    """The fetcher of updates over 3G when the facility file names the district's server; a
    mistake in `[update]` is logged and leaves the reports going (they come first)."""
    import os

    from appliance.services.update_state import DOWNLOAD_DIR
    from modem.errors import ConfigurationError
    from modem.update_fetch import UpdateFetcher, load_source
    from provisioning.update import COMPATIBLE, KEYRING, UPDATE_DIR, this_version

    try:
        source = load_source(p.facility_file)
    except ConfigurationError as e:
        logging.getLogger(__name__).error("no updates over 3G: %s", e)
        return None
    if not source.server:
        return None
    try:
        return UpdateFetcher(
            p.data_dir / UPDATE_DIR / DOWNLOAD_DIR,
            source,
            keyring=KEYRING,
            running_version=this_version,
            kernel=os.uname().release,
            compatible=COMPATIBLE,
        )
    except Exception:  # reports and SMS first, whatever the update folder holds
        logging.getLogger(__name__).exception("no updates over 3G")
        return None


def _real_link(cfg: ModemConfig) -> DataLink:
    """The backend for the stick that is plugged in (see `modem.link.choose_link`); when none
    is, one that keeps looking, so the daemon runs degraded instead of restart-looping."""
    from modem import link as links

    def find() -> DataLink:
        return links.choose_link(preference=cfg.link, apn=cfg.apn or None)

    try:
        return find()
    except links.ModemGone as e:
        log.warning("%s; looking again every minute", e)
        pending = links.PendingLink(find)
        pending.why = str(e)
        return pending


def _digest(pin: str) -> str:
    return hashlib.sha256(pin.encode()).hexdigest()


def _network_time(clock: Clock, moment: datetime) -> None:
    """Network time (NITZ) makes the clock trusted when nothing better has; a modem that never
    received it prints its own power-on date, which `plausible` rejects."""
    reading = clock.now()
    if reading.trusted or not plausible(moment):
        return
    clock.mark_trusted("modem", moment)
    log.info("clock set from the network time: %s", moment.isoformat())


# -- a test SMS -------------------------------------------------------------------------------
@modem.command("sms-test")
@click.argument("number")
@click.option("--device", help="The modem's AT port (default: found by USB id).")
@json_option
@click.pass_context
def sms_test(ctx, number, device, as_json) -> None:
    """Send one short SMS to NUMBER, to check the SIM's credit and the SMS centre."""
    from modem.at import AtPort
    from modem.errors import ModemError
    from modem.machine import send_sms
    from modem.ports import find_at_port

    cleaned = number.replace(" ", "")
    if not (cleaned.lstrip("+").isdigit() and 3 <= len(cleaned) <= 16):
        raise click.UsageError(f"{number!r} is not a phone number (e.g. +22370000000)")
    port_path = device or find_at_port()
    if port_path is None:
        raise click.UsageError("no modem found (is the 3G stick plugged in?); or give --device")
    from modem.uploader import next_concat_reference

    code = ""
    store = Store(paths(ctx).database)
    code = store.get_setting("facility_code") or ""
    text = f"Keneya {code}: SMS de test {datetime.now(UTC):%Y-%m-%d %H:%M} UTC".replace("  ", " ")
    started = time.monotonic()
    try:
        with store, AtPort(port_path) as port:
            port.command("ATE0")
            port.command("AT+CMEE=1")
            ref = send_sms(port, cleaned, text, next_reference=lambda: next_concat_reference(store))
    except ModemError as e:
        raise click.ClickException(f"the SMS did not leave: {e}") from None
    out = {
        "number": cleaned,
        "text": text,
        "message_ref": ref,
        "seconds": round(time.monotonic() - started, 2),
    }
    emit(out, as_json, f"sent to {cleaned} (message reference {ref})")


# -- the APN ----------------------------------------------------------------------------------
def apn_text(out: dict[str, Any]) -> str:
    auth = out["auth"] if out["username"] else "none (no username)"
    lines = [
        f"{out['mcc_mnc']} {out['operator'] or '?'}: APN {out['apn']}",
        f"  username {out['username'] or '-'}  password {out['password'] or '-'}  auth {auth}",
        f"  from {out['source']}",
    ]
    if out["overridden"]:
        lines.append(f"  [modem] sets: {', '.join(out['overridden'])}")
    if out["alternatives"]:
        also = ", ".join(out["alternatives"])
        lines.append(f"  also listed: {also} (set [modem] apn to use one)")
    if out["note"]:
        lines.append(f"  note: {out['note']}")
    return "\n".join(lines)


@modem.command("apn")
@click.argument("mcc_mnc", metavar="MCCMNC")
@click.option(
    "--database",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The mobile-broadband-provider-info XML (default: Debian's, under /usr/share).",
)
@json_option
@click.pass_context
def apn(ctx: click.Context, mcc_mnc: str, database: Path | None, as_json: bool) -> None:
    """The APN, username, password and auth the modem would use on network MCCMNC (e.g.
    61002), and where they come from: the facility file, mobile-broadband-provider-info, or
    the built-in table for Mali."""
    from modem import apn as apns
    from modem import config as modem_config
    from modem.errors import ConfigurationError

    code = mcc_mnc.strip()
    if not (code.isdigit() and len(code) in (5, 6)):
        raise click.UsageError(f"{mcc_mnc!r} is not an MCC-MNC: 5 or 6 digits, e.g. 61002")
    try:
        cfg = modem_config.load(paths(ctx).facility_file)
    except ConfigurationError as e:
        raise click.UsageError(str(e)) from None
    path = database or apns.DATABASE
    found = apns.apn_for(code, override=apns.ApnOverrides.of(cfg), database=path)
    if found is None:
        missing = "" if path.exists() else f"; {apns.database_missing_hint(path)}"
        raise click.ClickException(
            f"no APN known for network {code}: set [modem] apn in the facility file{missing}"
        )
    out = {"mcc_mnc": code, **found.as_dict()}
    emit(out, as_json, apn_text(out))


# -- the simulator ----------------------------------------------------------------------------
@modem.command("simulate")
@click.option(
    "--pty-link",
    "pty_link",
    required=True,
    type=click.Path(dir_okay=False),
    help="A symlink to the simulated port (it changes when the stick re-enumerates).",
)
@click.option("--pin", help="The SIM asks for this PIN.")
@click.option("--registration-delay", type=click.FloatRange(min=0), default=3.0, show_default=True)
@click.option("--seed", type=int)
@click.option(
    "--operator",
    type=click.Choice(SIMULATED_OPERATORS),
    default="orange",
    show_default=True,
    help="The Malian network the simulated SIM registers on.",
)
def simulate(pty_link, pin, registration_delay, seed, operator) -> None:
    """A Huawei E173 on a pseudo-terminal, for the laptop demo and tests. Stops on SIGTERM."""
    from modem.simulator import E173Simulator, run_until_signalled

    sim = E173Simulator(
        link_path=pty_link,
        pin=pin,
        registration_delay_s=registration_delay,
        seed=seed,
        smsc=SIMULATED_SMSC,
        network=operator,
    )
    sim.start()
    click.echo(f"E173 simulator on {sim.device} (link {pty_link})", err=True)
    run_until_signalled(sim)
