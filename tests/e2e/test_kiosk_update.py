"""The update on the kiosk's status screen in a real offscreen Kivy window at 800x480: the
admin's « Installer et redémarrer » under the title, its question (Annuler starts nothing,
Installer asks the root unit through the web app's service and leaves an audit row), the
progress bar following the state file with the screen's poll, a nurse's note instead of the
button, a refusal as one French line; each state passes the layout check (kiosk_ui.layout_check).

The unit's start is replaced in the script (no systemctl). Kivy's Window is a process-wide
singleton, so the scenario runs in a subprocess (this file is also the script) and prints one
JSON line of what it saw. Screenshots go to test-artifacts/kiosk/update/.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-artifacts" / "kiosk" / "update"
SLOTS = {"A": {"state": "good", "version": "1.0.0"}, "B": {"state": "empty"}}
OFFER = {"version": "1.1.0", "file": "/media/usb/keneya-1.1.0.raucb", "bytes": 210_000_000}
PROGRESS = {"percent": 42, "step": "Copying image to rootfs.1", "at": "2026-10-15T09:31:00"}
UNIT = "keneya-update-install.service"


@pytest.mark.e2e
def test_the_admin_installs_the_update_from_the_status_screen(run_kiosk_script) -> None:
    seen = run_kiosk_script(__file__, SHOTS, clear=True)

    assert seen["window"] == [800, 480]
    # the offer and its button under the title, seen without scrolling, big enough
    offer = seen["offer"]
    assert offer["offer_text"] == "Mise à jour disponible : version 1.1.0"
    assert offer["button"] == "Installer et redémarrer"
    x, y, right, top = offer["button_box"]
    assert x >= 0 and right <= 800 and y >= 0 and top <= 480 - 60, offer["button_box"]
    assert right - x >= 300 and top - y >= 56
    assert offer["findings"] == []
    # the question first; Annuler starts nothing
    confirm = seen["confirm"]
    assert confirm["question"] == (
        "Installer la version 1.1.0 et redémarrer ? Les dossiers sont sauvegardés d'abord."
    )
    assert confirm["buttons"] == ["Annuler", "Installer"]
    for bx, by, br, bt in confirm["button_boxes"]:
        assert bx >= 0 and by >= 0 and br <= 800 and bt <= 480 and bt - by >= 56
    assert confirm["findings"] == []
    assert seen["after_cancel"] == {"panel": False, "started": [], "audit": 0}
    # Installer: the unit started once, the audit row, the line saying so, no button left
    asked = seen["requested"]
    assert asked["started"] == [UNIT]
    assert asked["audit"] == [[seen["admin"], {"version": "1.1.0"}]]
    assert asked["message"] == "Installation lancée : l'appareil redémarrera seul à la fin."
    assert asked["button_shown"] is False and asked["polling"] is True
    assert asked["findings"] == []
    # root writes its percent: the screen's poll shows it on the bar and in the section
    progress = seen["progress"]
    assert progress["refreshed"], "the bar did not follow the state file"
    assert progress["bar"] == [42, 100] and abs(progress["share"] - 0.42) < 1e-6
    assert progress["text"] == "Installation en cours : 42 % — Copying image to rootfs.1"
    assert "42 % Copying image to rootfs.1" in progress["section"]
    assert progress["button_shown"] is False
    bx, by, br, bt = progress["bar_box"]
    assert bx >= 0 and br <= 800 and bt <= 480 - 60 and bt - by >= 24
    assert progress["findings"] == [] and progress["section_findings"] == []
    # a nurse: the offer, no button, who may install
    nurse = seen["nurse"]
    assert nurse["button_shown"] is False
    assert nurse["note"] == "Seuls ces rôles peuvent installer une mise à jour : Administrateur"
    assert nurse["findings"] == []
    # the unit cannot start (not on the Pi): one French line, no traceback, button back
    error = seen["error"]
    assert error["error"] == "impossible de lancer l'installation (pas sur l'appareil ?)"
    assert error["button_shown"] is True and error["findings"] == []
    # in English the block and the question are English and fit
    assert seen["english"]["button"] == "Install and restart"
    assert seen["english"]["findings"] == []
    # leaving the screen stops the poll and closes the question
    assert seen["left"] == {"polling": False, "panel": False}
    shots = ("offer-admin", "confirm", "requested", "progress", "progress-section")
    for name in (*shots, "offer-nurse", "error", "confirm-en"):
        png = SHOTS / f"{name}.png"
        assert png.exists() and png.stat().st_size > 5000, name


# --------------------------------------------------------------------------- the scenario
def _scenario(home: Path, out: Path) -> dict:
    from conftest import kiosk_window, seed_with_logins

    from kiosk_ui import offscreen

    EventLoop, Window = kiosk_window(800, 480)

    from kivy.uix.modalview import ModalView

    from appliance.paths import Paths
    from appliance.services import auth, update_state
    from appliance.services.context import Context
    from appliance.store import Store
    from kiosk_ui.app import build_root
    from kiosk_ui.layout_check import findings
    from kiosk_ui.tour import proper_names
    from kiosk_ui.viewmodels.state import KioskState

    database = Paths.for_home(home).database
    logins = seed_with_logins(home, database, patients=8, years=1)
    seen: dict = {"window": list(Window.size)}
    started: list[str] = []
    unit_starts = [True]

    def start(unit: str) -> bool:  # systemctl's place: records the unit, never runs it
        started.append(unit)
        return unit_starts[0]

    update_state.start_unit = start

    idle = offscreen.idle

    def tap(widget) -> None:
        offscreen.tap(widget)
        idle(3)

    def shot(name: str) -> None:
        idle(3)
        offscreen.screenshot(out / f"{name}.png")

    def write(**state) -> None:
        (home / "update").mkdir(exist_ok=True)
        (home / "update" / "state.json").write_text(
            json.dumps({"booted": "A", "slots": SLOTS, **state}), encoding="utf-8"
        )

    def box(widget) -> list[float]:
        x, y = widget.to_window(widget.x, widget.y)
        return [x, y, x + widget.width, y + widget.height]

    def panel():
        return next((w for w in Window.children if isinstance(w, ModalView)), None)

    with Store(database) as store:
        allow = proper_names(store)

        def check(name: str, lang: str = "fr", root_widget=None) -> list[str]:
            idle(3)
            return [
                str(f)
                for f in findings(
                    root_widget or Window,
                    (800, 480),
                    lang,
                    screen="status",
                    state=name,
                    allow=allow,
                )
            ]

        def audit() -> list:
            return [
                [r["username"], json.loads(r["detail"])]
                for r in store.query(
                    "SELECT username, detail FROM audit WHERE action = 'update.install'"
                )
            ]

        state = KioskState(Context.open(store), data_dir=home)
        root = build_root(state, timers=False)
        Window.add_widget(root)
        idle(5)
        admin = auth.login(state.ctx, logins["admin"][0], pin=logins["admin"][1])
        nurse = auth.login(state.ctx, logins["nurse"][0], pin=logins["nurse"][1])
        seen["admin"] = admin.username
        status = root.screen("status")
        block = status.update_block

        # ---- an offer, the admin
        write(offer=OFFER)
        state.actor = admin
        root.go("status")
        idle(5)
        button = status.install_button
        seen["offer"] = {
            "offer_text": status.offer_text.text if status.offer_text.parent is block else None,
            "button": button.text if button.parent is block else None,
            "button_box": box(button),
            "findings": check("offer-admin"),
        }
        shot("offer-admin")

        # ---- the question, then Annuler
        tap(button)
        asked = panel()
        seen["confirm"] = {
            "question": asked.question.text if asked else None,
            "buttons": [asked.cancel_button.text, asked.confirm_button.text] if asked else [],
            "button_boxes": [box(asked.cancel_button), box(asked.confirm_button)] if asked else [],
            "findings": check("confirm"),
        }
        shot("confirm")
        tap(asked.cancel_button)
        seen["after_cancel"] = {"panel": panel() is not None, "started": list(started)}
        seen["after_cancel"]["audit"] = len(audit())

        # ---- the question again, then Installer
        tap(button)
        tap(panel().confirm_button)
        seen["requested"] = {
            "started": list(started),
            "audit": audit(),
            "message": status.update_message.text if status.update_message.parent else None,
            "button_shown": button.parent is not None,
            "polling": status._poll is not None,
            "findings": check("requested"),
        }
        shot("requested")

        # ---- root writes its progress; the screen's own poll picks it up
        write(offer=OFFER, progress=PROGRESS)
        bar = status.progress_bar
        end = time.monotonic() + 15
        while bar.parent is None and time.monotonic() < end:
            time.sleep(0.05)
            idle(1)
        section = [w.text for w in status.update_rows.walk(restrict=True) if getattr(w, "text", "")]
        seen["progress"] = {
            "refreshed": bar.parent is block,
            "bar": [bar.value, bar.max],
            "share": bar.share,
            "bar_box": box(bar),
            "text": status.progress_text.text,
            "section": " | ".join(section),
            "button_shown": button.parent is not None,
            "findings": check("progress"),
        }
        shot("progress")
        status.content.parent.scroll_y = 0  # the "Mises à jour" section, at the page's end
        seen["progress"]["section_findings"] = check("progress-section")
        shot("progress-section")
        status.content.parent.scroll_y = 1

        # ---- a nurse sees the offer and who may install it
        write(offer=OFFER)
        state.actor = nurse
        root.go("home")
        root.go("status")
        idle(5)
        seen["nurse"] = {
            "button_shown": button.parent is not None,
            "note": status.update_note.text if status.update_note.parent is block else None,
            "findings": check("offer-nurse"),
        }
        shot("offer-nurse")

        # ---- the unit cannot be started: the refusal in one line
        unit_starts[0] = False
        state.actor = admin
        root.go("home")
        root.go("status")
        idle(5)
        tap(status.install_button)
        tap(panel().confirm_button)
        seen["error"] = {
            "error": status.update_error.text if status.update_error.parent is block else None,
            "button_shown": status.install_button.parent is block,
            "findings": check("error"),
        }
        shot("error")

        # ---- English: the block and the question
        root.toggle_lang()
        idle(3)
        english = check("offer-admin-en", "en", block)
        tap(status.install_button)
        english += check("confirm-en", "en", panel())
        seen["english"] = {"button": status.install_button.text, "findings": english}
        shot("confirm-en")

        # ---- leaving with the question open
        root.go("home")
        idle(3)
        seen["left"] = {"polling": status._poll is not None, "panel": panel() is not None}
        root.toggle_lang()
        root.stop()
    return seen


if __name__ == "__main__":
    from conftest import kiosk_script_main

    kiosk_script_main(_scenario)
