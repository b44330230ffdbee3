"""The kiosk at first boot: the first admin's PIN set on the touchscreen, the "not configured"
notice, and the banner of a failed first boot (view-models over a real store)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from appliance.services import auth
from appliance.services.context import Context
from kiosk_ui.viewmodels.first_admin import (
    ADMIN_NAME_SETTING,
    ADMIN_USERNAME_SETTING,
    FIRSTBOOT_ERROR_FILE,
)
from kiosk_ui.viewmodels.login import FIRST_ADMIN, LOGIN, UNCONFIGURED_MODE, LoginVM
from kiosk_ui.viewmodels.state import KioskState

GOOD_PIN = "582047"
UNCONFIGURED_FR = (
    "Cet appareil n'a pas encore été configuré : écrivez la fiche de l'établissement sur la"
    " carte (keneya provision write-card)."
)


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "etc"
    folder.mkdir()
    return folder


@pytest.fixture
def state(ctx: Context, monotonic, tmp_path: Path, config_dir: Path) -> Callable[..., KioskState]:
    """state(lang) → a KioskState nobody is logged into, config in its own folder."""

    def make(lang: str = "fr") -> KioskState:
        return KioskState(
            ctx, lang=lang, monotonic=monotonic, data_dir=tmp_path, config_dir=config_dir
        )

    return make


@pytest.fixture
def provisioned(store) -> None:
    """What first boot leaves when the facility file carries no PIN hash for the admin."""
    store.set_settings({ADMIN_USERNAME_SETTING: "awa.traore", ADMIN_NAME_SETTING: "Awa Traoré"})


def enter(vm: LoginVM, pin: str) -> bool:
    for digit in pin:
        vm.press(digit)
    return vm.create_first_admin()


def test_setup_panel_with_no_staff_and_the_settings(state, provisioned, ctx):
    vm = LoginVM(state())
    assert vm.mode == FIRST_ADMIN
    assert vm.first_admin.title == "Bienvenue. Créez le code PIN de Awa Traoré (administrateur)"
    assert vm.accounts == [] and vm.unconfigured_text is None
    vm.press("5")
    vm.press("x")
    vm.press("8")
    assert vm.dots == "●●" and vm.pin == ""  # typed into the setup, not the login PIN
    vm.backspace()
    assert vm.dots == "●"
    assert LoginVM(state(lang="en")).first_admin.title.startswith("Welcome")


def test_setup_without_a_name_shows_the_username(state, store):
    store.set_settings({ADMIN_USERNAME_SETTING: "chef"})
    vm = LoginVM(state())
    assert vm.mode == FIRST_ADMIN and "code PIN de chef (administrateur)" in vm.first_admin.title


def test_with_staff_the_picker_is_unchanged(state, provisioned, actors, pins):
    s = state()
    vm = LoginVM(s)
    assert vm.mode == LOGIN and vm.first_admin is None and vm.unconfigured_text is None
    assert {a["username"] for a in vm.accounts} >= {"admin", "midwife", "nurse"}
    assert vm.create_first_admin() is False  # no setup once staff exist
    vm.select("midwife")
    for digit in pins["midwife"]:
        vm.press(digit)
    assert vm.dots == "●" * len(pins["midwife"])
    assert vm.submit() is True and s.actor.role == "midwife"


def test_mismatch_starts_again(state, provisioned, ctx):
    vm = LoginVM(state())
    assert enter(vm, GOOD_PIN) is False
    assert vm.error is None and vm.first_admin.confirming
    assert vm.first_admin.prompt.startswith("Tapez le même code PIN")
    assert vm.dots == ""  # the first PIN is not shown again
    assert enter(vm, "582048") is False
    assert vm.error == "Les deux codes PIN ne sont pas les mêmes. Recommencez."
    assert not vm.first_admin.confirming and vm.mode == FIRST_ADMIN
    assert ctx.store.staff.count() == 0


@pytest.mark.parametrize(
    ("pin", "expected"),
    [
        ("1234", "trop facile à deviner"),
        ("777777", "trop facile à deviner"),
        ("87654", "trop facile à deviner"),
        ("123", "de 4 à 8 chiffres"),
        ("", "de 4 à 8 chiffres"),
    ],
)
def test_weak_or_short_pin_is_explained(state, provisioned, ctx, pin, expected):
    with pytest.raises(ValueError):
        auth.check_pin(pin)  # the service's own rule refuses it too
    vm = LoginVM(state())
    assert enter(vm, pin) is False
    assert expected in vm.error
    assert not vm.first_admin.confirming  # refused at once, not asked twice
    assert ctx.store.staff.count() == 0


def test_success_creates_one_admin_who_logs_in(state, provisioned, ctx):
    s = state()
    vm = LoginVM(s)
    assert enter(vm, GOOD_PIN) is False
    assert enter(vm, GOOD_PIN) is True
    rows = ctx.store.query("SELECT username, display_name, role, created_by FROM staff")
    assert [dict(r) for r in rows] == [
        {
            "username": "awa.traore",
            "display_name": "Awa Traoré",
            "role": "admin",
            "created_by": None,
        }
    ]
    audit = ctx.store.query("SELECT action, staff_id, detail FROM audit WHERE action = 'staff.add'")
    assert len(audit) == 1 and audit[0]["staff_id"] is None
    assert json.loads(audit[0]["detail"]) == {"username": "awa.traore", "role": "admin"}
    # now the normal login panel, with the new account selected
    assert vm.mode == LOGIN and vm.first_admin is None
    assert vm.selected == "awa.traore" and vm.error is None
    assert vm.notice == "Le compte est créé. Tapez votre code PIN pour vous connecter."
    assert [a["username"] for a in vm.accounts] == ["awa.traore"]
    assert auth.login(ctx, "awa.traore", pin=GOOD_PIN).role == "admin"
    for digit in GOOD_PIN:
        vm.press(digit)
    assert vm.submit() is True and s.actor.username == "awa.traore" and vm.notice is None
    assert LoginVM(state()).mode == LOGIN  # the next time the screen opens


def test_someone_else_creates_an_account_meanwhile(state, provisioned, ctx):
    vm = LoginVM(state())
    enter(vm, GOOD_PIN)
    auth.add_staff(ctx, None, username="other", display_name="Other", role="admin", pin="902817")
    assert enter(vm, GOOD_PIN) is False
    assert vm.mode == LOGIN and vm.error == "Un compte a été créé entre-temps : touchez votre nom."
    assert [a["username"] for a in vm.accounts] == ["other"]


def test_a_bad_username_on_the_file_is_explained(state, store, ctx):
    store.set_settings({ADMIN_USERNAME_SETTING: "Awa Traoré!", ADMIN_NAME_SETTING: "Awa"})
    vm = LoginVM(state())
    enter(vm, GOOD_PIN)
    assert enter(vm, GOOD_PIN) is False
    assert "Prévenez le technicien" in vm.error and vm.mode == FIRST_ADMIN
    assert ctx.store.staff.count() == 0


def test_unconfigured_message(state, ctx):
    vm = LoginVM(state())
    assert vm.mode == UNCONFIGURED_MODE and vm.first_admin is None
    assert vm.unconfigured_text == UNCONFIGURED_FR
    assert vm.create_first_admin() is False and ctx.store.staff.count() == 0
    english = LoginVM(state(lang="en")).unconfigured_text
    assert english and english != UNCONFIGURED_FR and "keneya provision write-card" in english


def test_firstboot_error_banner(state, config_dir, actors, pins):
    s = state()
    assert LoginVM(s).firstboot_banner is None
    error = config_dir / FIRSTBOOT_ERROR_FILE
    details = [f"line {n}" for n in range(1, 10)]
    error.write_text(
        "Keneya : la fiche de l'établissement n'a pas été appliquée.\n" + "\n".join(details) + "\n",
        encoding="utf-8",
    )
    vm = LoginVM(s)
    banner = vm.firstboot_banner
    assert banner is not None
    lines = banner.splitlines()
    assert lines[0] == "La fiche de l'établissement n'a pas été appliquée :"
    assert lines[1:] == details[:6]  # the file's own heading is not repeated
    assert vm.mode == LOGIN  # staff can still log in
    vm.select("nurse")
    for digit in pins["nurse"]:
        vm.press(digit)
    assert vm.submit() is True
    error.unlink()
    assert vm.firstboot_banner is None and LoginVM(state()).firstboot_banner is None


def test_banner_without_config_dir_reads_the_data_dir(ctx, monotonic, tmp_path):
    (tmp_path / FIRSTBOOT_ERROR_FILE).write_bytes(b"card unreadable \xff\n")
    s = KioskState(ctx, monotonic=monotonic, data_dir=tmp_path)
    banner = LoginVM(s).firstboot_banner
    assert banner.splitlines() == [
        "La fiche de l'établissement n'a pas été appliquée :",
        "card unreadable \ufffd",
    ]
    assert LoginVM(s).mode == UNCONFIGURED_MODE  # both show: the banner above the notice
