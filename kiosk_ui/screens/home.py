"""Home: today's follow-up counts (each opens its list), the district's new replies (opening
the record they are on), gravity alerts, drafts offered back, and the big buttons."""

from __future__ import annotations

from typing import Any

from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout

from appliance.web.i18n import N_
from appliance.web.labels import ENCOUNTER_TYPES
from kiosk_ui.screens.base import KioskScreen, column, scrolling
from kiosk_ui.viewmodels.dashboard import DashboardVM
from kiosk_ui.viewmodels.home import HomeVM
from kiosk_ui.widgets.due_row import grow_to_text
from kiosk_ui.widgets.theme import (
    DANGER,
    MUTED,
    OK,
    PRIMARY,
    SECONDARY,
    SELECTED,
    BigButton,
    Box,
    Text,
    Title,
    severity_colour,
)

COUNTS = (
    ("today", N_("À revoir aujourd'hui : %(n)s"), SELECTED, 24),
    ("defaulters", N_("Perdus de vue : %(n)s"), DANGER, 21),
    ("upcoming", N_("Cette semaine : %(n)s"), PRIMARY, 21),
)


class HomeScreen(KioskScreen):
    """The home is shown again and again all day: its widgets are made once and their texts
    updated (a label made anew each time renders a new texture, and the kiosk's memory
    climbed with every visit)."""

    screen_name = "home"

    def __init__(self, kiosk, **kw):
        super().__init__(kiosk, **kw)
        self.vm: HomeVM | None = None
        self.loading = False
        self.error: str | None = None
        self.body.orientation = "horizontal"
        self.info = column(padding=(0, 0, dp(14), 0))  # a lane for the scroll bar
        self.body.add_widget(scrolling(self.info))
        self.buttons = GridLayout(cols=1, spacing=dp(8), size_hint_x=0.42)
        self.body.add_widget(self.buttons)
        self.button_by_name: dict[str, BigButton] = {}
        self._buttons_for: tuple | None = None  # (technician?, language) of the buttons made
        self.greeting = Title("")
        self.error_box = Box("", colour=DANGER)
        self.count_buttons: dict[str, BigButton] = {}
        for name, _msgid, colour, size in COUNTS:
            b = BigButton("", colour=colour, font_size=sp(size), height=dp(60))
            b.halign = "left"
            grow_to_text(b, dp(60))
            b.bind(on_release=lambda _b, n=name: self.kiosk.go("due", list=n))
            self.count_buttons[name] = b
        self.looking = Text("", color=MUTED)
        self.alerts_title = Text("", font_size=sp(22), bold=True)
        self.alert_buttons: list[BigButton] = []
        self.draft_buttons: dict[tuple, BigButton] = {}
        self.late_button = BigButton("", colour=DANGER, font_size=sp(20), height=dp(60))
        self.late_button.halign = "left"
        grow_to_text(self.late_button, dp(60))
        self.late_button.bind(on_release=lambda _b: self.kiosk.go("referrals"))
        # one patient at a time (the newest reply's): once read there, the line counts the rest
        self.reply_button = BigButton("", colour=OK, font_size=sp(20), height=dp(60))
        self.reply_button.halign = "left"
        grow_to_text(self.reply_button, dp(60))
        self.reply_button.bind(on_release=lambda _b: self._open_reply())
        # the dashboard's way in: a line of the info column (the side column is full)
        self.dashboard_button = BigButton("", colour=PRIMARY, font_size=sp(20), height=dp(60))
        self.dashboard_button.halign = "left"
        grow_to_text(self.dashboard_button, dp(60))
        self.dashboard_button.bind(on_release=lambda _b: self.kiosk.go("dashboard"))

    def enter(self, **kw: Any) -> None:
        self.vm = HomeVM(self.state)
        self.error = None
        self.vm.load_counts()  # indexed reads: shown at once
        self.error = self.vm.error
        # the gravity alerts are a pass over the fortnight's patients: off the UI thread
        self.load_in_background(self.vm.load_alerts)

    @property
    def loaded(self) -> bool:
        return not self.loading

    def refresh(self) -> None:
        if self.vm is None:
            return
        t, vm = self.t, self.vm
        self._side_buttons()
        self.info.clear_widgets()  # removed, kept: added back below with updated texts
        self.greeting.text = vm.greeting
        self.info.add_widget(self.greeting)
        if self.error:
            self.error_box.text = self.error
            self.info.add_widget(self.error_box)
        if vm.is_technician or vm.error:
            return
        figures = {"today": vm.due_today, "defaulters": vm.defaulters, "upcoming": vm.this_week}
        for name, msgid, _colour, _size in COUNTS:
            b = self.count_buttons[name]
            b.text = t(msgid) % {"n": figures[name]}
            self.info.add_widget(b)
        if vm.referrals_late:
            self.late_button.text = t("Références sans retour : %(n)s") % {"n": vm.referrals_late}
            self.info.add_widget(self.late_button)
        if vm.reply_patient:
            n = len(vm.opinion_news)
            line = t("Réponse du district : %(n)s") % {"n": n}
            self.reply_button.text = f"{line} — {vm.reply_patient['name']}"
            self.info.add_widget(self.reply_button)
        if DashboardVM.may_open(self.state):
            self.dashboard_button.text = t("Tableau de bord : vaccination, CPN, abandons")
            self.info.add_widget(self.dashboard_button)
        for draft in vm.drafts:
            self.info.add_widget(self._draft_button(draft))
        if self.loading:
            self.looking.text = t("Recherche des alertes…")
            self.info.add_widget(self.looking)
        if vm.alerts:
            self.alerts_title.text = t("Alertes")
            self.info.add_widget(self.alerts_title)
        for i, alert in enumerate(vm.alerts):
            if i == len(self.alert_buttons):
                self.alert_buttons.append(self._alert_button())
            b = self.alert_buttons[i]
            b.alert = alert
            b.text = f"{alert['name']} — {alert['reason']}"
            b.set_colour(severity_colour(alert["severity"]))
            self.info.add_widget(b)

    def _side_buttons(self) -> None:
        vm = self.vm
        made_for = (vm.is_technician, self.state.lang)
        if made_for == self._buttons_for:
            return
        t = self.t
        self._buttons_for = made_for
        self.buttons.clear_widgets()
        self.button_by_name = {}
        names = [("status", t("État de l'appareil"), SECONDARY)]
        if not vm.is_technician:
            names = [
                ("search", t("Rechercher"), PRIMARY),
                ("register", t("Nouveau patient"), OK),
                ("due", t("À revoir"), SELECTED),
                ("library", t("Bibliothèque"), PRIMARY),
                ("status", t("État"), SECONDARY),
            ]
        for name, text, colour in names:
            # five buttons (the library among them) fit the 480 px screen at 62 px each
            height = dp(72 if len(names) < 5 else 62)
            b = BigButton(text, colour=colour, height=height, size_hint_y=None, font_size=sp(24))
            if name == "due":
                b.bind(on_release=lambda _b: self.kiosk.go("due", list="today"))
            else:
                b.bind(on_release=lambda _b, n=name: self.kiosk.go(n))
            self.button_by_name[name] = b
            self.buttons.add_widget(b)
        self.buttons.add_widget(BoxLayout())

    def _open_reply(self) -> None:
        patient = self.vm.reply_patient if self.vm else None
        if patient:
            self.kiosk.go("record", patient_id=patient["id"])

    def _alert_button(self) -> BigButton:
        b = BigButton("", font_size=sp(19), height=dp(64))
        b.halign = "left"
        grow_to_text(b, dp(64))
        b.bind(on_release=lambda b: self.kiosk.go("record", patient_id=b.alert["patient_id"]))
        return b

    def _draft_button(self, draft: dict[str, Any]) -> BigButton:
        t = self.t  # the kind in the language shown now (the toggle refreshes, not reloads)
        kind = t(ENCOUNTER_TYPES.get(draft["kind"], draft["kind"]))
        text = t("Reprendre : {name} — {kind}").format(name=draft["name"], kind=kind)
        key = (draft["patient_id"], draft["kind"])
        b = self.draft_buttons.get(key)
        if b is None:
            b = BigButton("", colour=SELECTED, font_size=sp(20))
            b.halign = "left"  # as the counts above it
            grow_to_text(b, dp(60))
            b.bind(on_release=lambda _b: self.kiosk.go("encounter", patient_id=key[0], kind=key[1]))
            self.draft_buttons[key] = b
        b.text = text
        return b
