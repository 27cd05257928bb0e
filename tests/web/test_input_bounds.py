"""Hostile and careless input gets a clear 413/422, never a 500, and nothing is stored:
ids beyond SQLite's int64, times out of range or given as numbers, Infinity, NUL bytes,
oversized calls, comments and search terms (issue 12, "Server errors and poisoned data")."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from models.store import Store
from tests.web.conftest import SECRET, real_or_points_scorer, zhangwei_call
from web.app import create_app
from web.inputs import MAX_UTTERANCES
from web.users import create_api_token

BIG = str(2**63)


@pytest.fixture
def node(app, store: Store) -> TestClient:  # noqa: ANN001
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {create_api_token(store, 'node-1')}"
    return client


def a_call(call_wav, **changes) -> dict:  # noqa: ANN001, ANN003
    data = zhangwei_call(call_wav, call_id="call-new-1").to_dict()
    data.update(changes)
    return data


@pytest.mark.parametrize(
    "path",
    [
        f"/api/findings/{BIG}/review",
        f"/api/findings/{BIG}/acknowledge",
        f"/api/findings/{BIG}/dispute",
        f"/api/disputes/{BIG}/resolve",
        f"/api/callbacks/{BIG}/done",
    ],
)
def test_ids_beyond_int64_are_422_on_the_api(as_user, path: str) -> None:  # noqa: ANN001
    client, csrf = as_user("王主管")
    r = client.post(path, json={"verdict": "pass", "reason": "x"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 422, r.text
    assert "less than or equal to 9223372036854775807" in r.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        f"/calls/call-zw-1/findings/{BIG}/review",
        f"/findings/{BIG}/acknowledge",
        f"/findings/{BIG}/dispute",
        f"/disputes/{BIG}/resolve",
        f"/callbacks/{BIG}/done",
    ],
)
def test_ids_beyond_int64_are_422_on_the_forms(as_user, path: str) -> None:  # noqa: ANN001
    client, csrf = as_user("王主管")
    r = client.post(path, data={"verdict": "pass", "reason": "x", "csrf_token": csrf})
    assert r.status_code == 422 and "输入有误" in r.text


@pytest.mark.parametrize(
    "query",
    [
        "since=0001-01-01T00:00:00%2B14:00",
        "until=9999-12-31T23:59:59%2B00:00",
        "until=0.5",
        "since=0",
        "since=2026-03-02T00:00:00",  # no offset
        "score_min=Infinity",
        "score_max=NaN",
        "text=" + "电" * 201,
    ],
)
def test_bad_filters_are_422_on_the_api(as_user, query: str) -> None:  # noqa: ANN001
    client, _ = as_user("王主管")
    r = client.get(f"/api/calls?{query}")
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("bad input")


@pytest.mark.parametrize("query", ["since=9999-12-31", "until=9999-12-31", "since=0001-01-01", "since=5"])
def test_bad_day_filters_are_422_on_the_calls_page(as_user, query: str) -> None:  # noqa: ANN001
    client, _ = as_user("王主管")
    r = client.get(f"/calls?{query}")
    assert r.status_code == 422
    assert "between 2000-01-01 and 2099-12-31" in r.text or "ISO 8601 date" in r.text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"duration_s": float("inf")}, "duration_s"),
        ({"ring_time_s": float("nan")}, "ring_time_s"),
        ({"rings": 1e20}, "rings"),
        ({"started_at": "0001-01-01T00:00:00+14:00"}, "started_at"),
        ({"started_at": "9999-12-31T00:00:00+00:00"}, "started_at"),
        ({"started_at": 0}, "started_at"),
        ({"audio_path": "/tmp/a\x00.wav"}, "audio_path"),
        ({"sip_timings": {"end_reason": 7}}, "end_reason"),
        ({"sip_timings": {"caller": {"invite": float("inf")}}}, "sip_timings.caller"),
        ({"id": "a/b"}, "id"),
    ],
)
def test_poisoned_calls_are_refused_and_the_list_keeps_working(
    node, as_user, call_wav, changes, message
) -> None:  # noqa: ANN001
    body = json.dumps(a_call(call_wav, **changes), allow_nan=True)
    r = node.post("/api/calls", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert message in r.json()["detail"]
    supervisor, _ = as_user("王主管")
    assert supervisor.get("/api/calls/call-new-1").status_code == 404  # nothing stored
    assert supervisor.get("/calls").status_code == 200
    assert supervisor.get("/api/calls").status_code == 200


def test_infinity_inside_a_findings_detail_is_refused(node, call_wav) -> None:  # noqa: ANN001
    data = a_call(call_wav)
    data["findings"][0]["detail"] = {"rate": float("inf")}
    r = node.post("/api/calls", content=json.dumps(data), headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "Infinity" in r.json()["detail"]


def test_too_many_utterances_is_422_with_the_cap(node, call_wav) -> None:  # noqa: ANN001
    utt = {"speaker": "caller", "start": 0, "end": 1, "text": "喂"}
    r = node.post("/api/calls", json=a_call(call_wav, utterances=[utt] * (MAX_UTTERANCES + 1)))
    assert r.status_code == 422
    assert f"at most {MAX_UTTERANCES} items" in r.json()["detail"]


def test_a_body_over_the_limit_is_413_before_it_is_parsed(store: Store, call_wav) -> None:  # noqa: ANN001
    app = create_app(store, secret_key=SECRET, scorer=real_or_points_scorer(), max_body_bytes=1024 * 1024)
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {create_api_token(store, 'node-1')}"
    huge = json.dumps(a_call(call_wav, feedback="x" * (2 * 1024 * 1024)))
    r = client.post("/api/calls", content=huge, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "too large" in r.json()["detail"]

    def chunks():  # no Content-Length: the count is of what arrives
        for i in range(0, len(huge), 65536):
            yield huge[i : i + 65536].encode()

    r = client.post("/api/calls", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert store.get_call("call-new-1") is None


def test_long_review_comment_through_the_form_is_refused(as_user, store: Store) -> None:  # noqa: ANN001
    client, csrf = as_user("王主管")
    fid = store.findings("call-zw-1")[1].id
    r = client.post(
        f"/calls/call-zw-1/findings/{fid}/review",
        data={"verdict": "pass", "comment": "长" * 100_000, "csrf_token": csrf},
    )
    assert r.status_code == 422
    assert store.reviews(finding_id=fid) == []


def test_written_at_as_a_number_is_refused(as_user) -> None:  # noqa: ANN001
    client, csrf = as_user("张伟")
    r = client.post(
        "/api/written-replies", json={"text": "您好", "written_at": 0}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 422 and "ISO 8601" in r.json()["detail"]


def test_the_schema_documents_times_and_errors(as_user) -> None:  # noqa: ANN001
    client, _ = as_user("王主管")
    schema = client.get("/openapi.json").json()
    call_in = schema["components"]["schemas"]["CallIn"]["properties"]
    assert call_in["started_at"]["format"] == "date-time"
    get_call = schema["paths"]["/api/calls/{call_id}"]["get"]["responses"]
    for status in ("401", "403", "404", "422"):
        assert get_call[status]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    # and a real 422 has that shape
    body = client.get("/api/calls?since=bad").json()
    assert set(body) == {"detail", "errors"} and isinstance(body["detail"], str)


def test_a_real_nodes_call_with_nested_sip_timings_is_stored_whole(node, store: Store, call_wav) -> None:  # noqa: ANN001
    timings = {
        "caller": {"sip_call_id": "abc@127.0.0.1", "codec": "PCMU", "created": 0.0, "answered": 0.412},
        "engineers": [
            {
                "name": "张伟",
                "sip_uri": "sip:zw@127.0.0.1:5070",
                "result": "answered",
                "ring_time_s": 6.2,
                "invite_sent": 1.0,
            }
        ],
        "ring_time_s": 6.2,
        "end_reason": "caller hung up",
    }
    data = a_call(call_wav, sip_timings=timings)
    data["findings"][0]["detail"] = {"window_s": [0, 10], "matched": None}
    assert node.post("/api/calls", json=data).status_code == 201
    stored = store.get_call("call-new-1")
    assert stored.sip_timings == timings and stored.findings[0].detail == {
        "window_s": [0, 10],
        "matched": None,
    }
