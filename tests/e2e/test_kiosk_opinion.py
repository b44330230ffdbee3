"""Second opinions on the kiosk in a real offscreen Kivy window at 800x480, read-only (the kiosk
has no camera): a doctor asked the district about a feverish patient; the question left for a
DHIS2 simulator, the district answered, and the reply was fetched back, as the modem daemon
does; a second question still waits for the network. The doctor's home shows « Réponse du
district : 1 », which opens the record; the record lists both questions and the reply, and
once it has been read the home line is gone. Each state passes the layout check in French and
in English.

Kivy's Window is a process-wide singleton, so the scenario runs in a subprocess (this file is
also the script) and prints one JSON line of what it saw. Screenshots go to
test-artifacts/kiosk/opinion/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-artifacts" / "kiosk" / "opinion"
TOKEN = "d2pat_kiosk-test"
FACILITY = """
[opinion]
district_user_group = "DistrGrp001"
district_users = ["DrKonate001"]
"""
QUESTION = (
    "Fièvre à 39 °C depuis 3 jours malgré l'artésunate, TDR positif, vomissements : faut-il"
    " passer à la quinine injectable ou référer au CSRéf de Kati dès aujourd'hui ?"
)
ANSWER = "Quinine IV puis relais oral ; référez si pas d'amélioration en 48 heures."
WAITING = "Toux depuis 3 semaines : faut-il une bacilloscopie ?"


@pytest.mark.e2e
def test_a_doctor_reads_the_districts_reply_on_the_kiosk(run_kiosk_script) -> None:
    seen = run_kiosk_script(__file__, SHOTS, clear=True)

    assert seen["window"] == [800, 480]
    assert seen["status"] == "answered"
    assert seen["home_line"] == "Réponse du district : 1 — Coulibaly Fanta"
    x, y, right, top = seen["home_button"]
    assert x >= 0 and right <= 800 and y >= 0 and top <= 480 and top - y >= 48
    assert seen["home_findings"] == [] and seen["home_en_findings"] == []
    assert seen["home_en_line"].startswith("District reply: 1")

    assert seen["opened"] == seen["patient_id"]
    texts = seen["record_texts"]
    heading = texts.index("Avis du district")
    waiting, answered = seen["record_lines"]  # newest first: the waiting one was asked last
    assert "en attente du réseau" in waiting["text"] and WAITING in waiting["text"]
    assert waiting["replies"] == []
    assert " · répondue — Fièvre à 39 °C" in answered["text"] and answered["text"].endswith("…")
    assert len(answered["text"]) < len(QUESTION) + 20  # shortened
    [reply] = answered["replies"]
    assert reply.startswith("Réponse de District sanitaire, ") and reply.endswith(ANSWER)
    # shown where the record opens, above what is due and the history
    assert heading < len(texts) and all(
        texts.index(h) > heading for h in ("À faire", "Historique") if h in texts
    )
    assert seen["section_top"] <= 480
    assert seen["record_findings"] == [] and seen["record_en_findings"] == []
    assert any(line.startswith("Reply from District sanitaire, ") for line in seen["record_en"])
    assert any("answered" in line for line in seen["record_en"])

    # read: the reply is no longer news, and the home line is gone
    assert seen["seen_at_set"] is True
    assert seen["home_after"] == {"news": 0, "line_shown": False}
    assert seen["home_after_findings"] == []
    for name in ("home", "home-en", "record", "record-en", "home-after"):
        png = SHOTS / f"{name}.png"
        assert png.exists() and png.stat().st_size > 5000, name


def _scenario(home: Path, out: Path) -> dict:
    from datetime import timedelta

    from conftest import kiosk_window, seed_with_logins

    from kiosk_ui import offscreen

    EventLoop, Window = kiosk_window(800, 480)

    from appliance.facility_file import opinion_settings
    from appliance.outbox.conversations import exchange_once
    from appliance.outbox.dhis2_sim import Dhis2Metadata, Dhis2Sim
    from appliance.outbox.sender import Dhis2Config
    from appliance.paths import Paths
    from appliance.services import auth, encounters, opinions, patients
    from appliance.services.context import Context
    from appliance.store import Store
    from kiosk_ui.app import build_root
    from kiosk_ui.layout_check import WORD, findings
    from kiosk_ui.tour import proper_names
    from kiosk_ui.viewmodels.state import KioskState

    paths = Paths.for_home(home)
    logins = seed_with_logins(home, paths.database, patients=6, years=1)
    paths.facility_file.write_text(FACILITY, encoding="utf-8")
    settings = opinion_settings(paths.facility_file)
    seen: dict = {"window": list(Window.size)}
    idle = offscreen.idle

    def box(widget) -> list[float]:
        x, y = widget.to_window(widget.x, widget.y)
        return [x, y, x + widget.width, y + widget.height]

    with Store(paths.database) as store:
        state = KioskState(Context.open(store), data_dir=home)
        doctor = auth.login(state.ctx, logins["doctor"][0], pin=logins["doctor"][1])
        today = state.ctx.now().today
        patient = patients.register(
            state.ctx,
            doctor,
            {"family_name": "Coulibaly", "given_names": "Fanta", "sex": "F",
             "birth_date": "1994-03-02", "village": "Kalaban"},
            accept_duplicates=True,
        )  # fmt: skip
        seen["patient_id"] = patient["id"]
        encounters.add(
            state.ctx,
            doctor,
            patient["id"],
            "consultation",
            {
                "care_date": (today - timedelta(days=3)).isoformat(),
                "temperature_c": 39.2,
                "malaria_rdt": "positive",
                "diagnoses": [{"code": "malaria_confirmed", "confirmed": True}],
            },
        )
        asked = opinions.ask(state.ctx, doctor, patient["id"], QUESTION, settings=settings)
        # the district's side: a DHIS2 simulator that answers at once; the exchange the modem
        # daemon runs sends the question, then reads the reply back
        with Dhis2Sim(Dhis2Metadata({}), tokens=(TOKEN,), auto_reply_s=0, reply_text=ANSWER) as sim:
            config = Dhis2Config(sim.url, token=TOKEN, timeout_s=5.0)
            for _ in range(2):
                exchange_once(store, config, settings)
                if store.opinions.get(asked["id"])["status"] == "answered":
                    break
        seen["status"] = store.opinions.get(asked["id"])["status"]
        # asked after the network went: still waiting (and newer, so listed first)
        opinions.ask(state.ctx, doctor, patient["id"], WAITING, settings=settings)

        names = proper_names(store) | {"Kati", "CSRéf", "CSCom", "TDR", "IV", "District"}
        # what the doctor and the district wrote is in their own words, in any language
        written = {
            w for text in (QUESTION, ANSWER, WAITING, "sanitaire") for w in WORD.findall(text)
        }

        def check(name: str, screen: str, lang: str = "fr") -> list[str]:
            idle(4)
            offscreen.screenshot(out / f"{name}.png")
            allow = names | (written if lang == "en" else set())
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
        button = home_screen.reply_button
        seen["home_line"] = button.text
        seen["home_button"] = box(button)
        seen["home_findings"] = check("home", "home")
        root.toggle_lang()
        idle(3)
        seen["home_en_line"] = button.text
        seen["home_en_findings"] = check("home-en", "home", "en")
        root.toggle_lang()
        idle(3)

        offscreen.tap(button)
        idle(5)
        record = root.screen("record")
        seen["opened"] = record.vm.patient_id if record.vm else None
        seen["record_lines"] = record.vm.opinion_lines
        children = list(reversed(record.content.children))
        seen["record_texts"] = [getattr(w, "text", "") for w in children]
        heading = next(w for w in children if getattr(w, "text", "") == "Avis du district")
        seen["section_top"] = heading.to_window(heading.x, heading.top)[1]
        seen["record_findings"] = check("record", "record")
        root.toggle_lang()
        idle(3)
        seen["record_en"] = [getattr(w, "text", "") for w in reversed(record.content.children)]
        seen["record_en_findings"] = check("record-en", "record", "en")
        root.toggle_lang()
        idle(3)
        seen["seen_at_set"] = all(r["seen_at"] for r in store.opinions.get(asked["id"])["replies"])

        root.go("home")
        idle(6)
        seen["home_after"] = {
            "news": len(home_screen.vm.opinion_news),
            "line_shown": home_screen.reply_button.parent is not None,
        }
        seen["home_after_findings"] = check("home-after", "home")
    return seen


if __name__ == "__main__":
    from conftest import kiosk_script_main

    kiosk_script_main(_scenario)
