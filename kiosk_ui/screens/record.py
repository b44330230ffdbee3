"""A patient's record: facts, alerts by severity, the district's opinions, due care, timeline,
vaccines, growth chart for under-fives, and a button per encounter kind the staff member may
record."""

from __future__ import annotations

from typing import Any

from kivy.metrics import dp, sp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout

from kiosk_ui.screens.base import KioskScreen, column, scrolling
from kiosk_ui.viewmodels.record import RecordVM
from kiosk_ui.widgets.due_row import grow_to_text
from kiosk_ui.widgets.growth_chart import GrowthChart
from kiosk_ui.widgets.theme import (
    DANGER,
    MUTED,
    OK,
    ORANGE,
    TEXT,
    BigButton,
    Box,
    Text,
    Title,
    severity_colour,
)

STATUS_COLOURS = {"overdue": DANGER, "due": ORANGE, "given": OK, "done": OK}
# A question to the district: waiting in orange (as a referral without its answer), failed red.
OPINION_COLOURS = {"queued": ORANGE, "sending": ORANGE, "sent": ORANGE, "failed": DANGER}


class RecordScreen(KioskScreen):
    screen_name = "record"

    def __init__(self, kiosk, **kw):
        super().__init__(kiosk, **kw)
        self.vm: RecordVM | None = None
        self.error: str | None = None
        self.body.orientation = "horizontal"
        self.content = column(spacing=dp(4), padding=(0, 0, dp(14), 0))  # the bar's lane
        self.scroll = scrolling(self.content)
        self.body.add_widget(self.scroll)
        self.actions = GridLayout(cols=1, spacing=dp(8), size_hint_x=0.3)
        self.body.add_widget(self.actions)
        self.action_buttons: dict[str, BigButton] = {}
        self.charts: list[GrowthChart] = []

    def enter(self, patient_id: str | None = None, **kw: Any) -> None:
        if patient_id is not None:
            if self.vm is None or self.vm.patient_ref != patient_id:
                self.scroll.scroll_y = 1  # another patient: from the top, not where the last was
            self.vm = RecordVM(self.state, patient_id)
        self.error = None
        try:
            self.vm.open()
        except Exception as e:
            self.error = self.state.error_text(e)
        self.refresh()

    def _heading(self, text: str) -> None:
        self.content.add_widget(Text(text, font_size=sp(22), bold=True))

    def refresh(self) -> None:
        if self.vm is None:
            return
        t, vm = self.t, self.vm
        self.content.clear_widgets()
        self.actions.clear_widgets()
        self.action_buttons = {}
        self.charts = []
        if self.error:
            self.content.add_widget(Box(self.error, colour=DANGER))
            return
        self.content.add_widget(Title(vm.title))
        for fact in vm.facts:
            self.content.add_widget(Text(fact, color=MUTED))
        for alert in vm.alerts:
            text = alert["reason"] + (f" — {alert['action']}" if alert.get("action") else "")
            self.content.add_widget(Box(text, colour=severity_colour(alert["severity"])))
        if vm.opinion_lines:
            # high on the record: the home's « Réponse du district » line leads here, and this
            # opening is what marks the reply read
            self._heading(t("Avis du district"))
            for q in vm.opinion_lines:
                colour = OPINION_COLOURS.get(q["status"], MUTED)
                self.content.add_widget(Text(q["text"], color=colour, font_size=sp(18)))
                for reply in q["replies"]:
                    self.content.add_widget(Text(reply, color=TEXT, font_size=sp(18), bold=True))
        if vm.due:
            self._heading(t("À faire"))
            for item in vm.due:
                self.content.add_widget(
                    Text(
                        f"{item['text']} — {item['status_label']}",
                        color=STATUS_COLOURS.get(item["status"], MUTED),
                    )
                )
        growth = vm.growth
        if growth:
            self._heading(t("Croissance"))
            self.content.add_widget(Text(growth["acute_label"], bold=growth["status"] != "normal"))
            for finding in growth["findings"]:
                self.content.add_widget(
                    Text(finding["text"], color=severity_colour(finding["severity"]), bold=True)
                )
            if growth["reference_label"]:
                self.content.add_widget(Text(growth["reference_label"], color=MUTED))
            # the WHO 2006 curves: 0-5 years only; past that the findings and the reference line
            if growth["charts"]:
                for index, title in (
                    ("wfa", t("Poids pour l'âge (kg)")),
                    ("hfa", t("Taille pour l'âge (cm)")),
                ):
                    points = growth["points"].get(index) or []
                    chart = GrowthChart(
                        index=index,
                        sex=growth["sex"],
                        points=list(points),
                        title=title,
                        year_format=t("%(n)s a"),
                        size_hint_y=None,
                        height=dp(240),
                    )
                    self.charts.append(chart)
                    self.content.add_widget(chart)
        if vm.vaccines:
            self._heading(t("Vaccins"))
            for v in vm.vaccines:
                self.content.add_widget(
                    Text(
                        f"{v['antigen_label']} {v['dose']} — {v['date']}",
                        color=STATUS_COLOURS.get(v["status"], MUTED),
                    )
                )
        if vm.timeline:
            self._heading(t("Historique"))
            for item in vm.timeline:
                self.content.add_widget(
                    Text(
                        f"{item['date']} · {item['kind_label']} — {item['summary']}",
                        font_size=sp(18),
                    )
                )
        if vm.referral_lines:
            self._heading(t("Références"))
            for line in vm.referral_lines:
                self.content.add_widget(
                    Text(line["text"], color=ORANGE if line["waiting"] else MUTED, font_size=sp(18))
                )
        for action in vm.actions:
            b = BigButton(action["label"], colour=OK, font_size=sp(20))
            grow_to_text(b, b.height)  # a long kind on two or three lines in the narrow column
            b.bind(
                on_release=lambda _b, k=action["kind"]: self.kiosk.go(
                    "encounter", patient_id=vm.patient_id, kind=k
                )
            )
            self.action_buttons[action["kind"]] = b
            self.actions.add_widget(b)
        if vm.may_refer:
            b = BigButton(t("Référer au CSRéf"), colour=DANGER, font_size=sp(20))
            grow_to_text(b, b.height)
            b.bind(on_release=lambda _b: self.kiosk.go("referral", patient_id=vm.patient_id))
            self.action_buttons["referral"] = b
            self.actions.add_widget(b)
        self.actions.add_widget(BoxLayout())
