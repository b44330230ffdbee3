"""keneya-modem: keep the 3G modem usable, send reports when the link is up, SMS when not.

One loop, one thread. Each tick asks the state machine where the modem stands (every
`status_every_s`), writes what the technician sees to the store (settings `modem.*`, read by
the status page and `keneya modem status`), sends due reports when the modem is ready, and
sends overdue reports by SMS. Between ticks it waits on the AT port, so an unsolicited
signal or registration change is read as it comes and an idle daemon costs next to nothing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.clock import to_iso
from appliance.services.status import MODEM_HEARTBEAT_S, MODEM_STOPPED_AT
from appliance.store.referrals import SMS_STALE_AFTER_H
from modem import answers
from modem.apn import DATABASE, Apn, ApnOverrides, apn_for
from modem.machine import ModemMachine, ModemStatus

if TYPE_CHECKING:
    from appliance.outbox.conversations import OpinionCarrier
    from appliance.sdnotify import Notifier
    from appliance.store import Store
    from modem.at import Urc
    from modem.config import ModemConfig
    from modem.link import DataLink
    from modem.update_fetch import UpdateFetcher
    from modem.uploader import SmsFallback, Uploader

log = logging.getLogger(__name__)

TICK_S = 2.0
# A link that would not come up is tried again after this, doubling up to send_every_s.
LINK_RETRY_FIRST_S = 60.0
SMS_CHECK_EVERY_S = 3600.0
# Patients' SMS reminders (queued by `keneya reminders send`): looked for this often, and sent
# only in the daytime (Mali is on UTC all year): no text wakes a household at night.
REMINDER_CHECK_EVERY_S = 300.0
REMINDER_HOURS = range(8, 19)
# An urgent referral's SMS to the receiving facility's duty phone: looked for this often, at any
# hour (the patient is on the road).
REFERRAL_SMS_CHECK_EVERY_S = 15.0
CLIMBING_EVERY_S = 5.0
# Updates over 3G: at most this long a window of chunks, then the link is left to the reports
# (and hung up when the facility pays by the minute) until the next window.
UPDATE_WINDOW_S = 300.0
HEARTBEAT_S = MODEM_HEARTBEAT_S


class ModemDaemon:
    def __init__(
        self,
        store: Store,
        *,
        config: ModemConfig,
        link: DataLink,
        uploader: Uploader,
        machine: ModemMachine | None = None,
        sms: SmsFallback | None = None,
        updates: UpdateFetcher | None = None,
        opinions: OpinionCarrier | None = None,
        send_sms: Callable[[str, str], int] | None = None,
        notifier: Notifier | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        tick_s: float = TICK_S,
        apn_database: Path = DATABASE,
    ):
        self.store = store
        self.config = config
        self.link = link
        self.uploader = uploader
        self.machine = machine
        self.sms = sms
        self.updates = updates
        self.opinions = opinions  # second opinions: questions out, replies in
        self._next_update_try = 0.0
        self.send_sms = send_sms
        self.notifier = notifier
        self.monotonic = monotonic
        self.now = now
        self.tick_s = tick_s
        self.apn_database = apn_database
        self.apn: Apn | None = None  # the network's APN with its credentials, for the link
        self._stop = threading.Event()
        self._next_status = 0.0
        self._next_link_try = 0.0
        self._link_retry_s = LINK_RETRY_FIRST_S
        self._next_sms_check = 0.0
        self._next_reminder_check = 0.0
        self._next_referral_check = 0.0
        self.status = ModemStatus()
        self.link_up = False
        self._written: dict[str, Any] | None = None
        self._written_at = 0.0
        if machine is not None:
            machine.add_urc_listener(self._on_urc)

    # -- the loop -----------------------------------------------------------------------------
    def start(self) -> None:
        """What a start after a crash or power cut needs before the first tick."""
        recovered = self.store.outbox.recover()  # the only drainer, starting: no claim is live
        if recovered:
            log.info("%d report(s) left half-sent by the last run put back in the queue", recovered)
        try:
            interrupted = self.store.reminders.recover()
        except Exception as e:  # a busy database: the reminder stays 'sending', never resent
            log.warning("modem: reminders left sending not checked: %s", e)
            interrupted = 0
        if interrupted:
            log.warning("%d SMS reminder(s) interrupted while sending: marked failed", interrupted)
        if self.opinions is not None:
            try:
                if n := self.opinions.recover():
                    log.info("%d second opinion(s) left half-sent put back in the queue", n)
            except Exception as e:  # a busy database: looked at again at the next start
                log.warning("modem: second opinions left sending not checked: %s", e)
        try:
            again = self.store.referrals.sms_recover()
        except Exception as e:  # a busy database: the next start looks again
            log.warning("modem: referral SMS left sending not checked: %s", e)
            again = 0
        if again:
            log.warning("%d urgent referral SMS interrupted while sending: queued again", again)
        # MODEM_STOPPED_AT: written by a clean stop, removed by the next start: `keneya modem
        # status` and the status page then say at once that the daemon is not running, instead
        # of after the status has gone stale.
        try:
            self.store.set_settings({MODEM_STOPPED_AT: None})
        except Exception as e:  # a busy database: the first status write comes soon anyway
            log.warning("modem: stop marker not cleared: %s", e)
        if self.notifier:
            self.notifier.ready("modem: starting")

    def run(self) -> None:
        self.start()
        try:
            while not self._stop.is_set():
                self.tick()
                if self.notifier:
                    self.notifier.watchdog()
                self._wait(self.tick_s)
        finally:
            if self.notifier:
                self.notifier.stopping()
            self._write_status(stopped=True)
            if self.machine is not None:
                self.machine.close()
            self.link.close()

    def stop(self) -> None:
        self._stop.set()

    def tick(self) -> None:
        t = self.monotonic()
        if t >= self._next_status:
            self._refresh()
            # while the modem is still climbing (SIM, registration) look again sooner
            every = self.config.status_every_s
            self._next_status = t + (every if self._ready() else min(every, CLIMBING_EVERY_S))
        if self._ready() and self.uploader.due() and self._may_try_link(t):
            self._give_link_apn()
            try:
                summary = self.uploader.run_once()
            except Exception as e:
                # nmcli or pppd refusing, a CA file gone: the reason goes on the status page
                # and the next try comes after the link backoff; the daemon keeps running
                log.exception("sending reports failed")
                self.uploader.last_error = f"{type(e).__name__}: {e}"
                summary = None
            self.link_up = self.link.is_up()  # with ModemManager, an mmcli call: once
            self._link_result(t, self.link_up or summary is not None)
            self._write_status()
        if (
            self.updates is not None
            and self._ready()
            and t >= self._next_update_try
            and self._may_try_link(t)
            and self._updates_due(t)
        ):
            self._fetch_updates(t)
        if self.opinions is not None and self._ready() and self._may_try_link(t):
            self._exchange_opinions(t)
        if self.sms is not None and t >= self._next_sms_check and self._registered():
            self._next_sms_check = t + SMS_CHECK_EVERY_S
            self._send_overdue_sms()
        if t >= self._next_referral_check and self._registered():
            self._next_referral_check = t + REFERRAL_SMS_CHECK_EVERY_S
            try:
                self.send_referral_sms()
            except Exception as e:  # a busy database must not stop the modem: next check
                log.warning("referral SMS: %s", e)
        if t >= self._next_reminder_check and self._registered():
            self._next_reminder_check = t + REMINDER_CHECK_EVERY_S
            try:
                self.send_reminders()
            except Exception as e:  # a busy database must not stop the modem: next check
                log.warning("SMS reminders: %s", e)

    # -- pieces -------------------------------------------------------------------------------
    def _wait(self, seconds: float) -> None:
        if self.machine is not None and self.machine.port is not None:
            self.machine.poll(seconds)
        else:
            self._stop.wait(seconds)

    def _refresh(self) -> None:
        if self.machine is not None and getattr(self.link, "owns_modem", False):
            # a stick plugged in after start went to ModemManager: leave its ports alone
            self.machine.close()
            self.machine = None
        if self.machine is not None:
            self.status = self.machine.step()
            self.apn = self.machine.apn
            # not registered (searching, denied, no SIM): no data link, whatever pppd says
            self.link_up = self.link.is_up() if self._registered_now() else False
        else:
            # the link's status already says whether it is up: no second mmcli call
            self.status, self.link_up, self.apn = _from_link(
                self.link,
                self.status,
                self.now,
                apn_override=ApnOverrides.of(self.config),
                database=self.apn_database,
            )
        self._write_status()

    def _registered_now(self) -> bool:
        return self.status.registration in answers.REGISTERED

    def _ready(self) -> bool:
        return self.status.state == "ready"

    def _registered(self) -> bool:
        return self.status.registration in answers.REGISTERED and self.send_sms is not None

    def _may_try_link(self, t: float) -> bool:
        return self.link.is_up() or t >= self._next_link_try

    def _link_result(self, t: float, worked: bool) -> None:
        if worked:
            self._link_retry_s = LINK_RETRY_FIRST_S
            self._next_link_try = t
        else:
            self._next_link_try = t + self._link_retry_s
            self._link_retry_s = min(self._link_retry_s * 2, self.config.send_every_s)

    def _give_link_apn(self) -> None:
        """The APN and credentials of the network found (unless overridden), before the link
        is brought up."""
        if self.apn is not None and hasattr(self.link, "apn"):
            self.link.apn = self.apn

    def _updates_due(self, t: float) -> bool:
        try:
            return self.updates is not None and self.updates.due()
        except Exception:  # whatever is wrong with updates must not stop reports and SMS
            log.exception("update fetch: cannot tell whether one is due")
            self._next_update_try = t + self.config.send_every_s
            return False

    def _fetch_updates(self, t: float) -> None:
        """One window of update chunks (modem.update_fetch), after the reports: the link is
        brought up for it if need be, and hung up after when the facility pays by the minute."""
        assert self.updates is not None
        self._next_update_try = t + self.config.send_every_s
        was_up = self.link.is_up()
        if not was_up:
            self._give_link_apn()
            try:
                came_up = self.link.up()
            except Exception as e:  # nmcli refusing: said by the uploader's status already
                log.warning("update window: the link did not come up: %s", e)
                came_up = False
            self._link_result(t, came_up)
            if not came_up:
                return
        try:
            self.updates.run_once(
                seconds=UPDATE_WINDOW_S,
                link_up=self.link.is_up,
                between_chunks=self.notifier.watchdog if self.notifier else lambda: None,
            )
        except Exception:  # a full disk: said in the log, tried again at the next window
            log.exception("update window failed")
        finally:
            if self.config.pay_per_minute and not was_up:
                self.link.down()
            self.link_up = self.link.is_up()
            self._write_status()

    def _exchange_opinions(self, t: float) -> None:
        """Questions due out and replies in (appliance.outbox.conversations), after the
        reports: the link is brought up for it if need be and hung up after when the facility
        pays by the minute. Whatever goes wrong here leaves reports and SMS going."""
        assert self.opinions is not None
        try:
            if not self.opinions.due(link_up=self.link.is_up()):
                return
        except Exception:
            log.exception("second opinions: cannot tell whether any is due")
            return
        was_up = self.link.is_up()
        if not was_up:
            self._give_link_apn()
            try:
                came_up = self.link.up()
            except Exception as e:
                log.warning("second opinions: the link did not come up: %s", e)
                came_up = False
            self._link_result(t, came_up)
            if not came_up:
                return
            self.opinions.due(link_up=True)  # the link is back: what waited is due at once
        try:
            self.opinions.run_once(link_up=self.link.is_up)
        except Exception:
            log.exception("second opinions: exchange failed")
        finally:
            if self.config.pay_per_minute and not was_up:
                self.link.down()
            self.link_up = self.link.is_up()
            self._write_status()

    def _send_overdue_sms(self) -> None:
        assert self.sms is not None and self.send_sms is not None
        try:
            self.sms.send_overdue(self.send_sms)
        except Exception as e:  # a refused SMS must not stop the daemon: next check retries
            log.warning("SMS fallback: %s", e)

    def send_reminders(self) -> list[int]:
        """Send today's queued reminders, one SMS each, with the send function of the report
        fallback; each sent one goes on its patients' records (audit rows) with its message
        reference. A refused SMS goes back to the queue (failed after a few tries); the rest
        wait for the next check. Returns the ids sent."""
        assert self.send_sms is not None
        moment = self.now()
        if moment.hour not in REMINDER_HOURS:
            return []
        done = []
        for r in self.store.reminders.to_send(moment.date().isoformat()):
            if self._stop.is_set() or not self.store.reminders.claim(r["id"]):
                continue
            try:
                ref = self.send_sms(r["phone"], r["text"])
            except Exception as e:  # a refused SMS must not stop the daemon
                status = self.store.reminders.send_failed(r["id"], error=f"{type(e).__name__}: {e}")
                log.warning("SMS reminder %d: %s (%s)", r["id"], e, status)
                if status == "queued":
                    break  # the modem is refusing: try again at the next check
                continue
            at = to_iso(self.now())
            self.store.reminders.sent(r["id"], message_ref=ref, now=at)
            for pid in dict.fromkeys([r["patient_id"], *(i["patient_id"] for i in r["items"])]):
                self.store.audit.append(
                    {
                        "at": at,
                        # the daemon's clock reading does not carry whether it was confirmed
                        "clock_trusted": False,
                        "action": "reminder.sent",
                        "patient_id": pid,
                        "detail": {
                            "reminder_id": r["id"],
                            "kind": r["kind"],
                            "reason_codes": r["reason_codes"],
                            "due_date": r["due_date"],
                            "language": r["language"],
                            "message_ref": ref,
                        },
                    }
                )
            done.append(r["id"])
        if done:
            log.info("%d SMS reminder(s) sent", len(done))
        return done

    def send_referral_sms(self) -> list[str]:
        """Send the queued urgent-referral SMS (before the reminders: a patient is on the road),
        each to its receiving facility's duty phone; the referral's record says it was sent.
        A refused SMS goes back to the queue (failed after a few tries: the referral page then
        tells the staff to phone). Returns the referral ids sent."""
        if self.send_sms is None:
            return []
        stale = self.store.referrals.sms_expire(
            to_iso(self.now() - timedelta(hours=SMS_STALE_AFTER_H))
        )
        if stale:
            log.warning("%d urgent referral SMS too old to send: marked failed", stale)
        done = []
        for r in self.store.referrals.sms_to_send():
            if self._stop.is_set() or not self.store.referrals.sms_claim(r["id"]):
                continue
            try:
                ref = self.send_sms(r["sms_phone"], r["sms_text"])
            except Exception as e:  # a refused SMS must not stop the daemon
                status = self.store.referrals.sms_failed(r["id"], error=f"{type(e).__name__}: {e}")
                log.warning("referral SMS %s: %s (%s)", r["id"], e, status)
                continue
            at = to_iso(self.now())
            self.store.referrals.sms_sent(r["id"], message_ref=ref, now=at)
            self.store.audit.append(
                {
                    "at": at,
                    "clock_trusted": False,
                    "action": "referral.sms_sent",
                    "patient_id": r["patient_id"],
                    "detail": {"referral_id": r["id"], "message_ref": ref},
                }
            )
            done.append(r["id"])
        if done:
            log.info("%d urgent referral SMS sent", len(done))
        return done

    def _on_urc(self, urc: Urc) -> None:
        # ^RSSI:<n> (Huawei) carries the same 0..31 scale as AT+CSQ
        if urc.name == "^RSSI":
            try:
                dbm = answers.csq_dbm(int(urc.args.strip()))
            except ValueError:
                return
            self.status.signal_dbm = dbm
            self.status.signal_bars = answers.bars(dbm)
        elif urc.name in ("+CREG", "+CGREG"):
            self._next_status = 0.0  # registration changed: climb the ladder again now

    def snapshot(self) -> dict[str, Any]:
        out = self.status.as_dict()
        out["link_up"] = self.link_up
        out["link"] = getattr(self.link, "name", type(self.link).__name__)
        out["upload_error"] = self.uploader.last_error
        if self.updates is not None:
            st = self.updates.state
            out["update_download"] = {"message": st.message, "error": st.error,
                                      "used_bytes": st.used_bytes}  # fmt: skip
        return out

    def _write_status(self, *, stopped: bool = False) -> None:
        """To the store when something changed, else once a minute to show the daemon is
        alive: a status polled every few seconds must not become an SD-card write each time.
        A stop always writes, with its marker."""
        snap = self.snapshot()
        t = self.monotonic()
        if not stopped and snap == self._written and t - self._written_at < HEARTBEAT_S:
            return
        self._written, self._written_at = snap, t
        now = to_iso(self.now())
        values = {"modem.status": json.dumps(snap, sort_keys=True), "modem.updated_at": now}
        if stopped:
            values[MODEM_STOPPED_AT] = now
        try:
            # one JSON setting, read by appliance.services.status.modem_report
            self.store.set_settings(values)
        except Exception as e:  # a busy or full database must not stop the modem
            log.warning("modem status not written: %s", e)


def _from_link(
    link: DataLink,
    previous: ModemStatus,
    now: Callable[[], datetime],
    *,
    apn_override: str | ApnOverrides = "",
    database: Path = DATABASE,
) -> tuple[ModemStatus, bool, Apn | None]:
    """The status, whether the link is up, and the APN, when ModemManager or a HiLink stick
    owns the modem: read, never driven. Not registered: no operator, APN or link."""
    try:
        ls = link.status()
    except Exception as e:
        return ModemStatus(state="absent", history=previous.history, error=str(e)), False, None
    registered = ls.registration in answers.REGISTERED
    state = "ready" if registered else (ls.registration or "absent")
    if state not in ("ready", "searching", "denied"):
        state = "absent" if ls.registration is None else "searching"
    st = ModemStatus(
        state=state,
        since=previous.since if previous.state == state else to_iso(now()),
        present=ls.registration is not None,
        registration=ls.registration,
        operator=ls.operator if registered else None,
        mcc_mnc=ls.mcc_mnc if registered else None,
        signal_dbm=ls.signal_dbm,
        signal_bars=answers.bars(ls.signal_dbm),
        error=ls.detail if not registered else None,
        history=previous.history,
    )
    apn = apn_for(ls.mcc_mnc, override=apn_override or None, database=database)
    if not registered:
        apn = None
    st.apn = apn.name if apn else None
    if registered and apn is None:
        st.state, st.error = "no_apn", f"no APN known for network {ls.mcc_mnc}: set [modem] apn"
    if previous.state != state:
        st.history.append((st.since or "", state))
    return st, ls.up and registered, apn
