from appliance.services import encounters
from kiosk_ui.viewmodels.due import DueVM
from kiosk_ui.viewmodels.home import HomeVM


def test_due_list(kiosk, child, aminata):
    vm = DueVM(kiosk("nurse"))
    vm.load(days=7)
    assert vm.error is None
    mine = [i for i in vm.items if i["patient_id"] == child["id"]]
    assert mine, vm.items  # an 18-month-old with no vaccine recorded is overdue
    item = mine[0]
    assert item["name"] == "Coulibaly Fanta" and item["village"] == "Kalaban"
    assert item["status"] == "overdue" and item["status_label"] == "en retard"
    assert len(item["due_date"]) == 10 and item["due_date"][2] == "/"
    assert vm.villages == ["Kalaban"]
    vm.load(days=7, village="Sido")
    assert vm.items == [] and vm.villages == ["Kalaban"]


def test_due_list_refused_to_the_technician(kiosk, child):
    vm = DueVM(kiosk("technician"))
    vm.load()
    assert vm.items == [] and vm.error == "Votre rôle ne permet pas de faire cela."


def test_home(kiosk, ctx, actors, child, aminata):
    encounters.add(
        ctx,
        actors["midwife"],
        aminata["id"],
        "anc",
        {
            "care_date": "2026-10-14",
            "gestational_age_weeks": 30,
            "bp_systolic": 170,
            "bp_diastolic": 115,
        },
    )
    vm = HomeVM(kiosk("nurse"))
    vm.load()
    assert vm.greeting == "Bonjour, Nurse"
    assert vm.due_today >= 1
    assert vm.alerts and vm.alerts[0]["patient_id"] == aminata["id"]
    assert vm.alerts[0]["severity"] == "urgent" and vm.alerts[0]["name"] == "Traoré Aminata"
    assert len(vm.alerts) <= 10
    assert vm.drafts == [] and not vm.is_technician


def test_home_of_the_technician(kiosk, child):
    vm = HomeVM(kiosk("technician"))
    vm.load()
    assert vm.is_technician and vm.error is None
    assert vm.due_today == 0 and vm.alerts == [] and vm.drafts == []
