"""« Tableau de bord » on the kiosk in a real offscreen Kivy window at 800x480: the doctor's
home offers it (a line of the info column: the side column keeps its five buttons), it counts
the year off the UI thread, then shows each of the four key charts in turn through the buttons
on the right; every state passes the layout check in French and in English.

The figures are the dashboard service's example (tests/data), so the pictures are the same
from run to run; the counting has tests of its own. Kivy's Window is a process-wide
singleton, so the scenario runs in a subprocess (this file is also the script) and prints one
JSON line of what it saw. Screenshots go to test-artifacts/kiosk/dashboard/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-artifacts" / "kiosk" / "dashboard"
CHARTS = ("monitoring", "trend", "dropout", "pyramid")


@pytest.mark.e2e
def test_the_doctor_reads_the_dashboard_on_the_kiosk(run_kiosk_script) -> None:
    seen = run_kiosk_script(__file__, SHOTS, clear=True)

    assert seen["window"] == [800, 480]
    x, y, right, top = seen["home_button"]
    assert x >= 0 and right <= 800 and y >= 0 and top <= 480 and top - y >= 48
    assert seen["side_buttons"] == 5  # none added beside the five
    assert seen["home_findings"] == []
    for name in CHARTS:
        shown = seen["charts"][name]
        assert shown["title"] and shown["caption"], name
        x, y, right, top = shown["chart"]
        assert right - x > 400 and top - y > 200, (name, shown["chart"])
        assert shown["findings"] == [], (name, shown["findings"])
        assert shown["findings_en"] == [], (name, shown["findings_en"])
        for suffix in ("", "-en"):
            png = SHOTS / f"{name}{suffix}.png"
            assert png.exists() and png.stat().st_size > 5000, png
    assert seen["charts"]["monitoring"]["title"] == "Suivi cumulé de la vaccination"
    assert seen["charts"]["monitoring"]["title_en"] == "Cumulative immunization monitoring"


def _scenario(home: Path, out: Path) -> dict:
    import sys

    from conftest import kiosk_window, seed_with_logins

    from kiosk_ui import offscreen

    EventLoop, Window = kiosk_window(800, 480)

    sys.path.insert(0, str(REPO))
    from appliance.paths import Paths
    from appliance.services import auth
    from appliance.services.context import Context
    from appliance.store import Store
    from kiosk_ui.app import build_root
    from kiosk_ui.layout_check import findings
    from kiosk_ui.tour import proper_names
    from kiosk_ui.viewmodels import dashboard as dashboard_vm
    from kiosk_ui.viewmodels.state import KioskState
    from tests.dashboard_sample import example

    figures = example()
    dashboard_vm.load_figures = lambda state, year: figures
    paths = Paths.for_home(home)
    logins = seed_with_logins(home, paths.database, patients=6, years=1)
    seen: dict = {"window": list(Window.size), "charts": {}}
    idle = offscreen.idle

    def box(widget) -> list[float]:
        x, y = widget.to_window(widget.x, widget.y)
        return [x, y, x + widget.width, y + widget.height]

    with Store(paths.database) as store:
        state = KioskState(Context.open(store), data_dir=home)
        doctor = auth.login(state.ctx, logins["doctor"][0], pin=logins["doctor"][1])
        codes = {"CSCom", "Penta1", "Penta3", "RR1", "MR1", "CPN1", "CPN4", "ANC1", "ANC4"}
        allow = proper_names(store) | codes | set(figures["facility"].split())

        def check(name: str, screen: str, lang: str = "fr") -> list[str]:
            idle(4)
            offscreen.screenshot(out / f"{name}.png")
            return [
                str(f)
                for f in findings(Window, (800, 480), lang, screen=screen, state=name, allow=allow)
            ]

        root = build_root(state, timers=False)
        Window.add_widget(root)
        idle(5)
        state.actor = doctor
        root.go("home")
        idle(6)
        home_screen = root.screen("home")
        seen["home_button"] = box(home_screen.dashboard_button)
        seen["side_buttons"] = len(home_screen.button_by_name)
        seen["home_findings"] = check("home", "home")

        offscreen.tap(home_screen.dashboard_button)
        screen = root.screen("dashboard")
        for _ in range(100):
            idle(2)
            if screen.loaded and screen.vm is not None and screen.vm.data is not None:
                break
        for name in ("monitoring", "trend", "dropout", "pyramid"):
            offscreen.tap(screen.chart_buttons[name])
            idle(4)
            seen["charts"][name] = {
                "title": screen.title.text,
                "caption": screen.caption.text,
                "chart": box(screen.chart),
                "findings": check(name, "dashboard"),
            }
        root.toggle_lang()
        for name in ("monitoring", "trend", "dropout", "pyramid"):
            offscreen.tap(screen.chart_buttons[name])
            idle(4)
            seen["charts"][name]["findings_en"] = check(f"{name}-en", "dashboard", "en")
            seen["charts"][name]["title_en"] = screen.title.text
    return seen


if __name__ == "__main__":
    from conftest import kiosk_script_main

    kiosk_script_main(_scenario)
