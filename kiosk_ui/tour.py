"""A tour of every kiosk screen and state in a real offscreen window, with the layout check
(kiosk_ui.layout_check) run on each and a screenshot of each.

    python -m kiosk_ui.tour --size 800x480 --lang fr --out DIR [--home HOME] [--patients N]

`--lang fr,en` walks the states once per language in the same window. Without `--home` a
facility is seeded into a temporary home. Prints one JSON object at the end: size, langs,
states, findings, count. A state that cannot be reached is a finding of rule "tour".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from kiosk_ui import offscreen


class Tour:
    def __init__(self, size: tuple[int, int], out: Path, EventLoop, Window):
        self.size, self.out = size, out
        self.EventLoop, self.Window = EventLoop, Window
        self.tag = f"{size[0]}x{size[1]}"
        self.lang = "fr"
        self.states: list[str] = []
        self.findings: list[dict] = []
        self.allow: set[str] = set()
        self.root = None
        self.patients = 60

    # -- driving -----------------------------------------------------------------------------
    def idle(self, n: int = 3) -> None:
        offscreen.idle(n)

    def wait(self, condition: Callable[[], bool], seconds: float = 15) -> bool:
        end = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > end:
                return False
            time.sleep(0.02)
            self.idle(1)
        return True

    def tap(self, widget) -> None:
        """A real touch at the widget's centre, scrolled into view first as a finger would."""
        from kivy.uix.scrollview import ScrollView

        holder = widget.parent
        while holder is not None and holder is not self.Window:
            if isinstance(holder, ScrollView):
                holder.scroll_to(widget, padding=0, animate=False)
                self.idle(2)
                break
            holder = holder.parent
        offscreen.tap(widget)
        self.idle(2)

    def settle(self) -> None:
        self.idle(4)
        for screen in getattr(self.root, "screens", {}).values():
            if getattr(screen, "loading", False):
                self.wait(lambda s=screen: not getattr(s, "loading", False), 10)
        self.idle(3)

    # -- recording ---------------------------------------------------------------------------
    def record(self, name: str) -> None:
        """Screenshot and layout check of the state shown now."""
        from kiosk_ui.layout_check import findings

        self.settle()
        state = f"{name}-{self.tag}-{self.lang}"
        self.states.append(state)
        target = self.out / f"{state}.png"
        try:
            offscreen.screenshot(target)
        except Exception as e:  # a screenshot failing must not hide the findings
            self.fail(state, f"screenshot: {e}")
        screen = self.root.current if self.root is not None else ""
        for f in findings(
            self.Window, self.size, self.lang, screen=screen, state=state, allow=self.allow
        ):
            self.findings.append(f.as_dict())

    def states_named(self, name: str) -> list[str]:
        return [s for s in self.states if s.startswith(f"{name}-{self.tag}-")]

    def fail(self, state: str, reason: str) -> None:
        self.findings.append(
            {
                "rule": "tour",
                "screen": self.root.current if self.root is not None else "",
                "state": state,
                "widget": "",
                "text": "",
                "detail": reason,
            }
        )

    def step(self, name: str, action: Callable[[], None]) -> None:
        """Run `action` then record the state; an exception is a "tour" finding."""
        try:
            action()
        except Exception as e:
            tb = traceback.extract_tb(e.__traceback__)[-1]
            self.fail(
                f"{name}-{self.tag}-{self.lang}",
                f"not reached: {type(e).__name__}: {e} ({Path(tb.filename).name}:{tb.lineno})",
            )
            self.dismiss_modals()
            return
        self.record(name)

    def dismiss_modals(self) -> None:
        from kivy.uix.modalview import ModalView

        for w in list(self.Window.children):
            if isinstance(w, ModalView):
                w.dismiss(animation=False)
        self.idle(3)


