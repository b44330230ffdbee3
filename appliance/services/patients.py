"""Registering, finding, opening and merging patient records."""

from __future__ import annotations

from datetime import date
from typing import Any

from appliance.clinical.summary import clinical_summary
from appliance.domain.encounter_rules import PatientFacts, encounter_types_allowed
from appliance.domain.names import fold, name_key
from appliance.domain.patient import estimated_birth_date, normalise_phone, validate_patient
from appliance.domain.permissions import (
    EDIT_PATIENT,
    MERGE_PATIENTS,
    READ_PATIENT,
    REGISTER_PATIENT,
)
from appliance.ids import parse_health_number
from appliance.services import follow_up
from appliance.services.context import Actor, Context
from appliance.services.errors import Conflict, NotFound, PossibleDuplicates
from appliance.store.patients import EDITABLE_FIELDS, search_columns

# Search tiers, closest first: every word is a name exactly; every word is a name or sounds
# like one (phonetic key, clan-name equivalents: Tarawele for Traoré); every word is that or the
# start of a name (Dao for Daouda); every word sounds like the start of a name. A whole name
# spelled another way comes before longer names that merely start alike. Each tier leaves out
# the ones before it, so a patient appears once; within a tier the most recently seen first.
TIER_SCORES = (1.0, 0.8, 0.7, 0.6)
# Shortest phonetic key used as the start of a name's key ("sounds like the start of").
KEY_PREFIX_MIN = 3
# A page of results: what the screens show at once, and the most a caller may ask for.
PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# A mother younger than this at the birth is a wrong record or a wrong date, not a mother.
MIN_MOTHER_AGE_YEARS = 10


def _fts_word(word: str) -> str:
    return '"' + word.replace('"', "") + '"'


def _all(terms: list[str]) -> str:
    return " AND ".join(f"({t})" for t in terms)


def _tier_queries(words: list[str]) -> list[str]:
    def term(w: str, name_prefix: str, key_prefix: str) -> str:
        key = name_key(w)
        names = f"search_names:{_fts_word(w)}{name_prefix}"
        if len(key) < KEY_PREFIX_MIN or 2 * len(key) < len(w):
            # "zzzzzz" keys to "z", "kkkkk" to "k": as a prefix of keys they would match half
            # the register. A key this short, or this much shorter than what was typed, is
            # only used whole.
            key_prefix = ""
        return f"{names} OR search_keys:{_fts_word(key)}{key_prefix}" if key else names

    # Each tier holds the one before it: E within S within P within Q.
    exact = _all([f"search_names:{_fts_word(w)}" for w in words])
    same_sound = _all([term(w, "", "") for w in words])
    prefix = _all([term(w, "*", "") for w in words])
    sound_prefix = _all([term(w, "*", "*") for w in words])
    return [
        exact,
        f"({same_sound}) NOT ({exact})",
        f"({prefix}) NOT ({same_sound})",
        f"({sound_prefix}) NOT ({prefix})",
    ]


def _with_score(rows: list[dict[str, Any]], score: float) -> list[dict[str, Any]]:
    return [{**r, "score": score} for r in rows]


def search(
    ctx: Context,
    actor: Actor,
    query: str,
    *,
    sex: str | None = None,
    age_min: int | None = None,
    age_max: int | None = None,
    village: str | None = None,
    limit: int = PAGE_SIZE,
) -> list[dict[str, Any]]:
    """Find patients by health number, phone number or name: the first `limit` results of
    search_page."""
    return search_page(
        ctx, actor, query, sex=sex, age_min=age_min, age_max=age_max, village=village, limit=limit
    )["results"]


