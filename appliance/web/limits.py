"""Request bodies are bounded before the app reads them (uvicorn has no such limit): a body
over MAX_BODY_BYTES gets 413 without being read in full, and a JSON body of the API nested
deeper than the encounter data may be gets 422 before anything parses it (a deep enough body
makes Python's JSON parser give up with a RecursionError; the API takes nothing but JSON).
A body that stops coming half-way gets 408 after BODY_WAIT_S.

These replies come before any session is read, so they speak French, the default language.
"""

from __future__ import annotations

import asyncio
import json
from html import escape

from appliance.domain import limits
from appliance.web.assets import static_url
from appliance.web.i18n import N_, Translator

MAX_BODY_BYTES = 256 * 1024
# A second opinion's photo comes as the tablet's camera took it (a few MB); the app brings it
# down to 150 kB before it is stored. Only that form's path takes this much.
PHOTO_BODY_BYTES = 12 * 1024 * 1024


def body_limit(path: str, default: int) -> int:
    parts = path.split("/")
    if len(parts) == 4 and parts[1] == "patients" and parts[3] == "opinion":
        return max(default, PHOTO_BODY_BYTES)
    return default


# the API's body holds the encounter data one level down: {"type": ..., "data": {...}}
API_JSON_DEPTH = limits.MAX_DEPTH + 1

# A body still incomplete after this is refused (408): a tablet sends a form in well under a
# second on the hotspot; a client that stops half-way must not keep its request for ever.
BODY_WAIT_S = 20.0

TOO_LARGE_TITLE = N_("Envoi trop volumineux")
TOO_SLOW_TITLE = N_("Envoi trop lent")
TOO_SLOW = N_("Cet envoi n'est pas arrivé en entier à temps : rien n'a été enregistré.")
TOO_LARGE = N_("Cet envoi contient trop de données (au plus %(kb)s Ko) : rien n'a été enregistré.")
TOO_DEEP = N_(
    "Ces données sont imbriquées trop profondément (au plus %(depth)s niveaux) : "
    "rien n'a été enregistré."
)


def _reply(
    path: str, api_prefix: str, status: int, message: str, error: str, title: str = TOO_LARGE_TITLE
):
    body: bytes
    if path.startswith(api_prefix):
        body = json.dumps({"error": error, "message": message}, ensure_ascii=False).encode()
        content_type = b"application/json"
    else:
        t = Translator("fr")
        body = (
            '<!doctype html><html lang="fr"><meta charset="utf-8">'
            f"<title>{escape(t(title))}</title>"
            f'<link rel="stylesheet" href="{static_url("app.css")}">'
            f'<main><section class="card narrow"><h1>{escape(t(title))}</h1>'
            f"<p>{escape(message)}</p></section></main></html>"
        ).encode()
        content_type = b"text/html; charset=utf-8"
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if status == 408:
        headers.append((b"connection", b"close"))  # the rest of its body must not follow
    return {"type": "http.response.start", "status": status, "headers": headers}, {
        "type": "http.response.body",
        "body": body,
    }


class RequestLimits:
    """ASGI middleware bounding every request body, and the nesting of the API's JSON."""

    def __init__(
        self,
        app,
        *,
        max_body: int = MAX_BODY_BYTES,
        api_prefix: str = "/api/",
        api_depth: int = API_JSON_DEPTH,
        body_wait_s: float = BODY_WAIT_S,
    ):
        self.app = app
        self.max_body = max_body
        self.api_prefix = api_prefix
        self.api_depth = api_depth
        self.body_wait_s = body_wait_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t = Translator("fr")
        path = scope.get("path", "")
        max_body = body_limit(path, self.max_body)
        too_large = t(TOO_LARGE) % {"kb": max_body // 1024}

        async def refuse(status: int, message: str, error: str, **title: str) -> None:
            start, body = _reply(path, self.api_prefix, status, message, error, **title)
            await send(start)
            await send(body)

        headers = dict(scope.get("headers") or ())
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > max_body:
            return await refuse(413, too_large, "too large")  # said before reading any of it

        # Read the body here, bounded (one sent without its length, or lying about it, is cut
        # off at the limit), then hand it on: no upload in this app needs streaming.
        chunks, received = [], 0
        try:
            async with asyncio.timeout(self.body_wait_s):
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        return  # the client left before sending it all
                    chunk = message.get("body", b"")
                    received += len(chunk)
                    if received > max_body:
                        return await refuse(413, too_large, "too large")
                    chunks.append(chunk)
                    if not message.get("more_body"):
                        break
        except TimeoutError:
            return await refuse(408, t(TOO_SLOW), "too slow", title=TOO_SLOW_TITLE)
        body = b"".join(chunks)
        # every API body (FastAPI parses one with no Content-Type as JSON too)
        if body and path.startswith(self.api_prefix):
            try:
                limits.check_text(body, max_bytes=self.max_body, max_depth=self.api_depth)
            except limits.DataTooDeep:
                message = t(TOO_DEEP) % {"depth": limits.MAX_DEPTH}
                return await refuse(422, message, "too deep")
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()  # waits for the client to go, as the server's would
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
