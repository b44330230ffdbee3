"""The dashboard's data (services.dashboard) turned into what the page, the kiosk and the
ASACO's PDF show: the four key charts with their captions and tables, the indicators by group,
the key figures of a month and of the year to date. Pure: a data dict and a translator in,
texts and SVG out; the indicators' own labels come in both languages with the data."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from appliance.web import charts
from appliance.web.i18n import N_

IMMUNIZATION_CODES = ("penta1", "penta3", "mr1")
TREND_CODES = ("anc1", "anc4", "skilled_births")
KEY_FIGURE_CODES = (
    "penta1", "penta3", "mr1", "fic", "anc1", "anc4", "skilled_births", "consultations",
)  # fmt: skip
# Other names an indicator has gone by: the charts find it under either.
ALIASES = {"anc1": "cpn1", "anc4": "cpn4", "fic": "fully_immunized"}
GROUPS = (
    ("immunization", N_("Vaccination")),
    ("maternal", N_("Santé de la mère")),
    ("nutrition", N_("Nutrition")),
    ("curative", N_("Soins curatifs")),
    ("follow_up", N_("Suivi des patients")),
)
CHART_NAMES = ("monitoring", "trend", "dropout", "pyramid")
MONTHS = {
    "fr": ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.",
           "nov.", "déc."),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}  # fmt: skip

Translate = Callable[[str], str]


def pick(text: Any, lang: str) -> str:
    """An indicator's {"fr", "en"} text in the reader's language (French when missing)."""
    if isinstance(text, dict):
        return text.get(lang) or text.get("fr") or ""
    return text or ""


def month_name(month: str, lang: str) -> str:
    """ "2026-03" → "mars 2026" / "Mar 2026"."""
    names = MONTHS.get(lang, MONTHS["fr"])
    return f"{names[int(month[5:7]) - 1]} {month[:4]}"


def percent(rate: float | None) -> str:
    return "" if rate is None else f"{round(rate * 100)} %"


def indicator(data: dict, code: str) -> dict | None:
    codes = {code, ALIASES.get(code, code)}
    return next((i for i in data.get("indicators", []) if i["code"] in codes), None)


def month_short(month: str, lang: str) -> str:
    """ "2026-03" → "mars" / "Mar": the year is in the page's title."""
    return MONTHS.get(lang, MONTHS["fr"])[int(month[5:7]) - 1]


def age_group(group: str, lang: str) -> str:
    """The data's age groups ("0-11m", "1-4y", "50+y") in words: "1-4 ans", "0-11 mois"."""
    units = {"m": ("mois", "m"), "y": ("ans", "y")}
    if group[-1:] in units and group[:-1]:
        fr, en = units[group[-1]]
        return f"{group[:-1]} {fr if lang == 'fr' else en}"
    return group


def counted_months(data: dict) -> list[str]:
    """The year's months up to the last one counted ("through")."""
    through = data.get("through") or ""
    return [m for m in data.get("months", []) if m <= through]


def _entry(rows: Sequence[dict], month: str) -> dict:
    return next((r for r in rows if r["month"] == month), {})


def _table(head: list[str], rows: list[list[Any]]) -> dict:
    return {"head": head, "rows": [["" if v is None else str(v) for v in r] for r in rows]}


def monitoring_chart(data: dict, t: Translate, lang: str) -> dict:
    months, counted = data.get("months", []), set(counted_months(data))
    found = [i for i in (indicator(data, c) for c in IMMUNIZATION_CODES) if i]
    target = next((i["annual_target"] for i in found if i.get("annual_target")), None)
    series = [
        {
            "label": pick(i["label"], lang),
            "cumulative": [
                _entry(i["to_date"], m).get("numerator") if m in counted else None for m in months
            ],
        }
        for i in found
    ]
    svg = charts.immunization_monitoring_svg(
        months=months,
        series=series,
        annual_target=target,
        labels={
            "title": t("Suivi cumulé de la vaccination"),
            "target": t("Cible"),
            "empty": t("Aucune dose comptée"),
        },
    )
    head = [t("Mois")] + ([t("Cible cumulée")] if target else []) + [s["label"] for s in series]
    rows = [
        [month_short(m, lang)]
        + ([round(target * (k + 1) / 12)] if target else [])
        + [s["cumulative"][k] for s in series]
        for k, m in enumerate(months)
        if m in counted
    ]
    caption = t(
        "Doses cumulées depuis janvier, mois par mois, contre la ligne de la cible annuelle "
        "(enfants survivants) : une courbe sous la ligne signale des enfants à rattraper."
    )
    if not target:
        caption += " " + t(NO_POPULATION)
    return {"name": "monitoring", "svg": svg, "caption": caption, "table": _table(head, rows)}


NO_POPULATION = N_(
    "Pas de cibles : ajoutez la section [population] au fichier de l'établissement pour "
    "voir les taux de couverture."
)