# --------------------------------------------------------------------------- the states
def run_tour(
    size: tuple[int, int], langs: list[str], out: Path, home: Path | None, patients: int
) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    EventLoop, Window = offscreen.open_window(*size)
    tour = Tour(size, out, EventLoop, Window)
    tour.patients = patients
    made_home = home is None
    if home is None:
        home = Path(tempfile.mkdtemp(prefix="kiosk-tour-"))
    try:
        return _tour(tour, size, langs, home)
    finally:
        if made_home:
            shutil.rmtree(home, ignore_errors=True)


def _tour(tour: Tour, size: tuple[int, int], langs: list[str], home: Path) -> dict:
    from appliance.paths import Paths
    from appliance.services import auth
    from appliance.services.context import Context
    from appliance.store import Store
    from kiosk_ui.app import build_root
    from kiosk_ui.viewmodels.state import KioskState

    Window = tour.Window
    patients = tour.patients
    database = Paths.for_home(home).database
    logins_file = home / "demo-logins.txt"
    if not database.exists():
        offscreen.seed_demo(home, patients=patients)
    logins = offscreen.read_logins(home) if logins_file.exists() else {}

    with Store(database) as store:
        tour.allow = proper_names(store)
        picks = pick_patients(store)
        state = KioskState(Context.open(store), data_dir=home)
        root = build_root(state, timers=False)
        tour.root = root
        Window.add_widget(root)
        tour.idle(5)
        for lang in langs:
            tour.lang = lang
            if state.lang != lang:
                root.toggle_lang()
            walk_states(tour, root, state, store, logins, picks, auth)
        root.stop()
        Window.remove_widget(root)
    for lang in langs:
        tour.lang = lang
        first_admin(tour, home)
    return {
        "size": tour.tag,
        "lang": ",".join(langs),
        "states": tour.states,
        "findings": tour.findings,
        "count": len(tour.findings),
    }


def proper_names(store) -> set[str]:
    """Names from the data (patients, villages, staff, facility): never counted as French."""
    names: set[str] = set()
    for row in store.query("SELECT family_name, given_names, village FROM patients"):
        for v in (row["family_name"], row["given_names"], row["village"]):
            if v:
                names.add(v)
                names.update(v.split())
    for row in store.query("SELECT display_name, username FROM staff"):
        names.update(row["display_name"].split())
        names.add(row["username"])
    for row in store.query("SELECT value FROM settings WHERE key LIKE '%name%'"):
        if row["value"]:
            names.update(str(row["value"]).split())
    return names


def pick_patients(store) -> dict:
    today = date.today()
    child = store.query_one(
        "SELECT id, family_name FROM patients WHERE birth_date > ? AND birth_date < ?"
        " ORDER BY birth_date",
        ((today - timedelta(days=4 * 365)).isoformat(), (today - timedelta(days=365)).isoformat()),
    )
    women = [
        r["id"]
        for r in store.query(
            "SELECT patient_id AS id FROM encounters WHERE type = 'anc'"
            " GROUP BY patient_id ORDER BY MAX(rowid) DESC LIMIT 4"
        )
    ]
    woman = {"id": women[0]} if women else None
    return {
        "child": child["id"] if child else None,
        "woman": woman["id"] if woman else None,
        "women": women,
        "child_family": child["family_name"] if child else "",
    }


