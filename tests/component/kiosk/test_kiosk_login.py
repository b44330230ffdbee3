from datetime import timedelta

from kiosk_ui.viewmodels.login import ClockVM, LoginVM


def type_pin(vm: LoginVM, pin: str) -> None:
    for digit in pin:
        vm.press(digit)


def test_accounts_list_names_and_translated_roles(kiosk):
    vm = LoginVM(kiosk())
    by_user = {a["username"]: a for a in vm.accounts}
    assert by_user["midwife"]["role_label"] == "Sage-femme"
    assert by_user["technician"]["display_name"] == "Technician"
    assert LoginVM(kiosk(lang="en")).accounts[0]["role_label"] != ""
    assert not any("pin" in key for a in vm.accounts for key in a)


def test_pin_pad(kiosk):
    vm = LoginVM(kiosk())
    type_pin(vm, "12x3")
    assert vm.pin == "123" and vm.dots == "●●●"
    vm.backspace()
    assert vm.dots == "●●"
    type_pin(vm, "123456789")
    assert len(vm.pin) == 8
    vm.clear()
    assert vm.pin == ""


def test_right_pin_logs_in(kiosk, pins):
    state = kiosk()
    vm = LoginVM(state)
    vm.select("midwife")
    type_pin(vm, pins["midwife"])
    assert vm.submit() is True
    assert state.actor is not None and state.actor.role == "midwife"
    assert vm.error is None and vm.pin == ""


def test_wrong_pin_is_refused(kiosk):
    state = kiosk()
    vm = LoginVM(state)
    vm.select("midwife")
    type_pin(vm, "111122")
    assert vm.submit() is False
    assert state.actor is None
    assert vm.error == "Code PIN incorrect."
    assert vm.pin == ""


def test_no_account_chosen(kiosk):
    vm = LoginVM(kiosk())
    type_pin(vm, "1234")
    assert vm.submit() is False and vm.error == "Touchez d'abord votre nom."


def test_wrong_pins_throttle_the_kiosk_for_that_account(kiosk, pins):
    state = kiosk()
    vm = LoginVM(state)
    vm.select("nurse")
    for _ in range(3):
        type_pin(vm, "000111")
        assert vm.submit() is False
        assert vm.error == "Code PIN incorrect."
    type_pin(vm, pins["nurse"])  # even the right PIN, while this device waits
    assert vm.submit() is False
    assert state.actor is None
    assert vm.error == "Trop d'essais depuis cet appareil : réessayez dans 2 s."
    vm.select("midwife")  # another account on the same kiosk is not held up
    type_pin(vm, pins["midwife"])
    assert vm.submit() is True


def test_english_error(kiosk):
    vm = LoginVM(kiosk(lang="en"))
    vm.select("nurse")
    type_pin(vm, "000111")
    vm.submit()
    assert vm.error and vm.error != "Code PIN incorrect."


def test_clock_confirmation(kiosk, ctx, pins):
    state = kiosk()
    login = LoginVM(state)
    login.select("nurse")
    type_pin(login, pins["nurse"])
    assert login.submit()
    assert login.clock_needs_confirmation is True

    vm = ClockVM(state)
    assert (vm.date_text, vm.time_text) == ("15/10/2026", "09:30")
    vm.adjust("day", 1)
    vm.adjust("minute", -5)
    vm.adjust("month", 1)
    assert (vm.date_text, vm.time_text) == ("16/11/2026", "09:25")
    vm.adjust("year", 1)
    assert vm.date_text == "16/11/2027"
    vm.adjust("year", -1)
    vm.confirm()
    assert vm.error is None
    reading = ctx.now()
    assert reading.trusted and reading.source == "staff"
    assert abs(reading.now - vm.shown) < timedelta(seconds=1)
    assert login.clock_needs_confirmation is False
    actions = [r["action"] for r in ctx.store.query("SELECT action FROM audit")]
    assert "clock.confirm" in actions


def test_clock_month_end_and_refusals(kiosk, ctx):
    vm = ClockVM(kiosk("nurse"))
    vm.adjust("day", 16)  # 31/10
    vm.adjust("month", 1)
    assert vm.date_text == "30/11/2026"
    vm.adjust("year", -10)  # 2016: not plausible
    vm.confirm()
    assert vm.error == "Cette date ou cette heure n'est pas valable."
    assert not ctx.now().trusted
    tech = ClockVM(kiosk("technician"))  # no CONFIRM_CLOCK
    tech.confirm()
    assert tech.error and not ctx.now().trusted


def test_idle_lock(kiosk, monotonic):
    state = kiosk("nurse")
    state.touch()
    monotonic.t += 119
    assert state.idle_for() == 119 and not state.should_lock()
    monotonic.t += 1
    assert state.should_lock()
    state.touch()
    assert not state.should_lock()
    monotonic.t += 200
    state.lock()
    assert state.actor is None and not state.should_lock()  # nobody to lock out


def test_language_follows_set_lang(kiosk):
    state = kiosk()
    assert state.t("Se connecter") == "Se connecter"
    state.set_lang("en")
    assert state.t("Se connecter") == "Log in"
    state.set_lang("xx")
    assert state.lang == "fr"
