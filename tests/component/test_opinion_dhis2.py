"""Second opinions over real HTTP to the DHIS2 simulator: the question with its photo out as a
message conversation, a failed send retried, a lost reply that must not open a second
conversation, the district's reply back on the record, the month's budget, and the modem
daemon carrying it all when the link comes up."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from appliance.clock import to_iso
from appliance.facility_file import OpinionSettings
from appliance.outbox.conversations import OpinionCarrier, exchange_once
from appliance.paths import Paths
from appliance.services import auth, opinions
from appliance.services.context import Context
from appliance.services.errors import PermissionDenied
from appliance.store import Store
from tests.component import opinion_home as H
from tests.conftest import PINS

pytestmark = pytest.mark.component

ANSWER = "Quinine IV puis relais oral ; référez si pas d'amélioration."
QUESTION = "Paludisme à 24 SA, TDR positif : artésunate injectable ou quinine ?"


@pytest.fixture
def home(tmp_path):
    ids = H.make_home(tmp_path)
    with Store(Paths.for_home(tmp_path).database) as store:
        ctx = Context.open(store)
        yield ctx, auth.login(ctx, "doctor", pin=PINS["doctor"]), ids


def ask(home, **kw):
    ctx, doctor, ids = home
    return opinions.ask(
        ctx, doctor, ids["health_number"], kw.pop("question", QUESTION), settings=H.SETTINGS, **kw
    )


def test_question_and_photo_leave_and_the_reply_comes_back(home):
    ctx, doctor, ids = home
    q = ask(home, photo=H.photo_with_exif())
    assert q["status"] == "queued" and q["photo_bytes"] <= 150_000
    with H.sim() as sim:
        out = exchange_once(ctx.store, H.config(sim.url), H.SETTINGS)
        assert out.sent == [q["id"]] and out.replies == 0
        [conversation] = sim.conversations.values()
        assert conversation["userGroups"] == [{"id": H.GROUP}]
        assert conversation["users"] == [{"id": "DrKonate001"}]
        assert "[KNY-" in conversation["subject"]
        assert QUESTION in conversation["messages"][0]["text"]
        [attachment] = conversation["messages"][0]["attachments"]
        file = sim.file_resources[attachment["id"]]
        assert file["domain"] == "MESSAGE_ATTACHMENT" and file["contentLength"] <= 150_000
        from PIL import Image

        with Image.open(io.BytesIO(file["data"])) as image:
            assert image.format == "JPEG" and max(image.size) <= 1280
            assert not image.getexif() and "exif" not in image.info
        assert ctx.store.opinions.get(q["id"])["status"] == "sent"

        sim.reply(conversation["id"], ANSWER)
        out = exchange_once(ctx.store, H.config(sim.url), H.SETTINGS)
        assert out.replies == 1 and out.sent == []
        # nothing new: one cheap poll, no conversation read
        again = exchange_once(ctx.store, H.config(sim.url), H.SETTINGS)
        assert again.replies == 0 and again.checked == 1
    rows = opinions.for_patient(ctx, doctor, ids["patient_id"])
    assert rows[0]["status"] == "answered"
    assert [r["text"] for r in rows[0]["replies"]] == [ANSWER]
    steps = [a["step"] for a in ctx.store.opinions.attempts(q["id"])]
    assert steps == ["photo", "create", "read"]
    month = ctx.store.opinions.traffic(q["asked_at"][:7])
    # photo, create, a poll each exchange, one read
    assert month["bytes"] > q["photo_bytes"] and month["requests"] == 6


def test_a_failed_send_is_retried_until_it_goes(home):
    ctx, _, _ = home
    q = ask(home)
    with H.sim() as sim:
        sim.add_fault("status", status=503, path="/api/messageConversations")
        out = exchange_once(ctx.store, H.config(sim.url), H.SETTINGS)
        assert out.retrying == [q["id"]] and not sim.conversations
        row = ctx.store.opinions.get(q["id"])
        assert row["status"] == "queued" and "503" in row["last_error"] and row["attempts"] == 1
        # the backoff is waited out (here: the link came back, as the modem daemon says)
        ctx.store.opinions.retry_now(now=row["next_attempt_at"])
        later = datetime.fromisoformat(row["next_attempt_at"].replace("Z", "+00:00"))
        out = exchange_once(
            ctx.store, H.config(sim.url), H.SETTINGS, now=lambda: later + timedelta(seconds=1)
        )
        assert out.sent == [q["id"]] and len(sim.conversations) == 1
    assert ctx.store.opinions.get(q["id"])["status"] == "sent"


def test_a_reply_lost_on_the_way_back_opens_no_second_conversation(home):
    ctx, _, _ = home
    q = ask(home, photo=H.photo_with_exif())
    with H.sim() as sim:
        # DHIS2 creates the conversation, then the connection is cut mid-reply
        sim.add_fault("reset", path="/api/messageConversations")
        out = exchange_once(ctx.store, H.config(sim.url), H.SETTINGS)
        assert out.retrying == [q["id"]] and len(sim.conversations) == 1
        ctx.store.opinions.retry_now(now=to_iso(datetime.now(UTC)))
        out = exchange_once(ctx.store, H.config(sim.url), H.SETTINGS)
        assert out.sent == [q["id"]]
        assert len(sim.conversations) == 1 and len(sim.file_resources) == 1
        row = ctx.store.opinions.get(q["id"])
        assert row["conversation_id"] == next(iter(sim.conversations))
    steps = [a["step"] for a in ctx.store.opinions.attempts(q["id"])]
    assert steps == ["photo", "create", "find"]


def test_a_send_cut_by_a_power_failure_looks_before_creating(home):
    ctx, _, _ = home
    q = ask(home)
    with H.sim() as sim:
        claimed = ctx.store.opinions.claim_next(now="9999")
        assert claimed["id"] == q["id"]
        # the daemon died here; the next start puts it back, counted as a try
        assert ctx.store.opinions.recover() == 1
        out = exchange_once(ctx.store, H.config(sim.url), H.SETTINGS)
        assert out.sent == [q["id"]] and len(sim.conversations) == 1
    steps = [a["step"] for a in ctx.store.opinions.attempts(q["id"])]
    assert steps == ["find", "create"]


def test_dhis2_refusing_the_token_fails_the_question_for_the_technician(home):
    ctx, _, _ = home
    q = ask(home)
    with H.sim() as sim:
        config = H.config(sim.url)
        config = type(config)(sim.url, token="wrong", timeout_s=5.0)
        out = exchange_once(ctx.store, config, H.SETTINGS)
    assert out.failed == [q["id"]]
    row = ctx.store.opinions.get(q["id"])
    assert row["status"] == "failed" and "401" in row["last_error"]


def test_the_months_budget_holds_what_would_pass_it(home):
    ctx, _, _ = home
    q = ask(home, photo=H.photo_with_exif())
    tight = OpinionSettings(district_user_group=H.GROUP, monthly_budget_mb=0.05)
    with H.sim() as sim:
        out = exchange_once(ctx.store, H.config(sim.url), tight)
        assert out.held == [q["id"]] and not sim.requests
    row = ctx.store.opinions.get(q["id"])
    assert row["status"] == "queued" and "budget" in row["last_error"] and row["attempts"] == 0


def test_only_clinicians_who_examine_may_ask(home):
    ctx, _, ids = home
    worker = auth.login(ctx, "health_worker", pin=PINS["health_worker"])
    with pytest.raises(PermissionDenied):
        opinions.ask(ctx, worker, ids["patient_id"], QUESTION, settings=H.SETTINGS)
    nurse = auth.login(ctx, "nurse", pin=PINS["nurse"])
    assert opinions.ask(ctx, nurse, ids["patient_id"], QUESTION, settings=H.SETTINGS)["id"]


def test_the_modem_daemon_carries_question_and_reply_when_the_link_comes_up(home):
    from modem.config import ModemConfig
    from modem.daemon import ModemDaemon
    from modem.link import SimulatedLink
    from modem.uploader import Uploader

    ctx, doctor, ids = home
    q = ask(home)
    coverage = [False]
    t = [0.0]
    link = SimulatedLink(schedule=lambda _t: coverage[0], clock=lambda: t[0])
    with H.sim(auto_reply_s=0) as sim:
        now = lambda: datetime.now(UTC)  # noqa: E731
        uploader = Uploader(ctx.store, link=link, dhis2=lambda: H.config(sim.url), now=now)
        carrier = OpinionCarrier(
            ctx.store, settings=H.SETTINGS, dhis2=lambda: H.config(sim.url), now=now,
            monotonic=lambda: t[0],
        )  # fmt: skip
        daemon = ModemDaemon(
            ctx.store,
            config=ModemConfig(status_every_s=1),
            link=link,
            uploader=uploader,
            opinions=carrier,
            monotonic=lambda: t[0],
            now=now,
        )
        daemon.start()
        for _ in range(3):  # no network: nothing leaves
            daemon.tick()
            t[0] += 2
        assert not sim.conversations and ctx.store.opinions.get(q["id"])["status"] == "queued"
        coverage[0] = True
        for _ in range(5):
            daemon.tick()
            t[0] += 2
            if ctx.store.opinions.get(q["id"])["status"] == "answered":
                break
        assert len(sim.conversations) == 1
    row = ctx.store.opinions.get(q["id"])
    assert row["status"] == "answered" and row["replies"][0]["text"] == H.sim().reply_text
    # the reply is news on the asker's home until the record is opened
    assert [n["question_id"] for n in opinions.news(ctx, doctor)] == [q["id"]]
    opinions.for_patient(ctx, doctor, ids["patient_id"])
    assert opinions.news(ctx, doctor) == []


def test_the_simulator_answers_over_http_for_scripts(home):
    """`POST /__reply/{id}` is how a demo script plays the district."""
    import urllib.request

    ctx, _, _ = home
    ask(home)
    with H.sim() as sim:
        exchange_once(ctx.store, H.config(sim.url), H.SETTINGS)
        uid = next(iter(sim.conversations))
        request = urllib.request.Request(
            f"{sim.url}/__reply/{uid}", data=b"Vu, d'accord.", method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as r:
            assert json.loads(r.read())["message"]
        assert sim.conversations[uid]["messages"][-1]["text"] == "Vu, d'accord."
