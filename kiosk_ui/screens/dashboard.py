"""« Tableau de bord » on the 800x480 touchscreen: one of the four key charts at a time, big
enough to read across the room (cumulative immunization against the target, the mother's
care month by month, the drop-out rates, the patients by age and sex), chosen with four
buttons on the right; its title, the year's headline figures and its caption around it."""

from __future__ import annotations

from typing import Any

from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout

from appliance.web.i18n import N_
from kiosk_ui.screens.base import KioskScreen
from kiosk_ui.viewmodels.dashboard import CHARTS, DashboardVM
from kiosk_ui.widgets.dashboard_chart import DashboardChart
from kiosk_ui.widgets.theme import DANGER, MUTED, PRIMARY, SELECTED, BigButton, Box, Text

LOADING = N_("Calcul des indicateurs…")
UP_TO = N_("Jusqu'à fin %(month)s")


class DashboardScreen(KioskScreen):
    screen_name = "dashboard"

    def __init__(self, kiosk, **kw):
        super().__init__(kiosk, **kw)
        self.vm: DashboardVM | None = None
        self.loading = False
        self.error: str | None = None
        self.body.orientation = "horizontal"
        self.main = BoxLayout(orientation="vertical", spacing=dp(2))
        self.title = Text("", font_size=sp(22), bold=True)
        self.figures = Text("", font_size=sp(16), color=MUTED)
        self.chart = DashboardChart()
        self.caption = Text("", font_size=sp(15), color=MUTED)
        self.message = Box("", colour=DANGER)
        self.waiting = Text("", color=MUTED)
        self.body.add_widget(self.main)
        self.side = GridLayout(cols=1, spacing=dp(8), size_hint_x=0.24)
        self.body.add_widget(self.side)
        self.chart_buttons: dict[str, BigButton] = {}
        for name, _msgid in CHARTS:
            b = BigButton("", colour=PRIMARY, font_size=sp(21), height=dp(62), size_hint_y=None)
            b.bind(on_release=lambda _b, n=name: self.show(n))
            self.chart_buttons[name] = b
            self.side.add_widget(b)
        self.side.add_widget(BoxLayout())

    def enter(self, **kw: Any) -> None:
        self.vm = DashboardVM(self.state)
        self.error = None
        self.load_in_background(self.vm.load)

    @property
    def loaded(self) -> bool:
        return not self.loading

    def show(self, name: str) -> None:
        if self.vm is not None:
            self.vm.show(name)
            self.refresh()

    def refresh(self) -> None:
        vm, t = self.vm, self.t
        if vm is None:
            return
        for name, msgid in CHARTS:
            b = self.chart_buttons[name]
            b.text = t(msgid)
            b.set_colour(SELECTED if name == vm.chart else PRIMARY)
        self.main.clear_widgets()
        if self.loading or self.error or vm.data is None:
            self.title.text = t("Tableau de bord")
            self.main.add_widget(self.title)
            if self.error:
                self.message.text = self.error
                self.main.add_widget(self.message)
            else:
                self.waiting.text = t(LOADING)
                self.main.add_widget(self.waiting)
            self.main.add_widget(BoxLayout())
            return
        shown = vm.current()
        self.title.text = shown["title"]
        through = t(UP_TO) % {"month": vm.through} if vm.through else ""
        self.figures.text = " · ".join(x for x in (through, vm.figures_line()) if x)
        self.chart.target_text = t("Cible")
        self.chart.women_text, self.chart.men_text = t("Femmes"), t("Hommes")
        self.chart.plot = shown["plot"]
        self.chart.redraw()
        self.caption.text = shown["caption"]
        for w in (self.title, self.figures, self.chart, self.caption):
            self.main.add_widget(w)
