"""How the sender reads DHIS2's replies and spaces its retries (no network)."""

from __future__ import annotations

import base64

import pytest

from appliance.outbox.sender import BACKOFF_CAP_S, Dhis2Config, backoff_s, import_summary, judge


def summary(status="SUCCESS", imported=0, updated=0, ignored=0, conflicts=()):
    return {
        "responseType": "ImportSummary",
        "status": status,
        "importCount": {"imported": imported, "updated": updated, "ignored": ignored, "deleted": 0},
        "conflicts": [{"object": c, "value": f"{c} not found"} for c in conflicts],
    }


def test_summary_is_unwrapped_from_the_web_message():
    inner = summary(imported=2)
    wrapped = {"httpStatus": "OK", "httpStatusCode": 200, "status": "OK", "response": inner}
    assert import_summary(wrapped) == inner
    assert import_summary(inner) == inner  # before 2.36 the summary came bare
    assert import_summary({"message": "hello"}) is None
    assert import_summary("<html>") is None


def test_success_is_delivered():
    assert judge(200, summary(imported=2)) == ("delivered", None)


def test_warning_with_conflicts_is_delivered_with_the_reason():
    result, reason = judge(409, summary("WARNING", imported=1, ignored=1, conflicts=["deX"]))
    assert result == "delivered"
    assert "1 conflict" in reason and "deX" in reason


def test_unchanged_values_count_as_accepted():
    assert judge(409, summary("WARNING", ignored=3, conflicts=["deX"]))[0] == "delivered"


def test_conflicts_with_nothing_accepted_fail():
    result, reason = judge(409, summary("WARNING", ignored=2, conflicts=["ouA", "ouB"]))
    assert result == "failed"
    assert "ouA" in reason


def test_error_status_fails():
    assert judge(409, summary("ERROR", conflicts=["dsX"]))[0] == "failed"
    assert judge(200, summary("ERROR"))[0] == "failed"


@pytest.mark.parametrize("code", [401, 403, 404])
def test_auth_and_address_errors_are_not_retried(code):
    result, reason = judge(code, None)
    assert result == "failed"
    assert str(code) in reason


@pytest.mark.parametrize("code", [500, 502, 503, 504, 429])
def test_server_errors_are_retried(code):
    assert judge(code, None)[0] == "retry"


def test_a_page_that_is_not_dhis2_is_retried():
    assert judge(200, None)[0] == "retry"


def test_other_client_errors_fail():
    assert judge(400, None)[0] == "failed"


def test_backoff_doubles_with_jitter_and_a_cap():
    assert backoff_s(1, rand=lambda: 0.0) == 15
    assert backoff_s(1, rand=lambda: 1.0) == 30
    assert backoff_s(3, rand=lambda: 1.0) == 120
    assert backoff_s(50, rand=lambda: 1.0) == BACKOFF_CAP_S


def test_authorization_header():
    assert Dhis2Config("http://x", token="abc").authorization() == "ApiToken abc"
    basic = Dhis2Config("http://x", username="u", password="p").authorization()
    assert basic == "Basic " + base64.b64encode(b"u:p").decode()
    assert Dhis2Config("http://x").authorization() is None


def test_a_config_that_is_not_an_http_url_is_refused_early():
    with pytest.raises(ValueError, match="http"):
        Dhis2Config("dhis2.example.org")


def test_deletions_leave_in_a_request_of_their_own():
    import json

    from appliance.outbox import DELETIONS_KEY
    from appliance.outbox.sender import _split_deletions

    gone = [{"dataElement": "deB00000001", "categoryOptionCombo": "coc", "value": "2"}]
    payload = {"dataSet": "ds", "period": "202609", "orgUnit": "ou", "dataValues": []}
    item = {
        "content_type": "application/json",
        "payload": json.dumps({**payload, DELETIONS_KEY: gone}),
    }
    body, deletions = _split_deletions(item)
    assert json.loads(body) == payload  # DHIS2 never sees the extra key
    assert deletions == {"dataSet": "ds", "period": "202609", "orgUnit": "ou", "dataValues": gone}
    plain = {"content_type": "application/json", "payload": json.dumps(payload)}
    assert _split_deletions(plain) == (plain["payload"].encode(), None)


@pytest.mark.parametrize(
    ("status", "result"), [(200, "delivered"), (409, "delivered"), (503, "retry"), (401, "failed")]
)
def test_a_deletion_reply_is_judged_on_refusals_and_outages_only(status, result):
    import json

    from appliance.outbox.sender import Outcome, _with_deletions

    values = Outcome("delivered", http_status=200, summary=summary(updated=3))
    # a cell already gone comes back as a conflict: still the state wanted
    reply = summary(conflicts=({"value": "no data value"},))
    reply["importCount"]["deleted"] = 2
    outcome = _with_deletions(values, status, json.dumps(reply), 5)
    assert outcome.result == result
    if result == "delivered":
        assert outcome.summary["importCount"] == {
            "imported": 0,
            "updated": 3,
            "ignored": 0,
            "deleted": 2,
        }
