"""Folding and phonetic keys of Malian names, and the seed name lists."""

from __future__ import annotations

import json
import re
import string
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.domain.names import CLAN_NAMES_PATH, _clan_table, fold, name_key, name_keys

# Spellings of one name that are all seen in Malian registers: one key each.
VARIANT_GROUPS = [
    ["Traoré", "Traore", "TRAORE"],
    ["Coulibaly", "Kulibali", "Koulibaly"],
    ["Keïta", "Keita", "Kéita", "Kéïta", "Kaïta"],
    ["Diarra", "Jara", "Diara", "Jarra"],
    ["Sidibé", "Sidibe"],
    ["Touré", "Ture", "Toure"],
    ["Maïga", "Maiga"],
    ["Diallo", "Jallo", "Djallo"],
    ["Cissé", "Sisse", "Cisse"],
    ["Doumbia", "Dumbia"],
    ["Sangaré", "Sangare"],
    ["Konaté", "Konate"],
    ["Dembélé", "Dembele"],
    ["Kanté", "Kante"],
    ["Samaké", "Samake"],
    ["Ouattara", "Wattara"],
    ["Sissoko", "Sisoko", "Cissoko"],
    ["Haïdara", "Haidara"],
    ["Bah", "Ba"],
    ["Kouyaté", "Kouyate", "Kuyate"],
    ["Kassogué", "Kassogue"],
    ["Mariam", "Maryam", "Mariame"],
    ["Fatoumata", "Fatumata"],
    ["Aminata", "Aminatta"],
    ["Oumar", "Umar"],
    ["Moussa", "Musa"],
    ["Boubacar", "Bubakar"],
    ["Seydou", "Seidu", "Saydou", "Seïdou"],
    ["Adama", "ADAMA", "adama"],
    ["Djénéba", "Jeneba", "Dieneba"],
    ["Kadiatou", "Kadjatou"],
    ["Souleymane", "Souleimane", "Suleyman"],
    ["Ousmane", "Usman"],
    ["Cheick", "Cheikh", "Cheik", "Check"],
    ["Aïcha", "Aisha"],
    ["Sékou", "Sekou", "Seku"],
    ["Bakary", "Bakari"],
    # The spellings the health centre's search missed: one jamu each.
    ["Traoré", "Trawore", "Tarawele", "Traouré", "TARAWELE"],
    ["Coulibaly", "Kulubali", "Kouloubaly", "Kulibali"],
    ["Doumbia", "Dunbiya", "Dumbiya"],
    ["Bagayoko", "Bagayogo"],
    ["Keïta", "Keyta"],
    ["Touré", "Turay"],
    ["Cissé", "Sise", "Sesay"],
    ["Maïga", "Mayga"],
    ["Dao", "Daou", "Dawo"],
    ["Diallo", "Jallow"],
    ["Camara", "Kamara"],
    ["Diabaté", "Jabate", "Jobarteh"],
    ["Théra", "Tera"],  # th: the h is silent
    ["Bouaré", "Buare"],  # u before a vowel is the glide w, as ou
    ["Samba", "Sanba"],  # n before b or p: Bambara n, French m
]

# Different names that a careless key would merge.
KEPT_APART = [
    ("Traoré", "Touré"),
    ("Diarra", "Diallo"),
    ("Keita", "Konaté"),
    ("Coulibaly", "Camara"),
    ("Cissé", "Sidibé"),
    ("Sow", "Sy"),
    ("Fané", "Fana"),  # Fané is a Bambara jamu; Fana is a town and a given name
    ("Kané", "Kanté"),
    ("Kané", "Koné"),
    ("Koné", "Konaté"),
    ("Diakité", "Diabaté"),
    ("Mariam", "Mariko"),
    ("Moussa", "Massa"),
    ("Aminata", "Amina"),
    ("Hawa", "Awa"),
    ("Mamadou", "Mahamadou"),
    ("Ibrahim", "Ibrahima"),
    ("Sidibé", "Sidi"),
    ("Aïcha", "Aïssata"),
    # Clan names close in sound or in the table's neighbourhood, yet different jamu.
    ("Traoré", "Tounkara"),
    ("Dao", "Diallo"),
    ("Dao", "Daouda"),
    ("Sissoko", "Cissé"),
    ("Kamissoko", "Camara"),
    ("Diawara", "Diarra"),
    ("Doumbia", "Dembélé"),
    ("Bagayoko", "Sinayogo"),
    ("Sylla", "Sy"),
]


