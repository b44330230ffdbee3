"""Draining the outbox into the DHIS2 simulator over real sockets, with every fault. Backoff
waits go through an injected clock and sleep, so nothing here depends on elapsed time."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime, timedelta

import pytest

from appliance.outbox import enqueue_report
from appliance.outbox.dhis2_sim import Dhis2Metadata, Dhis2Sim
from appliance.outbox.sender import Dhis2Config, drain
from appliance.store import Store

pytestmark = pytest.mark.component

TOKEN = "d2p_drain_token"
METADATA = {
    "dataSets": ["dsMonthly01"],
    "dataElements": ["deConsult01", "deMalaria01"],
    "orgUnits": ["ouKalaban01"],
}
ADX = """<adx xmlns="urn:ihe:qrph:adx:2015">
  <group orgUnit="ouKalaban01" period="2026-09-01/P1M" dataSet="dsMonthly01">
    <dataValue dataElement="deConsult01" value="30"/>
  </group>
</adx>"""


class FakeClock:
    def __init__(self) -> None:
        self.t = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += timedelta(seconds=seconds)


def dvs(consult: str = "41", org_unit: str = "ouKalaban01", period: str = "202610") -> dict:
    return {
        "dataSet": "dsMonthly01",
        "period": period,
        "orgUnit": org_unit,
        "dataValues": [
            {"dataElement": "deConsult01", "value": consult},
            {"dataElement": "deMalaria01", "value": "7"},
        ],
    }


@pytest.fixture
def sim():
    with Dhis2Sim(Dhis2Metadata(METADATA), tokens=(TOKEN,)) as s:
        yield s


@pytest.fixture
def clock():
    return FakeClock()


def config(sim, **kw) -> Dhis2Config:
    return Dhis2Config(base_url=sim.url, token=TOKEN, timeout_s=kw.pop("timeout_s", 5.0), **kw)


def put(store, payload=None, *, clock, kind="dhis2-datavalueset", period="202610") -> dict:
    return enqueue_report(
        store,
        facility="KLB",
        dataset="dsMonthly01",
        period=period,
        payload=payload if payload is not None else dvs(),
        kind=kind,
        now=clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    )


def run(store, sim, clock, **kw):
    cfg = config(sim, timeout_s=kw.pop("timeout_s", 5.0))
    return drain(store, cfg, now=clock.now, sleep=clock.sleep, rand=lambda: 0.5, **kw)


def test_delivered_first_time(store, sim, clock):
    item = put(store, clock=clock)
    result = run(store, sim, clock)
    assert result.delivered == [item["id"]]
    got = store.outbox.get(item["id"])
    assert got["status"] == "delivered"
    assert got["attempts"] == 1
    assert got["import_summary"]["importCount"]["imported"] == 2
    assert got["delivered_at"] is not None
    assert sim.posts == 1


def test_adx_is_delivered(store, sim, clock):
    item = put(store, ADX, clock=clock, kind="dhis2-adx", period="202609")
    run(store, sim, clock)
    assert store.outbox.get(item["id"])["status"] == "delivered"
    assert [v["period"] for v in sim.values.values()] == ["202609"]


def test_server_error_then_success(store, sim, clock):
    sim.add_fault("status", status=500)
    item = put(store, clock=clock)
    result = run(store, sim, clock, wait_up_to_s=3600)
    got = store.outbox.get(item["id"])
    assert got["status"] == "delivered"
    assert got["attempts"] == 2
    assert [a["http_status"] for a in store.outbox.attempts(item["id"])] == [500, 200]
    assert clock.slept == [pytest.approx(22.5)]  # 30 s ceiling, jitter 0.5 → 22.5 s
    assert len(sim.values) == 2  # one delivered effect
    assert result.as_dict()["delivered"] == [item["id"]]
    assert result.as_dict()["retrying"] == []


def test_a_retry_waits_for_its_time(store, sim, clock):
    sim.add_fault("status", status=503)
    item = put(store, clock=clock)
    result = run(store, sim, clock)  # no waiting allowed
    got = store.outbox.get(item["id"])
    assert got["status"] == "queued"
    assert "503" in got["last_error"]
    assert result.retrying == [item["id"]]
    assert run(store, sim, clock).attempts == 0  # not due yet
    clock.sleep(60)
    assert run(store, sim, clock).delivered == [item["id"]]


def test_backoff_grows_between_tries(store, sim, clock):
    for _ in range(3):
        sim.add_fault("status", status=502)
    put(store, clock=clock)
    run(store, sim, clock, wait_up_to_s=3600)
    assert clock.slept == [pytest.approx(22.5), pytest.approx(45), pytest.approx(90)]


def test_connection_reset_mid_reply_is_retried_and_resending_is_safe(store, sim, clock):
    sim.add_fault("reset")
    item = put(store, clock=clock)
    run(store, sim, clock, wait_up_to_s=3600)
    got = store.outbox.get(item["id"])
    attempts = store.outbox.attempts(item["id"])
    assert attempts[0]["http_status"] is None
    assert attempts[0]["error"].startswith("network:")
    assert got["status"] == "delivered"
    # the first send was imported before the reset: the second changes nothing
    assert got["import_summary"]["importCount"] == {
        "imported": 0,
        "updated": 0,
        "ignored": 2,
        "deleted": 0,
    }
    assert sim.posts == 2
    assert len(sim.values) == 2


def test_a_reply_slower_than_the_timeout_is_retried(store, sim, clock):
    sim.add_fault("delay", seconds=30)  # released when the simulator closes
    item = put(store, clock=clock)
    run(store, sim, clock, wait_up_to_s=3600, timeout_s=0.3)
    attempts = store.outbox.attempts(item["id"])
    assert "timed out" in attempts[0]["error"]
    assert store.outbox.get(item["id"])["status"] == "delivered"
    assert len(sim.values) == 2


def test_refused_token_is_not_retried(store, sim, clock):
    item = put(store, clock=clock)
    cfg = Dhis2Config(base_url=sim.url, token="wrong", timeout_s=5)
    result = drain(store, cfg, now=clock.now, sleep=clock.sleep, wait_up_to_s=3600)
    got = store.outbox.get(item["id"])
    assert result.failed == [item["id"]]
    assert got["status"] == "failed"
    assert got["attempts"] == 1
    assert "401" in got["last_error"] and "token" in got["last_error"]
    assert clock.slept == []
    assert sim.values == {}


def test_wrong_address_is_not_retried(store, sim, clock):
    item = put(store, clock=clock)
    cfg = Dhis2Config(base_url=sim.url + "/dhis", token=TOKEN, timeout_s=5)
    drain(store, cfg, now=clock.now, sleep=clock.sleep)
    got = store.outbox.get(item["id"])
    assert got["status"] == "failed" and "404" in got["last_error"]


def test_conflicts_with_nothing_imported_fail_with_the_summary(store, sim, clock):
    item = put(store, dvs(org_unit="ouNowhere01"), clock=clock)
    run(store, sim, clock, wait_up_to_s=3600)
    got = store.outbox.get(item["id"])
    assert got["status"] == "failed"
    assert store.outbox.attempts(item["id"])[0]["http_status"] == 409
    assert got["import_summary"]["conflicts"][0]["object"] == "ouNowhere01"
    assert "ouNowhere01" in got["last_error"]


def test_partial_import_is_delivered_with_its_conflicts(store, sim, clock):
    payload = dvs()
    payload["dataValues"].append({"dataElement": "deGhost001", "value": "1"})
    item = put(store, payload, clock=clock)
    run(store, sim, clock)
    got = store.outbox.get(item["id"])
    assert got["status"] == "delivered"
    assert got["import_summary"]["status"] == "WARNING"
    assert got["import_summary"]["conflicts"][0]["object"] == "deGhost001"
    assert "1 conflict" in got["last_error"]


def test_a_newer_version_replaces_a_queued_one(store, sim, clock):
    old = put(store, dvs("41"), clock=clock)
    new = put(store, dvs("45"), clock=clock)
    result = run(store, sim, clock)
    assert result.delivered == [new["id"]]
    assert store.outbox.get(old["id"])["status"] == "superseded"
    assert sim.posts == 1
    values = {v["dataElement"]: v["value"] for v in sim.values.values()}
    assert values["deConsult01"] == "45"


def test_nothing_lost_across_a_restart_mid_send(tmp_path, sim, clock):
    path = tmp_path / "keneya.db"
    with Store(path, create=True) as s:
        item = put(s, clock=clock)
        s.outbox.claim_next(now=clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        # power cut here, before the POST
    with Store(path) as s:
        assert s.outbox.recover() == 1  # keneya-modem starting up
        run(s, sim, clock)
        assert s.outbox.get(item["id"])["status"] == "delivered"
    assert sim.posts == 1


def test_a_drainer_that_died_long_ago_is_recovered_by_the_next_drain(store, sim, clock):
    item = put(store, clock=clock)
    store.outbox.claim_next(now=clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    assert run(store, sim, clock).attempts == 0  # a fresh claim belongs to a live drainer
    clock.sleep(2 * 3600)
    result = run(store, sim, clock)
    assert result.recovered == 1
    assert result.delivered == [item["id"]]
    assert sim.posts == 1


def _drain_in_process(path: str, url: str, now_iso: str, out) -> None:
    now = datetime.fromisoformat(now_iso)
    with Store(path) as s:
        cfg = Dhis2Config(base_url=url, token=TOKEN, timeout_s=10)
        out.put(drain(s, cfg, now=lambda: now).delivered)


def _fill(path, clock, n: int) -> set[str]:
    with Store(path, create=True) as s:
        return {put(s, clock=clock, period=f"2025{m:02d}")["id"] for m in range(1, n + 1)}


def test_two_threads_never_send_the_same_item(tmp_path, sim, clock):
    path = tmp_path / "keneya.db"
    ids = _fill(path, clock, 12)
    delivered: list[list[str]] = [[], []]
    barrier = threading.Barrier(2)

    def worker(n: int) -> None:
        with Store(path) as s:
            barrier.wait()
            delivered[n] = drain(s, config(sim), now=clock.now).delivered

    threads = [threading.Thread(target=worker, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(delivered[0] + delivered[1]) == sorted(ids)
    assert sim.posts == 12


def test_two_processes_never_send_the_same_item(tmp_path, sim, clock):
    path = tmp_path / "keneya.db"
    ids = _fill(path, clock, 12)
    mp = multiprocessing.get_context("spawn")
    out = mp.Queue()
    procs = [
        mp.Process(
            target=_drain_in_process, args=(str(path), sim.url, clock.now().isoformat(), out)
        )
        for _ in "ab"
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert sorted(results[0] + results[1]) == sorted(ids)
    assert sim.posts == 12


def test_a_missing_ca_file_gives_the_item_back(store, sim, clock):
    item = put(store, clock=clock)
    cfg = Dhis2Config(base_url="https://127.0.0.1:9", token=TOKEN, cafile="/nonexistent/ca.pem")
    with pytest.raises(FileNotFoundError):
        drain(store, cfg, now=clock.now, sleep=clock.sleep)
    got = store.outbox.get(item["id"])
    assert got["status"] == "queued"
    assert "FileNotFoundError" in got["last_error"]


@pytest.mark.parametrize("compress", [True, False])
def test_reports_travel_gzipped_unless_told_not_to(store, sim, clock, compress):
    item = put(store, clock=clock)
    cfg = config(sim, compress=compress)
    summary = drain(store, cfg, now=clock.now, sleep=clock.sleep, rand=lambda: 0.5)
    assert summary.delivered == [item["id"]]
    assert sim.compressed_requests == (1 if compress else 0)
    values = sim.query(dataset="dsMonthly01", period="202610", org_unit="ouKalaban01")
    assert {v["value"] for v in values} == {"41", "7"}


def test_the_settings_say_where_dhis2_is_and_whether_to_compress(store, tmp_path):
    from appliance.outbox.sender import Dhis2SetupError, config_from_settings

    with pytest.raises(Dhis2SetupError, match="dhis2_url"):
        config_from_settings(store, tmp_path)
    store.set_settings({"dhis2_url": "https://dhis2.example.org", "dhis2_gzip": "0"})
    with pytest.raises(Dhis2SetupError, match="dhis2_token"):
        config_from_settings(store, tmp_path)
    (tmp_path / "dhis2_token").write_text("\n")
    with pytest.raises(Dhis2SetupError, match="empty"):
        config_from_settings(store, tmp_path)
    (tmp_path / "dhis2_token").write_text("d2p_x\n")
    cfg = config_from_settings(store, tmp_path)
    assert cfg.token == "d2p_x" and cfg.compress is False and cfg.base_url.startswith("https")
    # an account instead of a token
    (tmp_path / "dhis2_token").unlink()
    store.set_setting("dhis2_username", "cscom.boni")
    (tmp_path / "dhis2_password").write_text("s3cret\n")
    cfg = config_from_settings(store, tmp_path)
    assert cfg.token is None and cfg.authorization().startswith("Basic ")
