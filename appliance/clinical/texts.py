"""How the clinical engine words what it finds, in French first and in the reader's language.

An alert's reason or a due item's reason is a French template (a catalogue msgid, marked
N_) and its values; `render` fills the template in the reader's language, with `t` the
web app's or the kiosk's translator (a str -> str callable; None keeps the French). The
stored and JSON forms keep the French text too, for the CLI, the reports and old readers.

Values (JSON-able, so they survive the API and the stored items):
  str           a msgid (a danger sign, a condition, a method) translated with `t`; a
                date already written 31/12/2026 passes unchanged
  int           written as is
  {"num": x}    a measure: decimal comma in French ("38,5"), point in English
  {"msg": template, "args": {...}}   a nested message, rendered the same way
  [value, ...]  values joined with ", "
  {"join": sep, "items": [...]}   values joined with sep

This module imports nothing of the web app: the engine stays pure, and babel.cfg extracts
the N_ marks of appliance/clinical for the catalogue.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Translate = Callable[[str], str]


def N_(message: str) -> str:
    """Marks a French template for the catalogue; translated where it is shown."""
    return message


def num(x: float) -> dict[str, float]:
    """A measure, written with the reader's decimal separator."""
    return {"num": x}


def msg(template: str, **args: Any) -> dict[str, Any]:
    """A nested message (one part of a longer reason)."""
    return {"msg": template, "args": args}


def _french(message: str) -> str:
    return message


def _number(x: float, lang: str) -> str:
    text = f"{x:g}".replace("-", "−")
    return text if lang == "en" else text.replace(".", ",")


def value_text(value: Any, t: Translate | None = None) -> str:
    tr = t or _french
    if isinstance(value, dict):
        if "join" in value:  # values with their own separator (" ; " between amounts)
            return value["join"].join(value_text(v, t) for v in value["items"])
        if "num" in value:
            return _number(value["num"], getattr(t, "lang", "fr"))
        if "msg" in value:
            return render(value["msg"], value.get("args") or {}, t)
    if isinstance(value, list | tuple):
        return ", ".join(value_text(v, t) for v in value)
    if isinstance(value, str):
        return tr(value) if value else value
    return str(value)


def render(template: str, args: Mapping[str, Any] | None = None, t: Translate | None = None) -> str:
    """The template in the reader's language with its values; French when `t` is None."""
    tr = t or _french
    values = {k: value_text(v, t) for k, v in (args or {}).items()}
    try:
        return tr(template) % values
    except (KeyError, ValueError, TypeError):
        # a translation whose placeholders differ from its msgid's: the French, not a crash
        return template % values
