"""The kiosk's home counts and due lists: the view-models over the shared test store, and the
real screens in an offscreen Kivy window at 800x480 over a seeded facility.

Kivy's Window is a process-wide singleton that needs its environment before `import kivy`,
so the window scenario runs in a subprocess: this file is also the script (`python
test_kiosk_due_home.py HOME OUT`), which prints one JSON line of what it saw. Screenshots go
to test-artifacts/kiosk/ (home.png, due_today.png, due_defaulters.png, due_village.png,
due_village_picker.png, due_upcoming.png).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from appliance.services import encounters, follow_up
from kiosk_ui.viewmodels.due import PAGE, DueVM
from kiosk_ui.viewmodels.home import HomeVM

REPO = Path(__file__).resolve().parents[3]
SHOTS = REPO / "test-artifacts" / "kiosk"
SCRIPT_TIMEOUT_S = 300
PATIENTS = 500  # enough for several pages in each list
# The due screen's widgets: tabs, village and period buttons, pager, and a page of rows (a
# row and its two labels); counted with the tabs' and pager's own labels, ~100.
DUE_WIDGETS_MAX = 40 + 3 * PAGE


# --------------------------------------------------------------------------- view-models
def test_due_lists(kiosk, ctx, actors, child, aminata):
    vm = DueVM(kiosk("nurse"))
    vm.load_villages()
    assert vm.villages == ["Kalaban"]
    seen = {}
    for name in ("today", "upcoming", "defaulters"):
        vm.choose(list_name=name)
        assert vm.error is None
        seen[name] = {i["key"]: i for i in vm.items}
    # an 18-month-old with no vaccine recorded: late, and lost to follow-up for the oldest
    mine = [i for i in seen["defaulters"].values() if i["patient_id"] == child["id"]]
    assert mine, seen["defaulters"]
    item = mine[0]
    assert item["name"] == "Coulibaly Fanta" and item["village"] == "Kalaban"
    assert item["state"] == "defaulter" and item["state_label"] == "perdu de vue"
    assert item["due_date"][2] == "/" and "j de retard" in item["when"]
    # the lists do not overlap: a defaulter is not today's work
    assert not set(seen["defaulters"]) & set(seen["today"])
    nurse = actors["nurse"]
    today = follow_up.today(ctx, nurse, limit=None)
    assert {f"{i['patient_id']}:{i['reason_code']}" for i in today["items"]} == set(seen["today"])
    vm.choose(list_name="defaulters", village="Sido")
    assert vm.items == [] and vm.total == 0 and vm.range_text == "0 sur 0"
    assert vm.villages == ["Kalaban"]


def test_due_list_states_in_words(kiosk, child):
    vm = DueVM(kiosk("nurse"))
    for name in ("today", "upcoming", "defaulters"):
        vm.choose(list_name=name)
        for item in vm.items:
            expected = {
                "due": "à faire",
                "overdue": "en retard",
                "defaulter": "perdu de vue",
                "upcoming": "à venir",
                "urgent": "urgent",
            }[item["state"]]
            assert item["state_label"] == expected
    vm = DueVM(kiosk("nurse", lang="en"))
    vm.choose(list_name="defaulters")
    assert vm.items and vm.items[0]["state_label"] == "lost to follow-up"


def test_due_list_refused_to_the_technician(kiosk, child):
    vm = DueVM(kiosk("technician"))
    vm.load()
    assert vm.items == [] and vm.error == "Votre rôle ne permet pas de faire cela."


def test_unknown_list_is_refused(kiosk):
    vm = DueVM(kiosk("nurse"))
    try:
        vm.choose(list_name="everything")
    except ValueError as e:
        assert "today, upcoming, defaulters" in str(e)
    else:
        raise AssertionError("an unknown list was accepted")


def test_home(kiosk, ctx, actors, child, aminata):
    encounters.add(
        ctx,
        actors["midwife"],
        aminata["id"],
        "anc",
        {
            "care_date": "2026-10-14",
            "gestational_age_weeks": 30,
            "bp_systolic": 170,
            "bp_diastolic": 115,
        },
    )
    vm = HomeVM(kiosk("nurse"))
    vm.load()
    assert vm.greeting == "Bonjour, Nurse"
    today = follow_up.today(ctx, actors["nurse"], limit=1)
    assert (vm.due_today, vm.defaulters) == (today["count"], today["defaulters"])
    assert vm.defaulters >= 1  # the child's oldest vaccines
    on = ctx.now().today
    week = follow_up.listing(
        ctx, actors["nurse"], start=on, end=on + timedelta(days=7), states=("upcoming",)
    )
    assert vm.this_week == week["total"]
    assert vm.alerts and vm.alerts[0]["patient_id"] == aminata["id"]
    assert vm.alerts[0]["severity"] == "urgent" and vm.alerts[0]["name"] == "Traoré Aminata"
    assert len(vm.alerts) <= 10
    assert vm.drafts == [] and not vm.is_technician


def test_home_of_the_technician(kiosk, child):
    vm = HomeVM(kiosk("technician"))
    vm.load()
    assert vm.is_technician and vm.error is None
    assert (vm.due_today, vm.defaulters, vm.this_week) == (0, 0, 0)
    assert vm.alerts == [] and vm.drafts == []


# --------------------------------------------------------------------------- the window
def _keneya(home: Path, pin: str, username: str, *args: str):
    keneya = Path(sys.executable).parent / "keneya"
    env = {**os.environ, "KENEYA_PIN": pin}
    env.pop("KENEYA_HOME", None)
    proc = subprocess.run(
        [str(keneya), "--home", str(home), "due", *args, "--as", username, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_home_and_due_screens_in_a_window(tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "SDL_VIDEODRIVER": "offscreen", "KIVY_HOME": str(tmp_path / "kivy")}
    env.pop("KENEYA_HOME", None)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name in (
        "home",
        "due_today",
        "due_defaulters",
        "due_village",
        "due_village_picker",
        "due_upcoming",
    ):
        (SHOTS / f"{name}.png").unlink(missing_ok=True)
    proc = subprocess.run(
        [sys.executable, __file__, str(home), str(SHOTS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])

    # the home's figures are the service's, and the CLI's
    counts = seen["home"]
    assert counts["today"] > PAGE and counts["defaulters"] > PAGE and counts["week"] > 0
    assert seen["home_texts"]["today"] == f"À revoir aujourd'hui : {counts['today']}"
    assert seen["home_texts"]["defaulters"] == f"Perdus de vue : {counts['defaulters']}"
    assert seen["home_texts"]["upcoming"] == f"Cette semaine : {counts['week']}"
    username, pin = seen["login"]
    cli_today = _keneya(home, pin, username, "--today")
    assert (cli_today["count"], cli_today["defaulters"]) == (counts["today"], counts["defaulters"])
    cli_defaulters = _keneya(home, pin, username, "--state", "defaulter")
    assert len(cli_defaulters) == counts["defaulters"]
    on = date.fromisoformat(cli_today["on"])
    cli_week = _keneya(
        home,
        pin,
        username,
        "--from",
        on.isoformat(),
        "--to",
        (on + timedelta(days=7)).isoformat(),
        "--state",
        "upcoming",
    )
    assert len(cli_week) == counts["week"]

    # each count opens its list; paging reaches every item once, and comes back
    for name, count in (
        ("today", counts["today"]),
        ("defaulters", counts["defaulters"]),
        ("upcoming", counts["week"]),
    ):
        walk = seen["lists"][name]
        assert walk["opened_on"] == name
        assert walk["total"] == count
        assert walk["items"] == count and walk["unique"] == count, walk
        assert walk["pages"] == -(-count // PAGE)
        assert walk["range_texts"][0] == f"1–{min(PAGE, count)} sur {count}"
        last_first = (walk["pages"] - 1) * PAGE + 1
        assert walk["range_texts"][-1] == f"{last_first}–{count} sur {count}"
        assert walk["back_to_first"] == walk["range_texts"][0]
        assert walk["previous_disabled_first"] and walk["next_disabled_last"]
    assert set(seen["lists"]["today"]["states"]) <= {"due", "overdue", "urgent"}
    assert seen["lists"]["defaulters"]["states"] == ["defaulter"]
    assert seen["lists"]["defaulters"]["dates_sorted"], "defaulters: oldest first"
    assert seen["lists"]["defaulters"]["labels"] == ["perdu de vue"]
    assert seen["lists"]["upcoming"]["states"] == ["upcoming"]
    assert seen["thirty_days"] == len(
        _keneya(
            home,
            pin,
            username,
            "--from",
            on.isoformat(),
            "--to",
            (on + timedelta(days=30)).isoformat(),
            "--state",
            "upcoming",
        )
    )

    # a village: only its rows, as many as the CLI lists for it
    village = seen["village"]
    assert village["name"] and village["rows_villages"] == [village["name"]]
    cli_village = _keneya(home, pin, username, "--state", "defaulter", "--village", village["name"])
    assert village["total"] == len(cli_village) > 0

    # a recycled view: however long the lists, the screen holds the same few widgets (a
    # page of rows made once and shown again), never one per item
    assert counts["defaulters"] > 3 * PAGE
    assert seen["row_pool"] == PAGE
    assert max(seen["due_widgets"]) <= DUE_WIDGETS_MAX, max(seen["due_widgets"])

    # readable at 800x480: no text cut, touch targets at least 48 px high
    assert seen["window"] == [800, 480]
    assert seen["clipped"] == [], seen["clipped"]
    assert seen["small_targets"] == [], seen["small_targets"]
    for name in (
        "home",
        "due_today",
        "due_defaulters",
        "due_village",
        "due_village_picker",
        "due_upcoming",
    ):
        png = SHOTS / f"{name}.png"
        assert png.exists() and png.stat().st_size > 5000, name


# --------------------------------------------------------------------------- the script
def _scenario(home: Path, out: Path) -> dict:
    w, h = 800, 480
    from kiosk_ui import offscreen

    EventLoop, Window = offscreen.open_window(w, h)
    from kivy.uix.button import Button
    from kivy.uix.label import Label
    from kivy.uix.scrollview import ScrollView

    from appliance.paths import Paths
    from appliance.services import auth
    from appliance.services.context import Context
    from appliance.store import Store
    from kiosk_ui.app import build_root
    from kiosk_ui.viewmodels.state import KioskState
    from kiosk_ui.widgets.due_row import DueRow

    database = Paths.for_home(home).database
    logins = offscreen.seed_demo(home, patients=PATIENTS)
    seen: dict = {
        "login": logins["nurse"],
        "clipped": [],
        "small_targets": [],
        "due_widgets": [],  # the due screen's widgets on each page of each list
    }

    idle = offscreen.idle

    def tap(widget) -> None:
        holder = widget.parent
        while holder is not None and holder is not Window and not isinstance(holder, ScrollView):
            holder = holder.parent
        if isinstance(holder, ScrollView):
            holder.scroll_to(widget, padding=0, animate=False)
            idle(3)
        offscreen.tap(widget)
        idle(2)

    def shot(name: str) -> None:
        idle(4)
        offscreen.screenshot(out / f"{name}.png")

    def wait(condition, seconds: float = 60) -> None:
        end = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > end:
                raise TimeoutError(condition)
            time.sleep(0.02)
            idle(1)

    def check_readable(where: str, widget) -> None:
        """Every text fits its widget; every touchable thing is at least 48 px high."""
        idle(3)
        for wdg in widget.walk(restrict=True):
            if wdg.opacity == 0 or wdg.height <= 0:
                continue
            if isinstance(wdg, Label) and wdg.text:
                tw, th = wdg.texture_size
                if tw > wdg.width + 1 or th > wdg.height + 1:
                    seen["clipped"].append(
                        [where, wdg.text[:60], [tw, th], [wdg.width, wdg.height]]
                    )
            if isinstance(wdg, Button | DueRow) and wdg.height < 48:
                seen["small_targets"].append([where, getattr(wdg, "text", "row"), wdg.height])

    def walk_list(due) -> dict:
        """Every page with Suivant to the end, then Précédent back to the first."""
        vm = due.vm
        keys, states, labels, dates, texts = [], set(), set(), [], []
        pages = 0
        walk = {"opened_on": vm.list, "total": vm.total}
        walk["previous_disabled_first"] = due.previous_button.disabled
        while True:
            pages += 1
            seen["due_widgets"].append(sum(1 for _w in due.walk(restrict=True)))
            texts.append(due.range_label.text)
            rows = due.row_widgets
            assert len(rows) == len(vm.items) <= 20
            for r in rows:
                keys.append(r.item["key"])
                states.add(r.item["state"])
                labels.add(r.state_label.text)
                dates.append(r.item["due_iso"])
            if due.next_button.disabled:
                break
            tap(due.next_button)
        walk["next_disabled_last"] = due.next_button.disabled
        while not due.previous_button.disabled:
            tap(due.previous_button)
        walk["back_to_first"] = due.range_label.text
        walk.update(
            items=len(keys),
            unique=len(set(keys)),
            pages=pages,
            range_texts=texts,
            states=sorted(states),
            labels=sorted(labels),
            dates_sorted=dates == sorted(dates),
        )
        return walk

    with Store(database) as store:
        state = KioskState(Context.open(store), data_dir=home)
        root = build_root(state, timers=False)
        Window.add_widget(root)
        idle(5)
        username, pin = logins["nurse"]
        state.actor = auth.login(state.ctx, username, pin=pin)
        root.go("home")
        homescreen = root.screen("home")
        wait(lambda: homescreen.loaded)
        idle(3)
        vm = homescreen.vm
        seen["home"] = {"today": vm.due_today, "defaulters": vm.defaulters, "week": vm.this_week}
        seen["home_texts"] = {k: b.text for k, b in homescreen.count_buttons.items()}
        check_readable("home", root)
        shot("home")

        due = root.screen("due")
        seen["lists"] = {}
        for name in ("today", "defaulters", "upcoming"):
            root.go("home")
            wait(lambda: root.screen("home").loaded)
            tap(root.screen("home").count_buttons[name])
            assert root.current == "due"
            idle(3)
            check_readable(f"due_{name}", root)
            if name == "today":
                shot("due_today")
            if name == "defaulters":
                shot("due_defaulters")
            seen["lists"][name] = walk_list(due)
        tap(due.period_buttons[30])
        seen["thirty_days"] = due.vm.total
        check_readable("due_upcoming", root)
        shot("due_upcoming")

        # the village picker, then the defaulters of one village
        tap(due.tab_buttons["defaulters"])
        tap(due.village_button)
        check_readable("village_picker", root)
        shot("due_village_picker")
        chosen = due.vm.villages[0]
        tap(due.village_buttons[chosen])
        idle(3)
        seen["village"] = {
            "name": chosen,
            "total": due.vm.total,
            "rows_villages": sorted({r.item["village"] for r in due.row_widgets}),
        }
        check_readable("due_village", root)
        shot("due_village")
        seen["row_pool"] = len(due.row_pool)
        seen["window"] = list(Window.size)
        root.stop()
    return seen


if __name__ == "__main__":
    from kiosk_ui import offscreen

    offscreen.run_script(_scenario)
