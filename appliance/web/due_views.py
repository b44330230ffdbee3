"""What the follow-up pages need around services.follow_up: the tabs, one page of a list,
the page links ("51–100 sur 230"), a round's items grouped by household."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from appliance.clinical.due import MAX_LOOKAHEAD_DAYS
from appliance.services import follow_up
from appliance.services.context import Actor
from appliance.web.i18n import N_

PAGE_SIZE = 50
MAX_PAGE = 100_000  # 5 million items: more than any facility lists
DUE_TABS = {
    "today": N_("Aujourd'hui"),
    "upcoming": N_("À venir"),
    "defaulters": N_("Perdus de vue"),
    "outreach": N_("Tournée"),
}
DUE_SORTS = {"priority": N_("priorité"), "date": N_("date"), "village": N_("village")}
DAY_CHOICES = (7, 14, 30, 60, 90)
DEFAULT_DAYS = 30
MAX_DAYS = 90
ROUND_AHEAD_DAYS = 7  # a round is usually planned for the coming week


def due_page(
    ctx: Any,
    actor: Actor,
    tab: str,
    today: date,
    days: int,
    village: str | None,
    sort: str,
    page: int,
) -> dict[str, Any]:
    """One page of a tab's list; a page past the end shows the last one."""

    def read(offset: int) -> dict[str, Any]:
        if tab == "defaulters" and sort == "date":
            return follow_up.defaulters(ctx, actor, village=village, limit=PAGE_SIZE, offset=offset)
        states, end = {
            "today": (("due", "overdue"), today),
            "upcoming": (("upcoming",), today + timedelta(days=days)),
            "defaulters": (("defaulter",), today),
        }[tab]
        return follow_up.listing(
            ctx,
            actor,
            start=today,
            end=end,
            village=village,
            states=states,
            sort=sort,
            limit=PAGE_SIZE,
            offset=offset,
        )

    listed = read(offset_of(page))
    if not listed["items"] and listed["total"]:
        listed = read(offset_of(last_page(listed["total"])))
    with_people(ctx, listed["items"], today)
    return listed


def with_people(ctx: Any, items: list[dict[str, Any]], today: date) -> list[dict[str, Any]]:
    """Each item given its person's sex and birth date (`person`), whose age a row shows under
    the name: one read of at most a page of patients, after the page's permission check."""
    people = ctx.store.patients.get_many(sorted({i["patient_id"] for i in items}))
    for item in items:
        p = people.get(item["patient_id"]) or {}
        born = p.get("birth_date")
        item["person"] = {"sex": p.get("sex"), "birth_date": born, "on": today}
    return items


def offset_of(page: int) -> int:
    return (max(page, 1) - 1) * PAGE_SIZE


def last_page(total: int) -> int:
    return max(1, -(-total // PAGE_SIZE))


def paging(total: int, page: int) -> dict[str, int]:
    """Where this page stands: its number, how many there are, its first and last item."""
    page = min(max(page, 1), last_page(total))
    first = offset_of(page) + 1
    return {
        "page": page,
        "pages": last_page(total),
        "total": total,
        "first": min(first, total),
        "last": min(first + PAGE_SIZE - 1, total),
    }


def due_links(**query: Any):
    """A function giving this list's address with some parameters changed (a page, a tab)."""

    def link(**changes: Any) -> str:
        merged = {**query, **changes}
        kept = {k: v for k, v in merged.items() if v not in ("", None)}
        return "/due?" + urlencode(kept)

    return link


def round_date(text: str, today: date) -> tuple[date | None, str | None]:
    """The round's date from the form (the coming week when empty), or why it is refused."""
    if not text.strip():
        return today + timedelta(days=ROUND_AHEAD_DAYS), None
    try:
        on = date.fromisoformat(text.strip())
    except ValueError:
        return None, N_("Cette date n'est pas valable.")
    if on < today or (on - today).days > MAX_LOOKAHEAD_DAYS:
        return None, N_("La date de la tournée doit être entre aujourd'hui et dans 92 jours.")
    return on, None


def households(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A round's items, one entry per person (their items by date), people who share a phone
    together as one household (a child listed with the mother's phone joins the mother,
    whatever their family names); in the order of the list (by name)."""
    people: dict[str, dict[str, Any]] = {}
    for item in items:
        person = people.setdefault(
            item["patient_id"],
            {"patient_id": item["patient_id"], "contact": item["contact"], "items": []},
        )
        person["items"].append(item)
    homes: dict[str, dict[str, Any]] = {}
    for person in people.values():
        contact = person["contact"]
        phone = contact.get("phone")
        home = homes.setdefault(
            f"tel:{phone}" if phone else person["patient_id"],
            {"family_names": [], "phone": phone, "people": []},
        )
        name = contact.get("family_name") or ""
        if name not in home["family_names"]:
            home["family_names"].append(name)
        home["people"].append(person)
    return list(homes.values())


def round_counts(items: list[dict[str, Any]]) -> dict[str, int]:
    states = [i["state"] for i in items]
    return {
        "people": len({i["patient_id"] for i in items}),
        "items": len(items),
        "late": states.count("due") + states.count("overdue"),
        "upcoming": states.count("upcoming"),
        "defaulters": states.count("defaulter"),
    }


def slug(text: str) -> str:
    """An ASCII file-name part: "Sébénikoro" -> "sebenikoro"."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-") or "village"
