"""The touchscreen kiosk: KioskApp for the appliance, build_root(state) for tests (mount the
root on the Window and drive the event loop, no App.run()).

Kivy reads its environment when first imported: call `kivy_env()` before importing this
module's Kivy-using parts (the `keneya kiosk` command and the tests do)."""

from __future__ import annotations

import os
import tempfile
from typing import Any


def kivy_env(*, headless: bool = False) -> None:
    """Kivy's environment, set only where nobody chose otherwise. Must run before `import
    kivy`: quiet logs, Kivy never parses our argv, its config in a temp folder (not ~/.kivy)."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ.setdefault("KIVY_HOME", tempfile.mkdtemp(prefix="keneya-kivy-"))
    if headless:
        os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")


kivy_env()  # harmless if already set; the CLI never imports this module for other commands

from kivy.app import App  # noqa: E402
from kivy.clock import Clock  # noqa: E402
from kivy.metrics import dp, sp  # noqa: E402
from kivy.uix.boxlayout import BoxLayout  # noqa: E402
from kivy.uix.floatlayout import FloatLayout  # noqa: E402
from kivy.uix.label import Label  # noqa: E402
from kivy.uix.screenmanager import NoTransition, ScreenManager  # noqa: E402

from appliance.services import drafts, follow_up  # noqa: E402
from appliance.services.power import NothingPending, may_cancel  # noqa: E402
from appliance.services.power import cancel_shutdown as cancel_pending_shutdown  # noqa: E402
from appliance.web.i18n import N_  # noqa: E402
from appliance.web.power_texts import who_may_cancel  # noqa: E402
from kiosk_ui import memory  # noqa: E402
from kiosk_ui.screens.base import KioskScreen  # noqa: E402
from kiosk_ui.screens.dashboard import DashboardScreen  # noqa: E402
from kiosk_ui.screens.forms import EncounterScreen, RegisterScreen  # noqa: E402
from kiosk_ui.screens.home import HomeScreen  # noqa: E402
from kiosk_ui.screens.library import LibraryReaderScreen, LibraryScreen  # noqa: E402
from kiosk_ui.screens.lists import DueScreen, StatusScreen  # noqa: E402
from kiosk_ui.screens.login import ClockScreen, LoginScreen  # noqa: E402
from kiosk_ui.screens.record import RecordScreen  # noqa: E402
from kiosk_ui.screens.referral import ReferralScreen, ReferralsScreen  # noqa: E402
from kiosk_ui.screens.search import SearchScreen  # noqa: E402
from kiosk_ui.viewmodels.power import PowerVM  # noqa: E402
from kiosk_ui.viewmodels.state import SAVE_ERRORS, KioskState  # noqa: E402
from kiosk_ui.widgets.power import PowerBanner, ShutdownCountdown  # noqa: E402
from kiosk_ui.widgets.theme import (  # noqa: E402
    BG,
    HEADER,
    PRIMARY,
    SECONDARY,
    WHITE,
    BigButton,
    paint,
)

POWER_POLL_S = 5
LOCK_CHECK_S = 1
DUE_CHECK_S = 600  # the follow-up items brought to the new day when the timer has not
# The shutdown overlay's lines.
NOTHING_TO_SAVE = N_("Rien à enregistrer : aucun formulaire ouvert")
SAVED_AS_DRAFT = N_("Enregistré comme brouillon : il reviendra après le redémarrage")
NOT_SAVED = N_("Pas enregistré")
REGISTER_NOT_SAVED = N_("Pas enregistré : le formulaire est incomplet ou le patient existe déjà")
NO_SHUTDOWN_PENDING = N_("Aucun arrêt en attente")


class Header(BoxLayout):
    """Staff name, language toggle, Home and Lock buttons: above every screen."""

    def __init__(self, kiosk: KioskRoot, **kw):
        super().__init__(size_hint_y=None, height=dp(60), padding=dp(4), spacing=dp(6), **kw)
        paint(self, HEADER)
        self.kiosk = kiosk
        # 800 px: the name has what the three buttons leave (~370 px); a long one wraps to a
        # second line and, longer still, ends in "…" rather than leaving the 60 px strip
        self.name_label = Label(
            text="",
            font_size=sp(20),
            color=WHITE,
            bold=True,
            halign="left",
            valign="middle",
            max_lines=2,
            shorten=True,
        )
        self.name_label.bind(size=self._fit_name)
        self.add_widget(self.name_label)
        self.lang_button = BigButton(
            "", colour=SECONDARY, size_hint_x=None, width=dp(96), height=dp(52), font_size=sp(20)
        )
        self.lang_button.bind(on_release=lambda *_: kiosk.toggle_lang())
        self.home_button = BigButton(
            "", colour=PRIMARY, size_hint_x=None, width=dp(150), height=dp(52)
        )
        self.home_button.bind(on_release=lambda *_: kiosk.go("home"))
        self.lock_button = BigButton(
            "", colour=SECONDARY, size_hint_x=None, width=dp(150), height=dp(52)
        )
        self.lock_button.bind(on_release=lambda *_: kiosk.lock())
        self.add_widget(self.lang_button)

    def _fit_name(self, label, size) -> None:
        label.text_size = (max(size[0] - dp(8), 1), size[1])

    def refresh(self, screen: KioskScreen) -> None:
        kiosk, actor = self.kiosk, self.kiosk.state.actor
        self.name_label.text = actor.display_name if actor else "Keneya"
        self.lang_button.text = "EN" if kiosk.state.lang == "fr" else "FR"
        self.home_button.text = kiosk.tr("Accueil")
        self.lock_button.text = kiosk.tr("Verrouiller")
        for b in (self.home_button, self.lock_button):
            if b.parent:
                self.remove_widget(b)
        if actor is not None and screen.show_home:
            self.add_widget(self.home_button)
        if actor is not None:
            self.add_widget(self.lock_button)


class KioskRoot(FloatLayout):
    """The whole kiosk: header, power banner and screens, the shutdown overlay on top.
    Screens are reached with go(name, **arguments)."""

    def __init__(
        self, state: KioskState, *, power: PowerVM | None = None, timers: bool = True, **kw
    ):
        super().__init__(**kw)
        paint(self, BG)  # screenshots get an opaque background
        self.state = state
        self.power = (
            power
            if power is not None
            else PowerVM(
                state.ctx.store,
                now=state.ctx.clock.machine_time,
                estimate=lambda: self.state.ctx.now().now.timestamp(),
            )
        )
        column_ = BoxLayout(orientation="vertical")
        self.header = Header(self)
        self.banner = PowerBanner()
        self.manager = ScreenManager(transition=NoTransition())
        column_.add_widget(self.header)
        column_.add_widget(self.banner)
        column_.add_widget(self.manager)
        self.add_widget(column_)
        self.countdown = ShutdownCountdown()
        self.countdown.save_button.bind(on_release=lambda *_: self.save_open_form())
        self.countdown.cancel_button.bind(on_release=lambda *_: self.cancel_shutdown())
        self.screens: dict[str, KioskScreen] = {}
        for cls in (
            LoginScreen,
            ClockScreen,
            HomeScreen,
            SearchScreen,
            RecordScreen,
            EncounterScreen,
            RegisterScreen,
            DueScreen,
            StatusScreen,
            LibraryScreen,
            LibraryReaderScreen,
            ReferralScreen,
            ReferralsScreen,
            DashboardScreen,
        ):
            screen = cls(self)
            self.screens[screen.name] = screen
            self.manager.add_widget(screen)
        self._events = []
        if timers:
            self._events = [
                Clock.schedule_interval(lambda _dt: self.poll_power(), POWER_POLL_S),
                Clock.schedule_interval(lambda _dt: self.check_lock(), LOCK_CHECK_S),
                Clock.schedule_interval(lambda _dt: self.keep_due_items_current(), DUE_CHECK_S),
            ]
            self.keep_due_items_current()
        self.go("login")
        self.poll_power()

    def keep_due_items_current(self) -> None:
        """A rebuild on a thread of its own when the stored items are not today's (the lists
        keep reading the stored ones, whose states already follow the date)."""
        follow_up.rebuild_in_background(self.state.own_context)

    # -- navigation --------------------------------------------------------------------------
    def screen(self, name: str) -> KioskScreen:
        return self.screens[name]

    @property
    def current(self) -> str:
        return self.manager.current

    def go(self, name: str, **arguments: Any) -> None:
        if name != "login" and self.state.actor is None:
            name, arguments = "login", {}
        screen = self.screens[name]
        screen.enter(**arguments)
        self.manager.current = name
        self.header.refresh(screen)
        memory.release_soon()  # the screen left behind freed its widgets: give the heap back

    def logged_in(self, *, clock: bool) -> None:
        self.go("clock" if clock else "home")
        self.show_countdown()  # a pending shutdown's overlay, now with this role's buttons

    def lock(self) -> None:
        """Back to the PIN screen; an encounter form in progress stays as its draft (the
        view-model saved it on every change)."""
        self.state.lock()
        for name in ("encounter", "register"):
            numpad = getattr(self.screens[name], "numpad", None)
            if numpad is not None:
                numpad.dismiss()
        self.go("login")
        self.show_countdown()  # logged out: the banner alone counts down

    def check_lock(self) -> None:
        if self.state.should_lock():
            self.lock()

    # -- language ----------------------------------------------------------------------------
    def tr(self, msgid: str) -> str:
        return self.state.t(msgid)

    def toggle_lang(self) -> None:
        self.state.set_lang("en" if self.state.lang == "fr" else "fr")
        self.power.set_lang(self.state.lang)
        self.banner.show(self.power.banner)
        screen = self.screens[self.current]
        screen.refresh()
        self.header.refresh(screen)

    # -- power -------------------------------------------------------------------------------
    def poll_power(self) -> None:
        try:
            self.power.poll()
        except Exception:  # a broken power row must never take the kiosk down
            return
        self.banner.show(self.power.banner)
        self.show_countdown()

    def show_countdown(self) -> None:
        """The overlay while a shutdown counts down and a staff member is logged in. Logged
        out there is no work to save and the PIN pad must stay reachable (to cancel after
        logging in): the banner alone counts down."""
        seconds = self.power.countdown_s
        if (seconds is None or self.state.actor is None) and self.countdown.parent:
            self.remove_widget(self.countdown)
            self.countdown.say("")
        if seconds is None:
            if getattr(self, "_tick", None):
                self._tick.cancel()
                self._tick = None
            return
        if getattr(self, "_tick", None) is None:
            self._tick = Clock.schedule_interval(lambda _dt: self._tick_countdown(), 1)
        if self.state.actor is None:
            return
        self.countdown.show(self.power.countdown_text(seconds))
        self.countdown_buttons()
        if self.countdown.parent is None:
            self.add_widget(self.countdown)

    def countdown_buttons(self) -> None:
        """ "Enregistrer" while a form is open; "Annuler l'arrêt" for a role that may cancel,
        otherwise a line saying which roles may."""
        t, actor = self.tr, self.state.actor
        save = t("Enregistrer") if self.open_form() is not None else None
        if may_cancel(actor):
            self.countdown.set_buttons(save=save, cancel=t("Annuler l'arrêt"))
        else:
            self.countdown.set_buttons(save=save, cancel=None, note=who_may_cancel(t))

    def _tick_countdown(self) -> None:
        seconds = self.power.countdown_s
        if seconds is not None:
            self.countdown.show(self.power.countdown_text(seconds))
            self.banner.show(self.power.banner)

    def open_form(self) -> KioskScreen | None:
        """The form being filled in (an encounter or a registration), or None."""
        screen = self.screens.get(self.current)
        if self.current in ("encounter", "register") and getattr(screen, "vm", None) is not None:
            return screen
        return None

    def save_open_form(self) -> None:
        """What the form's own "Enregistrer" does; an encounter that cannot be saved as it is
        (a field missing or wrong) is kept as its draft, offered again after the restart."""
        t, screen = self.tr, self.open_form()
        if screen is None:
            self.countdown.say(t(NOTHING_TO_SAVE))
        elif self.current == "encounter":
            vm = screen.vm
            screen.save()  # success opens the record
            if self.current != "encounter":
                self.countdown.say(t("Enregistré"))
            elif self._keep_draft(vm):
                self.countdown.say(t(SAVED_AS_DRAFT))
            else:
                self.countdown.say(vm.error or t(NOT_SAVED))
        else:
            screen.save()
            saved = self.current != "register"
            self.countdown.say(t("Enregistré") if saved else t(REGISTER_NOT_SAVED))
        self.countdown_buttons()

    def _keep_draft(self, vm) -> bool:
        if vm.patient_id is None or self.state.actor is None:
            return False
        try:
            with self.state.storage():
                drafts.save(self.state.ctx, self.state.actor, vm.patient_id, vm.kind, vm.values)
        except SAVE_ERRORS as e:
            vm.error = self.state.error_text(e)
            return False
        return True

    def cancel_shutdown(self) -> None:
        """Ask the power monitor to call the shutdown off (audited); the overlay goes and the
        banner says who cancelled."""
        try:
            with self.state.storage():
                cancel_pending_shutdown(self.state.ctx, self.state.actor, strict=True)
        except NothingPending:
            self.countdown.say(self.tr(NO_SHUTDOWN_PENDING))
        except SAVE_ERRORS as e:
            self.countdown.say(self.state.error_text(e))
            return
        self.poll_power()

    # -- input -------------------------------------------------------------------------------
    def on_touch_down(self, touch):
        self.state.touch()
        return super().on_touch_down(touch)

    def stop(self) -> None:
        for ev in self._events:
            ev.cancel()
        if getattr(self, "_tick", None):
            self._tick.cancel()


def build_root(state: KioskState, **options: Any) -> KioskRoot:
    return KioskRoot(state, **options)


class KioskApp(App):
    title = "Keneya"

    def __init__(self, state: KioskState, **kw):
        super().__init__(**kw)
        self.state = state

    def build(self) -> KioskRoot:
        return build_root(self.state)


def run(
    database,
    *,
    size: tuple[int, int] = (800, 480),
    fullscreen: bool = False,
    lang: str = "fr",
    config_dir=None,
) -> None:
    """Open the facility's database and run the kiosk until the window closes."""
    memory.tune_malloc()  # before any thread: glibc's thresholds fixed, the heap trimmable
    from kivy.core.window import Window

    from appliance.services.context import Context
    from appliance.store import Store

    if fullscreen:
        Window.fullscreen = "auto"
    else:
        Window.size = size
    with Store(database) as store:
        state = KioskState(
            Context.open(store), lang=lang, data_dir=database.parent, config_dir=config_dir
        )
        KioskApp(state).run()
