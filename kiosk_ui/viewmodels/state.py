"""What every kiosk screen shares: the service context, who is logged in, the language, the
idle lock; and the helpers that turn service errors and dates into what the screen shows."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from appliance.clock import Clock, ClockError
from appliance.domain.encounters import InvalidEncounter
from appliance.domain.permissions import allowed
from appliance.services.context import Actor, Context
from appliance.services.errors import (
    Conflict,
    LoginFailed,
    NotFound,
    NotProvisioned,
    PermissionDenied,
    ServiceError,
)
from appliance.store import Store
from appliance.store.diskspace import DiskProblem, disk_errors
from appliance.web.disk import disk_text
from appliance.web.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, Translator, age_text, dmy

log = logging.getLogger("keneya.kiosk")

__all__ = ["KioskState", "SAVE_ERRORS", "age_text", "dmy", "iso_date", "error_text"]

DENIED = N_("Votre rôle ne permet pas de faire cela.")
NOT_FOUND = N_("Ce dossier ou cette page n'existe pas.")
MERGED = N_("Ce dossier a été fusionné dans un autre : utilisez le dossier gardé.")
NOT_LOGGED_IN = N_("Reconnectez-vous.")
NOT_PROVISIONED = N_("L'appareil n'est pas encore configuré. Prévenez le technicien.")
BAD_DATE = N_("Cette date ou cette heure n'est pas valable.")
UNEXPECTED = N_(
    "Une erreur inattendue est survenue. Réessayez ; si elle revient, prévenez le technicien."
)


_ONE_PASS = threading.Lock()
# What a view-model catches around a service call made under `state.storage()`: the service's
# refusals and a full or read-only disk, each shown as one line (error_text), never a crash.
SAVE_ERRORS = (ServiceError, DiskProblem)


class KioskState:
    """Shared by every view-model of one kiosk session."""

    def __init__(
        self,
        ctx: Context,
        *,
        lang: str = DEFAULT_LANGUAGE,
        idle_lock_s: float = 120,
        monotonic: Callable[[], float] = time.monotonic,
        data_dir: Path | None = None,
        config_dir: Path | None = None,
    ):
        self.ctx = ctx
        self.actor: Actor | None = None
        self.idle_lock_s = idle_lock_s
        self._monotonic = monotonic
        self._last_input = monotonic()
        self.data_dir = data_dir if data_dir is not None else Path(ctx.store.path).parent
        # The config folder holds the secrets (the hotspot passphrase) and first boot's error
        # report; with KENEYA_HOME it is the data folder.
        self.config_dir = config_dir if config_dir is not None else self.data_dir
        self.secrets_dir = self.config_dir / "secrets"
        self.lang = DEFAULT_LANGUAGE
        self._t = Translator(DEFAULT_LANGUAGE)
        self.set_lang(lang)

    @property
    def t(self) -> Translator:
        if self._t.lang != self.lang:
            self._t = Translator(self.lang)
        return self._t

    @contextmanager
    def own_context(self) -> Iterator[Context]:
        """A second connection to the same database and clock, for a facility-wide pass on
        another thread (one SQLite connection is never shared between threads at once). One
        pass at a time: each holds every patient in memory, and a Pi 3 has 1 GB for all."""
        clock = self.ctx.clock
        with _ONE_PASS, Store(self.ctx.store.path, migrate=False) as store:
            yield Context(
                store,
                Clock(
                    store,
                    machine_time=clock.machine_time,
                    boot_time=clock.boot_time,
                    boot_id=clock.boot_id,
                    synchronized=clock.synchronized,
                ),
            )

    def set_lang(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE

    def storage(self):
        """Around a service call that writes (or an audited read): a full or read-only disk
        comes out as its DiskProblem, which error_text says plainly."""
        return disk_errors(self.ctx.store.path)

    # -- idle lock ---------------------------------------------------------------------------
    def touch(self) -> None:
        """Any user input: the idle timer starts again."""
        self._last_input = self._monotonic()

    def idle_for(self) -> float:
        return max(0.0, self._monotonic() - self._last_input)

    def should_lock(self) -> bool:
        return self.actor is not None and self.idle_for() >= self.idle_lock_s

    def lock(self) -> None:
        self.actor = None

    def may(self, permission: str) -> bool:
        return self.actor is not None and allowed(self.actor.role, permission)

    # -- display helpers ---------------------------------------------------------------------
    @property
    def today(self) -> date:
        return self.ctx.now().today

    def error_text(self, exc: BaseException) -> str:
        return error_text(exc, self.t)


def error_text(exc: BaseException, t: Callable[[str], str]) -> str:
    """One translated line for an error a service raised; never a traceback."""
    if isinstance(exc, PermissionDenied):
        return t(DENIED)
    if isinstance(exc, LoginFailed):
        return t(NOT_LOGGED_IN)
    if isinstance(exc, NotFound):
        return t(NOT_FOUND)
    if isinstance(exc, Conflict):
        return t(MERGED) if "merged" in str(exc) else t(UNEXPECTED)
    if isinstance(exc, NotProvisioned):
        return t(NOT_PROVISIONED)
    if isinstance(exc, ClockError):
        return t(BAD_DATE)
    if isinstance(exc, DiskProblem):
        log.warning("kiosk: %s", exc)
        return disk_text(exc, t)
    if isinstance(exc, InvalidEncounter):
        return "; ".join(m for ms in _explain(exc, t).values() for m in ms)
    log.error("kiosk: unexpected error", exc_info=exc)
    return t(UNEXPECTED)


def _explain(exc: InvalidEncounter, t: Any) -> dict[str, list[str]]:
    from appliance.web.forms import explain

    return explain(exc.details, t)


def iso_date(text: Any) -> Any:
    """A date typed as JJ/MM/AAAA (or already ISO) → "AAAA-MM-JJ"; anything else is returned
    as typed, for the model to refuse with its own message."""
    if not isinstance(text, str):
        return text
    s = text.strip()
    parts = s.replace("-", "/").replace(".", "/").split("/")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        if len(parts[0]) == 4:
            y, m, d = parts
        else:
            d, m, y = parts
        try:
            return date(int(y), int(m), int(d)).isoformat()
        except ValueError:
            return s
    return s
