from kiosk_ui.viewmodels.search import SearchVM


def test_two_letters_minimum(kiosk, aminata):
    vm = SearchVM(kiosk("nurse"))
    vm.set_query("t")
    assert vm.results == [] and vm.message == "Tapez au moins 2 lettres"
    vm.set_query(" !?")
    assert vm.message == "Tapez au moins 2 lettres"


def test_results_while_typing(kiosk, aminata):
    vm = SearchVM(kiosk("nurse"))
    vm.set_query("trao")
    assert vm.message is None
    hit = next(r for r in vm.results if r["id"] == aminata["id"])
    assert hit["name"] == "Traoré Aminata"
    assert hit["health_number"] == aminata["health_number"]
    assert hit["detail"] == "Femme · 31 ans · Kalaban"


def test_query_that_is_no_name_nor_number(kiosk, aminata):
    vm = SearchVM(kiosk("nurse"))
    vm.set_query("--12--")  # digits, but not a phone or health number
    assert vm.results == []
    assert vm.message.startswith("Tapez un nom (des lettres)")


def test_no_results(kiosk, aminata):
    vm = SearchVM(kiosk("nurse"))
    vm.set_query("Zzyzxqw")
    assert vm.results == [] and vm.message == "Aucun patient trouvé."


def test_technician_may_not_search(kiosk, aminata):
    vm = SearchVM(kiosk("technician"))
    vm.set_query("trao")
    assert vm.results == [] and vm.message == "Votre rôle ne permet pas de faire cela."
