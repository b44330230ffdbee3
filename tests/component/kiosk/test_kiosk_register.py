from kiosk_ui.viewmodels.register import RegisterVM


def fill(vm, **values):
    for name, value in values.items():
        vm.set(name, value)


def test_fields(kiosk):
    vm = RegisterVM(kiosk("nurse"))
    names = [f["name"] for f in vm.fields]
    assert names == [
        "family_name",
        "given_names",
        "sex",
        "age_years",
        "age_months",
        "birth_date",
        "village",
        "phone",
    ]
    sex = vm.fields[2]
    assert sex["choices"] == [("F", "Femme"), ("M", "Homme")]


def test_register_with_an_age(kiosk, ctx):
    vm = RegisterVM(kiosk("nurse"))
    fill(vm, family_name="Diarra", given_names="Moussa", sex="M", age_years="4", village="Sido")
    pid = vm.save()
    assert pid and vm.errors == {} and vm.duplicates == []
    row = ctx.store.patients.get(pid)
    assert row["birth_date"] == "2022-10-15" and row["birth_date_estimated"]


def test_near_duplicate_then_accept(kiosk, ctx, aminata):
    vm = RegisterVM(kiosk("nurse"))
    fill(
        vm,
        family_name="Traore",
        given_names="Aminata",
        sex="F",
        birth_date="14/03/1995",
        village="Kalaban",
    )
    assert vm.save() is None
    assert [d["id"] for d in vm.duplicates] == [aminata["id"]]
    assert vm.duplicates[0]["name"] == "Traoré Aminata"
    assert "14/03/1995" in vm.duplicates[0]["detail"]
    pid = vm.save(accept_duplicates=True)
    assert pid and pid != aminata["id"]
    assert ctx.store.patients.get(pid)["family_name"] == "Traore"


def test_errors_in_french(kiosk):
    vm = RegisterVM(kiosk("nurse"))
    fill(vm, family_name="D1arra", given_names="Moussa", sex="M", phone="123")
    assert vm.save() is None
    assert vm.errors["family_name"] == ["Lettres seulement (espaces, - et ' permis)."]
    assert vm.errors["phone"] == ["Numéro de téléphone non valable."]
    fill(vm, family_name="Diarra", phone="")  # fields right: the model's own checks run
    assert vm.save() is None
    assert vm.errors == {"birth_date": ["Indiquez la date de naissance ou l'âge."]}


def test_technician_may_not_register(kiosk):
    vm = RegisterVM(kiosk("technician"))
    fill(vm, family_name="Diarra", given_names="Moussa", sex="M", age_years="4")
    assert vm.save() is None
    assert vm.errors == {"": ["Votre rôle ne permet pas de faire cela."]}


def test_enter_after_the_last_text_field_goes_to_what_the_keyboard_cannot_fill(kiosk):
    """⏎ on the village: the sex first, then the age, and only then saving."""
    vm = RegisterVM(kiosk("nurse"))
    for name, value in (("family_name", "Diarra"), ("given_names", "Awa"), ("village", "Kati")):
        vm.set(name, value)
    assert vm.first_unfilled() == "sex"
    vm.set("sex", "F")
    assert vm.first_unfilled() == "age_years"
    vm.set("birth_date", "01/02/2020")
    assert vm.first_unfilled() is None
