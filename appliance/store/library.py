"""SQL for the training library: the documents, their text page by page, the search."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.store.db import Store

COLUMNS = (
    "id, title, language, topic, page, source, published, sha256, file_name, bytes, pages,"
    " added_at, added_by"
)
# Marks around the words found in a snippet: control characters no PDF text keeps (the
# extraction folds whitespace), so the web and kiosk can escape the text and then mark them.
HIT_START, HIT_END = "\x02", "\x03"
_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 8
PAGE_HITS = 400  # pages read per search before grouping by document


def match_expression(text: str) -> str | None:
    """An FTS5 query from what staff typed: each word a quoted prefix, all required. None when
    nothing searchable was typed (quotes, operators and stray symbols are never syntax)."""
    words = _WORD.findall(text or "")[:MAX_TERMS]
    if not words:
        return None
    return " ".join(f'"{w}"*' for w in words)


class LibraryRepo:
    def __init__(self, store: Store):
        self.store = store

    def add(self, document: dict[str, Any], pages: list[str]) -> None:
        """One document and its text, in one transaction (the search sees it whole or not)."""
        with self.store.transaction() as conn:
            conn.execute(
                f"INSERT INTO library_documents ({COLUMNS}) VALUES"
                f" ({', '.join('?' * len(COLUMNS.split(',')))})",
                tuple(document[c.strip()] for c in COLUMNS.split(",")),
            )
            conn.executemany(
                "INSERT INTO library_pages (document_id, page, body) VALUES (?, ?, ?)",
                [(document["id"], n, body) for n, body in enumerate(pages, start=1)],
            )

    def remove(self, document_id: str) -> dict[str, Any] | None:
        """Delete a document and its pages (the trigger takes them out of the index first);
        the row it was, or None."""
        with self.store.transaction() as conn:
            row = self.get(document_id)
            if row is None:
                return None
            conn.execute("DELETE FROM library_pages WHERE document_id = ?", (document_id,))
            conn.execute("DELETE FROM library_documents WHERE id = ?", (document_id,))
        return row

    def get(self, document_id: str) -> dict[str, Any] | None:
        return self.store.query_one(
            f"SELECT {COLUMNS} FROM library_documents WHERE id = ?", (document_id,)
        )

    def by_sha256(self, sums: list[str]) -> dict[str, dict[str, Any]]:
        if not sums:
            return {}
        rows = self.store.query(
            f"SELECT {COLUMNS} FROM library_documents WHERE sha256 IN"
            f" ({', '.join('?' * len(sums))})",
            sums,
        )
        return {r["sha256"]: r for r in rows}

    def listing(self) -> list[dict[str, Any]]:
        """Every document, French first, then by title (a library is a few hundred rows)."""
        return self.store.query(
            f"SELECT {COLUMNS} FROM library_documents"
            " ORDER BY language != 'fr', title COLLATE NOCASE, added_at"
        )

    def ids(self) -> set[str]:
        return {r["id"] for r in self.store.query("SELECT id FROM library_documents")}

    def totals(self) -> dict[str, int]:
        row = self.store.query_one(
            "SELECT COUNT(*) AS documents, COALESCE(SUM(bytes), 0) AS bytes,"
            " COALESCE(SUM(pages), 0) AS pages FROM library_documents"
        )
        return dict(row) if row else {"documents": 0, "bytes": 0, "pages": 0}

    def for_topics(self, topics: list[str]) -> dict[str, dict[str, Any]]:
        """The job aid of each topic: its French document first, then the newest."""
        if not topics:
            return {}
        rows = self.store.query(
            f"SELECT {COLUMNS} FROM library_documents WHERE topic IN"
            f" ({', '.join('?' * len(topics))})"
            " ORDER BY language != 'fr', published DESC, added_at DESC",
            topics,
        )
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            out.setdefault(r["topic"], r)
        return out

    def page_text(self, document_id: str, page: int) -> str | None:
        row = self.store.query_one(
            "SELECT body FROM library_pages WHERE document_id = ? AND page = ?",
            (document_id, page),
        )
        return row["body"] if row else None

    def search(self, text: str, *, limit: int = 20) -> list[dict[str, Any]]:
        """Documents whose title or text has every word typed (prefixes, accents ignored),
        best first (a title hit weighs ten times a text hit); each with its best page, a
        snippet (words found between HIT_START and HIT_END) and how many pages match."""
        expression = match_expression(text)
        if expression is None:
            return []
        hits = self.store.query(
            "SELECT p.document_id AS document_id, p.page AS page,"
            " bm25(library_fts, 10.0, 1.0) AS score,"
            f" snippet(library_fts, 1, '{HIT_START}', '{HIT_END}', '…', 14) AS snippet"
            " FROM library_fts JOIN library_pages p ON p.id = library_fts.rowid"
            " WHERE library_fts MATCH ? ORDER BY score LIMIT ?",
            (expression, PAGE_HITS),
        )
        best: dict[str, dict[str, Any]] = {}
        for h in hits:
            found = best.get(h["document_id"])
            if found is None:
                best[h["document_id"]] = {**h, "matching_pages": 1}
            else:
                found["matching_pages"] += 1
        chosen = list(best.values())[:limit]
        documents = (
            {
                r["id"]: r
                for r in self.store.query(
                    f"SELECT {COLUMNS} FROM library_documents WHERE id IN"
                    f" ({', '.join('?' * len(chosen))})",
                    [c["document_id"] for c in chosen],
                )
            }
            if chosen
            else {}
        )
        return [
            {
                **documents[c["document_id"]],
                "hit_page": c["page"],
                "snippet": c["snippet"],
                "matching_pages": c["matching_pages"],
            }
            for c in chosen
            if c["document_id"] in documents
        ]
