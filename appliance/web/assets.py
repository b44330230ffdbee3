"""The static files (/static): read once at start, compressed once (brotli and gzip level 9),
served from memory without touching the database.

Each file is also served under a content-hashed name (`app.<8 hex>.css`) that pages link to
(`static_url` in render.py): that name never changes meaning, so it is cached for a year and a
phone on the clinic's Wi-Fi fetches htmx once. The plain name still answers, with a short cache,
for pages rendered before an update. Every answer carries an ETag; If-None-Match gets a 304."""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

import brotli

STATIC = Path(__file__).parent / "static"
HASH_CHARS = 8
IMMUTABLE = b"public, max-age=31536000, immutable"
# A plain name may change meaning at the next update: a short cache, then a revalidation.
SHORT = b"public, max-age=300"
TEXT_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
}
ENCODINGS = ("br", "gzip")  # preferred first when the browser takes both
# app.1a2b3c4d.css: a hashed name, current or from before an update
_HASHED = re.compile(
    rf"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{{{HASH_CHARS}}})(?P<ext>\.[A-Za-z0-9]+)$"
)


@dataclass(frozen=True)
class Asset:
    name: str  # the plain name: app.css
    hashed_name: str  # app.1a2b3c4d.css
    digest: str
    content_type: str
    bodies: dict[str, bytes]  # "identity", and "br"/"gzip" when they are smaller

    def etag(self, encoding: str) -> bytes:
        suffix = "" if encoding == "identity" else f"-{encoding}"
        return f'"{self.digest}{suffix}"'.encode()


def hashed_name(name: str, digest: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.{digest}.{ext}" if dot else f"{name}.{digest}"


def build_asset(path: Path) -> Asset:
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:HASH_CHARS]
    content_type = (
        TEXT_TYPES.get(path.suffix.lower())
        or mimetypes.guess_type(path.name)[0]
        or "application/octet-stream"
    )
    bodies = {"identity": data}
    if path.suffix.lower() in TEXT_TYPES:
        for encoding, body in (
            ("br", brotli.compress(data, quality=11)),
            ("gzip", gzip.compress(data, compresslevel=9, mtime=0)),
        ):
            if len(body) < len(data):
                bodies[encoding] = body
    return Asset(path.name, hashed_name(path.name, digest), digest, content_type, bodies)


def load_assets(directory: Path = STATIC) -> dict[str, Asset]:
    """Every file of the folder by its plain name (no subfolders: there are none)."""
    return {p.name: build_asset(p) for p in sorted(directory.iterdir()) if p.is_file()}


def accepted_encodings(header: str) -> dict[str, float]:
    """Accept-Encoding as coding → q (a missing q is 1; `*` stands for the rest)."""
    accepted: dict[str, float] = {}
    for part in header.split(","):
        coding, _, params = part.strip().partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        accepted[coding] = q
    return accepted


def choose_encoding(header: str | None, available: set[str] | dict[str, bytes]) -> str:
    """The smallest body the browser accepts: br, then gzip, else the file as it is."""
    if not header:
        return "identity"
    accepted = accepted_encodings(header)
    star = accepted.get("*", 0.0)
    for encoding in ENCODINGS:
        if encoding in available and accepted.get(encoding, star) > 0:
            return encoding
    return "identity"


def _etag_matches(if_none_match: str, asset: Asset) -> bool:
    """Any tag of this content matches, whatever its encoding: the bytes a browser kept are
    still the file's (a weak comparison, as RFC 9110 asks for If-None-Match)."""
    if if_none_match.strip() == "*":
        return True
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        tag = tag.strip('"')
        if tag.split("-", 1)[0] == asset.digest:
            return True
    return False


class StaticFiles:
    """The ASGI app mounted at /static."""

    def __init__(self, directory: Path = STATIC):
        self.assets = load_assets(directory)
        self.by_hashed_name = {a.hashed_name: a for a in self.assets.values()}

    def url(self, name: str) -> str:
        return f"/static/{self.assets[name].hashed_name}"

    def find(self, filename: str) -> tuple[Asset, bool] | None:
        """The asset a request names, and whether that name is the current hashed one."""
        asset = self.by_hashed_name.get(filename)
        if asset is not None:
            return asset, True
        asset = self.assets.get(filename)
        if asset is not None:
            return asset, False
        # an older hashed name (a page rendered before an update): today's file, briefly cached
        m = _HASHED.match(filename)
        if m is not None:
            asset = self.assets.get(m["stem"] + m["ext"])
            if asset is not None:
                return asset, False
        return None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        head = scope["method"] == "HEAD"
        if scope["method"] not in ("GET", "HEAD"):
            await _send(send, 405, b"", [(b"allow", b"GET, HEAD")], head=False)
            return
        filename = scope["path"].rsplit("/", 1)[-1]
        found = self.find(filename)
        if found is None:
            plain = [(b"content-type", b"text/plain; charset=utf-8")]
            await _send(send, 404, b"Introuvable / Not found\n", plain, head=head)
            return
        asset, current = found
        headers = dict(
            (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]
        )
        encoding = choose_encoding(headers.get("accept-encoding"), asset.bodies)
        common = [
            (b"etag", asset.etag(encoding)),
            (b"cache-control", IMMUTABLE if current else SHORT),
            (b"vary", b"Accept-Encoding"),
        ]
        if _etag_matches(headers.get("if-none-match", ""), asset):
            await _send(send, 304, b"", common, head=True)
            return
        body = asset.bodies[encoding]
        extra = [(b"content-type", asset.content_type.encode())]
        if encoding != "identity":
            extra.append((b"content-encoding", encoding.encode()))
        await _send(send, 200, body, common + extra, head=head)


async def _send(send, status: int, body: bytes, headers, *, head: bool) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())]
            if status != 304
            else list(headers),
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})


_app: StaticFiles | None = None


def static_app() -> StaticFiles:
    """The one static app of this process (the files are read and compressed once)."""
    global _app
    if _app is None:
        _app = StaticFiles()
    return _app


def static_url(name: str) -> str:
    """/static/<name with its content hash>, for templates; the plain name where this
    process serves /static otherwise (no static app of this module was made)."""
    if _app is None or name not in _app.assets:
        return f"/static/{name}"
    return _app.url(name)
