"""The shutdown countdown in a real offscreen Kivy window at 800x480: "Enregistrer" saves the
open form (or keeps it as its draft), "Annuler l'arrêt" is offered to the roles the permission
table allows and cancels through the audited service, and a tap beside the buttons reaches
nothing underneath.

Kivy's Window is a process-wide singleton, so the scenario runs in a subprocess (this file is
also the script) and prints one JSON line of what it saw. Screenshots go to
test-artifacts/kiosk/power/ (a folder of their own: test_kiosk_window.py empties kiosk/).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-artifacts" / "kiosk" / "power"


@pytest.mark.e2e
def test_countdown_overlay_saves_and_cancels(run_kiosk_script) -> None:
    seen = run_kiosk_script(__file__, SHOTS, clear=True)

    assert seen["window"] == [800, 480]
    # the countdown with both buttons for a nurse, inside the window and big
    assert seen["shown"] and seen["countdown"].startswith("Arrêt dans 1:4")
    assert seen["buttons"] == ["Enregistrer", "Annuler l'arrêt"]
    for x, y, w, h in seen["button_boxes"]:
        assert w >= 300 and h >= 90, seen["button_boxes"]
        assert x >= 0 and y >= 0 and x + w <= 800 and y + h <= 480
        assert y >= 70, "the overlay's buttons lie over the form's own button row"
    # a tap beside the buttons reaches nothing: same screen, same values, no record
    assert seen["after_stray_tap"] == {"screen": "encounter", "weight": "11.4", "saved": 0}
    # Enregistrer on a complete form: the visit is recorded, the draft gone
    assert seen["growth_saved"] == 1 and seen["growth_drafts"] == 0
    assert seen["screen_after_save"] == "record" and seen["message_after_save"] == "Enregistré"
    # Enregistrer on a form that cannot be saved as it is: kept as its draft
    assert seen["consultation_saved"] == 0
    assert seen["consultation_draft"] == {"temperature_c": "39.2"}
    assert seen["message_after_draft"].startswith("Enregistré comme brouillon")
    # a registration is the form's own save: refused while incomplete, then recorded
    assert seen["register_incomplete"] == [
        "register",
        "Pas enregistré : le formulaire est incomplet ou le patient existe déjà",
    ]
    assert seen["register_saved"] == ["record", "Enregistré"] and seen["registered"] == 1
    # a matron may not cancel: no button, a line saying who may
    assert seen["matron_buttons"] == ["Enregistrer"]
    assert "Infirmier" in seen["matron_note"] and "Matrone" not in seen["matron_note"]
    # the countdown, the message and the two-line note all whole inside the 800x480 window
    for text, (x, y, right, top), (tw, th) in seen["matron_texts"]:
        assert text and x >= 0 and y >= 0 and right <= 800 and top <= 480, (text, x, y, top)
        assert tw <= right - x + 1 and th <= top - y + 1, (text, tw, th, right - x, top - y)
    # logged out, the PIN pad stays reachable; the banner counts down
    assert seen["locked_overlay"] is False and seen["locked_banner"].startswith("Arrêt dans")
    # the nurse cancels: request + audit row, the overlay goes, the banner says who
    assert seen["cancel_requested_by"] == seen["nurse"]
    assert seen["cancel_for"] == seen["shutdown_event_id"]
    assert seen["audit"] == [[seen["nurse"], "nurse"]]
    assert seen["overlay_after_cancel"] is False
    assert seen["banner_after_cancel"] == f"Arrêt annulé par {seen['nurse_name']}"
    # a wiring fault: one line for staff (wrapped, the strip grows), the detail on the status
    assert seen["miswired_banner"] == (
        "Capteur batterie mal branché ou mal réglé — voir l'écran technicien"
    )
    assert seen["status_fault"] == "wrong_shunt — valeur de shunt fausse dans [power]"
    assert seen["status_detail"].startswith("night current -3.25 A")
    assert seen["status_reason"] == "battery at the shutdown threshold"
    assert seen["status_runtime"] == "40 h"
    assert seen["detail_fits"], "the fault's detail is cut on the status screen"
    # keneya-power killed mid-countdown: no overlay, the silent monitor's banner, the header's
    # "Verrouiller" and the PIN pad answer real taps, the status screen says since when
    assert seen["live_overlay"] is True and seen["silent_overlay"] is False
    assert seen["silent_banner"] == "Surveillance de la batterie arrêtée — prévenez le technicien"
    assert seen["silent_after_lock"] == ["login", False]
    assert seen["silent_relogin"][0] == seen["matron"]
    assert seen["silent_relogin"][1] != "login" and seen["silent_relogin"][2] is False
    assert seen["status_silent"] == (
        f"le moniteur de batterie ne répond plus depuis {seen['status_silent_since']} (UTC)"
    )
    assert seen["status_silent_state"] == "arrêt programmé (dernier état écrit)"
    assert seen["status_deadline"] == f"{seen['status_deadline_expected']} (UTC)"
    shots = ("overlay-nurse", "overlay-matron", "overlay-saved", "after-cancel")
    for name in (*shots, "banner-miswired", "status-fault", "silent-matron", "status-silent"):
        png = SHOTS / f"{name}.png"
        assert png.exists() and png.stat().st_size > 5000, name


# --------------------------------------------------------------------------- the scenario
def _scenario(home: Path, out: Path) -> dict:
    from conftest import kiosk_window, seed_with_logins

    from kiosk_ui import offscreen

    EventLoop, Window = kiosk_window(800, 480)

    from appliance.paths import Paths
    from appliance.services import auth, drafts
    from appliance.services.context import Context
    from appliance.store import Store
    from kiosk_ui.app import build_root
    from kiosk_ui.viewmodels.state import KioskState

    database = Paths.for_home(home).database
    logins = seed_with_logins(home, database, patients=40, years=2)
    seen: dict = {"window": list(Window.size)}

    idle = offscreen.idle

    def tap_at(x: float, y: float) -> None:
        offscreen.tap_at(x, y)
        idle(2)

    def tap(widget) -> None:
        tap_at(*widget.to_window(*widget.center))

    def shot(name: str) -> None:
        idle(3)
        offscreen.screenshot(out / f"{name}.png")

    def shown_buttons(overlay) -> list[str]:
        return [b.text for b in reversed(overlay.buttons.children)]

    with Store(database) as store:
        today = date.today()
        child = store.query_one(
            "SELECT id FROM patients WHERE birth_date > ? AND birth_date < ? ORDER BY birth_date",
            (
                (today - timedelta(days=4 * 365)).isoformat(),
                (today - timedelta(days=365)).isoformat(),
            ),
        )
        state = KioskState(Context.open(store), data_dir=home)
        root = build_root(state, timers=False)
        Window.add_widget(root)
        idle(5)
        nurse = auth.login(state.ctx, *logins["nurse"][:1], pin=logins["nurse"][1])
        matron = auth.login(state.ctx, *logins["matron"][:1], pin=logins["matron"][1])
        seen["nurse"], seen["nurse_name"] = nurse.username, nurse.display_name
        seen["matron"] = matron.username
        state.actor = nurse
        root.go("home")

        def growth_count() -> int:
            """Growth visits recorded for the child in this scenario."""
            return (
                store.query_one(
                    "SELECT COUNT(*) AS n FROM encounters WHERE patient_id = ? AND type = 'growth'",
                    (child["id"],),
                )["n"]
                - seeded
            )

        seeded = 0
        seeded = growth_count()

        # ---- a growth visit being typed when the countdown starts
        root.go("encounter", patient_id=child["id"], kind="growth")
        form = root.screen("encounter")
        form.change("weight_kg", "11.4")
        idle(3)
        eid = store.power.add_event(
            {"at": datetime.now(UTC).isoformat(), "clock_trusted": 1, "kind": "shutdown_decided"}
        )
        seen["shutdown_event_id"] = eid
        pending = {
            "sampled_at": datetime.now(UTC).isoformat(),
            "clock_trusted": True,
            "source": "test",
            "voltage_v": 11.5,
            "soc": 9,
            "runtime_min": 2,
            "charging": False,
            "state": "shutdown_pending",
            "reason": "battery at the shutdown threshold",
            "shutdown_event_id": eid,
            "shutdown_deadline": (datetime.now(UTC) + timedelta(seconds=105)).isoformat(),
        }
        store.power.set_state(pending, clear_cancel=True)
        root.poll_power()
        overlay = root.countdown
        idle(3)
        seen["shown"] = overlay.parent is not None
        seen["countdown"] = overlay.text
        seen["buttons"] = shown_buttons(overlay)
        seen["button_boxes"] = [
            [*b.to_window(b.x, b.y), b.width, b.height] for b in reversed(overlay.buttons.children)
        ]
        shot("overlay-nurse")

        # ---- a tap beside the buttons, where the form's own "Annuler" lies underneath
        under = form.cancel_button
        tap_at(*under.to_window(*under.center))
        seen["after_stray_tap"] = {
            "screen": root.current,
            "weight": form.vm.values.get("weight_kg"),
            "saved": growth_count(),
        }

        # ---- Enregistrer: the form's own save
        tap(overlay.save_button)
        seen["growth_saved"] = growth_count()
        seen["growth_drafts"] = sum(
            1 for d in drafts.pending(state.ctx, nurse) if d["kind"] == "growth"
        )
        seen["screen_after_save"] = root.current
        seen["message_after_save"] = overlay.message.text
        shot("overlay-saved")

        # ---- a consultation without its diagnosis cannot be saved: its draft is kept
        root.go("encounter", patient_id=child["id"], kind="consultation")
        root.show_countdown()
        form.change("temperature_c", "39.2")
        idle(3)  # the save button came back: laid out on the next frame
        before = store.query_one("SELECT COUNT(*) AS n FROM encounters")["n"]
        tap(overlay.save_button)
        seen["consultation_saved"] = (
            store.query_one("SELECT COUNT(*) AS n FROM encounters")["n"] - before
        )
        draft = next(
            (d for d in drafts.pending(state.ctx, nurse) if d["kind"] == "consultation"), None
        )
        seen["consultation_draft"] = (
            {"temperature_c": draft["data"].get("temperature_c")} if draft else None
        )
        seen["message_after_draft"] = overlay.message.text

        # ---- a registration: refused while incomplete, then saved
        root.go("register")
        root.show_countdown()
        idle(3)
        tap(overlay.save_button)
        seen["register_incomplete"] = [root.current, overlay.message.text]
        register = root.screen("register")
        for name, value in (
            ("family_name", "Sangaré"),
            ("given_names", "Oumou Kalsoum"),
            ("sex", "F"),
            ("age_years", "27"),
            ("village", "Sirakoro"),
        ):
            register.set(name, value)
        tap(overlay.save_button)
        seen["register_saved"] = [root.current, overlay.message.text]
        seen["registered"] = store.query_one(
            "SELECT COUNT(*) AS n FROM patients WHERE given_names = 'Oumou Kalsoum'"
        )["n"]
        root.go("encounter", patient_id=child["id"], kind="consultation")

        # ---- a matron sees who may cancel
        state.actor = matron
        root.show_countdown()
        idle(3)
        seen["matron_buttons"] = shown_buttons(overlay)
        seen["matron_note"] = overlay.note.text
        seen["matron_texts"] = [
            [
                w.text,
                [*w.to_window(w.x, w.y), *w.to_window(w.right, w.top)],
                list(w.texture_size),
            ]
            for w in (overlay.label, overlay.message, overlay.note)
        ]
        shot("overlay-matron")

        # ---- locked: no overlay over the PIN pad, the banner counts down
        state.actor = matron
        root.lock()
        idle(3)
        seen["locked_overlay"] = overlay.parent is not None
        seen["locked_banner"] = root.banner.text

        # ---- the nurse logs in again and cancels
        state.actor = nurse
        root.logged_in(clock=False)
        idle(3)
        tap(overlay.cancel_button)
        row = store.power.state()
        seen["cancel_requested_by"] = row["cancel_requested_by"]
        seen["cancel_for"] = row["cancel_for"]
        seen["audit"] = [
            [a["username"], a["role"]]
            for a in store.query("SELECT * FROM audit WHERE action = 'power.cancel_shutdown'")
        ]
        seen["overlay_after_cancel"] = overlay.parent is not None
        seen["banner_after_cancel"] = root.banner.text
        shot("after-cancel")

        # ---- a miswired sensor: staff are sent to the technician screen, which says what
        store.power.set_state(
            {
                **pending,
                "state": "ok",
                "soc": 80,
                "runtime_min": 2400,
                "fault": "wrong_shunt",
                "fault_detail": "night current -3.25 A is 4x the appliance's highest draw:"
                " the board's shunt looks like 0.1 ohm, [power] shunt_ohms says 0.01",
                "shutdown_event_id": None,
                "shutdown_deadline": None,
            },
            clear_cancel=True,
        )
        root.poll_power()
        seen["miswired_banner"] = root.banner.text
        seen["miswired_banner_h"] = root.banner.height
        shot("banner-miswired")
        state.actor = auth.login(state.ctx, *logins["technician"][:1], pin=logins["technician"][1])
        root.go("status")
        idle(5)
        status_screen = root.screen("status")
        detail = next(
            w
            for w in status_screen.content.walk()
            if getattr(w, "text", "").startswith("night current")
        )
        seen["detail_fits"] = detail.texture_size[1] <= detail.parent.height
        status_screen.content.parent.scroll_to(detail, padding=0, animate=False)
        status_rows = dict(root.screen("status").vm.sections[0]["rows"])
        seen["status_fault"] = status_rows.get("Défaut du capteur")
        seen["status_detail"] = status_rows.get("Détail (technicien, en anglais)")
        seen["status_reason"] = status_rows.get("Raison (technicien, en anglais)")
        seen["status_runtime"] = status_rows.get("Autonomie")
        shot("status-fault")

        # ---- keneya-power killed during a countdown: its row stays "shutdown_pending" with a
        # deadline long gone. No overlay, no frozen 0:00: the header and the PIN pad work.
        state.actor = matron
        root.go("home")
        store.power.set_state(
            {
                **pending,
                "sampled_at": datetime.now(UTC).isoformat(),
                "shutdown_deadline": (datetime.now(UTC) + timedelta(seconds=105)).isoformat(),
            },
            clear_cancel=True,
        )
        root.poll_power()
        seen["live_overlay"] = root.countdown.parent is not None  # the countdown, covering all
        killed_at = datetime.now(UTC) - timedelta(minutes=10)
        eid = store.power.add_event(
            {"at": killed_at.isoformat(), "clock_trusted": 1, "kind": "shutdown_decided"}
        )
        store.power.set_state(
            {
                **pending,
                "sampled_at": killed_at.isoformat(),
                "voltage_v": 11.3,
                "shutdown_event_id": eid,
                "shutdown_deadline": (killed_at + timedelta(seconds=105)).isoformat(),
            },
            clear_cancel=True,
        )
        state.actor = matron
        root.go("home")
        root.poll_power()
        idle(3)
        seen["silent_overlay"] = root.countdown.parent is not None
        seen["silent_banner"] = root.banner.text
        shot("silent-matron")
        tap(root.header.lock_button)  # a real tap on "Verrouiller"
        seen["silent_after_lock"] = [root.current, state.actor is not None]
        login = root.screen("login")
        tap(login.staff_buttons[logins["matron"][0]])
        for digit in logins["matron"][1]:
            tap(login.pad.keys[digit])
        shot("silent-login")
        tap(login.pad.ok)
        idle(3)
        seen["silent_relogin"] = [
            state.actor.username if state.actor else None,
            root.current,
            root.countdown.parent is not None,
        ]
        state.actor = auth.login(state.ctx, *logins["technician"][:1], pin=logins["technician"][1])
        root.go("status")
        idle(5)
        silent_rows = dict(root.screen("status").vm.sections[0]["rows"])
        seen["status_silent"] = silent_rows.get("Surveillance de la batterie")
        seen["status_silent_state"] = silent_rows.get("État")
        seen["status_silent_since"] = killed_at.strftime("%H:%M")
        seen["status_deadline"] = silent_rows.get("Arrêt prévu")
        seen["status_deadline_expected"] = (killed_at + timedelta(seconds=105)).strftime("%H:%M")
        root.screen("status").content.parent.scroll_y = 1
        shot("status-silent")
        root.stop()
    return seen


if __name__ == "__main__":
    from conftest import kiosk_script_main

    kiosk_script_main(_scenario)