def walk_states(tour: Tour, root, state, store, logins, picks, auth) -> None:
    from kivy.uix.button import Button
    from kivy.uix.spinner import Spinner

    login = root.screen("login")
    if not logins:
        tour.fail(f"login-{tour.tag}-{tour.lang}", "no demo-logins.txt in the home: cannot log in")
        return
    username, pin = logins.get("midwife") or next(iter(logins.values()))

    def to_login():
        state.actor = None
        root.lock()
        tour.dismiss_modals()

    tour.step("login", to_login)

    def pin_entry():
        tour.tap(login.staff_buttons[username])
        for digit in pin[:2]:
            tour.tap(login.pad.keys[digit])

    tour.step("pin", pin_entry)

    def clock():
        for _digit in range(2):
            login.pad.dispatch("on_backspace")
        for digit in pin:
            tour.tap(login.pad.keys[digit])
        tour.tap(login.pad.keys["ok"])
        if root.current == "home" and tour.states_named("clock"):
            root.go("clock")  # confirmed once a boot: shown again in the second language
        if root.current != "clock":
            raise RuntimeError(f"after the PIN the screen is {root.current!r}, not the clock")

    tour.step("clock", clock)

    def home():
        if root.current == "clock":
            tour.tap(root.screen("clock").confirm_button)
        if state.actor is None:
            state.actor = auth.login(state.ctx, username, pin=pin)
        root.go("home")
        tour.wait(lambda: root.screen("home").loaded)

    tour.step("home", home)

    search = root.screen("search")

    tour.step("search", lambda: root.go("search"))

    def search_keyboard():
        if root.current != "search":
            root.go("search")
        tour.idle(3)
        query = "".join(c for c in picks["child_family"].lower() if "a" <= c <= "z")[:4]
        tap_keys(tour, search.keyboard.vk, query)
        time.sleep(0.2)
        tour.wait(lambda: bool(search.result_buttons), 5)

    tour.step("search-keyboard", search_keyboard)

    def search_results():
        if search.keyboard.parent is not None:
            tour.tap(search.kb_button)
        if search.keyboard.parent is not None:
            raise RuntimeError("the keyboard button did not hide the keyboard")

    tour.step("search-results", search_results)

    record = root.screen("record")

    def record_top():
        if picks["child"] is None:
            raise RuntimeError("no child in the seeded data")
        root.go("record", patient_id=picks["child"])

    tour.step("record-top", record_top)

    def record_bottom():
        sv = scroll_of(record)
        if sv is None:
            raise RuntimeError("the record has no scroll view")
        sv.scroll_y = 0
        tour.idle(3)

    tour.step("record-bottom", record_bottom)

    from kiosk_ui.viewmodels.encounter import KIOSK_KINDS

    form = root.screen("encounter")
    nurse = logins.get("nurse")
    if nurse is not None:  # a role that may record every kind of visit (a midwife may not)
        state.actor = auth.login(state.ctx, nurse[0], pin=nurse[1])
    for kind in KIOSK_KINDS:
        patient = picks["woman"] if kind == "anc" else picks["child"]

        def encounter(kind=kind, patient=patient):
            if patient is None:
                raise RuntimeError(f"no patient for {kind}")
            root.go("encounter", patient_id=patient, kind=kind)

        tour.step(f"form-{kind}", encounter)

        def form_bottom():
            sv = getattr(form, "scroll", None) or scroll_of(form)
            sv.scroll_y = 0
            tour.idle(3)

        tour.step(f"form-{kind}-bottom", form_bottom)
        spinner = next((w for w in form.inputs.values() if isinstance(w, Spinner)), None)
        if spinner is not None and root.current == "encounter":

            def open_list(spinner=spinner):
                tour.tap(spinner)
                if not spinner.is_open:
                    raise RuntimeError("touching the list did not open it")

            tour.step(f"form-{kind}-list", open_list)
            spinner.is_open = False
            tour.dismiss_modals()

    def numpad():
        root.go("encounter", patient_id=picks["child"], kind="growth")
        field = next(iter(f for f in form.vm.fields if f["widget"] in ("number", "decimal")))
        tour.tap(form.inputs[field["name"]])
        pad = form.numpad
        tour.idle(3)
        for key in "12":
            tour.tap(pad.keys[key])

    tour.step("numpad", numpad)
    tour.dismiss_modals()

    def type_on_numpad(name: str, digits: str) -> None:
        tour.tap(form.inputs[name])
        pad = form.numpad
        tour.idle(2)
        for key in digits:
            tour.tap(pad.keys[key])
        tour.tap(pad.keys["ok"])
        tour.wait(lambda: pad.parent is None, 5)

    def anc_alert():
        # a woman of her own per language: an alert already recorded today is not live again
        women = picks["women"]
        if not women:
            raise RuntimeError("no ANC patient in the seeded data")
        woman = women[len(tour.states_named("form-anc-alert")) % len(women)]
        root.go("encounter", patient_id=woman, kind="anc")
        type_on_numpad("bp_systolic", "165")
        type_on_numpad("bp_diastolic", "112")
        signs = list(reversed(form.inputs["danger_signs"].children))
        tour.tap(signs[0])
        if not form.live_text:
            raise RuntimeError(
                f"no live feedback for BP 165/112 with a danger sign (values {form.vm.values})"
            )

    tour.step("form-anc-alert", anc_alert)

    def record_alert():
        tour.tap(form.save_button)
        if root.current != "record":
            raise RuntimeError(f"saving the ANC visit left the screen on {root.current!r}")

    tour.step("record-alert", record_alert)

    def home_alerts():
        root.go("encounter", patient_id=picks["child"], kind="growth")
        type_on_numpad("weight_kg", "11")  # left unsaved: a draft on the home screen
        tour.tap(root.header.home_button)
        tour.wait(lambda: root.screen("home").loaded)
        if not root.screen("home").vm.alerts:
            raise RuntimeError("no alert on the home screen after an ANC visit with danger signs")

    tour.step("home-alerts", home_alerts)

    register = root.screen("register")

    def register_errors():
        root.go("register")
        tour.idle(3)
        tour.tap(register.save_button)

    tour.step("register-errors", register_errors)

    def register_keyboard():
        from kivy.uix.textinput import TextInput

        field = next(w for w in register.inputs.values() if isinstance(w, TextInput))
        tour.tap(field)
        tour.idle(3)
        if not register.keyboard_shown:
            raise RuntimeError("touching a text field did not show the keyboard")

    tour.step("register-keyboard", register_keyboard)

    def register_last():
        from kivy.uix.textinput import TextInput

        fields = [w for w in register.inputs.values() if isinstance(w, TextInput)]
        tour.tap(fields[-1])
        tour.idle(3)
        if not fields[-1].focus:
            raise RuntimeError("touching the last text field did not focus it")

    tour.step("register-keyboard-last", register_last)
    with contextlib.suppress(Exception):  # the next states do not need it hidden
        register.hide_keyboard()

    def register_numpad():
        name = next(
            n
            for n, w in register.inputs.items()
            if isinstance(w, Button) and n != "accept_duplicates"
        )
        tour.tap(register.inputs[name])
        tour.idle(3)
        pad = getattr(register, "numpad", None)
        if pad is None or pad.parent is None:
            raise RuntimeError(f"touching {name} did not open the number pad")
        for key in "3":
            tour.tap(pad.keys[key])

    tour.step("register-numpad", register_numpad)
    tour.dismiss_modals()

    due = root.screen("due")
    from kiosk_ui.screens.lists import LISTS

    for name in LISTS:

        def due_list(name=name):
            root.go("due", list=name)

        tour.step(f"due-{name}", due_list)

    def villages():
        tour.tap(due.village_button)

    tour.step("due-villages", villages)

    tour.step("status", lambda: root.go("status"))

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

    def banner():
        root.go("home")
        store.power.set_state(row)
        root.poll_power()
        if not root.banner.text:
            raise RuntimeError("no power banner for a low battery")

    tour.step("power-banner", banner)

    def countdown():
        root.go("encounter", patient_id=picks["child"], kind="growth")
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
        if root.countdown.parent is None:
            raise RuntimeError("no countdown overlay for a pending shutdown")

    tour.step("countdown", countdown)

    def countdown_matron():
        matron = logins.get("matron")
        if matron is None:
            raise RuntimeError("no matron among the demo logins")
        state.actor = auth.login(state.ctx, matron[0], pin=matron[1])
        root.show_countdown()
        if root.countdown.parent is None:
            raise RuntimeError("no countdown overlay for a matron")

    tour.step("countdown-matron", countdown_matron)
    state.actor = auth.login(state.ctx, username, pin=pin)
    store.power.set_state({**row, "state": "ok", "soc": 80})
    root.poll_power()
    try:
        for name in ("encounter", "register"):
            screen = root.screen(name)
            if getattr(screen, "vm", None) is not None and hasattr(screen, "cancel"):
                pass
        root.go("home")
    except Exception:
        pass