def trend_chart(data: dict, t: Translate, lang: str) -> dict:
    months, counted = data.get("months", []), set(counted_months(data))
    found = [i for i in (indicator(data, c) for c in TREND_CODES) if i]
    rated = bool(found) and all(i.get("annual_target") for i in found)
    key = "rate" if rated else "numerator"
    series = [
        {
            "label": pick(i["label"], lang),
            "values": [_entry(i["monthly"], m).get(key) if m in counted else None for m in months],
        }
        for i in found
    ]
    title = (
        t("Santé de la mère : couverture du mois") if rated else t("Santé de la mère : par mois")
    )
    svg = charts.trend_svg(
        months=months,
        series=series,
        percent=rated,
        labels={
            "title": title,
            "empty": t("Rien à montrer"),
        },
    )
    head = [t("Mois")] + [s["label"] for s in series]
    rows = []
    for m in months:
        if m not in counted:
            continue
        cells: list[Any] = [month_short(m, lang)]
        for i in found:
            e = _entry(i["monthly"], m)
            n, rate = e.get("numerator"), e.get("rate")
            cells.append(f"{n} ({percent(rate)})" if rate is not None else n)
        rows.append(cells)
    if rated:
        caption = t(
            "Chaque mois : femmes vues en CPN1 et CPN4, accouchements assistés par du "
            "personnel qualifié ; en pourcentage de la cible du mois (un douzième de la cible "
            "annuelle)."
        )
    else:
        caption = t(
            "Chaque mois : femmes vues en CPN1 et CPN4, accouchements assistés par du "
            "personnel qualifié."
        )
        caption += " " + t(NO_POPULATION)
    return {"name": "trend", "svg": svg, "caption": caption, "table": _table(head, rows)}


def dropout_chart(data: dict, t: Translate, lang: str) -> dict:
    months, counted = data.get("months", []), set(counted_months(data))
    dropouts = data.get("dropouts", [])
    series = [
        {
            "label": pick(d["label"], lang),
            "rates": [
                _entry(d["to_date"], m).get("rate") if m in counted else None for m in months
            ],
        }
        for d in dropouts
    ]
    svg = charts.dropout_svg(
        months=months,
        series=series,
        labels={
            "title": t("Taux d'abandon depuis janvier"),
            "threshold": t("Seuil OMS 10 %"),
            "empty": t("Aucune première dose comptée"),
        },
    )
    head = [t("Mois")] + [s["label"] for s in series]
    rows = []
    for m in months:
        if m not in counted:
            continue
        cells: list[Any] = [month_short(m, lang)]
        for d in dropouts:
            e = _entry(d["to_date"], m)
            cells.append(f"{percent(e.get('rate'))} ({e.get('first')} → {e.get('last')})")
        rows.append(cells)
    caption = t(
        "Part des enfants qui ont reçu la première dose sans recevoir la dernière, cumulée "
        "depuis janvier ; au-dessus de 10 %, trop d'enfants commencent sans finir."
    )
    return {"name": "dropout", "svg": svg, "caption": caption, "table": _table(head, rows)}


def pyramid_chart(data: dict, t: Translate, lang: str) -> dict:
    groups = [{**g, "group": age_group(str(g["group"]), lang)} for g in data.get("pyramid", [])]
    svg = charts.pyramid_svg(
        groups=groups,
        labels={
            "title": t("Patients vus par âge et sexe"),
            "F": t("Femmes"),
            "M": t("Hommes"),
            "empty": t("Aucun patient vu"),
        },
    )
    head = [t("Âge"), t("Femmes"), t("Hommes"), t("Total")]
    rows = [[g["group"], g["F"], g["M"], (g["F"] or 0) + (g["M"] or 0)] for g in groups]
    caption = t(
        "Les patients vus depuis janvier, une fois chacun, par groupe d'âge : les femmes à "
        "gauche, les hommes à droite."
    )
    return {"name": "pyramid", "svg": svg, "caption": caption, "table": _table(head, rows)}


def key_charts(data: dict, t: Translate, lang: str) -> list[dict]:
    return [
        monitoring_chart(data, t, lang),
        trend_chart(data, t, lang),
        dropout_chart(data, t, lang),
        pyramid_chart(data, t, lang),
    ]


def key_figures(data: dict, lang: str, month: str | None = None) -> list[dict]:
    """The headline indicators: the month's count, the year to date, its coverage (the year
    to date against the target to date) and the annual target."""
    month = month or data.get("through") or ""
    out = []
    for code in KEY_FIGURE_CODES:
        i = indicator(data, code)
        if i is None:
            continue
        to_date = _entry(i["to_date"], month)
        out.append(
            {
                "code": code,
                "label": pick(i["label"], lang),
                "month": _entry(i["monthly"], month).get("numerator"),
                "to_date": to_date.get("numerator"),
                "rate": to_date.get("rate"),
                "target": i.get("annual_target"),
            }
        )
    return out


def sections(data: dict, t: Translate, lang: str) -> list[dict]:
    """The indicators by group, each with its figures of the last month counted and of the
    year to date, and its definition."""
    month = data.get("through") or ""
    out = []
    for group, title in GROUPS:
        rows = []
        for i in data.get("indicators", []):
            if i.get("group") != group:
                continue
            to_date = _entry(i["to_date"], month)
            rows.append(
                {
                    "code": i["code"],
                    "label": pick(i["label"], lang),
                    "definition": pick(i.get("definition"), lang),
                    "denominator": pick(i.get("denominator"), lang),
                    "month": _entry(i["monthly"], month).get("numerator"),
                    "to_date": to_date.get("numerator"),
                    "rate": percent(to_date.get("rate")),
                    "target": i.get("annual_target"),
                }
            )
        if rows:
            out.append({"group": group, "title": t(title), "rows": rows})
    return out
