"""Reports out of the outbox: by 3G data whenever the link is up, and by SMS when data has
failed a report for days.

Data: oldest first through `appliance.outbox.sender.drain` (exponential backoff with jitter,
gzip, one history row per attempt, a claim recovered after a power cut; DHIS2 upserts values,
so a report sent twice counts once). When the facility pays per minute the link is brought up
for a send window and hung up after.

SMS: a monthly report is due on the 5th of the next month. When it is still not delivered
`sms_after_days` after that (or after it was queued, if later), its values go by SMS to the
district's gateway in the compact encoding of `modem.sms`. Each part is recorded as it
leaves, so a power cut between parts resumes without starting again.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from appliance.clock import to_iso
from appliance.outbox.sender import Dhis2Config, DrainSummary, Outcome, drain, send

if TYPE_CHECKING:
    from appliance.store import Store
    from modem.link import DataLink

log = logging.getLogger(__name__)

REPORT_DUE_DAY = 5  # the district expects last month's report by the 5th
SMS_REFERENCE_SETTING = "modem.sms_concat_ref"


def next_concat_reference(store: Store) -> int:
    """The next 8-bit concatenated-SMS reference (TS 23.040 §9.2.3.24.1), kept in the settings
    so it goes on incrementing across restarts: read and written in one transaction, so the
    daemon and `keneya modem sms-test` never hand out the same one. The first is random, so a
    new or restored database does not start where the receiver may still hold parts."""
    import secrets

    with store.transaction() as conn:
        row = conn.execute(
            "SELECT value FROM settings WHERE key = ?", (SMS_REFERENCE_SETTING,)
        ).fetchone()
        try:
            reference = (int(row[0]) + 1) % 256 if row else secrets.randbelow(256)
        except ValueError:
            reference = secrets.randbelow(256)
        conn.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (SMS_REFERENCE_SETTING, str(reference)),
        )
    return reference


def report_due(period: str) -> datetime:
    """When the report of YYYYMM is due: the 5th of the month after, 00:00 UTC."""
    year, month = int(period[:4]), int(period[4:6])
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return datetime(year, month, REPORT_DUE_DAY, tzinfo=UTC)


def sms_due_at(item: dict[str, Any], *, after_days: float) -> datetime | None:
    """When an undelivered item goes by SMS; None for what cannot go that way."""
    if item["kind"] != "dhis2-datavalueset" or len(item["period"]) != 6:
        return None
    queued = datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))
    return max(report_due(item["period"]), queued) + timedelta(days=after_days)


class Uploader:
    """Sends what is due over the data link. One owner thread (the modem daemon)."""

    def __init__(
        self,
        store: Store,
        *,
        link: DataLink,
        dhis2: Callable[[], Dhis2Config],
        pay_per_minute: bool = False,
        now: Callable[[], datetime],
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        sender: Callable[[dict[str, Any], Dhis2Config], Outcome] = send,
        between_items: Callable[[], None] = lambda: None,
    ):
        self.store = store
        self.link = link
        self.dhis2 = dhis2
        self.pay_per_minute = pay_per_minute
        self.now = now
        self.sleep = sleep
        self.rand = rand
        self.sender = sender
        self.between_items = between_items  # the daemon pings its watchdog here
        self.was_up = False
        self.last_error: str | None = None

    def due(self) -> bool:
        due = self.store.outbox.next_due_at()
        return due is not None and due <= to_iso(self.now())

    def run_once(self) -> DrainSummary | None:
        """Send every due item while the link stays up. None when there was nothing to do
        or no link; the summary otherwise."""
        up = self.link.is_up()
        if up and not self.was_up:
            # the backoff was waiting out the outage: the queue is due again at once
            self.store.outbox.retry_now(now=to_iso(self.now()))
        self.was_up = up
        if not self.due():
            if up and self.pay_per_minute:
                self.link.down()
                self.was_up = False
            return None
        try:
            config = self.dhis2()
        except ValueError as e:
            self.last_error = str(e)
            return None
        if not up:
            if not self.link.up():
                self.last_error = "the data link did not come up"
                return None
            self.was_up = True
            self.store.outbox.retry_now(now=to_iso(self.now()))
        total = DrainSummary()
        try:
            while self.link.is_up():
                one = drain(
                    self.store,
                    config,
                    now=self.now,
                    sleep=self.sleep,
                    rand=self.rand,
                    sender=self.sender,
                    max_items=1,
                )
                _add(total, one)
                self.between_items()
                if one.attempts == 0:
                    break
        finally:
            if self.pay_per_minute:
                self.link.down()
                self.was_up = False
        if total.delivered:
            self.store.set_setting("modem.last_upload_at", to_iso(self.now()))
        if total.attempts:
            log.info(
                "outbox: %d sent, %d delivered, %d to retry, %d refused",
                total.attempts,
                len(total.delivered),
                len(total.retrying),
                len(total.failed),
            )
        self.last_error = None
        return total


def _add(total: DrainSummary, one: DrainSummary) -> None:
    total.attempts += one.attempts
    total.recovered += one.recovered
    total.delivered += one.delivered
    total.failed += one.failed
    total.retrying += one.retrying


class SmsFallback:
    """Sends overdue reports by SMS through the modem's AT port."""

    def __init__(
        self,
        store: Store,
        *,
        gateway: str,
        after_days: float,
        mapping: dict[str, Any],
        facility: str,
        now: Callable[[], datetime],
    ):
        self.store = store
        self.gateway = gateway.replace(" ", "")
        self.after_days = after_days
        self.mapping = mapping
        self.facility = facility
        self.now = now

    def overdue(self) -> list[dict[str, Any]]:
        """Undelivered items whose SMS is due and not all sent, oldest first."""
        moment = self.now()
        out = []
        for item in self.store.outbox.waiting_since():
            if item["sms_sent_at"] is not None:
                continue
            at = sms_due_at(item, after_days=self.after_days)
            if at is not None and moment >= at:
                out.append(item)
        return out

    def send_overdue(self, send_text: Callable[[str, str], int]) -> list[str]:
        """Send every overdue report; `send_text(number, text)` sends one SMS and returns its
        message reference. Returns the ids of items whose SMS is now complete."""
        from modem import sms

        done = []
        for item in self.overdue():
            full = self.store.outbox.get(item["id"])
            payload = json.loads(full["payload"])
            row = self.store.outbox.sms_start(
                item["id"],
                number=self.gateway,
                encode=lambda mid, p=payload: sms.encode_report(
                    p, self.mapping, facility=self.facility, message_id=mid
                ),
                now=to_iso(self.now()),
            )
            for text in row["texts"][row["parts_sent"] :]:
                try:
                    ref = send_text(row["number"], text)
                except Exception as e:
                    self.store.outbox.sms_failed(item["id"], error=f"{type(e).__name__}: {e}")
                    log.warning("SMS for %s %s: %s", item["period"], item["id"], e)
                    raise
                self.store.outbox.sms_part_sent(item["id"], message_ref=ref, now=to_iso(self.now()))
            log.info("report %s sent by SMS in %d part(s)", item["period"], len(row["texts"]))
            done.append(item["id"])
        return done
