"""The DHIS2 message of a second opinion: subject and text fixed when the question is asked.
Pure."""

from __future__ import annotations

from typing import Any

from appliance.clinical.case_summary import mask_names, summary_text

MAX_QUESTION_CHARS = 2000
SUBJECT_PREFIX = "Avis"


def reference(question_id: str) -> str:
    """The question's tag in the subject: how a conversation created by a send whose reply
    was lost is found again, instead of opening a second one."""
    return "KNY-" + question_id.replace("-", "")[-12:]


def compose(
    *,
    question_id: str,
    question: str,
    summary: dict[str, Any],
    facility: str,
    name_words: list[str],
    has_photo: bool,
) -> tuple[str, str]:
    """(subject, text). Without consent `name_words` lists the patient's names, masked
    wherever the summary would carry them (the question itself was checked before)."""
    ref = reference(question_id)
    subject = f"{SUBJECT_PREFIX} {facility} {summary['health_number']} [{ref}]"
    text = "\n".join(
        [
            f"Demande d'avis de {facility} ({ref})",
            "",
            question.strip(),
            "",
            "— Résumé du cas —",
            summary_text(summary),
            *(["", "Photo jointe."] if has_photo else []),
            "",
            "Répondez dans cette conversation : la réponse s'affiche dans le dossier du patient.",
        ]
    )
    return mask_names(subject, name_words), mask_names(text, name_words)
