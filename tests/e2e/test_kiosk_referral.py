"""Referral on the kiosk in a real offscreen Kivy window at 800x480: a woman with severe
hypertension at her antenatal visit; her record offers « Référer au CSRéf », the form comes
with the reason the alert suggests, urgent, today's blood pressure and the one receiving
centre chosen; the midwife ticks the SMS consent and saves; the SMS is queued with no name; the
record lists the referral; eleven days later the home screen's line leads to the late list.
Each state passes the layout check in French, the form in English too.

Kivy's Window is a process-wide singleton, so the scenario runs in a subprocess (this file is
also the script) and prints one JSON line of what it saw. Screenshots go to
test-artifacts/kiosk/referral/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-artifacts" / "kiosk" / "referral"
FACILITY = """
[referral]
return_after_days = 10
[[referral.receiving]]
code = "KATI"
name = "CSRéf de Kati"
phone = "+22376000001"
"""


@pytest.mark.e2e
def test_a_midwife_refers_from_the_record_on_the_kiosk(run_kiosk_script) -> None:
    seen = run_kiosk_script(__file__, SHOTS, clear=True)

    assert seen["window"] == [800, 480]
    x, y, right, top = seen["refer_button"]
    assert x >= 0 and right <= 800 and y >= 0 and top <= 480 and top - y >= 48
    assert seen["record_findings"] == []
    form = seen["form"]
    assert form["reason"] == ["severe_preeclampsia"] and form["urgency"] == ["urgent"]
    assert form["to_facility"] == ["KATI"] and form["transport"] == ["ambulance"]
    assert "170/112" in form["vitals"]
    assert form["findings"] == [] and form["findings_bottom"] == []
    saved = seen["saved"]
    assert saved["sms_status"] == "queued" and saved["sms_phone"] == "+22376000001"
    assert saved["name_in_sms"] is False and saved["urgent"] is True
    assert any("SMS en attente du réseau" in line for line in saved["lines"])
    assert saved["findings"] == []
    assert any("en attente de contre-référence" in line for line in seen["record_lines"])
    assert seen["home_line"] == "Références sans retour : 1"
    assert seen["late"][0].endswith("EN RETARD")
    assert seen["late_findings"] == []
    assert seen["english_findings"] == []
    for name in ("record", "form", "form-bottom", "saved", "late", "form-en"):
        png = SHOTS / f"{name}.png"
        assert png.exists() and png.stat().st_size > 5000, name


def _scenario(home: Path, out: Path) -> dict:
    from datetime import timedelta

    from conftest import kiosk_window, seed_with_logins

    from kiosk_ui import offscreen

    EventLoop, Window = kiosk_window(800, 480)

    from appliance.paths import Paths
    from appliance.services import auth, encounters, patients
    from appliance.services.context import Context
    from appliance.store import Store
    from kiosk_ui.app import build_root
    from kiosk_ui.layout_check import findings
    from kiosk_ui.tour import proper_names
    from kiosk_ui.viewmodels.state import KioskState

    paths = Paths.for_home(home)
    logins = seed_with_logins(home, paths.database, patients=6, years=1)
    paths.facility_file.write_text(FACILITY, encoding="utf-8")
    seen: dict = {"window": list(Window.size)}
    idle = offscreen.idle

    def box(widget) -> list[float]:
        x, y = widget.to_window(widget.x, widget.y)
        return [x, y, x + widget.width, y + widget.height]

    with Store(paths.database) as store:
        state = KioskState(Context.open(store), data_dir=home)
        midwife = auth.login(state.ctx, logins["midwife"][0], pin=logins["midwife"][1])
        today = state.ctx.now().today
        woman = patients.register(
            state.ctx,
            midwife,
            {"family_name": "Diakité", "given_names": "Rokia", "sex": "F",
             "birth_date": "2001-01-10", "village": "Kalaban"},
            accept_duplicates=True,
        )  # fmt: skip
        encounters.add(
            state.ctx,
            midwife,
            woman["id"],
            "anc",
            {"care_date": today.isoformat(), "lmp": (today - timedelta(weeks=34)).isoformat(),
             "bp_systolic": 170, "bp_diastolic": 112},
        )  # fmt: skip
        allow = proper_names(store) | {"Diakité", "Rokia", "Kati", "CSRéf", "CSCom", "SMS"}

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
        state.actor = midwife
        root.go("record", patient_id=woman["id"])
        idle(5)
        record = root.screen("record")
        button = record.action_buttons["referral"]
        seen["refer_button"] = box(button)
        seen["record_findings"] = check("record", "record")

        offscreen.tap(button)
        idle(4)
        form = root.screen("referral")
        seen["form"] = {
            name: form.grids[name].picked
            for name in ("reason", "urgency", "to_facility", "transport")
        }
        seen["form"]["vitals"] = form.vm.vitals_text
        seen["form"]["findings"] = check("form", "referral")
        consent = form.grids["sms_consent"].toggles[0]
        form.scroll.scroll_to(consent, animate=False)
        idle(4)
        offscreen.tap(consent)
        idle(2)
        seen["form"]["findings_bottom"] = check("form-bottom", "referral")

        offscreen.tap(form.save_button)
        idle(4)
        row = store.referrals.for_patient(woman["id"])[0]
        seen["saved"] = {
            "sms_status": row["sms_status"],
            "sms_phone": row["sms_phone"],
            "name_in_sms": "Diakité" in row["sms_text"] or "Rokia" in row["sms_text"],
            "urgent": row["urgency"] == "urgent",
            "lines": form.vm.result_lines,
            "findings": check("saved", "referral"),
        }
        offscreen.tap(form.back_button)
        idle(4)
        seen["record_lines"] = [line["text"] for line in record.vm.referral_lines]

        # eleven days on: the home screen's line, then the late list
        state.ctx.clock.machine_time = lambda base=state.ctx.clock.machine_time: base() + 11 * 86400
        root.go("home")
        idle(6)
        home_screen = root.screen("home")
        seen["home_line"] = home_screen.late_button.text
        offscreen.tap(home_screen.late_button)
        idle(4)
        late = root.screen("referrals")
        seen["late"] = [b.text for b in late.row_buttons]
        seen["late_findings"] = check("late", "referrals")

        root.go("referral", patient_id=woman["id"])
        root.toggle_lang()
        idle(4)
        seen["english_findings"] = check("form-en", "referral", "en")
    return seen


if __name__ == "__main__":
    from conftest import kiosk_script_main

    kiosk_script_main(_scenario)
