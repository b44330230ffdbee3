"""The dashboard on the kiosk: the year's figures (services.dashboard, a facility-wide count run
off the UI thread) turned into the four key charts, one shown at a time, each with its title,
the series to draw and a few headline numbers under it."""

from __future__ import annotations

from typing import Any

from appliance.domain import permissions
from appliance.web import dashboard_view as view
from appliance.web.i18n import N_
from kiosk_ui.viewmodels.state import KioskState

PERMISSION = permissions.VIEW_DASHBOARD
CHARTS = (
    ("monitoring", N_("Vaccination")),
    ("trend", N_("Mère")),
    ("dropout", N_("Abandons")),
    ("pyramid", N_("Âges")),
)


def load_figures(state: KioskState, year: int) -> dict:
    from appliance.services import dashboard

    with state.own_context() as ctx:
        return dashboard.dashboard(
            ctx, state.actor, year, facility_file=state.config_dir / "facility.toml"
        )


class DashboardVM:
    def __init__(self, state: KioskState, year: int | None = None):
        self.state = state
        self.year = year or state.today.year
        self.data: dict | None = None
        self.error: str | None = None
        self.chart = "monitoring"

    @staticmethod
    def may_open(state: KioskState) -> bool:
        return state.actor is not None and state.may(PERMISSION)

    def load(self) -> None:
        """Blocking: the year's count (the screen runs it on a thread)."""
        self.data = load_figures(self.state, self.year)

    def show(self, name: str) -> None:
        if name in dict(CHARTS):
            self.chart = name

    def next(self) -> None:
        names = [n for n, _ in CHARTS]
        self.chart = names[(names.index(self.chart) + 1) % len(names)]

    @property
    def through(self) -> str:
        through = (self.data or {}).get("through")
        return view.month_name(through, self.state.lang) if through else ""

    def current(self) -> dict[str, Any]:
        """The chart shown: its kind, title and caption, what to draw, and its numbers."""
        data, t, lang = self.data or {}, self.state.t, self.state.lang
        made = {
            "monitoring": view.monitoring_chart,
            "trend": view.trend_chart,
            "dropout": view.dropout_chart,
            "pyramid": view.pyramid_chart,
        }[self.chart](data, t, lang)
        title = made["svg"].split("<title>", 1)[1].split("</title>", 1)[0]
        return {
            "name": self.chart,
            "title": _unescape(title),
            "caption": made["caption"],
            "plot": plot_of(self.chart, data, lang),
        }

    def figures_line(self) -> str:
        """The headline of the year so far: the first three key figures with their coverage."""
        out = []
        for f in view.key_figures(self.data or {}, self.state.lang)[:3]:
            rate = f" ({view.percent(f['rate'])})" if f["rate"] is not None else ""
            out.append(f"{f['label']} {f['to_date'] or 0}{rate}")
        return " · ".join(out)


def _unescape(text: str) -> str:
    from html import unescape

    return unescape(text)


def plot_of(name: str, data: dict, lang: str) -> dict[str, Any]:
    """What the Kivy chart draws, in plain numbers: month columns, the series (label,
    values, style) and, as the chart needs, the target line or the 10 % line."""
    months = data.get("months", [])
    counted = set(view.counted_months(data))

    def entry(rows: list[dict], month: str) -> dict:
        return next((r for r in rows if r["month"] == month), {})

    if name == "pyramid":
        return {
            "kind": "pyramid",
            "groups": [
                (view.age_group(str(g["group"]), lang), g.get("F") or 0, g.get("M") or 0)
                for g in data.get("pyramid", [])
            ],
        }
    if name == "dropout":
        series = [
            # the kiosk's font has no arrow
            (view.pick(d["label"], lang).replace("→", "->"),
             [entry(d["to_date"], m).get("rate") if m in counted else None for m in months])
            for d in data.get("dropouts", [])
        ]  # fmt: skip
        return {"kind": "bars", "months": months, "series": series, "percent": True,
                "line": 0.10}  # fmt: skip
    if name == "monitoring":
        found = [i for i in (view.indicator(data, c) for c in view.IMMUNIZATION_CODES) if i]
        target = next((i["annual_target"] for i in found if i.get("annual_target")), None)
        series = [
            (view.pick(i["label"], lang),
             [entry(i["to_date"], m).get("numerator") if m in counted else None for m in months])
            for i in found
        ]  # fmt: skip
        return {"kind": "cumulative", "months": months, "series": series, "target": target}
    found = [i for i in (view.indicator(data, c) for c in view.TREND_CODES) if i]
    rated = bool(found) and all(i.get("annual_target") for i in found)
    key = "rate" if rated else "numerator"
    series = [
        (view.pick(i["label"], lang),
         [entry(i["monthly"], m).get(key) if m in counted else None for m in months])
        for i in found
    ]  # fmt: skip
    return {"kind": "lines", "months": months, "series": series, "percent": rated}
