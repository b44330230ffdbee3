"""Staff picker + PIN pad (at first boot: the first admin's PIN setup, first boot's error),
and the clock confirmation shown after login when the clock is not trusted."""

from __future__ import annotations

from typing import Any

from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from appliance.web.i18n import N_
from kiosk_ui.screens.base import KioskScreen, column, scrolling
from kiosk_ui.viewmodels.login import (
    FIRST_ADMIN,
    LOGIN,
    UNCONFIGURED_MODE,
    ClockVM,
    LoginVM,
)
from kiosk_ui.widgets.pads import DOTS_FONT, PinPad
from kiosk_ui.widgets.theme import (
    DANGER,
    HUGE,
    MUTED,
    OK,
    PRIMARY,
    SECONDARY,
    SELECTED,
    TEXT,
    BigButton,
    Box,
    Text,
    Title,
    paint,
)

BANNER_MAX_H = dp(150)  # longer first-boot errors scroll


class LoginScreen(KioskScreen):
    """Thin: what it shows comes from LoginVM (the picker and pad, or at first boot the first
    admin's PIN setup or the "not configured" notice; above all, first boot's error)."""

    screen_name = "login"
    show_home = False

    def __init__(self, kiosk, **kw):
        super().__init__(kiosk, **kw)
        self.vm: LoginVM | None = None
        self.staff_buttons: dict[str, BigButton] = {}
        self.body.orientation = "horizontal"
        # 800x480: the PIN pad fills the right column's height, so every message (first
        # boot's error on top, then the title, the notice or the error) is in the left one.
        left = BoxLayout(orientation="vertical", spacing=dp(6), size_hint_x=0.48)
        self.firstboot_box = Box("", colour=DANGER, font_size=sp(18))
        self.banner_holder = column(height=0)
        banner_scroll = scrolling(self.banner_holder)
        banner_scroll.size_hint_y = None
        banner_scroll.height = 0
        self.banner_holder.bind(
            minimum_height=lambda _w, h: setattr(banner_scroll, "height", min(h, BANNER_MAX_H))
        )
        left.add_widget(banner_scroll)
        self.pick_title = Title("", font_size=sp(24))
        left.add_widget(self.pick_title)
        self.info = Text("", font_size=sp(20))
        self.info_holder = column(height=0)
        left.add_widget(self.info_holder)
        self.error = Box("", colour=DANGER)
        self.notice = Box("", colour=OK)
        self.error_holder = column(height=0)
        left.add_widget(self.error_holder)
        self.staff_list = column()
        left.add_widget(scrolling(self.staff_list))
        right = BoxLayout(orientation="vertical", spacing=dp(6), size_hint_x=0.52)
        self.who = Text("", font_size=sp(22), bold=True)
        self.who_holder = column(height=0)
        right.add_widget(self.who_holder)
        self.dots = Label(
            text="",
            font_name=DOTS_FONT,
            font_size=HUGE,
            color=TEXT,
            size_hint_y=None,
            height=dp(56),
        )
        paint(self.dots, (1, 1, 1, 1))
        right.add_widget(self.dots)
        self.pad = PinPad()
        self.pad.bind(on_digit=self._digit, on_backspace=self._backspace, on_ok=self._ok)
        right.add_widget(self.pad)
        right.add_widget(Label())
        self.body.add_widget(left)
        self.body.add_widget(right)

    def enter(self, **kw: Any) -> None:
        self.vm = LoginVM(self.state)
        self._build_staff()
        self.refresh()

    def _build_staff(self) -> None:
        self.staff_list.clear_widgets()
        self.staff_buttons = {}
        if self.vm.mode != LOGIN:
            return
        for acc in self.vm.accounts:
            b = BigButton(
                f"{acc['display_name']}\n{acc['role_label']}",
                colour=SECONDARY,
                height=dp(64),
                font_size=sp(19),
            )
            b.bind(on_release=lambda _b, u=acc["username"]: self.select(u))
            self.staff_buttons[acc["username"]] = b
            self.staff_list.add_widget(b)

    def select(self, username: str) -> None:
        self.vm.select(username)
        self.refresh()

    def _digit(self, _pad, digit: str) -> None:
        if self.vm.selected or self.vm.mode == FIRST_ADMIN:
            self.vm.press(digit)
            self.refresh()

    def _backspace(self, _pad) -> None:
        self.vm.backspace()
        self.refresh()

    def _ok(self, _pad) -> None:
        if self.vm.mode == FIRST_ADMIN:
            self.vm.create_first_admin()
            self._build_staff()  # the new admin (or whoever was added meanwhile)
            self.refresh()
            return
        if not self.vm.selected:
            return
        if self.vm.submit():
            self.kiosk.logged_in(clock=self.vm.clock_needs_confirmation)
        else:
            self.refresh()

    def refresh(self) -> None:
        if self.vm is None:
            return
        t = self.t
        vm = self.vm
        self._show(self.banner_holder, self.firstboot_box, vm.firstboot_banner)
        setup = vm.first_admin if vm.mode == FIRST_ADMIN else None
        if setup is not None:
            self.pick_title.text = setup.title
            info, who = setup.prompt, ""
        elif vm.mode == LOGIN:
            self.pick_title.text = t("Qui êtes-vous ?")
            info = None
            chosen = next((a for a in vm.accounts if a["username"] == vm.selected), None)
            who = (
                t("Code PIN de {name}").format(name=chosen["display_name"])
                if chosen
                else t("Touchez votre nom")
            )
        else:
            self.pick_title.text = "Keneya"
            info, who = vm.unconfigured_text, ""
        self._show(self.info_holder, self.info, info)
        self._show(self.who_holder, self.who, who)
        for username, b in self.staff_buttons.items():
            b.set_colour(SELECTED if username == vm.selected else SECONDARY)
        self.dots.text = vm.dots
        self.pad.disabled = vm.mode == UNCONFIGURED_MODE
        self.pad.opacity = self.dots.opacity = 0 if self.pad.disabled else 1
        self.pad.set_texts(t("Effacer"), t("Entrer"))
        if vm.error:
            self._show(self.error_holder, self.error, vm.error)
        else:
            self._show(self.error_holder, self.notice, vm.notice)

    @staticmethod
    def _show(holder, box, text: str | None) -> None:
        """`box` in `holder` with `text`, or nothing there (the holder shrinks to nothing)."""
        holder.clear_widgets()
        if text:
            box.text = text
            holder.add_widget(box)


