"""HTTP details a real client hits: keep-alive, pipelining, 100-continue, HTTP/1.0, big bodies,
header hygiene, odd but valid JSON, and concurrency."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

import support
from support import ANTHROPIC_HEADERS, UPSTREAM, RawConnection, chat_body, messages_body, new_request_id, raw_request, request_bytes

JSON = {"content-type": "application/json"}


def test_keep_alive_connection_serves_json_stream_and_errors_in_turn(sidecar, mock):
    with RawConnection(sidecar.egress) as connection:
        for body, kind in [
            (chat_body(), "json"), (chat_body(stream=True), "stream"), (b"{bad", "error"),
            (chat_body(stream=True, stream_options={"include_usage": True}), "stream"), (chat_body(), "json"),
        ]:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            connection.send(request_bytes("/v1/chat/completions", data))
            response = connection.read_response()
            if kind == "error":
                assert response.status == 400
            else:
                assert response.status == 200, response.body
                assert (response.header("content-type") or "").startswith("application/json" if kind == "json" else "text/event-stream")
    stats = mock.stats()
    assert stats["requests"] == 4 and stats["completed_responses"] == 4


def test_upstream_connections_are_pooled(make_mock, make_sidecar, workdir, certs):
    """Calls in turn share one upstream connection; calls at once each get their own, and
    those are kept for the calls after (one event loop, so one pool: --threads 1)."""
    mock = make_mock()
    policy = workdir / "policy-pooling.yaml"
    policy.write_text(support.policy_yaml(mock.port, mock.port, str(certs.ca), str(certs.wrong_ca), "/nonexistent/key"))
    sidecar = make_sidecar(["--threads", "1"], policy=policy)
    for _ in range(4):  # each on a client connection of its own
        assert httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body(), timeout=20).status_code == 200
    assert (mock.stats()["requests"], mock.stats()["connections"]) == (4, 1)

    with support.H2Client(sidecar.egress) as client:
        streams = [
            client.request(
                "POST", "/v1/chat/completions", {"content-type": "application/json", "x-mock-tps": "20", "x-mock-output-tokens": "10"},
                json.dumps(chat_body(stream=True)).encode(),
            )
            for _ in range(3)
        ]
        client.wait(lambda: all(client.streams[s].ended for s in streams), timeout=20)
        assert [client.streams[s].headers[":status"] for s in streams] == ["200"] * 3
    assert (mock.stats()["requests"], mock.stats()["connections"]) == (7, 3), "three calls at once need three connections"
    for _ in range(3):
        assert httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body(), timeout=20).status_code == 200
    stats = mock.stats()
    assert (stats["requests"], stats["connections"], stats["connections_closed"]) == (10, 3, 0), stats


def test_pipelined_requests_are_answered_in_order(sidecar, mock):
    rids = [new_request_id() for _ in range(3)]
    with RawConnection(sidecar.egress) as connection:
        connection.send(b"".join(
            request_bytes("/v1/chat/completions", json.dumps(chat_body()).encode(), {"x-request-id": rid, "x-mock-output-tokens": str(2 + i)})
            for i, rid in enumerate(rids)
        ))
        responses = [connection.read_response() for _ in rids]
    assert [r.header("x-request-id") for r in responses] == rids
    assert [r.json()["usage"]["completion_tokens"] for r in responses] == [2, 3, 4]


def test_expect_100_continue(sidecar, mock):
    body = json.dumps(chat_body()).encode()
    head = request_bytes("/v1/chat/completions", body, {"Expect": "100-continue"})[: -len(body)]
    with RawConnection(sidecar.egress) as connection:
        connection.send(head)
        # The interim answer comes before any body byte is sent (read_response would skip it).
        interim = connection._line()
        assert interim.startswith(b"HTTP/1.1 100"), interim
        assert connection._line() == b""
        connection.send(body)
        response = connection.read_response()
    assert response.status == 200
    stats = mock.stats()
    assert stats["requests"] == 1
    assert "expect" not in stats["headers_seen"]


def test_http_1_0_client(sidecar, mock):
    for body in (chat_body(), chat_body(stream=True)):
        with RawConnection(sidecar.egress) as connection:
            connection.send(request_bytes("/v1/chat/completions", json.dumps(body).encode(), version="HTTP/1.0"))
            response = connection.read_response()
        assert response.status == 200
        assert not response.chunked, "HTTP/1.0 has no chunked encoding"
        if body.get("stream"):
            assert support.sse_events(response.body.decode())[-1]["data"] == "[DONE]"
        else:
            assert response.json()["object"] == "chat.completion"


def test_head_models(sidecar):
    response = raw_request(sidecar.egress, "HEAD", "/v1/models")
    assert response.status == 200 and response.body == b""
    full = raw_request(sidecar.egress, "GET", "/v1/models")
    assert int(response.header("content-length")) == len(full.body) > 0


def test_query_string_and_trailing_slash(sidecar, mock):
    response = raw_request(sidecar.egress, "POST", "/v1/chat/completions/?trace=1", JSON, json.dumps(chat_body()).encode())
    assert response.status == 200, response.body
    assert mock.stats()["paths"] == {"/v1/chat/completions/": 1}


def test_hop_by_hop_and_encoding_headers_are_not_forwarded(sidecar, mock):
    response = httpx.post(
        sidecar.openai_base + "/chat/completions", json=chat_body(),
        headers={"accept-encoding": "gzip, br", "te": "trailers", "keep-alive": "timeout=5", "x-custom-app-header": "kept", "anthropic-beta": "x"},
        timeout=20,
    )
    assert response.status_code == 200
    assert response.headers.get("content-encoding") is None
    seen = mock.stats()["headers_seen"]
    for name in ("accept-encoding", "te", "keep-alive", "connection"):
        assert name not in seen, f"{name} forwarded upstream"
    assert seen.get("x-custom-app-header") == 1, "unknown headers are forwarded"
    assert response.headers["x-sluice-upstream-request-id"].startswith("req_")


def test_headers_named_in_connection_are_not_forwarded(sidecar, mock):
    """RFC 9110 7.6.1: a header named in Connection is hop-by-hop, whatever its name."""
    response = raw_request(
        sidecar.egress, "POST", "/v1/chat/completions",
        {**JSON, "Connection": "close, x-hop-only", "x-hop-only": "secret", "x-end-to-end": "kept"}, json.dumps(chat_body()).encode(),
    )
    assert response.status == 200
    seen = mock.stats()["headers_seen"]
    assert seen.get("x-end-to-end") == 1, "the control: a header not named in Connection is forwarded"
    assert "x-hop-only" not in seen


def test_app_openai_organization_and_project_are_not_forwarded(sidecar, mock):
    headers = {"openai-organization": "org-of-the-app", "openai-project": "proj_of_the_app", "openai-beta": "assistants=v2"}
    assert httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body(), headers=headers, timeout=20).status_code == 200
    seen = mock.stats()["last_request"]["headers"]
    assert seen.get("openai-beta") == "assistants=v2", "the control: other openai-* headers pass"
    assert "openai-organization" not in seen and "openai-project" not in seen


def test_anthropic_version_default_and_passthrough(sidecar, mock):
    assert raw_request(sidecar.egress, "POST", "/v1/messages", JSON, json.dumps(messages_body()).encode()).status == 200
    assert mock.stats()["last_request"]["headers"]["anthropic-version"] == "2023-06-01"
    headers = {**JSON, "anthropic-version": "2099-01-01", "anthropic-beta": "prompt-caching-2024-07-31"}
    assert raw_request(sidecar.egress, "POST", "/v1/messages", headers, json.dumps(messages_body()).encode()).status == 200
    sent = mock.stats()["last_request"]["headers"]
    assert sent["anthropic-version"] == "2099-01-01" and sent["anthropic-beta"] == "prompt-caching-2024-07-31"


def test_escaped_json_is_understood(sidecar, mock):
    body = b'{"model":"gpt\\u002de2e","messages":[{"role":"user","content":"caf\\u00e9 \\"quoted\\" \\ud83d\\ude00"}],"stream":false}'
    response = raw_request(sidecar.egress, "POST", "/v1/chat/completions", JSON, body)
    assert response.status == 200, response.body
    sent = json.loads(mock.stats()["last_request"]["body"])
    assert sent["model"] == UPSTREAM["gpt-e2e"]
    assert sent["messages"][0]["content"] == 'café "quoted" \U0001F600'




@pytest.mark.parametrize(
    "body",
    [
        b'{"model":"gpt-e2e","messages":[],"stream":true,"stream":false}',
        b'{"model":"claude-e2e-upstream","messages":[],"model":"gpt-e2e"}',
        b'{"model":"gpt-e2e","messages":[],"model":"claude-e2e-upstream"}',
        b'{"model":"gpt-e2e","messages":[],"stream":true,"stream_options":{"include_usage":true},"stream_options":{}}',
        b'{"model":"gpt-e2e","messages":[],"stream":true,"stream_options":{"include_usage":false,"include_usage":true}}',
    ],
    ids=["stream-twice", "model-twice-routed-last", "model-twice-unknown-last", "stream-options-twice", "include-usage-twice"],
)
def test_duplicate_routing_keys_are_refused(sidecar, mock, body):
    """A body with two `model` or `stream` members means different things to different JSON
    parsers (first wins in some, last in others). Sluice routes, prices and decides streaming on
    one of them; if the provider reads the other, a stream goes unpriced or another model is
    served at this model's price. Such a body must be refused, not forwarded."""
    response = raw_request(sidecar.egress, "POST", "/v1/chat/completions", JSON, body)
    assert response.status == 400, f"{response.status}: forwarded upstream as {mock.stats().get('last_request', {}).get('body')}"
    assert response.json()["error"]["code"] == "invalid_request"
    assert mock.stats()["requests"] == 0