def search_page(
    ctx: Context,
    actor: Actor,
    query: str,
    *,
    sex: str | None = None,
    age_min: int | None = None,
    age_max: int | None = None,
    village: str | None = None,
    limit: int = PAGE_SIZE,
    offset: int = 0,
) -> dict[str, Any]:
    """Find patients by health number, phone number or name (accents, case, the usual
    spelling variants and clan-name equivalents ignored; the last word may be unfinished).
    Closest matches first, then the most recently seen. One page: {"results", "offset",
    "limit", "more"}; `more` says a next page exists (one row more is read, nothing counted)."""
    ctx.require(actor, READ_PATIENT)
    reading = ctx.now()
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit {limit}: expected 1 to {MAX_PAGE_SIZE}")
    if offset < 0:
        raise ValueError(f"offset {offset}: expected 0 or more")
    # Control characters (a NUL ends an FTS5 string early) are never part of a name or number.
    query = "".join(ch if ch.isprintable() else " " for ch in query or "").strip()
    if not query:
        raise ValueError("type a name, a health number or a phone number")
    if sex is not None and sex.upper() not in ("F", "M"):
        raise ValueError(f"sex {sex!r}: expected F or M")
    today = reading.today
    born_after = born_before = None
    if age_max is not None:
        born_after = (estimated_birth_date(today, years=age_max + 1)).isoformat()
    if age_min is not None:
        born_before = estimated_birth_date(today, years=age_min).isoformat()
    results: list[dict[str, Any]] = []
    wanted = limit + 1  # one more than the page: is there a next page?
    number = parse_health_number(query)
    if number is not None:
        _code, sequence, check_ok = number
        row = ctx.store.patients.get_by_sequence(sequence)
        if row is not None and check_ok is not False:
            results = [{**row, "score": 1.0}][offset:]
    elif any(ch.isdigit() for ch in query):
        try:
            phone = normalise_phone(query)
        except Exception:
            raise ValueError(
                f"{query!r} is neither a name, a health number nor a phone number"
            ) from None
        results = _with_score(ctx.store.patients.by_phone(phone), 0.9)[offset:]
    else:
        words = [w for w in fold(query).split() if w]
        if not words:
            raise ValueError(f"{query!r} has no letters to search for")
        skip = offset
        for fts, score in zip(_tier_queries(words), TIER_SCORES, strict=True):
            if len(results) >= wanted:
                break
            rows = ctx.store.patients.match(
                fts,
                sex=sex.upper() if sex else None,
                born_after=born_after,
                born_before=born_before,
                village=village,
                limit=skip + wanted - len(results),
            )
            # Rows before the page belong to earlier pages; a tier too short for them all
            # leaves the rest of the skip to the next tier.
            results += _with_score(rows[skip:], score)
            skip = max(0, skip - len(rows))
    ctx.audit(
        actor,
        "patient.search",
        detail={"query": query, "results": len(results[:limit]), "offset": offset},
        reading=reading,
    )
    return {
        "results": results[:limit],
        "offset": offset,
        "limit": limit,
        "more": len(results) > limit,
    }


def find_duplicates(ctx: Context, fields: dict[str, Any]) -> list[dict[str, Any]]:
    """Already-registered patients that may be this one: a family name that sounds the same,
    a given name in common, born within a year, and the same village or the same phone."""
    keys = search_columns(fields["family_name"], fields["given_names"])
    given = {name_key(w) for w in fold(fields["given_names"]).split()}
    year = int(fields["birth_date"][:4])
    candidates = ctx.store.patients.similar(
        family_key=keys["family_key"], born_from=f"{year - 1}-01-01", born_to=f"{year + 1}-12-31"
    )
    village = fold(fields.get("village") or "")
    found = []
    for c in candidates:
        c_given = {name_key(w) for w in fold(c["given_names"]).split()}
        same_place = (village and fold(c["village"] or "") == village) or (
            fields.get("phone") and c["phone"] == fields["phone"]
        )
        if given & c_given and same_place and c["sex"] == fields["sex"]:
            found.append(c)
    if fields.get("phone"):
        for c in ctx.store.patients.by_phone(fields["phone"]):
            if (
                c["id"] not in {f["id"] for f in found}
                and abs(int(c["birth_date"][:4]) - year) <= 1
                and c["sex"] == fields["sex"]
                and given & {name_key(w) for w in fold(c["given_names"]).split()}
            ):
                found.append(c)
    return found


def register(
    ctx: Context, actor: Actor, data: dict[str, Any], *, accept_duplicates: bool = False
) -> dict[str, Any]:
    """Register a patient. Raises PossibleDuplicates (with the candidates) unless a person
    has looked at them and chose to register anyway."""
    ctx.require(actor, REGISTER_PATIENT)
    reading = ctx.now()
    fields = validate_patient(data, today=reading.today).fields()
    if fields.get("mother_id"):
        mother = ctx.store.patients.get(fields["mother_id"])
        if mother is None:
            raise NotFound(f"no patient {fields['mother_id']} (mother)")
        if mother["sex"] != "F":
            raise ValueError("mother_id must be a woman's record")
        if (
            date.fromisoformat(fields["birth_date"]) - date.fromisoformat(mother["birth_date"])
        ).days < MIN_MOTHER_AGE_YEARS * 365:
            raise ValueError(
                f"the mother ({mother['health_number']}, born {mother['birth_date']}) would have"
                f" been under {MIN_MOTHER_AGE_YEARS} at this birth: check the mother or the date"
            )
    if not accept_duplicates:
        candidates = find_duplicates(ctx, fields)
        if candidates:
            raise PossibleDuplicates(candidates)
    facility_code = ctx.facility_code
    # the record and its audit row commit together, or neither does
    with ctx.store.transaction():
        row = ctx.store.patients.insert(
            fields, registered_by=actor.id, registered_at=reading.iso(), facility_code=facility_code
        )
        follow_up.refresh(ctx, [row["id"]], on=reading.today)
        ctx.audit(
            actor,
            "patient.register",
            patient_id=row["id"],
            detail={"duplicates_accepted": accept_duplicates},
            reading=reading,
        )
    return row