def first_admin(tour: Tour, home: Path) -> None:
    """The first admin's PIN screen: an unprovisioned facility (settings, no staff)."""
    from appliance.services.context import Context
    from appliance.store import Store
    from kiosk_ui.app import build_root
    from kiosk_ui.viewmodels.first_admin import ADMIN_NAME_SETTING, ADMIN_USERNAME_SETTING
    from kiosk_ui.viewmodels.state import KioskState

    folder = Path(tempfile.mkdtemp(prefix="kiosk-first-admin-", dir=home))
    name = f"first-admin-{tour.tag}-{tour.lang}"
    try:
        with Store(folder / "keneya.db", create=True) as store:
            store.set_setting("facility_code", "KLB")
            store.set_settings(
                {ADMIN_USERNAME_SETTING: "awa.traore", ADMIN_NAME_SETTING: "Awa Traoré"}
            )
            tour.allow.update({"Awa", "Traoré", "awa.traore"})
            state = KioskState(
                Context.open(store), lang=tour.lang, data_dir=folder, config_dir=folder
            )
            root = build_root(state, timers=False)
            tour.root = root
            tour.Window.add_widget(root)
            tour.idle(3)
            login = root.screen("login")
            for digit in "58":
                tour.tap(login.pad.keys[digit])
            tour.record("first-admin")
            root.stop()
            tour.Window.remove_widget(root)
    except Exception as e:
        tour.fail(name, f"not reached: {type(e).__name__}: {e}")


