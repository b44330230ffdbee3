"""The English catalog of the web app covers every French msgid, with the same placeholders.

The msgids are extracted with babel.cfg (the same configuration as `pybabel extract -F
babel.cfg`), through Babel's Python API."""

from __future__ import annotations

import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from appliance.web.i18n import LOCALE_DIR, Translator
from appliance.web.render import TEMPLATES, environment

ROOT = Path(__file__).resolve().parents[2]
BABEL_CFG = ROOT / "babel.cfg"
EN_PO = LOCALE_DIR / "en" / "LC_MESSAGES" / "messages.po"

PLACEHOLDER = re.compile(r"%\((\w+)\)[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")


@cache
def extracted() -> dict[str, list[str]]:
    """msgid → where it is used ("file:line")."""
    with BABEL_CFG.open() as f:
        method_map, options_map = parse_mapping_cfg(f, str(BABEL_CFG))
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=DEFAULT_KEYWORDS
    ):
        assert isinstance(message, str), f"{filename}:{lineno}: plural or context message"
        found.setdefault(message, []).append(f"{filename}:{lineno}")
    return found


@cache
def english() -> Catalog:
    with EN_PO.open("rb") as f:
        return read_po(f, locale="en")


def _entries() -> dict[str, str]:
    return {m.id: m.string for m in english() if m.id}


def _placeholders(text: str) -> Counter[str]:
    return Counter(PLACEHOLDER.findall(text))


def test_extraction_finds_every_kind_of_source():
    where = {loc.split(":")[0] for locs in extracted().values() for loc in locs}
    assert "appliance/web/labels.py" in where  # N_()
    assert "appliance/web/forms.py" in where  # N_() in MESSAGES
    assert "appliance/web/routes/status.py" in where  # t()
    assert "appliance/web/app.py" in where  # N_() around error pages
    assert "appliance/web/templates/base.html" in where  # {{ _() }}
    assert len(extracted()) > 300


def test_every_msgid_has_an_english_translation():
    entries = _entries()
    missing = {
        msgid: locs for msgid, locs in extracted().items() if not (entries.get(msgid) or "").strip()
    }
    assert not missing, f"msgids without an English translation: {missing}"


def test_translations_keep_the_placeholders():
    wrong = {
        m.id: m.string
        for m in english()
        if m.id and m.string and _placeholders(m.id) != _placeholders(m.string)
    }
    assert not wrong, f"placeholders differ: {wrong}"


def test_no_stale_or_fuzzy_entries():
    entries = _entries()
    stale = sorted(set(entries) - set(extracted()))
    assert not stale, f"catalog entries no longer in the code (remove them): {stale}"
    fuzzy = sorted(m.id for m in english() if m.id and m.fuzzy)
    assert not fuzzy, f"fuzzy entries (check and unmark): {fuzzy}"


def test_translator():
    assert Translator("en")("Se connecter") == "Log in"
    assert Translator("en")("Consultation prénatale (CPN)") == "Antenatal care (ANC)"
    assert Translator("en")("%(n)s mois") % {"n": 5} == "5 months"
    assert Translator("fr")("Se connecter") == "Se connecter"
    assert Translator("xx")("Se connecter") == "Se connecter"  # unknown language: French
    assert Translator("en")("pas dans le catalogue") == "pas dans le catalogue"


@pytest.mark.parametrize("name", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_templates_compile(name):
    assert environment().get_template(name) is not None
