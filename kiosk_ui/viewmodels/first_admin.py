"""The kiosk's first boot: the first admin sets a PIN on the touchscreen, and a failed first
boot is shown to whoever stands in front of the Pi.

A facility file without the admin's PIN hash leaves the store with no staff and two settings
naming the admin; the PIN is then chosen on the spot, so it never travels on the card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from appliance.services import auth
from appliance.services.errors import ServiceError
from appliance.web.i18n import N_
from kiosk_ui.viewmodels.state import KioskState

ADMIN_USERNAME_SETTING = "provision.admin_username"
ADMIN_NAME_SETTING = "provision.admin_name"
FIRSTBOOT_ERROR_FILE = "firstboot-error.txt"
BANNER_LINES = 6
BANNER_LINE_CHARS = 200
MIN_PIN = 4
MAX_PIN = 8
DOT = "●"

SETUP_TITLE = N_("Bienvenue. Créez le code PIN de %(name)s (administrateur)")
FIRST_PROMPT = N_("Choisissez un code PIN de 4 à 8 chiffres, puis touchez Entrer.")
AGAIN_PROMPT = N_("Tapez le même code PIN une seconde fois, puis touchez Entrer.")
PIN_LENGTH = N_("Le code PIN a de 4 à 8 chiffres.")
PIN_TOO_EASY = N_(
    "Ce code PIN est trop facile à deviner (un seul chiffre répété, ou une suite comme 1234)."
    " Choisissez-en un autre."
)
PIN_MISMATCH = N_("Les deux codes PIN ne sont pas les mêmes. Recommencez.")
BAD_FACILITY_ADMIN = N_(
    "Le compte n'a pas pu être créé : l'administrateur est mal écrit sur la fiche de"
    " l'établissement. Prévenez le technicien."
)
BANNER_HEADING = N_("La fiche de l'établissement n'a pas été appliquée :")
UNCONFIGURED = N_(
    "Cet appareil n'a pas encore été configuré : écrivez la fiche de l'établissement sur la"
    " carte (keneya provision write-card)."
)
# provisioning/firstboot.py starts the file with its own heading, which the banner already says.
_FILE_HEADING = "Keneya :"


def firstboot_error_path(state: KioskState) -> Path:
    """`<config_dir>/firstboot-error.txt`, where first boot leaves the reason it failed."""
    return state.config_dir / FIRSTBOOT_ERROR_FILE


def firstboot_error_lines(path: Path, *, max_lines: int = BANNER_LINES) -> list[str] | None:
    """The error first boot left (its first lines), or None when there is none. A file that
    exists but cannot be read still means first boot failed: an empty list, not None."""
    if not path.exists():
        return None
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if lines and lines[0].startswith(_FILE_HEADING):
        lines = lines[1:]
    return [_short(line) for line in lines[:max_lines]]


def _short(line: str) -> str:
    return line if len(line) <= BANNER_LINE_CHARS else line[: BANNER_LINE_CHARS - 1] + "…"


def pending_admin(state: KioskState) -> tuple[str, str] | None:
    """(username, name) of the admin the facility file named, when nobody has an account yet;
    None otherwise (staff exist, or the appliance was never provisioned)."""
    store = state.ctx.store
    if store.staff.count() != 0:
        return None
    username = (store.get_setting(ADMIN_USERNAME_SETTING) or "").strip()
    if not username:
        return None
    name = (store.get_setting(ADMIN_NAME_SETTING) or "").strip() or username
    return username, name


class FirstAdminVM:
    """The PIN typed twice on the pad, checked with the service's rules, then the account."""

    def __init__(self, state: KioskState, *, username: str, display_name: str):
        self.state = state
        self.username = username
        self.display_name = display_name
        self.pin = ""
        self._first: str | None = None
        self.error: str | None = None
        self.created: dict[str, Any] | None = None

    @property
    def confirming(self) -> bool:
        """True once a valid PIN was typed and it is asked a second time."""
        return self._first is not None

    @property
    def title(self) -> str:
        return self.state.t(SETUP_TITLE) % {"name": self.display_name}

    @property
    def prompt(self) -> str:
        return self.state.t(AGAIN_PROMPT if self.confirming else FIRST_PROMPT)

    @property
    def dots(self) -> str:
        return DOT * len(self.pin)

    def press(self, digit: str) -> None:
        self.state.touch()
        if len(digit) == 1 and digit.isdigit() and len(self.pin) < MAX_PIN:
            self.pin += digit

    def backspace(self) -> None:
        self.state.touch()
        self.pin = self.pin[:-1]

    def clear(self) -> None:
        self.state.touch()
        self.pin = ""

    def restart(self) -> None:
        """Forget the first PIN: typing starts over."""
        self.state.touch()
        self.pin, self._first = "", None

    def submit(self) -> bool:
        """First time: check the PIN and ask it again. Second time: compare, then create the
        admin account. True only when the account exists; `error` says why not. The typed PIN
        is always cleared."""
        self.state.touch()
        pin, self.pin = self.pin, ""
        t = self.state.t
        if self._first is None:
            problem = self._weakness(pin)
            if problem:
                self.error = t(problem)
                return False
            self._first, self.error = pin, None
            return False
        first, self._first = self._first, None
        if pin != first:
            self.error = t(PIN_MISMATCH)
            return False
        try:
            self.created = auth.add_staff(
                self.state.ctx,
                None,
                username=self.username,
                display_name=self.display_name,
                role="admin",
                pin=pin,
            )
        except ValueError:
            # the PIN passed check_pin above: the username or name from the file is wrong
            self.error = t(BAD_FACILITY_ADMIN)
            return False
        except ServiceError as e:
            self.error = self.state.error_text(e)
            return False
        self.error = None
        return True

    @staticmethod
    def _weakness(pin: str) -> str | None:
        """The msgid explaining why auth.check_pin refuses this PIN, or None if it accepts it."""
        try:
            auth.check_pin(pin)
        except ValueError:
            return PIN_LENGTH if not MIN_PIN <= len(pin) <= MAX_PIN else PIN_TOO_EASY
        return None
