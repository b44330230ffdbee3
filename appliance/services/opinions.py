"""Second opinions: a clinician asks the district about one patient; the question waits in
SQLite until the modem daemon carries it (appliance/outbox/conversations.py), and the replies
come back onto the record and the asker's home.

Consent: without the patient's consent to their name being sent, a question that names them
is refused (the clinician rewrites it) and any name the summary would carry is masked; the
text fixed here is the text that leaves, checked once more before it is stored.
"""

from __future__ import annotations

from typing import Any

from appliance.clinical.case_summary import case_summary, name_words, names_in
from appliance.domain.permissions import ASK_OPINION, READ_PATIENT
from appliance.facility_file import OpinionSettings
from appliance.ids import uuid7
from appliance.opinion.message import MAX_QUESTION_CHARS, compose
from appliance.opinion.photo import fit_photo
from appliance.services import patients
from appliance.services.context import Actor, Context
from appliance.services.errors import Conflict, NotProvisioned

NOT_SET_UP = (
    "les demandes d'avis ne sont pas configurées : [opinion] district_user_group ou"
    " district_users dans le fichier de l'établissement / second opinions are not set up:"
    " [opinion] in the facility file"
)


class QuestionRefused(Conflict):
    """The question cannot go as written; the message says what to change."""


def ask(
    ctx: Context,
    actor: Actor,
    patient_ref: str,
    question: str,
    *,
    settings: OpinionSettings,
    photo: bytes | None = None,
    consent_name: bool = False,
) -> dict[str, Any]:
    """Queue a question about one patient, with the case summary and an optional photo
    (re-encoded to the budget, no metadata). Returns the stored question."""
    ctx.require(actor, ASK_OPINION)
    if not settings.enabled:
        raise NotProvisioned(NOT_SET_UP)
    question = (question or "").strip()
    if not question:
        raise QuestionRefused("écrivez la question / write the question")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionRefused(
            f"question trop longue ({len(question)} caractères, {MAX_QUESTION_CHARS} au plus)"
            f" / question too long"
        )
    picture = fit_photo(photo, max_bytes=settings.photo_max_kb * 1000) if photo else None
    record = patients.record(ctx, actor, patient_ref)
    words = name_words(record)
    if not consent_name and (found := names_in(question, words)):
        raise QuestionRefused(
            f"la question nomme le patient ({', '.join(found)}) sans son consentement : retirez"
            " le nom (le numéro de santé l'identifie) / the question names the patient without"
            " consent: remove the name"
        )
    reading = ctx.now()
    summary = case_summary(record, reading.today, include_name=consent_name)
    qid = uuid7()
    subject, body = compose(
        question_id=qid,
        question=question,
        summary=summary,
        facility=ctx.facility_code,
        name_words=[] if consent_name else words,
        has_photo=picture is not None,
    )
    if not consent_name and names_in(f"{subject}\n{body}", words):
        raise QuestionRefused("the patient's name is still in the message")  # a bug: never sent
    with ctx.store.transaction():
        ctx.store.opinions.add(
            question_id=qid,
            patient_id=record["id"],
            asked_by=actor.id,
            asked_at=reading.iso(),
            question=question,
            name_consented=consent_name,
            subject=subject,
            body=body,
            photo=picture,
        )
        ctx.audit(
            actor,
            "opinion.ask",
            patient_id=record["id"],
            detail={
                "question_id": qid,
                "name_consented": consent_name,
                "photo_bytes": len(picture) if picture else 0,
            },
            reading=reading,
        )
    return ctx.store.opinions.get(qid)  # type: ignore[return-value]


def for_patient(ctx: Context, actor: Actor, patient_ref: str) -> list[dict[str, Any]]:
    """The record's questions with their replies, newest first. The asker's replies are no
    longer news on their home once seen here. Audited when there are questions to show: the
    kiosk reads this at each record's opening, and an empty list is not worth a commit to
    the card (30 to 60 kB each)."""
    ctx.require(actor, READ_PATIENT)
    patient = patients.resolve(ctx, patient_ref)
    rows = ctx.store.opinions.for_patient(patient["id"])
    if not rows:
        return rows
    reading = ctx.now()
    with ctx.store.transaction():
        if any(r["asked_by"] == actor.id for r in rows):
            ctx.store.opinions.mark_seen(patient["id"], asked_by=actor.id, now=reading.iso())
        ctx.audit(actor, "opinion.view", patient_id=patient["id"], reading=reading)
    return rows


def listing(
    ctx: Context, actor: Actor, *, statuses: tuple[str, ...] = (), limit: int = 100
) -> list[dict[str, Any]]:
    """Every question (health numbers, no names), newest first."""
    ctx.require(actor, READ_PATIENT)
    rows = ctx.store.opinions.list(statuses=statuses, limit=limit)
    ctx.audit(actor, "opinion.list", detail={"questions": len(rows)})
    return rows


def news(ctx: Context, actor: Actor) -> list[dict[str, Any]]:
    """Replies to the actor's questions not seen yet: the notification on their home."""
    if not isinstance(actor, Actor):
        return []
    return ctx.store.opinions.unseen_replies(actor.id)


def photo(ctx: Context, actor: Actor, question_id: str) -> bytes | None:
    ctx.require(actor, READ_PATIENT)
    q = ctx.store.opinions.get(question_id)
    if q is None:
        return None
    ctx.audit(actor, "opinion.photo", patient_id=q["patient_id"])
    return ctx.store.opinions.photo(question_id)