def get(ctx: Context, actor: Actor, patient_id: str) -> dict[str, Any]:
    """One patient's demographics, without the encounters (audited as a read)."""
    ctx.require(actor, READ_PATIENT)
    row = ctx.store.patients.get(patient_id)
    if row is None:
        raise NotFound(f"no patient {patient_id}")
    ctx.audit(actor, "patient.view_summary", patient_id=patient_id)
    return row


def resolve(ctx: Context, patient_ref: str) -> dict[str, Any]:
    """A patient by id or by health number."""
    row = ctx.store.patients.get(patient_ref)
    if row is None:
        number = parse_health_number(patient_ref)
        if number is not None and number[2] is not False:
            row = ctx.store.patients.get_by_sequence(number[1])
    if row is None:
        raise NotFound(f"no patient {patient_ref}")
    return row


def record(ctx: Context, actor: Actor, patient_ref: str) -> dict[str, Any]:
    """The whole record: demographics, mother and children, every current encounter."""
    ctx.require(actor, READ_PATIENT)
    reading = ctx.now()
    patient = resolve(ctx, patient_ref)
    pid = patient["id"]
    encounters = ctx.store.encounters.for_patient(pid)
    mother = ctx.store.patients.get(patient["mother_id"]) if patient["mother_id"] else None
    children = ctx.store.patients.children(pid)
    facts = PatientFacts.of(patient, encounters, children)
    out = {
        **patient,
        "age_days": (reading.today - date.fromisoformat(patient["birth_date"])).days,
        "mother": mother
        and {k: mother[k] for k in ("id", "health_number", "family_name", "given_names", "phone")},
        "children": [
            {k: c[k] for k in ("id", "health_number", "given_names", "birth_date", "sex")}
            for c in children
        ],
        "merged_from": ctx.store.patients.merged_into_this(pid),
        "encounters": encounters,
        # every encounter type → None when it may be recorded today, else the reason code
        # (appliance.domain.encounter_rules): what the web page and the kiosk offer
        "encounter_types": encounter_types_allowed(facts, reading.today),
    }
    out.update(
        clinical_summary(
            patient,
            encounters,
            reading.today,
            mother=mother,
            malaria_vaccine=ctx.malaria_vaccine,
        )
    )
    ctx.audit(
        actor,
        "patient.view",
        patient_id=pid,
        detail={"encounters": len(encounters)},
        reading=reading,
    )
    return out


def update(ctx: Context, actor: Actor, patient_id: str, changes: dict[str, Any]) -> dict:
    """Correct demographics; the previous values stay in patient_history."""
    ctx.require(actor, EDIT_PATIENT)
    reading = ctx.now()
    current = resolve(ctx, patient_id)
    keep = {k: current[k] for k in EDITABLE_FIELDS}
    merged = {**keep, **changes}
    if "age_years" in changes or "age_months" in changes:
        merged.pop("birth_date", None)
    fields = validate_patient(merged, today=reading.today).fields()
    changed = {k: v for k, v in fields.items() if current.get(k) != v}
    with ctx.store.transaction():
        if changed:
            ctx.store.patients.update(current["id"], changed)
            # a mother's phone, village and names are her children's contact
            children = [c["id"] for c in ctx.store.patients.children(current["id"])]
            follow_up.refresh(ctx, [current["id"], *children], on=reading.today)
        ctx.audit(
            actor,
            "patient.update",
            patient_id=current["id"],
            detail={"fields": sorted(changed)},
            reading=reading,
        )
    return ctx.store.patients.get(current["id"])  # type: ignore[return-value]


def merge(ctx: Context, actor: Actor, *, keep: str, merge_from: str, reason: str) -> dict[str, Any]:
    """Merge a duplicate into the record kept: every encounter moves, nothing is deleted."""
    ctx.require(actor, MERGE_PATIENTS)
    reading = ctx.now()
    kept, other = resolve(ctx, keep), resolve(ctx, merge_from)
    if kept["id"] == other["id"]:
        raise Conflict("a record cannot be merged into itself")
    for p in (kept, other):
        if p["merged_into"]:
            raise Conflict(f"{p['health_number']} was already merged into {p['merged_into']}")
    if len((reason or "").strip()) < 3:
        raise ValueError("say why the two records are the same person (reason)")
    with ctx.store.transaction():
        moved = ctx.store.patients.merge(
            kept_id=kept["id"],
            merged_id=other["id"],
            staff_id=actor.id,
            at=reading.iso(),
            reason=reason.strip(),
        )
        # the merged record's items go; its children now have the kept record as mother
        children = [c["id"] for c in ctx.store.patients.children(kept["id"])]
        follow_up.refresh(ctx, [kept["id"], other["id"], *children], on=reading.today)
        detail = {
            "kept": kept["id"],
            "merged": other["id"],
            "encounters_moved": moved,
            "reason": reason.strip(),
        }
        ctx.audit(actor, "patient.merge", patient_id=kept["id"], detail=detail, reading=reading)
        ctx.audit(
            actor, "patient.merged_into", patient_id=other["id"], detail=detail, reading=reading
        )
    return {"kept": kept["id"], "merged": other["id"], "encounters_moved": moved}
