"""The power banner every screen shows: low battery, a failed sensor, the shutdown countdown,
and, when the power is fine, what became of a USB stick's backup (remove the stick, or why not).

It reads only the power monitor's published state row (store.power.state()) and the USB
backup's outcome (the `backup.usb` setting); it needs no login, so it takes the store, not a
KioskState, and its own language."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from appliance.backup.usb import read_status as read_usb_status
from appliance.clock import from_iso
from appliance.services.power import monitor_silent_since, staff_name
from appliance.store import Store
from appliance.web import power_texts
from appliance.web.i18n import DEFAULT_LANGUAGE, N_, Translator

USB_WRITING = N_("Sauvegarde sur la clé USB en cours — ne retirez pas la clé")
USB_DONE = N_("Sauvegarde sur la clé USB terminée : vous pouvez retirer la clé")
USB_FAILED = N_("Sauvegarde sur la clé USB impossible : %(reason)s")
USB_REASONS = {
    "full": N_("la clé est pleine, libérez de la place ou utilisez une autre clé"),
    "read_only": N_("la clé est en lecture seule, déverrouillez-la"),
    "pulled": N_("la clé a été retirée pendant l'écriture, remettez-la"),
    "no_recipients": N_("aucune clé publique du district n'est configurée"),
    "unsupported": N_("formatez la clé en FAT32 ou exFAT"),
}
USB_OTHER = N_("réessayez avec une autre clé")
# How long the outcome of a USB backup stays on the banner (the stick is usually pulled out
# within a minute; a writing state older than this was cut by a power failure).
USB_SHOWN_S = 600


class PowerVM:
    def __init__(
        self,
        store: Store,
        *,
        now: Callable[[], float] = time.time,
        lang: str = DEFAULT_LANGUAGE,
        estimate: Callable[[], float] | None = None,
    ):
        """`now`: the machine's time (Unix seconds). `estimate`: the clock's best estimate of
        it, in which the monitor writes its times; read at each poll, its offset from `now`
        then moves the countdown between polls without a database read every second."""
        self.store = store
        self._machine = now
        self._estimate = estimate
        self._offset_s = 0.0
        self.t = Translator(lang)
        self.row: dict[str, Any] | None = None
        self.usb: dict[str, Any] | None = None
        self.cancelled: dict[str, Any] | None = None

    def set_lang(self, lang: str) -> None:
        self.t = Translator(lang)

    def _now(self) -> float:
        return self._machine() + self._offset_s

    def poll(self) -> None:
        if self._estimate is not None:
            # the clock unreadable for a moment: keep the last offset
            with contextlib.suppress(Exception):
                self._offset_s = self._estimate() - self._machine()
        self.row = self.store.power.state()
        self.usb = read_usb_status(self.store)
        self.cancelled = self.store.power.last_event(["shutdown_cancelled"])

    @property
    def state(self) -> str | None:
        return self.row["state"] if self.row else None

    @property
    def silent_since(self) -> str | None:
        """When keneya-power last wrote, if it has gone silent since."""
        return monitor_silent_since(self.row, self._now())

    @property
    def countdown_s(self) -> int | None:
        """Seconds left before the pending shutdown; None when none is counting down or a
        cancel of it was asked."""
        return power_texts.countdown_seconds(self.row, self._now())

    def countdown_text(self, seconds: float | None = None) -> str:
        """ "Arrêt dans 1:45 — …", for `seconds` left (default: countdown_s)."""
        if seconds is None:
            seconds = self.countdown_s
        return power_texts.countdown_text(seconds, self.t)

    def name_of(self, username: str) -> str:
        """The name staff know a colleague by (the username if the account is gone)."""
        try:
            return staff_name(self.store, username)
        except Exception:  # a banner must never fail on a name
            return username

    @property
    def banner(self) -> str | None:
        text = power_texts.banner(
            self.row, self.t, self._now(), cancelled=self.cancelled, name_of=self.name_of
        )
        return text if text is not None else self.usb_text

    @property
    def usb_text(self) -> str | None:
        usb, t = self.usb, self.t
        if not usb:
            return None
        try:
            age_s = self._now() - from_iso(usb["at"]).timestamp()
        except (KeyError, TypeError, ValueError):
            return None
        if not -60 <= age_s <= USB_SHOWN_S:
            return None
        if usb.get("state") == "writing":
            return t(USB_WRITING)
        if usb.get("state") == "done":
            return t(USB_DONE)
        reason = USB_REASONS.get(usb.get("reason") or "", USB_OTHER)
        return t(USB_FAILED) % {"reason": t(reason)}
