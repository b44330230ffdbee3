"""The dashboard's views: the four charts and the page's HTML (template rendered as the route
does, without the HTTP round trip), its bytes raw and gzipped, and the one-page PDF; on the
service's example figures and, given a seeded facility, on its real count (the count's own
time is benchmarks/dashboard.py's). Prints JSON; never passes or fails on time.

    .venv/bin/python benchmarks/dashboard_views.py [--home DIR_WITH_keneya.db] [--year 2025]
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

from markupsafe import Markup

from appliance.reports.dashboard_pdf import to_pdf
from appliance.web import dashboard_view as view
from appliance.web.i18n import Translator
from appliance.web.render import environment

ROOT = Path(__file__).resolve().parents[1]


def _ms(fn, runs: int) -> dict:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}, result


def page_html(data: dict, lang: str = "fr") -> str:
    t = Translator(lang)
    web = SimpleNamespace(request=SimpleNamespace(url=SimpleNamespace(path="/dashboard")))
    return (
        environment()
        .get_template("dashboard.html")
        .render(
            web=web, actor=SimpleNamespace(display_name="Dr", role="doctor"), lang=lang, csrf="x",
            _=t, may=lambda _p: True, svg=Markup, year=data.get("year"), data=data, error=None,
            through=view.month_name(data["through"], lang) if data.get("through") else "",
            charts=view.key_charts(data, t, lang), sections=view.sections(data, t, lang),
            top_diagnoses=[{"label": view.pick(d["label"], lang), **d}
                           for d in data.get("top_diagnoses", [])],
            follow_up_definition=view.pick(data.get("follow_up_definition"), lang),
            follow_up=data.get("follow_up", []),
        )
    )  # fmt: skip


def measure(data: dict, runs: int) -> dict:
    t = Translator("fr")
    charts, _ = _ms(lambda: view.key_charts(data, t, "fr"), runs)
    page, html = _ms(lambda: page_html(data), runs)
    pdf, body = _ms(lambda: to_pdf(data), runs)
    return {
        "charts": charts,
        "page_render": page,
        "page_bytes": len(html.encode()),
        "page_bytes_gzip": len(gzip.compress(html.encode(), 6)),
        "pdf": pdf,
        "pdf_bytes": len(body),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, help="a seeded facility: keneya.db, demo-logins.txt")
    ap.add_argument("--year", type=int)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    example = json.loads((ROOT / "tests/data/dashboard_example.json").read_text("utf-8"))
    out: dict = {"example": measure(example, args.runs)}
    if args.home:
        from appliance.services import auth
        from appliance.services.context import Context
        from appliance.services.dashboard import dashboard
        from appliance.store import Store

        home = args.home
        user, _, pin = next(
            line.split()
            for line in (home / "demo-logins.txt").read_text().splitlines()
            if line.split()[1] == "doctor"
        )
        with Store(home / "keneya.db") as store:
            ctx = Context.open(store)
            actor = auth.login(ctx, user, pin=pin)
            year = args.year or ctx.now().today.year
            t0 = time.perf_counter()
            data = dashboard(ctx, actor, year, facility_file=home / "facility.toml")
            out["seeded"] = {
                "patients": store.patients.count(),
                "year": year,
                "count_ms_first": round((time.perf_counter() - t0) * 1000, 1),
                **measure(data, args.runs),
            }
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
