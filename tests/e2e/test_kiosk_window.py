"""The kiosk in a real offscreen Kivy window at 800x480, driven by touches.

Kivy's Window is a process-wide singleton (and needs its environment before `import kivy`),
so the scenario runs in a subprocess: this file is also the script (`python
test_kiosk_window.py HOME OUT`), which prints one JSON line of what it saw. The test asserts
on that JSON and on the screenshots in test-artifacts/kiosk/ (one per screen).

Typing goes through the on-screen azerty keyboard: real touches on the VKeyboard's keys.
The power monitor is polled by calling KioskRoot.poll_power() (the 5 s timer is off) so the
scenario does not wait.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-artifacts" / "kiosk"
SCREENS = (
    "login",
    "clock",
    "home",
    "search",
    "record",
    "encounter",
    "numpad",
    "power-warn",
    "countdown",
    "due",
    "register",
    "status",
    "home-en",
)


@pytest.mark.e2e
def test_kiosk_window(run_kiosk_script) -> None:
    seen = run_kiosk_script(__file__, SHOTS, clear=True)

    assert seen["after_login"] == "clock"
    assert_clock_fits(seen["clock"], 800, 480)
    assert seen["after_clock"] == "home"
    assert seen["due_today"] >= 0
    assert seen["search_results"] >= 1
    assert seen["record_title"].lower().startswith(seen["child_family"].lower())
    assert "growth" in seen["actions"]
    assert seen["muac_typed"] == "112"
    assert "malnutrition aiguë sévère" in seen["live"].lower()
    assert "batterie faible" in seen["banner"].lower()
    assert seen["countdown_shown"] and "Arrêt dans" in seen["countdown"]
    assert seen["draft_kept"], "the growth form in progress must stay as a draft"
    assert seen["locked_screen"] == "login"
    assert 0 < seen["due_rows"] <= 60
    for name in SCREENS:
        png = SHOTS / f"{name}.png"
        assert png.exists() and png.stat().st_size > 5000, name


@pytest.mark.e2e
@pytest.mark.parametrize("size", ["1024x600", "1280x800"])
def test_kiosk_other_screen_sizes(run_kiosk_script, size: str) -> None:
    """The 7" screen is not the only one sold: the main screens at 1024x600 and 1280x800."""
    seen = run_kiosk_script(__file__, SHOTS, size)
    w, h = (int(v) for v in size.split("x"))
    assert seen["window"] == [w, h] and seen["root"] == [w, h]
    assert seen["screens"] == ["home", "record"]
    assert_clock_fits(seen["clock"], w, h)
    for name in seen["screens"]:
        png = SHOTS / f"{name}-{size}.png"
        assert png.exists() and png.stat().st_size > 5000, png


CLOCK_LABELS = ["Jour", "Mois", "Année", "Heures", "Minutes"]


def assert_clock_fits(clock: dict, w: int, h: int) -> None:
    """The clock screen as laid out in the window: its title, the big date and the five
    column labels whole inside the window and below the header, each text inside its box;
    the +/- buttons a finger's size; no band kept for an error there is not."""
    header_bottom = h - clock["header_h"]
    assert [text for text, _box, _tex in clock["labels"]] == CLOCK_LABELS
    assert clock["title"][0] == "Vérifiez la date et l'heure"
    assert clock["date"][0].count("/") == 2 and ":" in clock["date"][0]
    for text, (x, y, right, top), (tw, th) in [clock["title"], clock["date"], *clock["labels"]]:
        assert x >= 0 and y >= 0 and right <= w and top <= header_bottom, (text, x, y, right, top)
        assert tw <= right - x + 1 and th <= top - y + 1, (text, tw, th, right - x, top - y)
    for _part, bw, bh in clock["buttons"]:
        assert bw >= 48 and bh >= 48, clock["buttons"]
    assert len(clock["buttons"]) == 10
    x, y, right, top = clock["confirm"]
    assert y >= 0 and top <= header_bottom and right <= w, clock["confirm"]
    assert clock["error_h"] == 0  # no error: it takes no height


def clock_layout(root) -> dict:
    """What assert_clock_fits needs, read from the clock screen shown in the window."""

    def box(widget) -> list[float]:
        x, y = widget.to_window(widget.x, widget.y)
        return [round(x), round(y), round(x + widget.width), round(y + widget.height)]

    def seen(label) -> list:
        return [label.text, box(label), [round(v) for v in label.texture_size]]

    clock = root.screen("clock")
    return {
        "header_h": root.header.height,
        "title": seen(clock.title),
        "date": seen(clock.big),
        "labels": [seen(clock.part_labels[part]) for part in clock.values],
        "buttons": [[f"{p}{d:+d}", b.width, b.height] for (p, d), b in clock.part_buttons.items()],
        "confirm": box(clock.confirm_button),
        "error_h": clock.error.height,
    }


