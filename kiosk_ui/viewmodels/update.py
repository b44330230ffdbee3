"""The update on the status screen: « Installer et redémarrer » for the roles that may install,
the question asked before, and the progress of an install under way. It reads the state file
root writes (appliance.services.update_state) and asks for the install through the same
service as the web app; no Kivy here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from appliance.domain.permissions import INSTALL_UPDATE, ROLES, allowed
from appliance.services import update_state
from appliance.web.i18n import N_
from appliance.web.labels import ROLES as ROLE_LABELS
from kiosk_ui.viewmodels.state import DENIED, SAVE_ERRORS, UNEXPECTED, KioskState, error_text

INSTALL = N_("Installer et redémarrer")
OFFER = N_("Mise à jour disponible : version %(version)s")
QUESTION = N_(
    "Installer la version %(version)s et redémarrer ? Les dossiers sont sauvegardés d'abord."
)
DOWNTIME = N_("L'appareil redémarre ensuite (environ 5 minutes sans dossiers).")
CONFIRM = N_("Installer")
CANCEL = N_("Annuler")
WHO_MAY = N_("Seuls ces rôles peuvent installer une mise à jour : %(roles)s")
STARTED = N_("Installation lancée : l'appareil redémarrera seul à la fin.")
UNDER_WAY = N_("Installation en cours : %(percent)s %%")
INSTALL_ROLES = tuple(role for role in ROLES if allowed(role, INSTALL_UPDATE))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def half(message: Any, lang: str) -> str:
    """One language of a message the update machinery writes as "français / English"."""
    parts = str(message).split(" / ", 1)
    return parts[1].strip() if lang == "en" and len(parts) == 2 else parts[0].strip()


def percent_of(progress: dict[str, Any]) -> int:
    """The percent as a whole number in 0..100 (the file is root's; trust no shape in it)."""
    try:
        value = float(progress.get("percent") or 0)
    except (TypeError, ValueError):
        return 0
    if value != value:  # NaN
        return 0
    return int(max(0.0, min(100.0, value)))


class UpdateVM:
    """What the update part of the status screen shows, and the install it asks for.

    `start` is handed to `update_state.request_install` (None: systemctl starts the root
    unit); tests give their own."""

    def __init__(self, state: KioskState, *, start: Callable[[str], bool] | None = None):
        self.state = state
        self.start = start
        self.update: dict[str, Any] = {}
        self.confirming = False
        # asked for during this visit: the root unit has not written its progress yet, and
        # the button must not come back meanwhile
        self.requested = False
        self._last_when_requested: Any = None
        self._seen_progress = False
        # kept as what they say, not as text: the language may change while they are shown
        self._message: str | None = None
        self._error: Callable[[Callable[[str], str]], str] | None = None

    # -- reading -----------------------------------------------------------------------------
    def show(self, update: Any) -> None:
        """The state file as read (by the status service, or by `reload`)."""
        self.update = _dict(update)
        if self.under_way:
            self._seen_progress = True
            self.confirming = False
        elif self.requested and (
            self._seen_progress or self.update.get("last") != self._last_when_requested
        ):
            # the install ended without a restart (its outcome is in the update lines): the
            # offer, if still there, may be tried again
            self.requested = False
            self._message = None
        if not self.offer:
            self.confirming = False

    def reload(self) -> None:
        """The state file alone, read again: no database, no audit row, so the screen may do
        it every few seconds while an install runs."""
        self.show(update_state.read(self.state.data_dir))

    # -- what to show ------------------------------------------------------------------------
    @property
    def message(self) -> str | None:
        return self.state.t(self._message) if self._message else None

    @property
    def error(self) -> str | None:
        return self._error(self.state.t) if self._error else None

    @property
    def offer(self) -> dict[str, Any]:
        return _dict(self.update.get("offer"))

    @property
    def version(self) -> str:
        return str(self.offer.get("version") or "—")

    @property
    def under_way(self) -> bool:
        return bool(_dict(self.update.get("progress")))

    @property
    def may_install(self) -> bool:
        return self.state.may(INSTALL_UPDATE)

    @property
    def offer_text(self) -> str | None:
        """The offer's line above the button (or above the note), none while installing."""
        if not self.offer or self.under_way:
            return None
        return self.state.t(OFFER) % {"version": self.version}

    @property
    def button(self) -> str | None:
        """The button's text when it may be pressed now, else None."""
        if not self.offer or self.under_way or self.requested or not self.may_install:
            return None
        return self.state.t(INSTALL)

    @property
    def note(self) -> str | None:
        """Why there is no button, for a role that may not install."""
        if not self.offer or self.under_way or self.may_install:
            return None
        t = self.state.t
        roles = ", ".join(t(ROLE_LABELS[r]) for r in INSTALL_ROLES)
        return t(WHO_MAY) % {"roles": roles}

    @property
    def progress(self) -> dict[str, Any] | None:
        """{value, max, text} of the bar while an install runs, else None."""
        progress = _dict(self.update.get("progress"))
        if not progress:
            return None
        percent = percent_of(progress)
        text = self.state.t(UNDER_WAY) % {"percent": percent}
        step = half(progress.get("step") or "", self.state.lang)
        if step:
            text += f" — {step}"
        return {"value": percent, "max": 100, "text": text}

    @property
    def polling(self) -> bool:
        """Whether the screen should read the state file again in a moment."""
        return self.under_way or self.requested

    @property
    def question(self) -> dict[str, str]:
        t = self.state.t
        return {
            "text": t(QUESTION) % {"version": self.version},
            "note": t(DOWNTIME),
            "cancel": t(CANCEL),
            "confirm": t(CONFIRM),
        }

    # -- actions -----------------------------------------------------------------------------
    def ask(self) -> bool:
        """The button: the question comes first. False when the button is not offered."""
        if self.button is None:
            return False
        self.confirming, self._message, self._error = True, None, None
        return True

    def cancel(self) -> None:
        self.confirming = False

    def confirm(self) -> bool:
        """« Installer » in the question: the audited request that starts the root unit."""
        self.confirming = False
        state = self.state
        if not self.may_install:  # the session may have changed since the button was shown
            self._error = lambda t: t(DENIED)
            return False
        last = self.update.get("last")
        try:
            with state.storage():
                update_state.request_install(
                    state.ctx, state.actor, state.data_dir, start=self.start
                )
        except update_state.UpdateRequestError as e:
            self._error = lambda t, e=e: half(e, getattr(t, "lang", "fr"))
            self.reload()
            return False
        except SAVE_ERRORS as e:
            state.error_text(e)  # logged once, when it happened
            self._error = lambda t, e=e: error_text(e, t)
            return False
        except Exception as e:  # one line on the screen, never a crash
            state.error_text(e)  # logged with its traceback
            self._error = lambda t: t(UNEXPECTED)
            return False
        self.requested, self._last_when_requested, self._seen_progress = True, last, False
        self._message, self._error = STARTED, None
        return True
