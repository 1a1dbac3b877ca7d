"""HTTP/2 with prior knowledge on the egress port (nghttp, httpx), and the cost trailer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from decimal import Decimal

import httpx
import pytest

import support
from support import UPSTREAM, assert_cost, chat_body, expected_cost, messages_body, new_request_id

def nghttp(url: str, body: dict, headers: dict[str, str] | None = None) -> support.H2Response:
    """POSTs with nghttp (HTTP/2 prior knowledge) and parses its -v trace: head, body, trailers."""
    if shutil.which("nghttp") is None:
        pytest.fail("nghttp not installed (Debian package nghttp2-client)")
    args = ["nghttp", "-v", "-H", "content-type: application/json"]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as data:
        json.dump(body, data)
    try:
        result = subprocess.run(args + ["-d", data.name, url], capture_output=True, timeout=30)
    finally:
        os.unlink(data.name)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return support.parse_nghttp(result.stdout.decode(errors="replace"))


def test_nghttp_json(sidecar, mock):
    rid = new_request_id()
    response = nghttp(sidecar.openai_base + "/chat/completions", chat_body(), {"x-request-id": rid, "x-mock-output-tokens": "4"})
    assert response.status == 200
    assert response.headers["x-request-id"] == rid
    assert response.headers["x-sluice-provider"] == "mockai"
    completion = json.loads(response.body)
    assert completion["object"] == "chat.completion"
    usage = completion["usage"]
    assert_cost(response.headers.get("x-sluice-cost-usd"), expected_cost("gpt-e2e", usage["prompt_tokens"], 4))
    assert sidecar.log_for(rid)["transport"] == "h2"
    assert mock.stats()["models"][UPSTREAM["gpt-e2e"]]["output_tokens"] == 4


def test_nghttp_stream_has_cost_trailer(sidecar, mock):
    rid = new_request_id()
    response = nghttp(
        sidecar.openai_base + "/chat/completions", chat_body(stream=True), {"x-request-id": rid, "x-mock-output-tokens": "6"},
    )
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "x-sluice-cost-usd" not in response.headers, "a stream's cost is not known when its head goes out"
    events = support.sse_events(response.body)
    assert events[-1]["data"] == "[DONE]"
    assert '"usage"' not in response.body
    assert sum(1 for p in support.sse_json(response.body) if p["choices"] and p["choices"][0]["delta"].get("content")) == 6
    model = mock.stats()["models"][UPSTREAM["gpt-e2e"]]
    expected = expected_cost("gpt-e2e", model["input_tokens"], 6)
    assert_cost(response.trailers.get("x-sluice-cost-usd"), expected)
    line = sidecar.log_for(rid)
    assert line["transport"] == "h2"
    assert_cost(str(line["cost_usd"]), Decimal(response.trailers["x-sluice-cost-usd"]))


def test_h2_calls_are_logged_with_their_real_outcome(sidecar, mock):
    """A call answered in full over HTTP/2 is `completed` with its real status, not a client close."""
    rids = {kind: new_request_id(kind) for kind in ("json", "stream", "local")}
    with _h2_client() as client:
        assert client.post(sidecar.openai_base + "/chat/completions", json=chat_body(), headers={"x-request-id": rids["json"]}).status_code == 200
        assert client.post(sidecar.openai_base + "/chat/completions", json=chat_body(stream=True), headers={"x-request-id": rids["stream"]}).status_code == 200
        assert client.get(sidecar.openai_base + "/nowhere", headers={"x-request-id": rids["local"]}).status_code == 404
    lines = {kind: sidecar.log_for(rid) for kind, rid in rids.items()}
    got = {kind: (line["status"], line["outcome"]) for kind, line in lines.items()}
    assert got == {"json": (200, "completed"), "stream": (200, "completed"), "local": (404, "local")}


def test_nghttp_anthropic_stream_has_cost_trailer(sidecar, mock):
    response = nghttp(
        sidecar.base_url + "/v1/messages", messages_body(stream=True),
        {**support.ANTHROPIC_HEADERS, "x-mock-output-tokens": "3", "x-mock-cached-tokens": "5"},
    )
    assert response.status == 200
    names = [e["event"] for e in support.sse_events(response.body)]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    model = mock.stats()["models"][UPSTREAM["claude-e2e"]]
    assert_cost(response.trailers.get("x-sluice-cost-usd"), expected_cost("claude-e2e", model["input_tokens"] + 5, 3, 5))


def test_h2_body_in_many_frames_without_content_length(sidecar, mock):
    body = json.dumps(chat_body()).encode()
    with support.H2Client(sidecar.egress) as client:
        stream_id = client.conn.get_next_available_stream_id()
        client.conn.send_headers(stream_id, [(":method", "POST"), (":path", "/v1/chat/completions"), (":scheme", "http"), (":authority", "127.0.0.1"), ("content-type", "application/json")])
        for offset in range(0, len(body), 7):
            client.conn.send_data(stream_id, body[offset:offset + 7])
        client.conn.end_stream(stream_id)
        client.streams[stream_id] = support.H2Stream()
        client._flush()
        client.wait(lambda: client.streams[stream_id].ended)
        answer = client.streams[stream_id]
    assert answer.headers[":status"] == "200"
    assert json.loads(answer.data)["object"] == "chat.completion"
    assert json.loads(mock.stats()["last_request"]["body"])["messages"] == chat_body()["messages"]


def test_h2_trailer_via_h2_library(sidecar, mock):
    with support.H2Client(sidecar.egress) as client:
        answer = client.exchange("POST", "/v1/messages", {"content-type": "application/json", **support.ANTHROPIC_HEADERS, "x-mock-output-tokens": "4"}, json.dumps(messages_body(stream=True)).encode())
    assert answer.headers[":status"] == "200"
    assert answer.headers.get("trailer") == "x-sluice-cost-usd"
    model = mock.stats()["models"][UPSTREAM["claude-e2e"]]
    assert_cost(answer.trailers.get("x-sluice-cost-usd"), expected_cost("claude-e2e", model["input_tokens"], 4))


def _h2_client() -> httpx.Client:
    return httpx.Client(http1=False, http2=True, timeout=20)


def test_httpx_h2_json_and_stream(sidecar, mock):
    rid_json, rid_stream = new_request_id(), new_request_id()
    with _h2_client() as client:
        response = client.post(sidecar.openai_base + "/chat/completions", json=chat_body(), headers={"x-request-id": rid_json, "x-mock-output-tokens": "5"})
        assert response.http_version == "HTTP/2"
        assert response.status_code == 200
        usage = response.json()["usage"]
        assert_cost(response.headers.get("x-sluice-cost-usd"), expected_cost("gpt-e2e", usage["prompt_tokens"], 5))

        with client.stream(
            "POST", sidecar.openai_base + "/chat/completions", json=chat_body(stream=True),
            headers={"x-request-id": rid_stream, "x-mock-output-tokens": "8"},
        ) as stream:
            assert stream.http_version == "HTTP/2"
            assert stream.status_code == 200
            text = "".join(stream.iter_text())
    assert '"usage"' not in text
    assert support.sse_events(text)[-1]["data"] == "[DONE]"
    lines = sidecar.logs_for([rid_json, rid_stream])
    assert [l["transport"] for l in lines] == ["h2", "h2"]
    assert [l["output_tokens"] for l in lines] == [5, 8]
    stats = mock.stats()
    assert stats["models"][UPSTREAM["gpt-e2e"]]["output_tokens"] == 13


def test_h2_concurrent_streams_on_one_connection(sidecar, mock):
    """Six streams multiplexed on one HTTP/2 connection are each relayed, priced and counted.

    (A bare h2 client, not httpx from threads: httpcore can send HEADERS of new streams out of
    stream-id order when threads race, which a server must treat as a connection error.)"""
    rids = [new_request_id() for _ in range(6)]
    with support.H2Client(sidecar.egress) as client:
        streams = [
            client.request(
                "POST", "/v1/chat/completions",
                {"content-type": "application/json", "x-request-id": rid, "x-mock-output-tokens": str(3 + index), "x-mock-tps": "100"},
                json.dumps(chat_body(stream=True, text=f"stream {index}")).encode(),
            )
            for index, rid in enumerate(rids)
        ]
        client.wait(lambda: all(client.streams[s].ended for s in streams), timeout=20)
        answers = [client.streams[s] for s in streams]
    for index, answer in enumerate(answers):
        assert answer.headers[":status"] == "200"
        content = [p for p in support.sse_json(answer.data.decode()) if p["choices"] and p["choices"][0]["delta"].get("content")]
        assert len(content) == 3 + index
        assert "x-sluice-cost-usd" in answer.trailers
    lines = sidecar.logs_for(rids)
    assert [l["output_tokens"] for l in lines] == [3 + i for i in range(6)]
    assert all(l["transport"] == "h2" and l["outcome"] == "completed" for l in lines)
    assert mock.stats()["models"][UPSTREAM["gpt-e2e"]]["output_tokens"] == sum(3 + i for i in range(6))


def test_http1_stream_cost_trailer_when_client_accepts_trailers(sidecar, mock):
    rid = new_request_id()
    response = support.raw_request(
        sidecar.egress, "POST", "/v1/chat/completions",
        {"content-type": "application/json", "TE": "trailers", "x-request-id": rid, "x-mock-output-tokens": "4"},
        json.dumps(chat_body(stream=True)).encode(),
    )
    assert response.status == 200 and response.chunked
    assert "x-sluice-cost-usd" in (response.header("trailer") or "")
    model = mock.stats()["models"][UPSTREAM["gpt-e2e"]]
    assert_cost(response.trailer("x-sluice-cost-usd"), expected_cost("gpt-e2e", model["input_tokens"], 4))


def test_http1_stream_without_te_has_no_trailer(sidecar, mock):
    response = support.raw_request(
        sidecar.egress, "POST", "/v1/chat/completions", {"content-type": "application/json"},
        json.dumps(chat_body(stream=True)).encode(),
    )
    assert response.status == 200
    assert response.header("trailer") is None
    assert response.trailers == []
