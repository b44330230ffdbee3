"""The login screen (staff picker and PIN pad) and the clock confirmation that follows it
when the machine's time is not trusted."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from typing import Any

from appliance.clock import ClockError
from appliance.domain.permissions import CONFIRM_CLOCK
from appliance.services import audit, auth
from appliance.services.errors import LoginFailed, LoginThrottled, ServiceError
from appliance.web.i18n import N_
from appliance.web.labels import ROLES
from kiosk_ui.viewmodels.first_admin import (
    BANNER_HEADING,
    UNCONFIGURED,
    FirstAdminVM,
    firstboot_error_lines,
    firstboot_error_path,
    pending_admin,
)
from kiosk_ui.viewmodels.state import BAD_DATE, DENIED, SAVE_ERRORS, KioskState

MAX_PIN = 8
MIN_PIN = 4
DOT = "●"
WRONG_PIN = N_("Code PIN incorrect.")
CHOOSE_ACCOUNT = N_("Touchez d'abord votre nom.")
PIN_TOO_SHORT = N_("Le code PIN a au moins 4 chiffres.")
# The web form's words: the kiosk is one device, its client is "kiosk".
THROTTLED = N_("Trop d'essais depuis cet appareil : réessayez dans %(seconds)s s.")
ADMIN_CREATED = N_("Le compte est créé. Tapez votre code PIN pour vous connecter.")
ALREADY_STAFF = N_("Un compte a été créé entre-temps : touchez votre nom.")
# What the login screen shows instead of (or before) the staff picker.
LOGIN = "login"
FIRST_ADMIN = "first_admin"
UNCONFIGURED_MODE = "unconfigured"


class LoginVM:
    """The staff picker and PIN pad; at first boot, the first admin's PIN setup instead, or
    the reason the appliance cannot be used yet."""

    def __init__(self, state: KioskState):
        self.state = state
        self.selected: str | None = None
        self.pin = ""
        self.error: str | None = None
        self.notice: str | None = None
        self.first_admin: FirstAdminVM | None = None
        self.mode = self._mode()

    def _mode(self) -> str:
        store = self.state.ctx.store
        if store.staff.count() != 0:
            self.first_admin = None
            return LOGIN
        pending = pending_admin(self.state)
        if pending is None:
            self.first_admin = None
            return UNCONFIGURED_MODE
        username, name = pending
        self.first_admin = FirstAdminVM(self.state, username=username, display_name=name)
        return FIRST_ADMIN

    @property
    def unconfigured_text(self) -> str | None:
        return self.state.t(UNCONFIGURED) if self.mode == UNCONFIGURED_MODE else None

    @property
    def firstboot_banner(self) -> str | None:
        """The red banner when first boot could not apply the facility file: read each time,
        so it goes away as soon as a later boot succeeds."""
        lines = firstboot_error_lines(firstboot_error_path(self.state))
        if lines is None:
            return None
        return "\n".join([self.state.t(BANNER_HEADING), *lines])

    def create_first_admin(self) -> bool:
        """One press of Enter on the setup panel (the PIN, then the same PIN again). True once
        the admin exists: the panel is then the normal login with that account selected."""
        vm = self.first_admin
        if self.mode != FIRST_ADMIN or vm is None:
            return False
        if vm.submit():
            self.mode = self._mode()
            self.select(vm.created["username"])
            self.notice = self.state.t(ADMIN_CREATED)
            return True
        self.error = vm.error
        if self.state.ctx.store.staff.count() != 0:  # someone else created an account meanwhile
            self.mode = self._mode()
            self.error = self.state.t(ALREADY_STAFF)
        return False

    @property
    def accounts(self) -> list[dict[str, Any]]:
        t = self.state.t
        try:
            rows = auth.kiosk_accounts(self.state.ctx)
        except ServiceError as e:
            self.error = self.state.error_text(e)
            return []
        return [
            {
                "username": r["username"],
                "display_name": r["display_name"],
                "role": r["role"],
                "role_label": t(ROLES.get(r["role"], r["role"])),
            }
            for r in rows
        ]

    def select(self, username: str) -> None:
        self.state.touch()
        self.selected = username
        self.pin = ""
        self.error = None
        self.notice = None

    @property
    def dots(self) -> str:
        if self.first_admin is not None:
            return self.first_admin.dots
        return DOT * len(self.pin)

    def press(self, digit: str) -> None:
        if self.first_admin is not None:
            self.first_admin.press(digit)
            return
        self.state.touch()
        if len(digit) == 1 and digit.isdigit() and len(self.pin) < MAX_PIN:
            self.pin += digit

    def backspace(self) -> None:
        if self.first_admin is not None:
            self.first_admin.backspace()
            return
        self.state.touch()
        self.pin = self.pin[:-1]

    def clear(self) -> None:
        if self.first_admin is not None:
            self.first_admin.clear()
            return
        self.state.touch()
        self.pin = ""

    def submit(self) -> bool:
        """Check the PIN; on success the state's actor is set. The PIN is always cleared."""
        self.state.touch()
        pin, self.pin = self.pin, ""
        self.notice = None
        t = self.state.t
        if not self.selected:
            self.error = t(CHOOSE_ACCOUNT)
            return False
        if len(pin) < MIN_PIN:
            self.error = t(PIN_TOO_SHORT)
            return False
        try:
            with self.state.storage():  # a login writes its audit row
                actor = auth.login(self.state.ctx, self.selected, pin=pin, client="kiosk")
        except LoginThrottled as e:
            self.error = t(THROTTLED) % {"seconds": e.retry_after_s}
            return False
        except (LoginFailed, ValueError):
            self.error = t(WRONG_PIN)
            return False
        except SAVE_ERRORS as e:
            self.error = self.state.error_text(e)
            return False
        self.state.actor = actor
        self.error = None
        self.notice = None
        return True

    @property
    def clock_needs_confirmation(self) -> bool:
        return self.state.actor is not None and not self.state.ctx.now().trusted


