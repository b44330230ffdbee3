"""Home: today's follow-up counts (each opens its list), gravity alerts, drafts offered back,
and the big buttons."""

from __future__ import annotations

from typing import Any

from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout

from kiosk_ui.screens.base import KioskScreen, column, scrolling
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


class HomeScreen(KioskScreen):
    screen_name = "home"

    def __init__(self, kiosk, **kw):
        super().__init__(kiosk, **kw)
        self.vm: HomeVM | None = None
        self.loading = False
        self.error: str | None = None
        self.body.orientation = "horizontal"
        self.info = column()
        self.body.add_widget(scrolling(self.info))
        self.buttons = GridLayout(cols=1, spacing=dp(8), size_hint_x=0.42)
        self.body.add_widget(self.buttons)
        self.button_by_name: dict[str, BigButton] = {}
        self.count_buttons: dict[str, BigButton] = {}

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
        self.buttons.clear_widgets()
        self.button_by_name = {}
        names = [("status", t("État de l'appareil"), SECONDARY)]
        if not vm.is_technician:
            names = [
                ("search", t("Rechercher"), PRIMARY),
                ("register", t("Nouveau patient"), OK),
                ("due", t("À revoir"), SELECTED),
                ("status", t("État"), SECONDARY),
            ]
        for name, text, colour in names:
            b = BigButton(text, colour=colour, height=dp(72), size_hint_y=None, font_size=sp(24))
            if name == "due":
                b.bind(on_release=lambda _b: self.kiosk.go("due", list="today"))
            else:
                b.bind(on_release=lambda _b, n=name: self.kiosk.go(n))
            self.button_by_name[name] = b
            self.buttons.add_widget(b)
        self.buttons.add_widget(BoxLayout())

        self.info.clear_widgets()
        self.count_buttons = {}
        self.info.add_widget(Title(vm.greeting))
        if self.error:
            self.info.add_widget(Box(self.error, colour=DANGER))
        if vm.is_technician or vm.error:
            return
        for list_name, text, n, colour, size in (
            ("today", t("À revoir aujourd'hui : %(n)s"), vm.due_today, SELECTED, sp(24)),
            ("defaulters", t("Perdus de vue : %(n)s"), vm.defaulters, DANGER, sp(21)),
            ("upcoming", t("Cette semaine : %(n)s"), vm.this_week, PRIMARY, sp(21)),
        ):
            b = BigButton(text % {"n": n}, colour=colour, font_size=size, height=dp(60))
            b.halign = "left"
            grow_to_text(b, dp(60))
            b.bind(on_release=lambda _b, name=list_name: self.kiosk.go("due", list=name))
            self.count_buttons[list_name] = b
            self.info.add_widget(b)
        for draft in vm.drafts:
            b = BigButton(
                t("Reprendre : {name} — {kind}").format(
                    name=draft["name"], kind=draft["kind_label"]
                ),
                colour=SELECTED,
                font_size=sp(20),
            )
            grow_to_text(b, dp(60))
            b.bind(
                on_release=lambda _b, d=draft: self.kiosk.go(
                    "encounter", patient_id=d["patient_id"], kind=d["kind"]
                )
            )
            self.info.add_widget(b)
        if self.loading:
            self.info.add_widget(Text(t("Recherche des alertes…"), color=MUTED))
        if vm.alerts:
            self.info.add_widget(Text(t("Alertes"), font_size=sp(22), bold=True))
        for alert in vm.alerts:
            box = BigButton(
                f"{alert['name']} — {alert['reason']}",
                colour=severity_colour(alert["severity"]),
                font_size=sp(19),
                height=dp(64),
            )
            box.halign = "left"
            grow_to_text(box, dp(64))
            box.bind(
                on_release=lambda _b, a=alert: self.kiosk.go("record", patient_id=a["patient_id"])
            )
            self.info.add_widget(box)