PARTS = ("day", "month", "year", "hour", "minute")
PART_LABELS = {
    "day": N_("Jour"),
    "month": N_("Mois"),
    "year": N_("Année"),
    "hour": N_("Heures"),
    "minute": N_("Minutes"),
}
CLOCK_STEP_H = dp(52)  # the +/- buttons: a finger's width, and the whole screen fits 480 px
CLOCK_VALUE_H = dp(44)


class ClockScreen(KioskScreen):
    """The title, the date and time in big, five labelled columns (day, month, year, hours,
    minutes) each with + above and − below its value, then the error (only when there is
    one) beside "Confirmer". 800x480: header 60 + about 380 px of content."""

    screen_name = "clock"
    show_home = False

    def __init__(self, kiosk, **kw):
        super().__init__(kiosk, **kw)
        self.vm: ClockVM | None = None
        self.title = Title("")
        self.body.add_widget(self.title)
        self.big = Text("", font_size=sp(40), bold=True, halign="center")
        self.body.add_widget(self.big)
        self.grid = GridLayout(cols=5, spacing=dp(6), size_hint_y=None)
        self.grid.bind(minimum_height=self.grid.setter("height"))
        self.part_labels: dict[str, Text] = {}
        self.values: dict[str, Label] = {}
        self.part_buttons: dict[tuple[str, int], BigButton] = {}
        for part in PARTS:
            lab = Text("", font_size=sp(20), bold=True, color=MUTED, halign="center")
            self.part_labels[part] = lab
            self.grid.add_widget(lab)
        for delta in (1, None, -1):
            for part in PARTS:
                if delta is None:
                    value = Label(
                        text="",
                        font_size=sp(30),
                        bold=True,
                        color=TEXT,
                        size_hint_y=None,
                        height=CLOCK_VALUE_H,
                    )
                    self.values[part] = value
                    self.grid.add_widget(value)
                else:
                    b = BigButton(
                        "+" if delta > 0 else "−",
                        colour=PRIMARY,
                        font_size=sp(32),
                        height=CLOCK_STEP_H,
                    )
                    b.bind(on_release=lambda _b, p=part, d=delta: self.adjust(p, d))
                    self.part_buttons[(part, delta)] = b
                    self.grid.add_widget(b)
        self.body.add_widget(self.grid)
        # the error beside the button: shown, it costs no height the screen does not have
        bottom = BoxLayout(orientation="horizontal", spacing=dp(8), size_hint_y=None)
        self.error = Text("", color=DANGER, font_size=sp(18), size_hint_x=0.55)
        self.confirm_button = BigButton("", colour=OK, height=dp(60), size_hint_x=0.45)
        self.confirm_button.bind(on_release=lambda *_: self.confirm())
        bottom.add_widget(self.error)
        bottom.add_widget(self.confirm_button)

        def fit_bottom(*_):
            bottom.height = max(self.confirm_button.height, self.error.height)

        self.error.bind(height=fit_bottom)
        fit_bottom()
        self.body.add_widget(bottom)
        self.body.add_widget(Widget())  # taller windows: the spare height goes below

    def enter(self, **kw: Any) -> None:
        self.vm = ClockVM(self.state)
        self.error.text = ""
        self.refresh()

    def adjust(self, part: str, delta: int) -> None:
        self.vm.adjust(part, delta)
        self.refresh()

    def confirm(self) -> None:
        try:
            self.vm.confirm()
        except Exception as e:  # one line for staff, never a traceback
            self.error.text = self.state.error_text(e)
            return
        if self.vm.error:  # refused (no right to set the clock, or an impossible date)
            self.error.text = self.vm.error
            return
        self.kiosk.go("home")

    def refresh(self) -> None:
        if self.vm is None:
            return
        t = self.t
        self.title.text = t("Vérifiez la date et l'heure")
        self.big.text = f"{self.vm.date_text}   {self.vm.time_text}"
        day, month, year = self.vm.date_text.split("/")
        hour, minute = self.vm.time_text.split(":")
        for part, value in zip(PARTS, (day, month, year, hour, minute), strict=True):
            self.values[part].text = value
            self.part_labels[part].text = t(PART_LABELS[part])
        self.error.text = self.vm.error or ""
        self.confirm_button.text = t("Confirmer")
