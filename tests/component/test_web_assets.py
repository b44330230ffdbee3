"""The static files served from memory: content-hashed names, br/gzip/identity chosen from
Accept-Encoding, bodies that decompress to the file, long caches on hashed names only, 304 on
a matching ETag."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import brotli
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from appliance.web import assets
from appliance.web.assets import StaticFiles, choose_encoding

pytestmark = pytest.mark.component

CSS = ("body { color: #123456; }\n" * 200).encode()
JS = ("function f(){return 1}\n" * 300).encode()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "app.css").write_bytes(CSS)
    (tmp_path / "htmx.min.js").write_bytes(JS)
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    return tmp_path


def client_for(files: StaticFiles) -> TestClient:
    return TestClient(Starlette(routes=[Mount("/static", app=files)]))


def test_hashed_name_follows_the_content(folder: Path):
    before = StaticFiles(folder).url("app.css")
    assert before.startswith("/static/app.") and before.endswith(".css")
    assert len(before.removeprefix("/static/app.").removesuffix(".css")) == 8
    assert StaticFiles(folder).url("app.css") == before  # same bytes, same name
    (folder / "app.css").write_bytes(CSS + b"a { color: red; }\n")
    after = StaticFiles(folder).url("app.css")
    assert after != before


@pytest.mark.parametrize(
    "accept, expected",
    [
        ("gzip, deflate, br, zstd", "br"),
        ("gzip, deflate", "gzip"),
        ("br;q=0, gzip", "gzip"),
        ("identity", "identity"),
        ("", "identity"),
        (None, "identity"),
        ("*", "br"),
        ("*;q=0, identity", "identity"),
        ("BR", "br"),
        ("gzip;q=0.5, br;q=0", "gzip"),
        ("gzip;q=bogus", "identity"),
    ],
)
def test_encoding_is_chosen_from_accept_encoding(accept, expected):
    assert choose_encoding(accept, {"identity": b"", "br": b"", "gzip": b""}) == expected


def test_each_encoding_decompresses_to_the_file(folder: Path):
    files = StaticFiles(folder)
    client = client_for(files)
    url = files.url("htmx.min.js")
    decode = {"br": brotli.decompress, "gzip": gzip.decompress, "identity": lambda b: b}
    sizes = {}
    for accept, encoding in (("br, gzip", "br"), ("gzip", "gzip"), ("identity", "identity")):
        # raw bytes as sent: the test client must not decode them itself
        r = client.get(url, headers={"Accept-Encoding": accept})
        assert r.status_code == 200
        assert r.headers.get("content-encoding", "identity") == encoding
        assert r.headers["vary"] == "Accept-Encoding"
        assert r.headers["content-type"].startswith("text/javascript")
        raw = files.assets["htmx.min.js"].bodies[encoding]
        assert int(r.headers["content-length"]) == len(raw)
        assert decode[encoding](raw) == JS
        assert r.content == JS  # what the browser ends with
        sizes[encoding] = len(raw)
    assert sizes["br"] < sizes["gzip"] < sizes["identity"]


def test_hashed_names_are_immutable_plain_names_briefly_cached(folder: Path):
    files = StaticFiles(folder)
    client = client_for(files)
    hashed = client.get(files.url("app.css"))
    assert hashed.status_code == 200
    assert hashed.headers["cache-control"] == "public, max-age=31536000, immutable"
    plain = client.get("/static/app.css")
    assert plain.status_code == 200 and plain.content == CSS
    assert "immutable" not in plain.headers["cache-control"]
    assert "max-age=300" in plain.headers["cache-control"]
    # a page rendered before an update asks for the old hash: today's file, not a year's cache
    old = client.get("/static/app.0badf00d.css")
    assert old.status_code == 200 and old.content == CSS
    assert "immutable" not in old.headers["cache-control"]
    assert client.get("/static/nothing.css").status_code == 404
    assert client.get("/static/app.0badf00d.js").status_code == 404


def test_etag_gives_304_and_a_changed_file_does_not(folder: Path):
    files = StaticFiles(folder)
    client = client_for(files)
    url = files.url("app.css")
    first = client.get(url, headers={"Accept-Encoding": "gzip"})
    etag = first.headers["etag"]
    again = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"].endswith("immutable")
    weak = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": f"W/{etag}"})
    assert weak.status_code == 304
    other = client.get(url, headers={"If-None-Match": '"0badf00d"'})
    assert other.status_code == 200 and other.content == CSS
    (folder / "app.css").write_bytes(CSS + b"p { margin: 0; }\n")
    changed = client_for(StaticFiles(folder)).get(
        "/static/app.css", headers={"If-None-Match": etag}
    )
    assert changed.status_code == 200  # new bytes, new tag


def test_binary_files_are_served_as_they_are(folder: Path):
    files = StaticFiles(folder)
    r = client_for(files).get(files.url("logo.png"), headers={"Accept-Encoding": "br, gzip"})
    assert r.status_code == 200 and "content-encoding" not in r.headers
    assert r.headers["content-type"] == "image/png"


def test_head_and_other_methods(folder: Path):
    files = StaticFiles(folder)
    client = client_for(files)
    head = client.head(files.url("app.css"), headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(CSS)
    post = client.post(files.url("app.css"))
    assert post.status_code == 405 and post.headers["allow"] == "GET, HEAD"


def test_the_real_static_folder_compresses_well():
    files = StaticFiles(assets.STATIC)
    for name in ("app.css", "htmx.min.js"):
        bodies = files.assets[name].bodies
        assert len(bodies["br"]) < len(bodies["identity"]) / 3, name
        assert brotli.decompress(bodies["br"]) == bodies["identity"]
        assert gzip.decompress(bodies["gzip"]) == bodies["identity"]


def test_the_app_links_hashed_names_and_serves_them_compressed(tmp_path, store, fake_time):
    from tests.component.web_session import web_app, web_client

    with web_client(web_app(tmp_path, fake_time)) as client:
        page = client.get("/").text
        links = re.findall(r'(?:href|src)="(/static/[^"]+)"', page)
        assert sorted(link.split(".")[-1] for link in links) == ["css", "js"], links
        for link in links:
            assert re.fullmatch(r"/static/(app|htmx\.min)\.[0-9a-f]{8}\.(css|js)", link), link
            r = client.get(link, headers={"Accept-Encoding": "gzip"})
            assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
            assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert r.headers["vary"] == "Accept-Encoding"
            again = client.get(link, headers={"If-None-Match": r.headers["etag"]})
            assert again.status_code == 304
        plain = client.get("/static/app.css", headers={"Accept-Encoding": "br"})
        assert plain.headers["content-encoding"] == "br"
        assert "immutable" not in plain.headers["cache-control"]
