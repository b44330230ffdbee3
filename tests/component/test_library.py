"""The training library on real files: `keneya library` from a generated stick (a bad index
or a checksum mismatch refused in one line, nothing half-copied listed), the search, the
removal, the space check; and /library over HTTP (list, search, the PDF inline, admin-only
removal, the job aid linked from an alert)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from appliance.library import LibraryError
from appliance.seed.library import DEMO_DOCUMENTS, Document, write_stick
from appliance.services import auth
from appliance.services import library as service
from appliance.services.errors import PermissionDenied
from appliance.store.diskspace import Space
from tests.component.web_session import (
    PASSWORDS,
    USERNAMES,
    add_staff_per_role,
    login,
    web_app,
    web_client,
)
from tests.conftest import PINS, keneya

pytestmark = pytest.mark.component


def _index(stick: Path) -> dict:
    return json.loads((stick / "keneya-bibliotheque" / "index.json").read_text())


def _write_index(stick: Path, data: dict) -> None:
    (stick / "keneya-bibliotheque" / "index.json").write_text(json.dumps(data))


@pytest.fixture
def home(tmp_path: Path, store, ctx) -> Path:
    """The store's folder with an admin and a nurse who log in with a PIN."""
    admin = auth.add_staff(
        ctx, None, username="admin", display_name="A", role="admin", pin=PINS["admin"]
    )
    assert admin
    actor = auth.login(ctx, "admin", pin=PINS["admin"])
    auth.add_staff(ctx, actor, username="nurse", display_name="N", role="nurse", pin=PINS["nurse"])
    return tmp_path


@pytest.fixture
def stick(tmp_path: Path) -> Path:
    return write_stick(tmp_path / "stick", DEMO_DOCUMENTS[:3])


def run(home: Path, *args: str, role: str = "admin"):
    return keneya(home, "library", *args, "--as", role, pin=PINS[role])


def test_add_list_search_remove_from_the_command_line(home, stick):
    added = run(home, "add", str(stick), "--yes", "--json")
    assert added.returncode == 0, added.stderr
    out = json.loads(added.stdout)
    assert [d["title"] for d in out["added"]] == [d.title for d in DEMO_DOCUMENTS[:3]]
    assert "[1/3] pcima-aide-memoire.pdf" in added.stderr  # progress, one line a document
    stored = sorted((home / "library").iterdir())
    assert [p.name for p in stored] == sorted(f"{d['id']}.pdf" for d in out["added"])
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in stored)
    assert oct((home / "library").stat().st_mode & 0o777) == "0o700"

    inner = str(stick / "keneya-bibliotheque")
    again = json.loads(run(home, "add", inner, "--yes", "--json").stdout)
    assert again["added"] == [] and len(again["skipped"]) == 3

    listed = json.loads(run(home, "list", "--json", role="nurse").stdout)
    assert listed["count"] == 3 and listed["documents"][0]["title"].startswith("PCIMA")

    # accents and case ignored, prefixes while typing, every word required
    found = json.loads(run(home, "search", "OEDEMES bilat", "--json", role="nurse").stdout)
    assert [(d["topic"], d["hit_page"]) for d in found["documents"]] == [("pcima", 1)]
    assert "«oedèmes» «bilatéraux»" in found["documents"][0]["snippet"]
    assert (
        json.loads(run(home, "search", "oedemes convulsions", "--json").stdout)["documents"] == []
    )
    title = json.loads(run(home, "search", "SONU", "--json").stdout)["documents"]
    assert [d["topic"] for d in title] == ["sonu"]

    # a nurse reads but may not remove; the admin removes file, row and text
    pcima = out["added"][0]["id"]
    refused = run(home, "remove", pcima, role="nurse")
    assert refused.returncode == 2 and "may not library.manage" in refused.stderr
    removed = run(home, "remove", pcima, "--json")
    assert removed.returncode == 0, removed.stderr
    assert not (home / "library" / f"{pcima}.pdf").exists()
    assert json.loads(run(home, "search", "oedemes", "--json").stdout)["documents"] == []
    assert json.loads(run(home, "list", "--json").stdout)["count"] == 2