@pytest.mark.parametrize("group", VARIANT_GROUPS, ids=lambda g: g[0])
def test_spelling_variants_share_one_key(group):
    keys = {name_key(spelling) for spelling in group}
    assert len(keys) == 1, dict(zip(group, map(name_key, group), strict=True))


@pytest.mark.parametrize(("a", "b"), KEPT_APART, ids=lambda n: n)
def test_different_names_keep_different_keys(a, b):
    assert name_key(a) != name_key(b)


def test_clan_table_names_its_sources_and_its_groups_never_overlap():
    data = json.loads(CLAN_NAMES_PATH.read_text("utf-8"))
    assert "Bambara orthography" in data["source"] and "civil registers" in data["source"]
    canonical = [name_key(group[0]) for group in data["groups"]]
    assert len(set(canonical)) == len(canonical)  # two groups would be one name
    for group, key in zip(data["groups"], canonical, strict=True):
        assert {name_key(spelling) for spelling in group} == {key}, group


def test_a_spelling_in_two_clan_groups_is_refused():
    with pytest.raises(ValueError, match="Tarawele"):
        _clan_table([["Traoré", "Tarawele"], ["Touré", "Tarawele"]])


def test_ba_and_bah_are_one_name():
    # Bâ, Ba and Bah are one Fulɓe jamu; the final h is only a spelling habit.
    assert name_key("Bâ") == name_key("Ba") == name_key("Bah") == "ba"


def test_known_keys():
    assert name_key("Coulibaly") == "kulibali"
    assert name_key("Diarra") == "jara"
    assert name_key("Touré") == "tur"
    assert name_key("Ouattara") == "watara"


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Keïta", "keita"),
        ("  N'Diaye-Sow ", "n diaye sow"),
        ("Kéïta", "keita"),
        ("Françoise", "francoise"),
        ("TRAORÉ  Moussa", "traore moussa"),
        ("Ag\u00a0Mohamed", "ag mohamed"),
        ("N\u2019Golo", "n golo"),
        ("Mme. Sangaré", "mme sangare"),
        ("Dembélé\tAwa\n", "dembele awa"),
        ("", ""),
        (" - ' . ", ""),
    ],
)
def test_fold_examples(raw, folded):
    assert fold(raw) == folded


def test_name_keys_fold_then_key_each_word():
    assert name_keys("N'Diaye-Sow Aminata") == ["n", "jei", "sow", "aminata"]
    assert name_keys("Ndiaye") == ["njei"]
    assert name_keys("COULIBALY  Fatoumata") == ["kulibali", "fatumata"]
    assert name_keys(" -- . ") == []


def test_name_keys_skip_words_without_latin_letters():
    assert name_keys("Traoré 123 محمد") == ["traor"]


def test_name_key_folds_its_argument():
    assert name_key("  Kéïta ") == name_key("keita")


latin_words = st.text(alphabet=string.ascii_letters + "àâäçéèêëïîôöùûüÿ", min_size=1)


@given(st.text())
def test_fold_is_idempotent(text):
    assert fold(fold(text)) == fold(text)


@given(st.text())
def test_fold_has_no_capitals_edge_or_double_spaces(text):
    folded = fold(text)
    assert folded == folded.strip()
    assert "  " not in folded
    assert folded == folded.casefold()


@given(st.text())
def test_key_is_lowercase_ascii_letters_only(text):
    assert re.fullmatch(r"[a-z]*", name_key(text))


@given(latin_words)
def test_key_of_a_latin_word_is_never_empty(word):
    assert name_key(word) != ""


