"""Provider failures: relayed as the provider said, or turned into Sluice's stable errors."""

from __future__ import annotations

import json
import time

import httpx
import pytest

import support
from support import ANTHROPIC_HEADERS, chat_body, messages_body, new_request_id


def post_json(sidecar, path: str, body: dict, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(sidecar.base_url + path, json=body, headers=headers, timeout=20)


# ---------------------------------------------------------------------------------------
# Provider errors are relayed


@pytest.mark.parametrize("status", [500, 429, 503])
def test_openai_provider_error_is_relayed(sidecar, mock, status):
    rid = new_request_id()
    response = post_json(sidecar, "/v1/chat/completions", chat_body(), {"x-request-id": rid, "x-mock-status": str(status)})
    assert response.status_code == status
    error = response.json()["error"]
    assert "(mock)" in error["message"], "the provider's own body must be relayed"
    assert "x-sluice-error-code" not in response.headers, "a relayed provider error is not Sluice's error"
    assert response.headers["x-sluice-provider"] == "mockai"
    if status == 429:
        assert response.headers["retry-after"] == "1"
        assert error["code"] == "rate_limit_exceeded"
    stats = mock.stats()
    assert stats["statuses"] == {str(status): 1}
    line = sidecar.log_for(rid)
    assert (line["status"], line["upstream_status"]) == (status, status)
    assert "cost_usd" not in line and "input_tokens" not in line


def test_anthropic_provider_error_is_relayed(sidecar, mock):
    response = post_json(sidecar, "/v1/messages", messages_body(), {**ANTHROPIC_HEADERS, "x-mock-status": "529"})
    assert response.status_code == 529
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "overloaded_error"


def test_provider_error_through_the_sdks(sidecar, mock, openai_client, anthropic_client):
    import anthropic
    import openai

    with pytest.raises(openai.InternalServerError):
        openai_client.chat.completions.create(model="gpt-e2e", messages=[{"role": "user", "content": "x"}], extra_headers={"x-mock-status": "500"})
    with pytest.raises(openai.RateLimitError):
        openai_client.chat.completions.create(model="gpt-e2e", messages=[{"role": "user", "content": "x"}], extra_headers={"x-mock-status": "429"})
    with pytest.raises(anthropic.RateLimitError):
        anthropic_client.messages.create(model="claude-e2e", max_tokens=5, messages=[{"role": "user", "content": "x"}], extra_headers={"x-mock-status": "429"})
    assert mock.stats()["requests"] == 3, "with max_retries=0 each call reaches the provider exactly once"


def test_provider_error_on_a_stream_request(sidecar, mock):
    response = post_json(sidecar, "/v1/chat/completions", chat_body(stream=True), {"x-mock-status": "500"})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/json")
    assert "(mock)" in response.json()["error"]["message"]


# ---------------------------------------------------------------------------------------
# Connection failures become Sluice errors


def test_reset_before_the_head_is_502(sidecar, mock):
    rid = new_request_id()
    response = post_json(sidecar, "/v1/chat/completions", chat_body(), {"x-request-id": rid, "x-mock-reset": "before"})
    assert response.status_code == 502
    assert response.headers["x-sluice-error-code"] == "upstream_error"
    error = response.json()["error"]
    assert error["code"] == "upstream_error" and error["type"] == "server_error" and "mockai" in error["message"]
    assert 1 <= mock.stats()["resets"] <= 2
    line = sidecar.log_for(rid)
    assert line["status"] == 502 and line["error_code"] == "upstream_error"
    assert line["upstream_failure"] in {"connect", "closed", "protocol"}, line

    response = post_json(sidecar, "/v1/messages", messages_body(), {**ANTHROPIC_HEADERS, "x-mock-reset": "before"})
    assert response.status_code == 502
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "api_error" and body["error"]["code"] == "upstream_error"


def test_reset_mid_json_body_is_502_not_half_a_body(sidecar, mock):
    response = post_json(sidecar, "/v1/chat/completions", chat_body(), {"x-mock-reset": "mid"})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"


def test_reset_mid_stream_ends_with_an_openai_error_event(sidecar, mock):
    rid = new_request_id()
    with httpx.Client(timeout=20) as client, client.stream(
        "POST", sidecar.openai_base + "/chat/completions", json=chat_body(stream=True),
        headers={"x-request-id": rid, "x-mock-reset": "mid", "x-mock-output-tokens": "10"},
    ) as response:
        assert response.status_code == 200
        text = "".join(response.iter_text())  # a broken chunked framing would raise here
    events = support.sse_events(text)
    assert events[-1]["data"] != "[DONE]"
    last = json.loads(events[-1]["data"])
    assert set(last) == {"error"}
    assert last["error"]["code"] == "upstream_error" and last["error"]["type"] == "server_error"
    assert "mockai" in last["error"]["message"]
    content = [json.loads(e["data"]) for e in events[:-1]]
    assert 1 <= sum(1 for c in content if c["choices"] and c["choices"][0]["delta"].get("content")) < 10
    assert mock.stats()["resets"] == 1
    line = sidecar.log_for(rid)
    assert line["outcome"] == "upstream_broken" and line["error_code"] == "upstream_error"
    assert line["upstream_failure"] == "broken_stream"
    assert line["status"] == 200


def test_reset_mid_stream_raises_in_the_openai_sdk(sidecar, mock, openai_client):
    import openai

    stream = openai_client.chat.completions.create(
        model="gpt-e2e", messages=[{"role": "user", "content": "x"}], stream=True,
        extra_headers={"x-mock-reset": "mid", "x-mock-output-tokens": "10"},
    )
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            received.append(chunk)
    assert received, "the part before the break is delivered"
    assert "mockai" in str(caught.value)


def test_reset_mid_stream_ends_with_an_anthropic_error_event(sidecar, mock, anthropic_client):
    import anthropic

    rid = new_request_id()
    response = post_json(
        sidecar, "/v1/messages", messages_body(stream=True),
        {**ANTHROPIC_HEADERS, "x-request-id": rid, "x-mock-reset": "mid", "x-mock-output-tokens": "10"},
    )
    assert response.status_code == 200
    events = support.sse_events(response.text)
    assert events[0]["event"] == "message_start"
    assert events[-1]["event"] == "error"
    last = json.loads(events[-1]["data"])
    assert last["type"] == "error" and last["error"]["type"] == "api_error" and last["error"]["code"] == "upstream_error"
    assert "message_stop" not in [e["event"] for e in events]
    assert sidecar.log_for(rid)["outcome"] == "upstream_broken"

    with pytest.raises(anthropic.APIStatusError):
        with anthropic_client.messages.stream(
            model="claude-e2e", max_tokens=50, messages=[{"role": "user", "content": "x"}],
            extra_headers={"x-mock-reset": "mid", "x-mock-output-tokens": "10"},
        ) as stream:
            for _ in stream:
                pass


@pytest.fixture(scope="module")
def impatient_sidecar(workdir, policy_file, mock):
    instance = support.start_sidecar(workdir / "module", policy_file, "sidecar-timeout-1s", ["--upstream-timeout", "1", "--upstream-idle-timeout", "1"])
    yield instance
    instance.proc.stop()


def test_hang_before_the_head_is_504(impatient_sidecar, mock):
    rid = new_request_id()
    started = time.monotonic()
    response = post_json(impatient_sidecar, "/v1/chat/completions", chat_body(), {"x-request-id": rid, "x-mock-hang": "head"})
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.headers["x-sluice-error-code"] == "upstream_timeout"
    error = response.json()["error"]
    assert error["code"] == "upstream_timeout" and error["type"] == "server_error"
    assert 0.9 <= elapsed < 5, elapsed
    assert mock.stats()["hangs"] == 1
    line = impatient_sidecar.log_for(rid)
    assert line["status"] == 504 and line["error_code"] == "upstream_timeout"
    assert line["upstream_failure"] == "timeout"

    response = post_json(impatient_sidecar, "/v1/messages", messages_body(), {**ANTHROPIC_HEADERS, "x-mock-hang": "head"})
    assert response.status_code == 504
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "timeout_error" and body["error"]["code"] == "upstream_timeout"
    # The timeout covers the head only: a slow but steady stream is not cut.
    slow = post_json(impatient_sidecar, "/v1/chat/completions", chat_body(stream=True), {"x-mock-tps": "8", "x-mock-output-tokens": "12"})
    assert slow.status_code == 200 and support.sse_events(slow.text)[-1]["data"] == "[DONE]"


def test_stream_that_goes_silent_ends_with_a_timeout_error_event(impatient_sidecar, mock):
    rid = new_request_id()
    started = time.monotonic()
    with httpx.Client(timeout=20) as client, client.stream(
        "POST", impatient_sidecar.openai_base + "/chat/completions", json=chat_body(stream=True),
        headers={"x-request-id": rid, "x-mock-hang": "mid", "x-mock-output-tokens": "10"},
    ) as response:
        assert response.status_code == 200
        text = "".join(response.iter_text())
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 5, elapsed
    last = json.loads(support.sse_events(text)[-1]["data"])
    assert last["error"]["code"] == "upstream_timeout"
    line = impatient_sidecar.log_for(rid)
    assert line["outcome"] == "upstream_broken" and line["error_code"] == "upstream_timeout"
    assert line["upstream_failure"] == "timeout"


def test_json_answer_that_goes_silent_is_504(impatient_sidecar, mock):
    response = post_json(impatient_sidecar, "/v1/chat/completions", chat_body(), {"x-mock-hang": "mid"})
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


def test_provider_down_is_502(make_sidecar, workdir, certs, mock):
    closed = __import__("socket").socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    policy = workdir / "policy-provider-down.yaml"
    policy.write_text(support.policy_yaml(port, port, str(certs.ca), str(certs.wrong_ca), "/nonexistent/key"))
    sidecar = make_sidecar(policy=policy)
    started = time.monotonic()
    response = post_json(sidecar, "/v1/chat/completions", chat_body(), {})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"
    assert time.monotonic() - started < 5
    assert sidecar.is_ready()
