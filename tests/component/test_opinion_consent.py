"""Consent: without it, the patient's name (and village, phone) is absent from every byte that
reaches DHIS2 — headers, URLs, JSON, the photo's file — even where the record's notes or the
photo's EXIF carry it; a question that names the patient is refused. With consent, the name
goes."""

from __future__ import annotations

import unicodedata

import pytest

from appliance.outbox.conversations import exchange_once
from appliance.paths import Paths
from appliance.services import auth, opinions
from appliance.services.context import Context
from appliance.services.opinions import QuestionRefused
from appliance.store import Store
from tests.component import opinion_home as H
from tests.conftest import PINS

pytestmark = pytest.mark.component


def _forms(word: str) -> list[bytes]:
    """Every way `word` could travel: UTF-8 as typed, lower and upper case, without accents,
    NFD, JSON's \\u escapes, Latin-1 (EXIF's ASCII fields)."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    out = set()
    for w in (word, plain, word.lower(), word.upper(), plain.lower(), plain.upper()):
        out.add(w.encode("utf-8"))
        out.add(unicodedata.normalize("NFD", w).encode("utf-8"))
        out.add(w.encode("unicode_escape").replace(b"\\x", b"\\u00"))
        out.add(w.encode("latin-1", errors="ignore"))
    return sorted(out)


@pytest.fixture
def home(tmp_path):
    ids = H.make_home(tmp_path)
    with Store(Paths.for_home(tmp_path).database) as store:
        ctx = Context.open(store)
        yield ctx, auth.login(ctx, "doctor", pin=PINS["doctor"]), ids


def _everything_sent(ctx, question_kw) -> bytes:
    _, doctor, ids = ctx
    q = opinions.ask(ctx[0], doctor, ids["health_number"], settings=H.SETTINGS, **question_kw)
    with H.sim(auto_reply_s=0) as sim:
        exchange_once(ctx[0].store, H.config(sim.url), H.SETTINGS)
        exchange_once(ctx[0].store, H.config(sim.url), H.SETTINGS)
        assert ctx[0].store.opinions.get(q["id"])["status"] == "answered"
        return b"\n".join(m.encode() + path.encode() + raw for m, path, raw in sim.requests)


def test_without_consent_no_name_in_any_byte_sent(home):
    sent = _everything_sent(
        home,
        {
            "question": "Fièvre persistante sous artésunate chez une femme enceinte : conduite ?",
            "photo": H.photo_with_exif(f"{H.GIVEN} {H.FAMILY}"),
        },
    )
    assert b"KLB-000001" in sent  # the health number identifies the patient
    assert b"image/jpeg" in sent  # the photo went too
    for word in ("Traoré", "Aminata", "Hawa", "Kalaban Coro", "76123456"):
        for form in _forms(word):
            assert form not in sent, f"{word!r} left as {form!r}"


def test_with_consent_the_name_goes(home):
    sent = _everything_sent(home, {"question": "Conduite à tenir ?", "consent_name": True})
    assert "Aminata Hawa Traoré".encode() in sent
    assert b"76123456" not in sent and b"Kalaban Coro" not in sent


@pytest.mark.parametrize(
    "question", ["Aminata a de la fièvre", "Mme TRAORE fait un paludisme", "traore, 24 SA"]
)
def test_a_question_naming_the_patient_is_refused_without_consent(home, question):
    ctx, doctor, ids = home
    with pytest.raises(QuestionRefused, match="nomme le patient"):
        opinions.ask(ctx, doctor, ids["patient_id"], question, settings=H.SETTINGS)
    assert ctx.store.opinions.list() == []
    q = opinions.ask(
        ctx, doctor, ids["patient_id"], question, settings=H.SETTINGS, consent_name=True
    )
    assert q["status"] == "queued"


def test_questions_read_are_audited_and_an_empty_list_writes_nothing(home):
    """The kiosk reads the questions at each record's opening: with none, no audit row (no
    commit to the card); with one, one `opinion.view` row per reading."""
    ctx, doctor, ids = home
    views = "SELECT count(*) FROM audit WHERE action = 'opinion.view'"
    changes = ctx.store.conn.total_changes
    assert opinions.for_patient(ctx, doctor, ids["health_number"]) == []
    assert ctx.store.conn.total_changes == changes  # nothing written
    assert ctx.store.conn.execute(views).fetchone()[0] == 0
    opinions.ask(
        ctx, doctor, ids["health_number"], settings=H.SETTINGS, question="Conduite à tenir ?"
    )
    assert len(opinions.for_patient(ctx, doctor, ids["health_number"])) == 1
    assert ctx.store.conn.execute(views).fetchone()[0] == 1