@given(latin_words)
def test_key_of_a_key_is_the_key(word):
    key = name_key(word)
    assert name_key(key) == key


@given(latin_words)
def test_key_ignores_case_and_accents(word):
    assert name_key(word.upper()) == name_key(word) == name_key(fold(word))


@given(st.text())
def test_name_keys_are_the_nonempty_keys_of_the_folded_words(text):
    expected = [name_key(w) for w in fold(text).split()]
    assert name_keys(text) == [k for k in expected if k]


# --- Seed data -----------------------------------------------------------------------------

GROUPS = {
    "bambara",
    "malinke",
    "fulfulde",
    "dogon",
    "songhai",
    "soninke",
    "tamasheq",
    "senufo_minianka",
    "bozo_somono",
    "bobo",
}


@pytest.fixture(scope="module")
def seed():
    text = resources.files("appliance.seed").joinpath("data/names.json").read_text("utf-8")
    return json.loads(text)


def _assert_distinct(names, label):
    assert all(isinstance(n, str) and n.strip() == n and n for n in names), label
    folded = [fold(n) for n in names]
    assert len(set(folded)) == len(folded), f"{label}: the same name twice"
    keys = [" ".join(name_keys(n)) for n in names]
    assert len(set(keys)) == len(keys), f"{label}: two spellings of one name"


def test_seed_names_the_source(seed):
    assert isinstance(seed["source"], str) and len(seed["source"]) > 40


def test_seed_family_names(seed):
    families = seed["family_names"]
    assert set(families) == GROUPS
    for group, names in families.items():
        assert 8 <= len(names) <= 25, group
        _assert_distinct(names, group)
    assert all(n.startswith("Ag ") for n in families["tamasheq"])
    assert seed["tamasheq_patronymic"]["M"] == "Ag"
    assert seed["tamasheq_patronymic"]["F"] == "Walet"


def test_seed_given_names(seed):
    given_names = seed["given_names"]
    assert set(given_names) == {"F", "M"}
    for sex, names in given_names.items():
        assert 60 <= len(names) <= 120, sex
        _assert_distinct(names, sex)
    assert not {fold(n) for n in given_names["F"]} & {fold(n) for n in given_names["M"]}


def test_seed_spelling_variants_are_one_key_each(seed):
    groups = seed["spelling_variants"]
    assert 15 <= len(groups) <= 30
    known = {fold(n) for names in seed["family_names"].values() for n in names}
    known |= {fold(n) for names in seed["given_names"].values() for n in names}
    group_keys = []
    for group in groups:
        assert len(group) >= 2 and len(set(group)) == len(group), group
        keys = {" ".join(name_keys(spelling)) for spelling in group}
        assert len(keys) == 1, group
        group_keys.append(keys.pop())
        # The seeder starts from a listed name and writes it another way.
        assert known & {fold(s) for s in group}, group
    assert len(set(group_keys)) == len(group_keys), "two groups hold the same name"


def test_seed_villages(seed):
    villages = seed["villages"]
    assert 12 <= len(villages) <= 20
    assert all(set(v) == {"name", "distance_km", "population_share"} for v in villages)
    _assert_distinct([v["name"] for v in villages], "villages")
    assert all(0 <= v["distance_km"] <= 15 for v in villages)
    assert all(0 < v["population_share"] < 1 for v in villages)
    assert sum(v["population_share"] for v in villages) == pytest.approx(1.0, abs=1e-9)
    home, *others = villages
    assert home["distance_km"] == 0
    assert all(home["population_share"] > v["population_share"] for v in others)


def test_seed_phone_prefixes(seed):
    prefixes = seed["phone_prefixes"]
    assert prefixes
    assert len({p["prefix"] for p in prefixes}) == len(prefixes)
    for p in prefixes:
        assert re.fullmatch(r"[5-9]\d?", p["prefix"]), p
        assert p["operator"].strip()
    assert sum(p["subscriber_share"] for p in prefixes) == pytest.approx(1.0, abs=1e-9)
