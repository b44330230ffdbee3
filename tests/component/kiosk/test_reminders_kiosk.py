"""SMS consent on the kiosk's registration: the screen's choices reach the record."""

from kiosk_ui.viewmodels.register import RegisterVM


def test_consent_and_bambara_chosen_at_registration(kiosk, ctx):
    vm = RegisterVM(kiosk("nurse"))
    for name, value in dict(
        family_name="Sangaré",
        given_names="Oumou",
        sex="F",
        age_years="30",
        phone="76 55 44 33",
        sms_consent="1",
        sms_language="bm",
    ).items():
        vm.set(name, value)
    row = ctx.store.patients.get(vm.save())
    assert row["sms_consent"] is True and row["sms_language"] == "bm"


def test_without_a_choice_there_is_no_consent(kiosk, ctx):
    vm = RegisterVM(kiosk("nurse"))
    values = dict(family_name="Diallo", given_names="Awa", sex="F", age_years="25")
    for name, value in values.items():
        vm.set(name, value)
    row = ctx.store.patients.get(vm.save())
    assert row["sms_consent"] is False and row["sms_language"] == "fr"
