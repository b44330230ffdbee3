"""Search: the view-model over the shared test store, and the real screen in an offscreen
Kivy window at 800x480 (screenshots search_keyboard_up.png and search_keyboard_hidden.png in
test-artifacts/kiosk/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kiosk_ui.viewmodels.search import SearchVM


def test_two_letters_minimum(kiosk, aminata):
    vm = SearchVM(kiosk("nurse"))
    vm.set_query("t")
    assert vm.results == [] and vm.message == "Tapez au moins 2 lettres"
    vm.set_query(" !?")
    assert vm.message == "Tapez au moins 2 lettres"


def test_results_while_typing(kiosk, aminata):
    vm = SearchVM(kiosk("nurse"))
    vm.set_query("trao")
    assert vm.message is None
    hit = next(r for r in vm.results if r["id"] == aminata["id"])
    assert hit["name"] == "Traoré Aminata"
    assert hit["health_number"] == aminata["health_number"]
    assert hit["detail"] == "Femme · 31 ans · Kalaban"


def test_query_that_is_no_name_nor_number(kiosk, aminata):
    vm = SearchVM(kiosk("nurse"))
    vm.set_query("--12--")  # digits, but not a phone or health number
    assert vm.results == []
    assert vm.message.startswith("Tapez un nom (des lettres)")


def test_no_results(kiosk, aminata):
    vm = SearchVM(kiosk("nurse"))
    vm.set_query("Zzyzxqw")
    assert vm.results == [] and vm.message == "Aucun patient trouvé."


def test_a_full_page_offers_the_next(kiosk, ctx, actors):
    from appliance.services import patients

    for i in range(23):
        data = {"family_name": "Kulibali", "given_names": f"Awa{chr(65 + i)}", "sex": "F"}
        data["birth_date"] = "1990-01-01"
        patients.register(ctx, actors["nurse"], data, accept_duplicates=True)
    vm = SearchVM(kiosk("nurse"))
    vm.set_query("coulibaly")
    first = [r["id"] for r in vm.results]
    assert len(first) == 20 and vm.more and vm.offset == 0
    vm.next_page()
    assert len(vm.results) == 3 and not vm.more and vm.offset == 20
    assert not set(first) & {r["id"] for r in vm.results}
    vm.set_query("coulibaly a")  # a new search starts at its first page
    assert vm.offset == 0


def test_technician_may_not_search(kiosk, aminata):
    vm = SearchVM(kiosk("technician"))
    vm.set_query("trao")
    assert vm.results == [] and vm.message == "Votre rôle ne permet pas de faire cela."


# --------------------------------------------------------------------------- the window
# Kivy's Window needs its environment before `import kivy`: the scenario runs in a subprocess
# (this file is also the script: `python test_kiosk_search.py HOME OUT`), printing one JSON line.

REPO = Path(__file__).resolve().parents[3]
SHOTS = REPO / "test-artifacts" / "kiosk"
WINDOW_PATIENTS = 300


def test_search_screen_gives_the_results_the_height(tmp_path):
    env = {**os.environ, "SDL_VIDEODRIVER": "offscreen", "KIVY_HOME": str(tmp_path / "kivy")}
    env.pop("KENEYA_HOME", None)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name in ("search_keyboard_up", "search_keyboard_hidden"):
        (SHOTS / f"{name}.png").unlink(missing_ok=True)
    proc = subprocess.run(
        [sys.executable, __file__, str(tmp_path / "home"), str(SHOTS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])

    assert "numéro de santé ou téléphone" in seen["hint"]
    # the field and the keyboard toggle share one row, above the results
    assert seen["field_row"]["same_row"], seen["field_row"]
    # keyboard up: compact rows (>= 48 px, a finger's target), at least two in sight
    up = seen["keyboard_up"]
    assert up["results"] >= 6, up
    assert up["keyboard_shown"]
    assert min(up["row_heights"]) >= 48 and max(up["row_heights"]) <= 60, up
    assert up["rows_in_sight"] >= 2, up
    # typing more made no new rows: a pool, never more rows than a page of results
    assert seen["pool_after_typing"] == seen["pool_before_typing"] <= seen["results_max"]
    # ⏎ searched and put the keyboard away: the whole height for the list
    down = seen["after_enter"]
    assert not down["keyboard_shown"] and down["results"] == up["results"]
    assert down["rows_in_sight"] >= 6, down
    assert down["toggle_text"] == "Clavier"
    # a tap on the field brings the keyboard back; its hide key (on_hide) removes it
    assert seen["after_field_tap"] is True
    assert seen["after_hide_key"] is False
    # a touch on a result opens that patient's record
    assert seen["opened"]["screen"] == "record"
    assert seen["opened"]["patient_id"] == seen["opened"]["tapped"]
    for name in ("search_keyboard_up", "search_keyboard_hidden"):
        png = SHOTS / f"{name}.png"
        assert png.exists() and png.stat().st_size > 5000, name


def _scenario(home: Path, out: Path) -> dict:
    w, h = 800, 480
    from kiosk_ui import offscreen

    EventLoop, Window = offscreen.open_window(w, h)

    from appliance.paths import Paths
    from appliance.services import auth
    from appliance.services.context import Context
    from appliance.store import Store
    from kiosk_ui.app import build_root
    from kiosk_ui.screens.base import window_rect
    from kiosk_ui.viewmodels.search import RESULTS_MAX
    from kiosk_ui.viewmodels.state import KioskState

    database = Paths.for_home(home).database
    logins = offscreen.seed_demo(home, patients=WINDOW_PATIENTS)

    idle = offscreen.idle

    def tap(widget) -> None:
        offscreen.tap(widget)
        idle(3)

    def shot(name: str) -> None:
        idle(4)
        offscreen.screenshot(out / f"{name}.png")

    def in_sight(search) -> int:
        """Result rows whole inside the scroll view's visible part."""
        sx, sy, sright, stop = window_rect(search.scroller)
        count = 0
        for b in search.result_buttons:
            x, y, right, top = window_rect(b)
            if y >= sy - 1 and top <= stop + 1:
                count += 1
        return count

    def looked(search) -> dict:
        idle(4)
        return {
            "results": len(search.result_buttons),
            "keyboard_shown": search.keyboard.parent is not None,
            "row_heights": [b.height for b in search.result_buttons],
            "rows_in_sight": in_sight(search),
            "toggle_text": search.kb_button.text,
        }

    seen: dict = {"results_max": RESULTS_MAX}
    with Store(database) as store:
        common = store.conn.execute(
            "SELECT family_name FROM patients GROUP BY family_name ORDER BY count(*) DESC"
        ).fetchone()[0]
        state = KioskState(Context.open(store), data_dir=home)
        root = build_root(state, timers=False)
        Window.add_widget(root)
        idle(5)
        username, pin = logins["nurse"]
        state.actor = auth.login(state.ctx, username, pin=pin)
        root.go("search")
        idle(5)
        search = root.screen("search")
        seen["hint"] = search.field.hint_text
        fx, fy, _fr, ftop = window_rect(search.field)
        kx, ky, _kr, ktop = window_rect(search.kb_button)
        seen["field_row"] = {"same_row": abs(fy - ky) < 1 and abs(ftop - ktop) < 1}
        query = "".join(c for c in common.lower() if "a" <= c <= "z")[:2]
        for ch in query:
            search.keyboard.type(ch)  # what a key of the on-screen keyboard does
        search.search_now()  # the debounce's search, without its wait
        idle(4)
        seen["pool_before_typing"] = len(search.row_pool)
        seen["keyboard_up"] = looked(search)
        shot("search_keyboard_up")
        search.keyboard.type(common.lower()[2:3])
        search.search_now()
        search.keyboard.target.text = query  # back to the same results
        search.search_now()
        idle(3)
        seen["pool_after_typing"] = len(search.row_pool)
        search.keyboard.dispatch("on_enter")  # ⏎
        seen["after_enter"] = looked(search)
        shot("search_keyboard_hidden")
        tap(search.field)
        seen["after_field_tap"] = search.keyboard.parent is not None
        search.keyboard.dispatch("on_hide")  # its hide key
        idle(3)
        seen["after_hide_key"] = search.keyboard.parent is not None
        target = search.result_buttons[1]
        tapped = target.patient_id
        tap(target)
        seen["opened"] = {
            "screen": root.current,
            "patient_id": root.screen("record").vm.patient_id,
            "tapped": tapped,
        }
        root.stop()
    return seen


if __name__ == "__main__":
    from kiosk_ui import offscreen

    offscreen.run_script(_scenario)


def test_ages_in_calendar_months_as_on_the_record(ctx, actors, kiosk):
    # born 15/09/2025 and today 15/10/2026: 13 months to the day (395 days made 12 when the
    # search counted days * 12 / 365)
    from appliance.services import patients

    patients.register(
        ctx,
        actors["nurse"],
        {"family_name": "Diarra", "given_names": "Moussa", "sex": "M", "birth_date": "2025-09-15"},
    )
    vm = SearchVM(kiosk("nurse"))
    vm.set_query("diarra moussa")
    assert [r["detail"] for r in vm.results] == ["Homme · 13 mois"]