@pytest.mark.parametrize(
    ("spoil", "said"),
    [
        ("checksum", "pcime-tableau.pdf : la somme SHA-256 ne correspond pas à l'index"),
        ("index", "index.json, document 2 (pcime-tableau.pdf) : sha256 :"),
        ("not json", "index.json illisible"),
        ("traversal", "document 1 (../pcima-aide-memoire.pdf) : file :"),
        ("symlink", "sonu-signes-danger.pdf : lien symbolique refusé"),
        ("not a pdf", "pcima-aide-memoire.pdf : ce n'est pas un PDF"),
        ("missing", "sonu-signes-danger.pdf : fichier absent"),
    ],
)
def test_a_bad_stick_is_refused_in_one_line_and_nothing_half_copied_is_listed(
    home, stick, tmp_path, spoil, said
):
    folder = stick / "keneya-bibliotheque"
    data = _index(stick)
    if spoil == "checksum":  # the second file changed after the index was made
        with open(folder / "pcime-tableau.pdf", "ab") as f:
            f.write(b"\n% changed")
    elif spoil == "index":
        data["documents"][1]["sha256"] = "xyz"
    elif spoil == "not json":
        (folder / "index.json").write_text('{"documents": [')
    elif spoil == "traversal":
        data["documents"][0]["file"] = "../pcima-aide-memoire.pdf"
    elif spoil == "symlink":
        (tmp_path / "elsewhere.pdf").write_bytes((folder / "sonu-signes-danger.pdf").read_bytes())
        (folder / "sonu-signes-danger.pdf").unlink()
        os.symlink(tmp_path / "elsewhere.pdf", folder / "sonu-signes-danger.pdf")
    elif spoil == "not a pdf":
        (folder / "pcima-aide-memoire.pdf").write_text("<html>not a pdf</html>")
    elif spoil == "missing":
        (folder / "sonu-signes-danger.pdf").unlink()
    if spoil in ("index", "traversal"):
        _write_index(stick, data)

    r = run(home, "add", str(stick), "--yes")
    assert r.returncode == 2
    lines = [line for line in r.stderr.splitlines() if not line.startswith(("[", "3 document"))]
    assert len(lines) == 1 and said in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    listed = json.loads(run(home, "list", "--json").stdout)
    if spoil == "checksum":  # the first document was whole and checked: it stays
        assert [d["file_name"] for d in listed["documents"]] == ["pcima-aide-memoire.pdf"]
    else:  # refused before a byte was copied
        assert listed["count"] == 0
    folder = home / "library"
    on_card = {p.name for p in folder.iterdir()} if folder.exists() else set()
    assert on_card == {f"{d['id']}.pdf" for d in listed["documents"]}  # no partial, no stray


def test_an_import_that_would_not_fit_is_refused_before_copying(ctx, home, stick, monkeypatch):
    admin = auth.login(ctx, "admin", pin=PINS["admin"])
    monkeypatch.setattr(service, "space", lambda _d: Space(50 * 2**20, 8 * 2**30, False))
    plan = service.plan(ctx, admin, stick, home)
    assert plan["new"] == 3 and plan["fits"] is False
    with pytest.raises(LibraryError, match="pas assez de place sur la carte"):
        service.import_folder(ctx, admin, stick, home)
    assert ctx.store.library.totals()["documents"] == 0
    nurse = auth.login(ctx, "nurse", pin=PINS["nurse"])
    with pytest.raises(PermissionDenied):
        service.plan(ctx, nurse, stick, home)


