"""The update on the kiosk's status screen, without a window: the button for the roles that may
install an update on offer, the question before, the request through the web app's service
(audited, the root unit started), its refusals as one line, and the bar of an install."""

from __future__ import annotations

import json

import pytest

from appliance.services import update_state
from kiosk_ui.viewmodels.status import StatusVM
from kiosk_ui.viewmodels.update import UpdateVM, half, percent_of

SLOTS = {"A": {"state": "good", "version": "1.0.0"}, "B": {"state": "empty"}}
OFFER = {"version": "1.1.0", "file": "/media/usb/keneya-1.1.0.raucb", "bytes": 210_000_000}
PROGRESS = {"percent": 42, "step": "Copying image to rootfs.1", "at": "2026-10-15T09:31:00"}


def write(folder, **state) -> None:
    (folder / "update").mkdir(exist_ok=True)
    (folder / "update" / "state.json").write_text(json.dumps(state), encoding="utf-8")


class Starter:
    """The unit's start, recorded; `works` False is systemctl refusing (not on the Pi)."""

    def __init__(self, works: bool = True):
        self.works, self.units = works, []

    def __call__(self, unit: str) -> bool:
        self.units.append(unit)
        return self.works


@pytest.fixture
def vm(kiosk, tmp_path):
    """vm(role, **state) → an UpdateVM over that state file, read as the screen reads it."""

    def make(role: str, lang: str = "fr", start=None, **state) -> UpdateVM:
        write(tmp_path, booted="A", slots=SLOTS, **state)
        made = UpdateVM(kiosk(role, lang=lang), start=start or Starter())
        made.reload()
        return made

    return make


def audited(store) -> list[dict]:
    return store.query("SELECT username, detail FROM audit WHERE action = 'update.install'")


def test_an_offer_gives_the_admin_the_button(vm):
    admin = vm("admin", offer=OFFER)
    assert admin.offer_text == "Mise à jour disponible : version 1.1.0"
    assert admin.button == "Installer et redémarrer"
    assert admin.note is None and admin.progress is None and not admin.polling


def test_an_offer_gives_a_nurse_no_button_but_who_may(vm):
    for role in ("nurse", "technician", "doctor"):
        other = vm(role, offer=OFFER)
        assert other.button is None, role
        assert other.note == "Seuls ces rôles peuvent installer une mise à jour : Administrateur"
        assert not other.ask() and not other.confirming


def test_nothing_on_offer_shows_nothing(vm):
    for state in ({}, {"offer": None}, {"offer": {}}, {"offer": "1.1.0"}):
        admin = vm("admin", **state)
        assert admin.offer_text is None and admin.button is None and admin.note is None
        assert admin.progress is None and not admin.polling
        assert not admin.ask()


def test_an_install_under_way_shows_its_bar_and_no_button(vm):
    admin = vm("admin", offer=OFFER, progress=PROGRESS)
    assert admin.button is None and admin.offer_text is None and admin.note is None
    assert admin.progress == {
        "value": 42,
        "max": 100,
        "text": "Installation en cours : 42 % — Copying image to rootfs.1",
    }
    assert admin.polling  # the screen reads the file again for the next percent
    nurse = vm(
        "nurse", offer=OFFER, progress={"percent": 0, "step": "sauvegarde avant mise à jour"}
    )
    assert nurse.progress["value"] == 0 and nurse.note is None
    assert nurse.progress["text"] == "Installation en cours : 0 % — sauvegarde avant mise à jour"
    english = vm("admin", lang="en", offer=OFFER, progress=PROGRESS)
    assert english.progress["text"] == "Installing: 42 % — Copying image to rootfs.1"


def test_a_percent_of_any_shape_stays_within_the_bar():
    assert percent_of({"percent": 140}) == 100
    assert percent_of({"percent": -3}) == 0
    assert percent_of({"percent": "57"}) == 57
    assert percent_of({"percent": "beaucoup"}) == 0
    assert percent_of({"percent": None}) == 0
    assert percent_of({"percent": float("nan")}) == 0
    assert percent_of({}) == 0


def test_the_question_comes_first_and_cancel_starts_nothing(vm, store):
    starter = Starter()
    admin = vm("admin", start=starter, offer=OFFER)
    assert admin.ask() and admin.confirming
    assert admin.question == {
        "text": "Installer la version 1.1.0 et redémarrer ? Les dossiers sont sauvegardés d'abord.",
        "note": "L'appareil redémarre ensuite (environ 5 minutes sans dossiers).",
        "cancel": "Annuler",
        "confirm": "Installer",
    }
    admin.cancel()
    assert not admin.confirming and starter.units == [] and audited(store) == []
    assert admin.button == "Installer et redémarrer"


