"""Which library topic explains an alert or a due item: the SAM alert opens the PCIMA
protocol, a danger sign in pregnancy the SONU guide, and so on. By code prefix, so a new
alert of a family (a new danger sign) finds its job aid without an edit here."""

from __future__ import annotations

from typing import Any

# Longest prefix wins; codes are the clinical engine's (appliance/clinical/alerts.py).
ALERT_TOPICS: tuple[tuple[str, str], ...] = (
    ("child.sam", "pcima"),
    ("child.mam", "pcima"),
    ("child.growth_faltering", "pcima"),
    ("child.imci_danger_sign.", "pcime"),
    ("anc.hypertension.", "sonu"),
    ("anc.danger_sign.", "sonu"),
    ("anc.vital.", "sonu"),
    ("anc.anaemia.", "cpn"),
    ("pregnancy.high_risk.", "cpn"),
)

# Due items by kind (appliance/clinical/due.py KINDS).
DUE_TOPICS: dict[str, str] = {
    "immunization": "pev",
    "td": "pev",
    "family_planning": "pf",
    "growth_monitoring": "pcima",
    "anc": "cpn",
    "iptp": "cpn",
    "refer_delivery": "sonu",
    "pnc": "sonu",
}


def alert_topic(code: str) -> str | None:
    best: tuple[int, str] | None = None
    for prefix, topic in ALERT_TOPICS:
        if code.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), topic)
    return best[1] if best else None


def due_topic(kind: str) -> str | None:
    return DUE_TOPICS.get(kind)


def topic_of(item: Any) -> str | None:
    """The topic of an alert (an Alert or its dict: `code`) or a due item (`kind`)."""
    get = item.get if isinstance(item, dict) else lambda k: getattr(item, k, None)
    code = get("code")
    if isinstance(code, str) and code:
        return alert_topic(code)
    kind = get("kind")
    return due_topic(kind) if isinstance(kind, str) else None
