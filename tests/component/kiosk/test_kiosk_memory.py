"""The kiosk lets go of what it showed: in a real offscreen window, ten rounds home -> due list
(and its next page) -> search (typed key by key) -> a record, and after each round the live
Kivy widgets, labels and textures are counted (after a full collection). After the first
round (which makes the screens' reusable rows) the counts must not grow: a screen that kept
its old rows, or made rows per item, would show here. Resident memory is too noisy for a
test; benchmarks/kiosk.py measures it.

Kivy's Window needs its environment before `import kivy`: the scenario runs in a subprocess
(this file is also the script: `python test_kiosk_memory.py HOME`), printing one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

SCRIPT_TIMEOUT_S = 300
PATIENTS = 400  # several pages in each due list
ROUNDS = 10


def test_screens_release_what_they_showed(tmp_path):
    env = {**os.environ, "SDL_VIDEODRIVER": "offscreen", "KIVY_HOME": str(tmp_path / "kivy")}
    env.pop("KENEYA_HOME", None)
    proc = subprocess.run(
        [sys.executable, __file__, str(tmp_path / "home")],
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    rounds = seen["rounds"]
    assert len(rounds) == ROUNDS
    # each round really showed the screens (rows on the due list, results, a record)
    assert all(r["due_rows"] == seen["page"] for r in rounds)
    assert all(r["results"] > 0 and r["record_title"] for r in rounds)
    first = rounds[0]
    for r in rounds[1:]:
        assert r["widgets"] <= first["widgets"], [x["widgets"] for x in rounds]
        assert r["labels"] <= first["labels"], [x["labels"] for x in rounds]
        assert r["textures"] <= first["textures"], [x["textures"] for x in rounds]
    # and the search's rows are a bounded pool, not one per keystroke's result
    assert seen["search_pool"] <= seen["search_limit"]


# --------------------------------------------------------------------------- the script


def _scenario(home: Path) -> dict:
    w, h = 800, 480
    from kiosk_ui import offscreen
    from kiosk_ui.memory import live_objects

    EventLoop, Window = offscreen.open_window(w, h)
    from appliance.paths import Paths
    from appliance.services import auth
    from appliance.services.context import Context
    from appliance.store import Store
    from kiosk_ui.app import build_root
    from kiosk_ui.viewmodels.due import PAGE
    from kiosk_ui.viewmodels.state import KioskState

    database = Paths.for_home(home).database
    logins = offscreen.seed_demo(home, patients=PATIENTS)

    idle = offscreen.idle

    def wait(condition, seconds: float = 60) -> None:
        end = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > end:
                raise TimeoutError(condition)
            time.sleep(0.02)
            idle(1)

    seen: dict = {"rounds": [], "page": PAGE}
    with Store(database) as store:
        state = KioskState(Context.open(store), data_dir=home)
        root = build_root(state, timers=False)
        Window.add_widget(root)
        idle(5)
        username, pin = logins["nurse"]
        state.actor = auth.login(state.ctx, username, pin=pin)
        homescreen, due = root.screen("home"), root.screen("due")
        search, record = root.screen("search"), root.screen("record")
        # a family name of the seed: the first three letters of the first due item's name
        root.go("due", list="defaulters")
        query = due.vm.items[0]["name"].split()[0][:3].lower()
        for _ in range(ROUNDS):
            root.go("home")
            wait(lambda: homescreen.loaded)
            idle()
            root.go("due", list="defaulters")
            idle()
            due.page(+1)
            idle()
            due_rows = len(due.row_widgets)
            root.go("search")
            idle()
            for ch in query:
                search.keyboard.type(ch)
                search.search_now()
                idle(2)
            results = len(search.result_buttons)
            root.go("record", patient_id=search.vm.results[0]["id"])
            idle()
            title = record.vm.title
            root.go("home")
            wait(lambda: homescreen.loaded)
            idle(4)  # the screens left have let go (on_leave comes a frame later)
            seen["rounds"].append(
                {**live_objects(), "due_rows": due_rows, "results": results, "record_title": title}
            )
        seen["search_pool"] = len(search.row_pool)
        from kiosk_ui.viewmodels import search as search_vm

        seen["search_limit"] = search_vm.RESULTS_MAX
        root.stop()
    return seen


if __name__ == "__main__":
    from kiosk_ui import offscreen

    offscreen.run_script(_scenario)