def test_confirming_starts_the_unit_with_an_audit_row(vm, store, actors):
    starter = Starter()
    admin = vm("admin", start=starter, offer=OFFER)
    admin.ask()
    assert admin.confirm()
    assert starter.units == [update_state.INSTALL_UNIT]
    rows = audited(store)
    assert [r["username"] for r in rows] == [actors["admin"].username]
    assert json.loads(rows[0]["detail"]) == {"version": "1.1.0"}
    assert admin.message == "Installation lancée : l'appareil redémarrera seul à la fin."
    assert admin.error is None and not admin.confirming
    admin.state.set_lang("en")
    assert admin.message == (
        "Installation started: the appliance will restart by itself when it is done."
    )
    admin.state.set_lang("fr")
    # asked for: no second press while root has not written its progress yet
    admin.reload()
    assert admin.button is None and admin.polling


def test_after_the_request_the_bar_follows_the_file_then_the_outcome(vm, tmp_path):
    admin = vm("admin", offer=OFFER)
    admin.confirm()
    write(tmp_path, booted="A", slots=SLOTS, offer=OFFER, progress=PROGRESS)
    admin.reload()
    assert admin.progress["value"] == 42 and admin.button is None
    write(tmp_path, booted="A", slots=SLOTS, offer=OFFER, progress=dict(PROGRESS, percent=80))
    admin.reload()
    assert admin.progress["value"] == 80
    # the install failed without a restart: the offer is still there, the button comes back
    failed = {"outcome": "failed", "version": "1.1.0", "at": "2026-10-15T09:40:00"}
    write(tmp_path, booted="A", slots=SLOTS, offer=OFFER, last=failed)
    admin.reload()
    assert admin.progress is None and not admin.polling
    assert admin.button == "Installer et redémarrer" and admin.message is None


def test_a_unit_that_cannot_start_is_one_french_line(vm, store):
    admin = vm("admin", start=Starter(works=False), offer=OFFER)
    assert not admin.confirm()
    assert admin.error == "impossible de lancer l'installation (pas sur l'appareil ?)"
    assert "Traceback" not in admin.error and admin.message is None
    assert not admin.requested and admin.button == "Installer et redémarrer"
    assert len(audited(store)) == 1  # the attempt is on record
    # the line follows the language switched while it is shown
    admin.state.set_lang("en")
    assert admin.error == "could not start it"


def test_an_install_already_under_way_is_refused_in_words(vm, tmp_path):
    starter = Starter()
    admin = vm("admin", start=starter, offer=OFFER)
    admin.ask()
    # root started an install (from the web page) while the question was on the screen
    write(tmp_path, booted="A", slots=SLOTS, offer=OFFER, progress=PROGRESS)
    assert not admin.confirm()
    assert admin.error == "une installation est déjà en cours"
    assert starter.units == []
    assert admin.progress["value"] == 42  # read again: the bar shows the one under way


def test_a_role_that_may_not_install_is_refused_by_the_service_too(vm, store):
    starter = Starter()
    nurse = vm("nurse", start=starter, offer=OFFER)
    assert not nurse.confirm()
    assert nurse.error == "Votre rôle ne permet pas de faire cela."
    assert starter.units == [] and audited(store) == []
    # logged out between the button and the answer
    admin = vm("admin", start=starter, offer=OFFER)
    admin.ask()
    admin.state.lock()
    assert not admin.confirm()
    assert admin.error == "Votre rôle ne permet pas de faire cela." and starter.units == []


def test_the_status_view_model_carries_the_update_and_rereads_its_section(kiosk, tmp_path):
    write(tmp_path, booted="A", slots=SLOTS, offer=OFFER)
    status = StatusVM(kiosk("admin"))
    status.load()
    assert status.error is None
    assert status.updates.button == "Installer et redémarrer"
    section = status.sections[-1]
    assert section["title"] == "Mises à jour"
    assert ("Mise à jour disponible", "version 1.1.0") in section["rows"]
    write(tmp_path, booted="A", slots=SLOTS, offer=OFFER, progress=PROGRESS)
    titles = [s["title"] for s in status.sections]
    status.reload_update()
    assert [s["title"] for s in status.sections] == titles  # the rest as loaded, in order
    assert ("Installation", "42 % Copying image to rootfs.1") in status.sections[-1]["rows"]
    assert status.updates.progress["value"] == 42


def test_half_takes_one_language_of_a_bilingual_message():
    assert half("aucune mise à jour proposée / no update on offer", "fr") == (
        "aucune mise à jour proposée"
    )
    assert half("aucune mise à jour proposée / no update on offer", "en") == "no update on offer"
    assert half("sauvegarde avant mise à jour", "en") == "sauvegarde avant mise à jour"