# --------------------------------------------------------------------------- the scenarios
def _sized(home: Path, out: Path, size: str) -> dict:
    """Log in (through the view-model) and shoot the home and a child's record at `size`."""
    from conftest import kiosk_window, seed_with_logins

    from kiosk_ui import offscreen

    w, h = (int(v) for v in size.split("x"))
    EventLoop, Window = kiosk_window(w, h)
    from appliance.paths import Paths
    from appliance.services import auth
    from appliance.services.context import Context
    from appliance.store import Store
    from kiosk_ui.app import build_root
    from kiosk_ui.viewmodels.state import KioskState

    database = Paths.for_home(home).database
    username, pin = seed_with_logins(home, database, patients=60, years=3)["nurse"]
    shots = []
    with Store(database) as store:
        child = store.query_one("SELECT id FROM patients ORDER BY birth_date DESC LIMIT 1")
        state = KioskState(Context.open(store), data_dir=home)
        root = build_root(state, timers=False)
        Window.add_widget(root)
        state.actor = auth.login(state.ctx, username, pin=pin)
        root.go("clock")
        for _ in range(5):
            EventLoop.idle()
        clock = clock_layout(root)
        for name, args in (("home", {}), ("record", {"patient_id": child["id"]})):
            root.go(name, **args)
            end = time.monotonic() + 20
            while getattr(root.screen(name), "loading", False) and time.monotonic() < end:
                time.sleep(0.02)
                EventLoop.idle()
            for _ in range(5):
                EventLoop.idle()
            offscreen.screenshot(out / f"{name}-{size}.png")
            shots.append(name)
        seen = {
            "window": list(Window.size),
            "root": [int(root.width), int(root.height)],
            "clock": clock,
        }
        root.stop()
    return {**seen, "screens": shots}


