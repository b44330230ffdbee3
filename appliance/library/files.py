"""The PDFs themselves: find the stick's folder, check each file before copying, copy it
through a private temporary file (hashed on the way, flushed, hashed again as written), and
read its text page by page for the search.

A document is renamed into place only once its copy is whole and checked, and listed only
after that (services.library): a power cut leaves at worst a temporary or an unlisted file,
which the next import sweeps."""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from appliance.backup.copy import fsync_dir
from appliance.library import LibraryError
from appliance.library.index import FOLDER, INDEX_FILE, MAX_DOCUMENT_BYTES, Entry, parse

CHUNK = 1024 * 1024
MAGIC = b"%PDF-"
PARTIAL = ".partial"
# Text kept for the search per document: a 300-page guideline has well under 1 M characters;
# past this the rest is not indexed (the title still is, and the PDF opens whole).
MAX_TEXT_CHARS = 2_000_000
MAX_PAGES = 3000


@dataclass(frozen=True)
class Source:
    entry: Entry
    path: Path
    size: int


def stick_folder(path: Path) -> Path:
    """The library folder given, or the one at the top of a stick (`keneya-bibliotheque/`)."""
    for candidate in (path / FOLDER, path):
        index = candidate / INDEX_FILE
        if index.is_file() or index.is_symlink():
            return candidate
    raise LibraryError(
        f"{path} : pas de {FOLDER}/{INDEX_FILE} ici / no library index in this folder"
    )


def _regular(path: Path, what: str) -> os.stat_result:
    try:
        st = path.lstat()
    except FileNotFoundError:
        raise LibraryError(f"{what} : fichier absent / file missing") from None
    if stat.S_ISLNK(st.st_mode):
        raise LibraryError(f"{what} : lien symbolique refusé / symbolic link refused")
    if not stat.S_ISREG(st.st_mode):
        raise LibraryError(f"{what} : pas un fichier ordinaire / not a regular file")
    return st


def read_index(folder: Path) -> list[Entry]:
    index = folder / INDEX_FILE
    _regular(index, INDEX_FILE)
    with open(index, "rb", opener=_no_follow) as f:
        return parse(f.read(512 * 1024 + 1))


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)


def check_sources(folder: Path, entries: list[Entry]) -> list[Source]:
    """Each listed file is there, a plain file (no link), not empty, at most 50 MB, a PDF."""
    sources = []
    for e in entries:
        st = _regular(folder / e.file, e.file)
        if st.st_size == 0:
            raise LibraryError(f"{e.file} : fichier vide / empty file")
        if st.st_size > MAX_DOCUMENT_BYTES:
            raise LibraryError(
                f"{e.file} : {st.st_size // 2**20} Mo, au plus {MAX_DOCUMENT_BYTES // 2**20} Mo"
                " par document / document too large"
            )
        with open(folder / e.file, "rb", opener=_no_follow) as f:
            head = f.read(len(MAGIC))
        if head != MAGIC:
            raise LibraryError(f"{e.file} : ce n'est pas un PDF / not a PDF file")
        sources.append(Source(e, folder / e.file, st.st_size))
    return sources


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb", opener=_no_follow) as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def copy_checked(
    source: Source, folder: Path, *, on_bytes: Callable[[int], None] | None = None
) -> Path:
    """A private (0600) temporary copy of `source` in `folder`, flushed to the card, whose
    SHA-256 (as read from the stick, then as read back from the card) is the index's; the
    caller renames it into place (`install`) or removes it."""
    fd, name = tempfile.mkstemp(prefix=".doc.", suffix=PARTIAL, dir=folder)
    tmp = Path(name)
    try:
        h = hashlib.sha256()
        copied = 0
        with open(source.path, "rb", opener=_no_follow) as src, os.fdopen(fd, "wb") as out:
            while chunk := src.read(CHUNK):
                copied += len(chunk)
                if copied > MAX_DOCUMENT_BYTES:
                    raise LibraryError(f"{source.entry.file} : grandit pendant la copie / grew")
                h.update(chunk)
                out.write(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != source.entry.sha256:
            raise LibraryError(
                f"{source.entry.file} : la somme SHA-256 ne correspond pas à l'index (fichier"
                " abîmé ou modifié) / checksum mismatch"
            )
        if sha256_of(tmp) != source.entry.sha256:
            raise LibraryError(
                f"{source.entry.file} : la copie sur la carte est abîmée, réessayez"
                " / the copy on the card is damaged"
            )
        return tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def install(tmp: Path, final: Path) -> None:
    os.replace(tmp, final)
    fsync_dir(final.parent)


def sweep(folder: Path, listed: set[str]) -> list[str]:
    """Remove what an interrupted import or removal left: temporaries and unlisted PDFs."""
    removed = []
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    for name in names:
        if name.endswith(PARTIAL) or (name.endswith(".pdf") and name not in listed):
            (folder / name).unlink(missing_ok=True)
            removed.append(name)
    return removed


def extract_pages(path: Path, label: str) -> list[str]:
    """The text of each page (empty for a scanned page); LibraryError when pypdf cannot read
    the file at all."""
    from pypdf import PdfReader  # only an import needs it (some MB of memory)
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted:
            raise LibraryError(f"{label} : PDF protégé par un mot de passe / encrypted PDF")
        pages: list[str] = []
        left = MAX_TEXT_CHARS
        for n, page in enumerate(reader.pages):
            if n >= MAX_PAGES:
                break
            text = ""
            if left > 0:
                try:
                    text = (page.extract_text() or "")[:left]
                except (PyPdfError, ValueError, KeyError, TypeError):
                    text = ""  # one bad page: the others are still searched
            left -= len(text)
            pages.append("\n".join(" ".join(ln.split()) for ln in text.splitlines() if ln.strip()))
        if not pages:
            raise LibraryError(f"{label} : PDF sans page / no page")
        return pages
    except LibraryError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as e:
        raise LibraryError(
            f"{label} : PDF illisible ({type(e).__name__}) / unreadable PDF"
        ) from None


# Where a stick may be mounted: the appliance's own mount point (library/stick.py), then the
# usual ones of a desktop (a laptop demo); KENEYA_LIBRARY_STICKS (folders separated by ":")
# overrides them.
STICK_ROOTS = (Path("/run/keneya-library"), Path("/media"), Path("/mnt"))


def stick_roots() -> tuple[Path, ...]:
    given = os.environ.get("KENEYA_LIBRARY_STICKS")
    return tuple(Path(p) for p in given.split(":") if p) if given else STICK_ROOTS


def find_sticks(roots: tuple[Path, ...] | None = None) -> list[Path]:
    """Library folders (`keneya-bibliotheque/` with its index) on the mounted sticks: at most
    two levels under each root (/media/STICK, /media/USER/STICK)."""
    found: list[Path] = []
    for root in roots if roots is not None else stick_roots():
        levels = [root]
        for _ in range(2):
            below = []
            for folder in levels:
                try:
                    children = sorted(p for p in folder.iterdir() if p.is_dir())
                except OSError:
                    continue
                for child in children:
                    if (child / FOLDER / INDEX_FILE).is_file():
                        found.append(child / FOLDER)
                    else:
                        below.append(child)
            levels = below
    return found