def scroll_of(screen):
    from kivy.uix.scrollview import ScrollView

    return next((w for w in screen.walk(restrict=True) if isinstance(w, ScrollView)), None)


def tap_keys(tour: Tour, vk, text: str) -> None:
    """Real touches on the VKeyboard keys that type `text` in its current mode."""
    layout = vk.available_layouts[vk.layout]
    w, h = vk.size
    for char in text:
        for line in range(1, layout["rows"] + 1):
            keys = layout[f"{vk.layout_mode}_{line}"]
            hit = next((i for i, k in enumerate(keys) if k[1] == char), None)
            if hit is not None:
                (xh, yh), (wh, hh) = vk.layout_geometry[f"LINE_HINT_{line}"][hit]
                offscreen.tap_at(*vk.to_window((xh + wh / 2) * w, (yh + hh / 2) * h))
                tour.idle(2)
                break
        else:
            raise LookupError(f"no key types {char!r}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="kiosk_ui.tour", description=__doc__.split("\n")[0])
    p.add_argument("--size", default="800x480", help="WIDTHxHEIGHT of the window")
    p.add_argument("--lang", default="fr", help="fr, en or fr,en")
    p.add_argument("--out", required=True, type=Path, help="folder for the screenshots")
    p.add_argument("--home", type=Path, help="a seeded Keneya home (default: seed one)")
    p.add_argument("--patients", type=int, default=60, help="patients to seed (default 60)")
    args = p.parse_args(argv)
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        print(f"--size {args.size!r}: expected WIDTHxHEIGHT, e.g. 800x480", file=sys.stderr)
        return 2
    langs = [x.strip() for x in args.lang.split(",") if x.strip()]
    if not langs or any(x not in ("fr", "en") for x in langs):
        print(f"--lang {args.lang!r}: expected fr, en or fr,en", file=sys.stderr)
        return 2
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    result = run_tour((w, h), langs, args.out, args.home, args.patients)
    for f in result["findings"]:
        print(
            f"[{f['rule']}] {f['state']}: {f['widget']} {f['text']!r} — {f['detail']}",
            file=sys.__stderr__,
        )
    print(json.dumps(result, ensure_ascii=False), file=sys.__stdout__)
    return 0


def exit_now(status: int) -> None:
    """Leave without the interpreter's teardown: Kivy's GL objects freed at exit after the
    window has gone can crash the process (seen here with the offscreen driver), and the
    result is already printed."""
    sys.__stdout__.flush()
    sys.__stderr__.flush()
    os._exit(status)


if __name__ == "__main__":
    exit_now(main())
