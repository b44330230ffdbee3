from datetime import UTC, datetime, timedelta

from appliance.clock import to_iso
from kiosk_ui.viewmodels.power import PowerVM
from kiosk_ui.viewmodels.status import StatusVM

NOW = datetime(2026, 10, 15, 9, 30, tzinfo=UTC)


def write_state(store, **changes):
    state = {
        "sampled_at": to_iso(NOW),
        "clock_trusted": True,
        "source": "ina219",
        "voltage_v": 12.1,
        "current_a": -0.5,
        "power_w": 6.0,
        "soc": 70.0,
        "runtime_min": None,
        "charging": False,
        "state": "ok",
        "reason": None,
    }
    store.power.set_state(state | changes)


def test_no_banner_without_state_or_when_ok(store):
    vm = PowerVM(store, now=NOW.timestamp)
    vm.poll()
    assert vm.banner is None and vm.countdown_s is None
    write_state(store)
    vm.poll()
    assert vm.banner is None


def test_low_battery_banner(store):
    write_state(store, state="warn", soc=23.4)
    vm = PowerVM(store, now=NOW.timestamp)
    vm.poll()
    assert vm.banner == "Batterie faible : 23 %"
    write_state(store, state="warn", soc=23.4, runtime_min=41.6)
    vm.poll()
    assert vm.banner == "Batterie faible : 23 % (arrêt dans environ 42 min)"
    write_state(store, state="sensor_fault")
    vm.poll()
    assert vm.banner == "Capteur batterie en panne"


def test_shutdown_countdown(store):
    deadline = NOW + timedelta(seconds=90)
    write_state(store, state="shutdown_pending", soc=8.0, shutdown_deadline=to_iso(deadline))
    clock = [NOW.timestamp()]
    vm = PowerVM(store, now=lambda: clock[0])
    vm.poll()
    assert vm.countdown_s == 90
    assert vm.countdown_text(vm.countdown_s) == "Arrêt dans 1:30 — enregistrez votre travail"
    assert vm.banner == "Arrêt dans 1:30 — enregistrez votre travail"
    clock[0] += 85
    assert vm.countdown_s == 5
    clock[0] += 60
    assert vm.countdown_s == 0  # never negative
    assert vm.countdown_text(105) == "Arrêt dans 1:45 — enregistrez votre travail"


def test_status_for_the_technician_has_no_patient_data(kiosk, aminata, store):
    write_state(store, state="warn", soc=23.4)
    vm = StatusVM(kiosk("technician"))
    vm.load()
    assert vm.error is None
    titles = [s["title"] for s in vm.sections]
    assert titles == [
        "Énergie",
        "Modem 3G",
        "Point d'accès Wi-Fi",
        "File d'envoi vers le district",
        "Stockage et horloge",
        "Sauvegardes",
    ]
    power = dict(vm.sections[0]["rows"])
    assert power["État"] == "batterie faible" and power["Charge"] == "23 %"
    shown = repr(vm.sections)
    for secret in (aminata["family_name"], aminata["given_names"], aminata["health_number"]):
        assert secret not in shown
    clock = dict(vm.sections[-2]["rows"])
    assert clock["Heure"].startswith("15/10/2026 09:30")
    backups = dict(vm.sections[-1]["rows"])
    assert backups["Dernière sauvegarde"] == "aucune sauvegarde"


def test_status_needs_a_login(kiosk):
    vm = StatusVM(kiosk())
    vm.load()
    assert vm.sections == [] and vm.error == "Votre rôle ne permet pas de faire cela."


def test_status_shows_the_hotspot_join_qr_code_to_the_technician_only(kiosk, store, tmp_path):
    store.set_settings({"hotspot.ssid": "CSCom Kalaban"})
    (tmp_path / "secrets").mkdir(mode=0o700)
    (tmp_path / "secrets" / "hotspot_passphrase").write_text("k7rw-m3ha-9xte\n")
    vm = StatusVM(kiosk("technician"))
    vm.load()
    assert vm.join_png is not None and vm.join_png.startswith(b"\x89PNG\r\n\x1a\n")
    assert "CSCom Kalaban" in vm.join_text and "http://keneya.lan/" in vm.join_text
    nurse = StatusVM(kiosk("nurse"))
    nurse.load()
    assert nurse.error is None and nurse.join_png is None and nurse.join_text is None
    assert "k7rw-m3ha-9xte" not in repr(nurse.raw) + repr(nurse.sections)