class ClockVM:
    """Date and time as the staff member sees them, adjusted with +/− buttons, then confirmed."""

    PARTS = ("day", "month", "year", "hour", "minute")

    def __init__(self, state: KioskState):
        self.state = state
        self.shown: datetime = state.ctx.now().now.replace(second=0, microsecond=0)
        self.error: str | None = None
        self.confirmed = False

    @property
    def date_text(self) -> str:
        return self.shown.strftime("%d/%m/%Y")

    @property
    def time_text(self) -> str:
        return self.shown.strftime("%H:%M")

    def adjust(self, part: str, delta: int) -> None:
        self.state.touch()
        s = self.shown
        if part == "day":
            self.shown = s + timedelta(days=delta)
        elif part == "hour":
            self.shown = s + timedelta(hours=delta)
        elif part == "minute":
            self.shown = s + timedelta(minutes=delta)
        elif part in ("month", "year"):
            months = s.year * 12 + s.month - 1 + (delta if part == "month" else 12 * delta)
            year, month = divmod(months, 12)
            month += 1
            if not 1 <= year <= 9999:
                return
            day = min(s.day, calendar.monthrange(year, month)[1])
            self.shown = s.replace(year=year, month=month, day=day)
        else:
            raise ValueError(f"part {part!r}: expected one of {self.PARTS}")

    def confirm(self) -> None:
        """Record the shown time as the true time (source "staff"); `error` says why not."""
        self.state.touch()
        t = self.state.t
        actor = self.state.actor
        if actor is None or not self.state.may(CONFIRM_CLOCK):
            self.error = t(DENIED)
            return
        try:
            audit.confirm_clock(self.state.ctx, actor, self.shown)
        except ClockError:
            self.error = t(BAD_DATE)
            return
        self.error = None
        self.confirmed = True
