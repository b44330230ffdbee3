"""The index of a library stick: `keneya-bibliotheque/index.json`, one entry per PDF.

    {"documents": [{"file": "pcima.pdf", "title": "Protocole PCIMA", "language": "fr",
                    "topic": "pcima", "source": "Ministère de la Santé", "date": "2017-06",
                    "sha256": "<64 hex digits>", "page": 12}]}

JSON rather than a spreadsheet's CSV: one encoding (UTF-8), no separator or quoting to guess.
Everything is checked before a byte is copied; the first problem is said in one line naming
the entry and the field."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from appliance.library import LibraryError

FOLDER = "keneya-bibliotheque"
INDEX_FILE = "index.json"
# Caps: an index is a few kilobytes; a guideline a few megabytes (a scanned one tens).
MAX_INDEX_BYTES = 512 * 1024
MAX_DOCUMENTS = 500
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024
LANGUAGES = ("fr", "en", "bm")
# The topics alerts and due items point to (appliance.library.topics); others are allowed,
# shown, searched, just never linked from an alert.
KNOWN_TOPICS = ("pcime", "pcima", "sonu", "cpn", "pf", "pev", "paludisme", "vih", "tb")

_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,119}\.pdf$", re.IGNORECASE)
_TOPIC = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_DATE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class Entry(BaseModel):
    """One document of the index."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    file: str = Field(min_length=5, max_length=124)
    title: str = Field(min_length=1, max_length=200)
    language: str
    topic: str
    source: str = Field(min_length=1, max_length=200)
    date: str
    sha256: str
    page: int | None = Field(default=None, ge=1, le=10_000)

    @field_validator("file")
    @classmethod
    def _plain_pdf_name(cls, v: str) -> str:
        # a plain name in the folder: no folder part, no "..", no hidden file, ends in .pdf
        if not _FILE_NAME.match(v) or ".." in v:
            raise ValueError("un nom de fichier .pdf simple, sans dossier")
        return v

    @field_validator("language")
    @classmethod
    def _language(cls, v: str) -> str:
        if v.lower() not in LANGUAGES:
            raise ValueError(f"une de {', '.join(LANGUAGES)}")
        return v.lower()

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        v = v.lower()
        if not _TOPIC.match(v):
            raise ValueError("un mot en minuscules, ex. pcima, sonu, pcime, pf, pev")
        return v

    @field_validator("date")
    @classmethod
    def _date(cls, v: str) -> str:
        if not _DATE.match(v):
            raise ValueError("AAAA, AAAA-MM ou AAAA-MM-JJ")
        return v

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, v: str) -> str:
        v = v.lower()
        if not _SHA256.match(v):
            raise ValueError("64 chiffres hexadécimaux (SHA-256)")
        return v


def _where(n: int, raw: Any) -> str:
    name = raw.get("file") if isinstance(raw, dict) else None
    return f"document {n}" + (f" ({name})" if isinstance(name, str) and name else "")


def parse(data: bytes) -> list[Entry]:
    """The index's entries, or LibraryError naming the first problem."""
    if len(data) > MAX_INDEX_BYTES:
        raise LibraryError(
            f"{INDEX_FILE} trop grand ({len(data) // 1024} Ko, au plus"
            f" {MAX_INDEX_BYTES // 1024} Ko) / index too large"
        )
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise LibraryError(f"{INDEX_FILE} n'est pas en UTF-8 / index is not UTF-8") from None
    except json.JSONDecodeError as e:
        raise LibraryError(
            f"{INDEX_FILE} illisible, ligne {e.lineno} : {e.msg} / index is not valid JSON"
        ) from None
    raws = doc.get("documents") if isinstance(doc, dict) else None
    if not isinstance(raws, list) or not raws:
        raise LibraryError(
            f'{INDEX_FILE} : il faut une liste "documents" non vide / "documents" list missing'
        )
    if len(raws) > MAX_DOCUMENTS:
        raise LibraryError(
            f"{INDEX_FILE} : {len(raws)} documents, au plus {MAX_DOCUMENTS} / too many documents"
        )
    entries: list[Entry] = []
    for n, raw in enumerate(raws, start=1):
        if not isinstance(raw, dict):
            raise LibraryError(f"{INDEX_FILE}, document {n} : un objet attendu / object expected")
        try:
            entries.append(Entry.model_validate(raw))
        except ValidationError as e:
            first = e.errors()[0]
            field = ".".join(str(p) for p in first.get("loc", ())) or "?"
            message = first.get("msg", "").removeprefix("Value error, ")
            if first.get("type") == "missing":
                message = "champ manquant / missing"
            elif first.get("type") == "extra_forbidden":
                message = "champ inconnu / unknown field"
            raise LibraryError(f"{INDEX_FILE}, {_where(n, raw)} : {field} : {message}") from None
    _no_repeats(entries)
    return entries


def _no_repeats(entries: list[Entry]) -> None:
    seen_files: set[str] = set()
    seen_sums: set[str] = set()
    for n, e in enumerate(entries, start=1):
        if e.file.lower() in seen_files:
            raise LibraryError(
                f"{INDEX_FILE}, document {n} : {e.file} figure deux fois / listed twice"
            )
        if e.sha256 in seen_sums:
            raise LibraryError(
                f"{INDEX_FILE}, document {n} ({e.file}) : même sha256 qu'un autre document"
                " / same checksum as another document"
            )
        seen_files.add(e.file.lower())
        seen_sums.add(e.sha256)
