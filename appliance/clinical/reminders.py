"""Which SMS reminders to send on a day: pure, from the day's follow-up items.

A reminder goes `days_before` days before an item's due date (or on a later day before it, if
the plan did not run that day) and once when the item becomes a defaulter (within a week, for
the same reason). Never for family planning, HIV care or a pregnancy test, and never to a
phone whose owner did not agree. At most one SMS per phone per day: a household's items share
one text. The text never names an illness or a maternal or reproductive health service (a
phone is shared): a child's vaccination may say so, everything else is a generic appointment
at the health centre. Over the daily or monthly cap, reminders are skipped and listed.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from appliance.facility_file import ReminderRules

SMS_SEPTETS = 160
# Late reminders still go this many days after the item became a defaulter (the Pi was off).
DEFAULTER_CATCH_UP_DAYS = 7
TEMPLATE_KEYS = (
    "before_generic",
    "before_child_vaccine",
    "defaulter_generic",
    "defaulter_child_vaccine",
)
LANGUAGES = ("fr", "bm")
# Longest values a placeholder may take once filled (names and facility are cut to these).
MAX_FACILITY = 24
MAX_NAMES = 24
_DATE_SAMPLE = "30/12/2026"

# GSM 7-bit default alphabet and its extension table (3GPP TS 23.038 §6.2.1): a character of
# the extension table costs two septets. The appliance does not import the modem driver.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "\f^{}\\[~]|€"

# No SMS at all for these (the patient's privacy; a programme's own contact rules).
_NEVER_KINDS = {"family_planning": "family_planning"}
_NEVER_CODES = {"chronic:hiv": "hiv"}
# Items that are the woman's own business: never to another person's phone.
_CONFIDENTIAL_KINDS = {"anc", "refer_delivery", "td", "iptp", "family_planning"}


class TemplateError(ValueError):
    """A template file that cannot be used; one line naming the file and the key."""


def gsm7_length(text: str) -> int | None:
    """Septets `text` takes, or None when a character is outside the GSM alphabet."""
    n = 0
    for ch in text:
        if ch in GSM7_BASIC:
            n += 1
        elif ch in GSM7_EXTENSION:
            n += 2
        else:
            return None
    return n


def to_gsm7(text: str) -> str:
    """Names as the GSM alphabet can carry them: accents the alphabet lacks are dropped
    (Aïssata -> Aissata), other letters (ɛ, ɔ, ɲ) become their nearest Latin ones."""
    out = []
    for ch in text.replace("ɛ", "e").replace("ɔ", "o").replace("ɲ", "ny").replace("ŋ", "ng"):
        if gsm7_length(ch) is not None:
            out.append(ch)
            continue
        base = unicodedata.normalize("NFKD", ch)[0]
        out.append(base if gsm7_length(base) is not None else "")
    return "".join(out)


def is_confidential(item: dict[str, Any]) -> bool:
    return item["kind"] in _CONFIDENTIAL_KINDS or item["reason_code"].startswith("pnc:mother:")


def _never(item: dict[str, Any]) -> str | None:
    if item["kind"] in _NEVER_KINDS:
        return _NEVER_KINDS[item["kind"]]
    if item["reason_code"] in _NEVER_CODES:
        return _NEVER_CODES[item["reason_code"]]
    if "pregnancy_test" in item["reason_code"] or item["reason_code"].startswith("hiv"):
        return "pregnancy_test" if "pregnancy_test" in item["reason_code"] else "hiv"
    return None


# -- templates ------------------------------------------------------------------------------


def load_templates(path: Path | None = None) -> dict[str, dict[str, str]]:
    """{language: {key: text}} from `path`, else the shipped file; every text checked."""
    try:
        if path is None:
            raw = (
                resources.files("appliance.clinical")
                .joinpath("data/reminder_templates.json")
                .read_text(encoding="utf-8")
            )
            where = "reminder_templates.json"
        else:
            raw = Path(path).read_text(encoding="utf-8")
            where = str(path)
        doc = json.loads(raw)
    except FileNotFoundError:
        raise TemplateError(f"{path}: no such template file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TemplateError(f"{path}: not JSON ({e})") from None
    out: dict[str, dict[str, str]] = {}
    for lang in LANGUAGES:
        texts = doc.get(lang)
        if not isinstance(texts, dict):
            raise TemplateError(f"{where}: no {lang!r} texts")
        out[lang] = {}
        for key in TEMPLATE_KEYS:
            text = texts.get(key)
            if not isinstance(text, str) or not text.strip():
                raise TemplateError(f"{where}: {lang}.{key} is missing")
            _check_template(text, f"{where}: {lang}.{key}")
            out[lang][key] = text
    return out


@cache
def default_templates() -> dict[str, dict[str, str]]:
    return load_templates(None)


def _check_template(text: str, where: str) -> None:
    try:
        sample = text.format(
            facility="F" * MAX_FACILITY, date=_DATE_SAMPLE, given_names="N" * MAX_NAMES
        )
    except (KeyError, IndexError, ValueError) as e:
        raise TemplateError(
            f"{where}: unknown placeholder {e} (use {{facility}} {{date}} {{given_names}})"
        ) from None
    length = gsm7_length(sample)
    if length is None:
        bad = next(ch for ch in sample if gsm7_length(ch) is None)
        raise TemplateError(f"{where}: {bad!r} is not in the GSM alphabet (one SMS needs it)")
    if length > SMS_SEPTETS:
        raise TemplateError(
            f"{where}: {length} characters once filled in, more than one SMS ({SMS_SEPTETS})"
        )


# -- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """What the planner needs of a patient: consent, language, first names, mother."""

    sms_consent: bool
    sms_language: str
    given_names: str
    mother_id: str | None = None

    @classmethod
    def of(cls, row: dict[str, Any]) -> Person:
        return cls(
            sms_consent=bool(row.get("sms_consent")),
            sms_language=row.get("sms_language") or "fr",
            given_names=row.get("given_names") or "",
            mother_id=row.get("mother_id"),
        )


def reminder_kind(item: dict[str, Any], on: date, days_before: int) -> str | None:
    """'before', 'defaulter' or None: whether the item calls for a reminder on `on`."""
    due = date.fromisoformat(item["due_date"])
    if item["state"] == "upcoming" and 0 < (due - on).days <= days_before:
        return "before"
    if item["state"] == "defaulter" and item.get("defaulter_from"):
        since = (on - date.fromisoformat(item["defaulter_from"])).days
        if 0 <= since < DEFAULTER_CATCH_UP_DAYS:
            return "defaulter"
    return None


def _first_name(given_names: str) -> str:
    words = to_gsm7(given_names).split()
    return words[0] if words else ""


def _names(people: list[str]) -> str:
    out = ""
    for name in dict.fromkeys(n for n in people if n):
        joined = f"{out}, {name}" if out else name
        if len(joined) > MAX_NAMES:
            break
        out = joined
    return out


def plan(
    items: list[dict[str, Any]],
    *,
    on: date,
    people: dict[str, Person],
    rules: ReminderRules,
    templates: dict[str, dict[str, str]],
    facility: str,
    already: set[tuple[str, str, str, str]] = frozenset(),  # type: ignore[assignment]
    sent_today: int = 0,
    sent_this_month: int = 0,
    phones_done: frozenset[str] | set[str] = frozenset(),
) -> dict[str, Any]:
    """The reminders to send on `on` and what is skipped, and why.

    `items`: the contract's item dicts (their state on `on`); `people`: every patient of the
    items and their mothers; `already`: (patient_id, reason_code, kind, due_date) of items
    reminded before; `sent_today`/`sent_this_month`: SMS already spent against the caps;
    `phones_done`: phones already given a text for `on` (by an earlier run that day)."""
    skipped: list[dict[str, Any]] = []
    by_phone: dict[str, list[tuple[str, dict[str, Any], str, Person]]] = {}

    def skip(item: dict[str, Any], why: str, kind: str | None = None) -> None:
        skipped.append(
            {
                "patient_id": item["patient_id"],
                "reason_code": item["reason_code"],
                "due_date": item["due_date"],
                "kind": kind,
                "why": why,
            }
        )

    for item in items:
        kind = reminder_kind(item, on, rules.days_before)
        if kind is None:
            continue
        if (item["patient_id"], item["reason_code"], kind, item["due_date"]) in already:
            continue
        never = _never(item)
        if never:
            skip(item, never, kind)
            continue
        contact = item.get("contact") or {}
        phone = contact.get("phone")
        if not phone:
            skip(item, "no_phone", kind)
            continue
        patient = people.get(item["patient_id"])
        if patient is None:
            skip(item, "no_patient", kind)
            continue
        owner_id = item["patient_id"]
        if contact.get("phone_of") == "mother":
            if is_confidential(item):
                skip(item, "confidential_other_phone", kind)
                continue
            owner_id = patient.mother_id or ""
        owner = people.get(owner_id)
        if owner is None or not owner.sms_consent:
            skip(item, "no_consent", kind)
            continue
        if phone in phones_done:
            skip(item, "phone_texted_today", kind)  # one SMS a day; it may go tomorrow
            continue
        by_phone.setdefault(phone, []).append((owner_id, item, kind, owner))

    groups = []
    for phone, entries in by_phone.items():
        owner_id, _, _, owner = entries[0]
        # one text a day: a defaulter's visit first; the phone's other items wait for tomorrow
        kind = "defaulter" if any(e[2] == "defaulter" for e in entries) else "before"
        chosen = [e for e in entries if e[2] == kind]
        items_of = [e[1] for e in chosen]
        child_vaccine = all(
            i["kind"] == "immunization" and (i.get("contact") or {}).get("phone_of") == "mother"
            for i in (e[1] for e in chosen)
        )
        due_date = min(e[1]["due_date"] for e in chosen)
        names = _names(
            [_first_name(people[e[1]["patient_id"]].given_names) for e in chosen]
            if child_vaccine
            else [_first_name(owner.given_names)]
        )
        language = owner.sms_language if owner.sms_language in LANGUAGES else "fr"
        template = templates[language][f"{kind}_{'child_vaccine' if child_vaccine else 'generic'}"]
        text = render(template, facility=facility, due_date=due_date, given_names=names)
        codes = sorted({i["reason_code"] for i in items_of})
        groups.append(
            {
                "patient_id": owner_id,
                "phone": phone,
                "kind": kind,
                "reason_codes": ",".join(codes),
                "due_date": due_date,
                "items": [
                    {
                        "patient_id": e[1]["patient_id"],
                        "reason_code": e[1]["reason_code"],
                        "kind": e[2],
                        "due_date": e[1]["due_date"],
                    }
                    for e in chosen
                ],
                "planned_for": on.isoformat(),
                "language": language,
                "text": text,
                "priority": min(int(i.get("priority") or 5) for i in items_of),
            }
        )
    # the most urgent first, then the soonest: these are the ones the cap keeps
    groups.sort(key=lambda g: (g["priority"], g["due_date"], g["phone"]))

    reminders, capped = [], []
    daily_left = max(rules.daily_max - sent_today, 0)
    monthly_left = max(rules.monthly_max - sent_this_month, 0)
    if rules.monthly_budget_xof is not None and rules.cost_per_sms_xof > 0:
        spent = sent_this_month * rules.cost_per_sms_xof
        monthly_left = min(
            monthly_left, max(rules.monthly_budget_xof - spent, 0) // rules.cost_per_sms_xof
        )
    for g in groups:
        if daily_left <= 0 or monthly_left <= 0:
            g["why"] = "daily_cap" if daily_left <= 0 else "monthly_cap"
            capped.append(g)
            continue
        daily_left -= 1
        monthly_left -= 1
        reminders.append(g)
    return {
        "on": on.isoformat(),
        "enabled": rules.enabled,
        "reminders": reminders,
        "over_cap": capped,
        "skipped": skipped,
        "cost_xof": len(reminders) * rules.cost_per_sms_xof,
        "caps": {
            "daily_max": rules.daily_max,
            "monthly_max": rules.monthly_max,
            "monthly_budget_xof": rules.monthly_budget_xof,
            "cost_per_sms_xof": rules.cost_per_sms_xof,
            "sent_today": sent_today,
            "sent_this_month": sent_this_month,
        },
    }


def render(template: str, *, facility: str, due_date: str, given_names: str) -> str:
    """The text of one SMS; names and facility are cut so it stays one GSM-7 SMS."""
    d = date.fromisoformat(due_date)
    text = template.format(
        facility=to_gsm7(facility)[:MAX_FACILITY].strip(),
        date=f"{d.day:02d}/{d.month:02d}/{d.year}",
        given_names=given_names[:MAX_NAMES],
    )
    length = gsm7_length(text)
    if length is None or length > SMS_SEPTETS:  # a template checked on load cannot get here
        raise TemplateError(f"reminder text does not fit one SMS: {text!r}")
    return text
