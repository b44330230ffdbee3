"""The library on the kiosk in a real offscreen Kivy window at 800x480: reached from the home
screen, the list (French first), a search by a word of the text that opens the reader at the
page found, the pages turned with « Suivante »; each state passes the layout check
(kiosk_ui.layout_check) in French and English. The documents are generated PDFs imported
through the service, as from a stick.

Kivy's Window is a process-wide singleton, so the scenario runs in a subprocess (this file is
also the script) and prints one JSON line of what it saw. Screenshots go to
test-artifacts/kiosk/library/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-artifacts" / "kiosk" / "library"


@pytest.mark.e2e
def test_the_library_is_listed_searched_and_read_on_the_kiosk(run_kiosk_script) -> None:
    seen = run_kiosk_script(__file__, SHOTS, clear=True)

    assert seen["window"] == [800, 480]
    # the home screen offers the library, inside the window, a finger's size
    x, y, right, top = seen["home_button"]
    assert x >= 0 and right <= 800 and y >= 0 and top <= 480 and top - y >= 48
    assert seen["home_findings"] == []
    # the list: every document, French first
    assert seen["listed"][0].startswith("[b]PCIMA")
    assert len(seen["listed"]) == 5
    assert seen["list_findings"] == []
    # words of the text (prefixes, case ignored) find the one document holding them
    assert seen["found"] == ["PCIMA : prise en charge de la malnutrition aiguë (aide-mémoire)"]
    assert seen["found_findings"] == []
    # opening it shows the page the word is on, and « Suivante » turns to the next
    reader = seen["reader"]
    assert reader["where"] == "Page 2 sur 3"
    assert "URENI" in reader["text"]
    assert reader["findings"] == []
    assert seen["next"]["where"] == "Page 3 sur 3" and "URENAM" in seen["next"]["text"]
    assert seen["next"]["next_disabled"] is True
    # English: the same screens fit and say no French
    assert seen["english"]["where"] == "Page 3 of 3"
    assert seen["english"]["findings"] == []
    for name in ("home", "library", "library-search", "reader", "reader-en"):
        png = SHOTS / f"{name}.png"
        assert png.exists() and png.stat().st_size > 5000, name


def _scenario(home: Path, out: Path) -> dict:
    from conftest import kiosk_window, seed_with_logins

    from kiosk_ui import offscreen

    EventLoop, Window = kiosk_window(800, 480)

    import tempfile

    from appliance.paths import Paths
    from appliance.seed.library import DEMO_DOCUMENTS, NOT_FOR_CARE, write_stick
    from appliance.services import auth
    from appliance.services import library as service
    from appliance.services.context import Context
    from appliance.store import Store
    from kiosk_ui.app import build_root
    from kiosk_ui.layout_check import findings
    from kiosk_ui.tour import proper_names
    from kiosk_ui.viewmodels.state import KioskState

    database = Paths.for_home(home).database
    logins = seed_with_logins(home, database, patients=6, years=1)
    seen: dict = {"window": list(Window.size)}
    idle = offscreen.idle

    def box(widget) -> list[float]:
        x, y = widget.to_window(widget.x, widget.y)
        return [x, y, x + widget.width, y + widget.height]

    with Store(database) as store:
        state = KioskState(Context.open(store), data_dir=home)
        admin = auth.login(state.ctx, logins["admin"][0], pin=logins["admin"][1])
        with tempfile.TemporaryDirectory() as stick:
            service.import_folder(state.ctx, admin, write_stick(Path(stick), DEMO_DOCUMENTS), home)
        # the documents' own words are in the document's language, whatever the kiosk's
        allow = proper_names(store) | {
            word
            for d in DEMO_DOCUMENTS
            for text in (d.title, *d.pages, NOT_FOR_CARE)
            for word in re.findall(r"\w+", text)
        }

        def check(name: str, lang: str = "fr") -> list[str]:
            idle(4)
            offscreen.screenshot(out / f"{name}.png")
            return [
                str(f)
                for f in findings(
                    Window, (800, 480), lang, screen="library", state=name, allow=allow
                )
            ]

        root = build_root(state, timers=False)
        Window.add_widget(root)
        idle(5)
        state.actor = auth.login(state.ctx, logins["nurse"][0], pin=logins["nurse"][1])
        root.go("home")
        idle(5)
        home_screen = root.screen("home")
        button = home_screen.button_by_name["library"]
        seen["home_button"] = box(button)
        seen["home_findings"] = check("home")

        offscreen.tap(button)
        idle(4)
        library = root.screen("library")
        seen["listed"] = [b.text for b in library.rows.children[::-1] if b.text]
        seen["list_findings"] = check("library")

        library.field.text = "ureni compl"  # words of page 2 only
        library.search_now()
        seen["found"] = [d["title"] for d in library.vm.documents]
        seen["found_findings"] = check("library-search")

        offscreen.tap(library.row_buttons[0])
        idle(4)
        reader = root.screen("library_reader")
        seen["reader"] = {
            "where": reader.where.text,
            "text": reader.text.text,
            "findings": check("reader"),
        }
        offscreen.tap(reader.next_button)
        idle(3)
        seen["next"] = {
            "where": reader.where.text,
            "text": reader.text.text,
            "next_disabled": reader.next_button.disabled,
        }
        root.toggle_lang()
        idle(4)
        seen["english"] = {"where": reader.where.text, "findings": check("reader-en", "en")}
    return seen


if __name__ == "__main__":
    from conftest import kiosk_script_main

    kiosk_script_main(_scenario)