def test_large_json_response_is_still_counted(sidecar, mock):
    """A JSON answer too big to hold for the cost header (8 MB) still has its usage and cost in
    the access log (EgressSettings: "their cost goes to the access log only")."""
    rid = new_request_id()
    inputs = [f"text number {i}" for i in range(300)]
    response = httpx.post(
        sidecar.openai_base + "/embeddings", json={"model": "embed-e2e", "input": inputs, "dimensions": 4096},
        headers={"x-request-id": rid}, timeout=60,
    )
    assert response.status_code == 200
    assert len(response.content) > 8 * 1024 * 1024
    usage = response.json()["usage"]
    line = sidecar.log_for(rid)
    assert line["input_tokens"] == usage["prompt_tokens"] == mock.stats()["models"]["embed-e2e"]["input_tokens"], line
    support.assert_cost(str(line["cost_usd"]), support.expected_cost("embed-e2e", usage["prompt_tokens"], 0))


def test_large_bodies_over_http2(sidecar, mock):
    with httpx.Client(http1=False, http2=True, timeout=60) as client:
        big = chat_body(text="word " * 600_000)  # 3 MB up, beyond every initial flow-control window
        response = client.post(sidecar.openai_base + "/chat/completions", json=big)
        assert response.status_code == 200
        assert response.json()["usage"]["prompt_tokens"] == mock.stats()["models"][UPSTREAM["gpt-e2e"]]["input_tokens"]
        down = client.post(sidecar.openai_base + "/embeddings", json={"model": "embed-e2e", "input": ["x"] * 100, "dimensions": 4096})
        assert down.status_code == 200 and len(down.json()["data"]) == 100


def test_concurrent_mixed_calls_are_all_counted(sidecar, mock):
    rids = [new_request_id("conc") for _ in range(24)]

    def one(index: int) -> int:
        rid = rids[index]
        headers = {"x-request-id": rid, "x-mock-output-tokens": str(1 + index % 5), "x-mock-tps": "400"}
        with httpx.Client(timeout=30) as client:
            if index % 3 == 0:
                return client.post(sidecar.base_url + "/v1/messages", json=messages_body(stream=index % 2 == 0), headers={**headers, **ANTHROPIC_HEADERS}).status_code
            return client.post(sidecar.openai_base + "/chat/completions", json=chat_body(stream=index % 2 == 0), headers=headers).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(one, range(len(rids))))
    assert statuses == [200] * len(rids)
    lines = sidecar.logs_for(rids)
    stats = mock.stats()
    assert stats["completed_responses"] == len(rids)
    assert sum(l["output_tokens"] for l in lines) == stats["output_tokens"] == sum(1 + i % 5 for i in range(len(rids)))
