"""French first, English switchable. The source strings are French (the clinical engine already
speaks French); `locale/en/LC_MESSAGES/messages.po` translates them to English."""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
LOCALE_DIR = Path(__file__).parent / "locale"


@cache
def catalog(lang: str) -> dict[str, str]:
    """msgid → translation for `lang` (empty for French, the source language)."""
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if lang == DEFAULT_LANGUAGE or not path.is_file():
        return {}
    with path.open("rb") as f:
        po = read_po(f, locale=lang)
    return {m.id: m.string for m in po if m.id and isinstance(m.id, str) and m.string}


class Translator:
    def __init__(self, lang: str):
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
        self._messages = catalog(self.lang)

    def gettext(self, message: str) -> str:
        return self._messages.get(message, message)

    __call__ = gettext


def N_(message: str) -> str:
    """Marks a string for extraction; it is translated where it is shown."""
    return message


def dmy(value: Any) -> str:
    """31/12/2026: how dates are written in Mali."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    return value.strftime("%d/%m/%Y")


def age_text(days: int, t: Any) -> str:
    if days < 61:
        return t("%(n)s j") % {"n": days}
    months = days * 12 // 365
    if months < 24:
        return t("%(n)s mois") % {"n": months}
    return t("%(n)s ans") % {"n": days // 365}