def _scenario(home: Path, out: Path) -> dict:
    from conftest import kiosk_window, seed_with_logins

    from kiosk_ui import offscreen

    EventLoop, Window = kiosk_window(800, 480)
    from kivy.tests.common import UnitTestTouch

    from appliance.paths import Paths
    from appliance.services.context import Context
    from appliance.store import Store
    from kiosk_ui.app import build_root
    from kiosk_ui.viewmodels.state import KioskState

    database = Paths.for_home(home).database
    logins = seed_with_logins(home, database, patients=150, years=3)
    seen: dict = {}

    idle = offscreen.idle

    def tap(widget) -> None:
        from kivy.uix.scrollview import ScrollView

        holder = widget.parent
        while holder is not None and holder is not Window and not isinstance(holder, ScrollView):
            holder = holder.parent
        if isinstance(holder, ScrollView):  # bring it into view first, as a finger would scroll
            holder.scroll_to(widget, padding=0, animate=False)
            idle(3)
        offscreen.tap(widget)
        idle(2)

    def shot(name: str) -> None:
        idle(3)
        offscreen.screenshot(out / f"{name}.png")

    def wait(condition, seconds: float = 20) -> None:
        end = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > end:
                raise TimeoutError(condition)
            time.sleep(0.02)
            idle(1)

    with Store(database) as store:
        # a child under five with a plain a-z family name (typed on the azerty keyboard)
        today = date.today()
        child = store.query_one(
            "SELECT id, family_name, given_names FROM patients WHERE birth_date > ?"
            " AND birth_date < ? ORDER BY birth_date",
            (
                (today - timedelta(days=4 * 365)).isoformat(),
                (today - timedelta(days=365)).isoformat(),
            ),
        )
        seen["child_family"] = child["family_name"]

        state = KioskState(Context.open(store), data_dir=home)
        root = build_root(state, timers=False)
        Window.add_widget(root)
        idle(5)

        # ---- login: touch the staff name, then the PIN digits, then Enter
        login = root.screen("login")
        username, pin = logins["midwife"]
        tap(login.staff_buttons[username])
        shot("login")
        for digit in pin:
            tap(login.pad.keys[digit])
        tap(login.pad.keys["ok"])
        seen["after_login"] = root.current

        # ---- clock confirmation
        shot("clock")
        seen["clock"] = clock_layout(root)
        tap(root.screen("clock").confirm_button)
        seen["after_clock"] = root.current
        homescreen = root.screen("home")
        wait(lambda: homescreen.loaded)
        seen["due_today"] = homescreen.vm.due_today
        shot("home")

        # ---- search: type on the on-screen azerty keyboard
        tap(homescreen.button_by_name["search"])
        search = root.screen("search")
        vk = search.keyboard.vk
        idle(3)
        query = "".join(c for c in child["family_name"].lower() if "a" <= c <= "z")[:5]
        for ch in query:
            tap_key(vk, ch, UnitTestTouch, idle)
        seen["typed"] = search.field.text
        time.sleep(0.2)  # the 0.15 s debounce
        wait(lambda: search.result_buttons)
        seen["search_results"] = len(search.result_buttons)
        shot("search")
        target = next((b for b in search.result_buttons if b.patient_id == child["id"]), None)
        if target is None:  # a common family name: narrow with the given name
            tap_key(vk, " ", UnitTestTouch, idle)
            for ch in "".join(c for c in child["given_names"].lower() if "a" <= c <= "z")[:4]:
                tap_key(vk, ch, UnitTestTouch, idle)
            time.sleep(0.2)
            wait(lambda: any(b.patient_id == child["id"] for b in search.result_buttons))
            target = next(b for b in search.result_buttons if b.patient_id == child["id"])
        tap(target)

        # ---- record
        record = root.screen("record")
        seen["record_title"] = record.vm.title
        seen["actions"] = sorted(record.action_buttons)
        seen["growth_chart"] = bool(record.charts)
        shot("record")

        # ---- growth visit: MUAC 112 mm on the NumPad → SAM in the live box
        tap(record.action_buttons["growth"])
        form = root.screen("encounter")
        tap(form.inputs["muac_mm"])
        pad = form.numpad
        idle(3)
        for key in "112":
            tap(pad.keys[key])
        shot("numpad")
        tap(pad.keys["ok"])
        wait(lambda: pad.parent is None)  # the modal fades out
        seen["muac_typed"] = form.vm.values.get("muac_mm")
        seen["live"] = form.live_text
        shot("encounter")

        # ---- power: low battery banner, then the shutdown countdown
        row = {
            "sampled_at": datetime.now(UTC).isoformat(),
            "clock_trusted": True,
            "source": "test",
            "voltage_v": 11.6,
            "soc": 18,
            "runtime_min": 40,
            "charging": False,
            "state": "warn",
            "reason": "low battery",
        }
        store.power.set_state(row)
        root.poll_power()
        seen["banner"] = root.banner.text
        shot("power-warn")
        deadline = datetime.now(UTC) + timedelta(seconds=105)
        store.power.set_state(
            {
                **row,
                "state": "shutdown_pending",
                "soc": 9,
                "shutdown_deadline": deadline.isoformat(timespec="seconds"),
            }
        )
        root.poll_power()
        seen["countdown_shown"] = root.countdown.parent is not None
        seen["countdown"] = root.countdown.text
        shot("countdown")
        store.power.set_state({**row, "state": "ok", "soc": 80})
        root.poll_power()

        # ---- the other screens
        root.go("due")
        due = root.screen("due")
        wait(lambda: not due.loading)  # the list is worked out on a thread
        seen["due_rows"] = len(due.vm.items)
        shot("due")
        for name in ("register", "status"):
            root.go(name)
            idle(3)
            shot(name)
        root.go("home")
        tap(root.header.lang_button)
        wait(lambda: root.screen("home").loaded)
        shot("home-en")
        tap(root.header.lang_button)

        # ---- auto-lock: the growth form stays as a draft and comes back
        state.idle_lock_s = 0
        root.check_lock()
        seen["locked_screen"] = root.current
        state.idle_lock_s = 120
        from appliance.services import auth, drafts

        actor = auth.login(state.ctx, username, pin=pin)
        seen["draft_kept"] = any(
            d["patient_id"] == child["id"] and d["kind"] == "growth"
            for d in drafts.pending(state.ctx, actor)
        )
        root.stop()
    return seen


def tap_key(vk, char: str, touch_cls, idle) -> None:
    """Touch the VKeyboard key that types `char` in the current layout mode."""
    layout = vk.available_layouts[vk.layout]
    rows = layout["rows"]
    mtop, _mright, mbottom, _mleft = vk.margin_hint
    w, h = vk.size
    line_h = (h - (mbottom + mtop) * h) / rows
    for line_nb in range(1, rows + 1):
        for i, key in enumerate(layout[f"{vk.layout_mode}_{line_nb}"]):
            if key[1] == char:
                (x_hint, _), (w_hint, _) = vk.layout_geometry[f"LINE_HINT_{line_nb}"][i]
                x = (x_hint + w_hint / 2) * w
                y = mbottom * h + line_h * (rows - line_nb + 0.5)
                wx, wy = vk.to_window(x, y)
                touch = touch_cls(wx, wy)
                touch.touch_down()
                touch.touch_up()
                idle(2)
                return
    raise LookupError(f"no key for {char!r}")


def _sized_or_full(home: Path, out: Path, size: str | None = None) -> dict:
    """The script's arguments: HOME OUT [WxH]; with a size, the main screens at that size."""
    return _sized(home, out, size) if size else _scenario(home, out)


if __name__ == "__main__":
    from conftest import kiosk_script_main

    kiosk_script_main(_sized_or_full)
