"""The library stick's index is checked whole before anything is copied, each refusal in one
line naming the entry and the field; alerts and due items find their job aid's topic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.library import LibraryError
from appliance.library.index import MAX_DOCUMENTS, parse
from appliance.library.topics import alert_topic, due_topic, topic_of

SHA = "a" * 64
GOOD = {
    "file": "pcima.pdf",
    "title": "Protocole PCIMA",
    "language": "FR",
    "topic": "PCIMA",
    "source": "Ministère de la Santé",
    "date": "2017-06",
    "sha256": SHA.upper(),
    "page": 12,
}


def index(*docs: dict) -> bytes:
    return json.dumps({"documents": list(docs)}).encode()


def test_a_good_index_is_read_and_normalised():
    (entry,) = parse(index(GOOD))
    assert (entry.file, entry.language, entry.topic, entry.sha256, entry.page) == (
        "pcima.pdf",
        "fr",
        "pcima",
        SHA,
        12,
    )


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"file": "../etc/passwd.pdf"}, "document 1 (../etc/passwd.pdf) : file :"),
        ({"file": "sous/dossier.pdf"}, "file : un nom de fichier .pdf simple"),
        ({"file": ".cache.pdf"}, "file :"),
        ({"file": "notes.txt"}, "file :"),
        ({"sha256": "1234"}, "sha256 : 64 chiffres hexadécimaux"),
        ({"language": "de"}, "language : une de fr, en, bm"),
        ({"date": "juin 2017"}, "date : AAAA, AAAA-MM ou AAAA-MM-JJ"),
        ({"topic": "PCIMA enfants"}, "topic :"),
        ({"page": 0}, "page :"),
        ({"title": ""}, "title :"),
        ({"checksum": SHA}, "checksum : champ inconnu"),
    ],
)
def test_a_bad_entry_is_refused_in_one_line(change, said):
    with pytest.raises(LibraryError) as e:
        parse(index({**GOOD, **change}))
    message = str(e.value)
    assert said in message and "\n" not in message and message.startswith("index.json, document 1")


def test_a_missing_field_is_named():
    doc = dict(GOOD)
    del doc["sha256"]
    with pytest.raises(LibraryError, match=r"sha256 : champ manquant"):
        parse(index(doc))


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"{not json", "index.json illisible, ligne 1"),
        (b"\xff\xfe{}", "pas en UTF-8"),
        (b'{"documents": []}', '"documents" non vide'),
        (b"[]", '"documents" non vide'),
        (index(GOOD, {**GOOD, "sha256": "b" * 64}), "pcima.pdf figure deux fois"),
        (index(GOOD, {**GOOD, "file": "autre.pdf"}), "même sha256"),
        (b" " * (600 * 1024), "trop grand"),
    ],
)
def test_a_bad_index_is_refused_in_one_line(data, said):
    with pytest.raises(LibraryError) as e:
        parse(data)
    assert said in str(e.value) and "\n" not in str(e.value)


def test_too_many_documents():
    docs = [{**GOOD, "file": f"d{n}.pdf", "sha256": f"{n:064x}"} for n in range(MAX_DOCUMENTS + 1)]
    with pytest.raises(LibraryError, match="au plus 500"):
        parse(index(*docs))


@pytest.mark.parametrize(
    ("code", "topic"),
    [
        ("child.sam", "pcima"),
        ("child.mam", "pcima"),
        ("child.imci_danger_sign.convulsions", "pcime"),
        ("anc.hypertension.severe", "sonu"),
        ("anc.danger_sign.bleeding", "sonu"),
        ("pregnancy.high_risk.age", "cpn"),
        ("chronic.missed_visit", None),
        ("child.samuel", "pcima"),  # a prefix family: a new child.sam* code keeps its aid
    ],
)
def test_alert_topics(code, topic):
    assert alert_topic(code) == topic


def test_due_topics_and_either_shape():
    assert due_topic("immunization") == "pev" and due_topic("family_planning") == "pf"
    assert due_topic("chronic") is None
    assert topic_of({"code": "child.sam"}) == "pcima"
    assert topic_of({"kind": "td", "reason_code": "td:2"}) == "pev"

    class Alert:
        code = "anc.vital.fever"

    assert topic_of(Alert()) == "sonu"


def test_a_library_stick_is_mounted_by_systemd_read_only_and_never_repaired():
    """What keneya-library-usb@ asks systemd for: read-only, nothing on it runs, readable by
    the service user only, and no fsck (it would write to the district's stick)."""
    from appliance.library import files, stick

    argv = stick.mount_command(
        Path("/dev/sda1"), "vfat", 950, 950, Path("/run/keneya-library/sda1")
    )
    assert argv[0] == "systemd-mount" and "--fsck=no" in argv
    options = set(argv[argv.index("-o") + 1].split(","))
    assert {"ro", "nosuid", "nodev", "noexec", "uid=950", "gid=950"} <= options
    assert argv[-2:] == ["/dev/sda1", "/run/keneya-library/sda1"]
    assert stick.mount_point(Path("/dev/sdb")) == stick.LIBRARY_MOUNT_ROOT / "sdb"
    assert files.STICK_ROOTS[0] == stick.LIBRARY_MOUNT_ROOT  # the import pages look there first


def test_a_stick_that_hangs_or_a_missing_tool_is_said_in_one_line():
    """The unit's journal gets a sentence, not a traceback, when blkid or the mount hangs on a
    bad stick, or a tool is missing."""
    from appliance.library import stick

    with pytest.raises(stick.StickError, match=r"^sleep : pas de réponse en 0 s / no answer$"):
        stick._run(["sleep", "5"], timeout=0.2)
    with pytest.raises(stick.StickError, match="outil absent / tool missing"):
        stick._run(["keneya-no-such-tool"], timeout=5)