def test_an_unreadable_pdf_is_refused_and_leaves_nothing(ctx, home, tmp_path):
    top = write_stick(tmp_path / "bad", [Document("broken.pdf", "Cassé", "pf", ("x",))])
    folder = top / "keneya-bibliotheque"
    broken = b"%PDF-1.4\n this is not a real PDF body"
    (folder / "broken.pdf").write_bytes(broken)
    data = _index(top)
    data["documents"][0]["sha256"] = hashlib.sha256(broken).hexdigest()
    _write_index(top, data)
    admin = auth.login(ctx, "admin", pin=PINS["admin"])
    with pytest.raises(LibraryError, match="broken.pdf : PDF illisible"):
        service.import_folder(ctx, admin, top, home)
    assert list((home / "library").iterdir()) == []


# --------------------------------------------------------------------------- the web page
@pytest.fixture
def client(tmp_path, store, ctx, fake_time):
    add_staff_per_role(ctx)
    admin = auth.login(ctx, USERNAMES["admin"], password=PASSWORDS["admin"])
    service.import_folder(ctx, admin, write_stick(tmp_path / "stick", DEMO_DOCUMENTS), tmp_path)
    with web_client(web_app(tmp_path, fake_time)) as c:
        yield c


def test_the_web_page_lists_searches_and_opens_documents(client, ctx):
    login(client, "health_worker")
    home = client.get("/")
    assert 'href="/library"' in home.text  # in the menu
    page = client.get("/library")
    assert page.status_code == 200
    assert page.text.count('.pdf" target="_blank"') == 5 and "Retirer" not in page.text
    found = client.get("/library", params={"q": "calendrier vaccinal"})
    assert "<mark>calendrier</mark>" in found.text and "<mark>vaccinal</mark>" in found.text
    assert "Planification familiale" not in found.text.split("Tous les documents")[0]
    pev = next(d for d in ctx.store.library.listing() if d["topic"] == "pev")
    pdf = client.get(f"/library/{pev['id']}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("inline;")
    assert client.get("/library/not-an-id.pdf").status_code == 404
    assert client.get("/library/..%2Fkeneya.db.pdf").status_code == 404
    assert client.get("/library/import").status_code == 403


def test_only_the_admin_removes_and_imports(client, ctx, tmp_path, monkeypatch):
    doc = ctx.store.library.listing()[0]
    token = login(client, "doctor")
    refused = client.post(f"/library/{doc['id']}/remove", data={"csrf": token})
    assert refused.status_code == 403 and ctx.store.library.get(doc["id"]) is not None
    client.post("/logout", data={"csrf": token})
    token = login(client, "admin")
    page = client.get("/library")
    assert "Retirer" in page.text and "Ajouter depuis une clé USB" in page.text
    done = client.post(f"/library/{doc['id']}/remove", data={"csrf": token})
    assert done.status_code == 303 and ctx.store.library.get(doc["id"]) is None
    assert not (tmp_path / "library" / f"{doc['id']}.pdf").exists()

    # a stick under the watched folders: offered, planned (count, size), copied after the yes
    media = tmp_path / "media"
    write_stick(media / "CLE", [DEMO_DOCUMENTS[0]])
    monkeypatch.setenv("KENEYA_LIBRARY_STICKS", str(media))
    offered = client.get("/library/import")
    folder = str(media / "CLE" / "keneya-bibliotheque")
    assert folder in offered.text
    plan = client.post("/library/import/plan", data={"csrf": token, "folder": folder})
    assert "1 document(s) à copier" in plan.text and "Copier 1 document(s)" in plan.text
    typed = client.post("/library/import/plan", data={"csrf": token, "folder": "/etc"})
    assert typed.status_code == 422 and "rebranchez-la" in typed.text
    started = client.post("/library/import", data={"csrf": token, "folder": folder})
    assert started.status_code == 303
    for _ in range(400):
        progress = service.read_progress(ctx) or {}
        if progress.get("state") != "running":
            break
        time.sleep(0.05)
    assert progress["state"] == "done" and progress["added"] == 1, progress
    assert "Copie terminée" in client.get("/library/import/progress").text
    assert ctx.store.library.totals()["documents"] == 5
