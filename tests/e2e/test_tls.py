"""HTTPS upstreams: trust comes from the provider's ca_file (a test CA made with openssl)."""

from __future__ import annotations

import httpx
import pytest

import support
from support import OPENAI_POLICY_KEY, assert_cost, chat_body, expected_cost, new_request_id


def test_tls_upstream_with_the_test_ca(sidecar, tls_mock, mock):
    rid = new_request_id()
    response = httpx.post(
        sidecar.openai_base + "/chat/completions", json=chat_body(model="gpt-tls"),
        headers={"x-request-id": rid, "x-mock-output-tokens": "6"}, timeout=20,
    )
    assert response.status_code == 200, response.text
    assert response.headers["x-sluice-provider"] == "tlsai"
    usage = response.json()["usage"]
    assert usage["completion_tokens"] == 6
    assert_cost(response.headers.get("x-sluice-cost-usd"), expected_cost("gpt-tls", usage["prompt_tokens"], 6))
    stats = tls_mock.stats()
    assert stats["requests"] == 1
    assert stats["credentials"] == {f"Bearer {OPENAI_POLICY_KEY}": 1}
    assert stats["last_request"]["headers"]["host"] == f"127.0.0.1:{tls_mock.port}"
    assert mock.stats()["requests"] == 0, "the plain mock must not be involved"
    line = sidecar.log_for(rid)
    assert line["provider"] == "tlsai" and line["output_tokens"] == 6


def test_tls_upstream_stream(sidecar, tls_mock):
    rid = new_request_id()
    with httpx.Client(timeout=20) as client, client.stream(
        "POST", sidecar.openai_base + "/chat/completions", json=chat_body(model="gpt-tls", stream=True),
        headers={"x-request-id": rid, "x-mock-output-tokens": "5"},
    ) as response:
        assert response.status_code == 200
        text = "".join(response.iter_text())
    assert support.sse_events(text)[-1]["data"] == "[DONE]"
    assert tls_mock.stats()["models"]["gpt-tls"]["output_tokens"] == 5
    assert sidecar.log_for(rid)["output_tokens"] == 5


def test_tls_upstream_with_the_wrong_ca_is_an_upstream_error(sidecar, tls_mock):
    rid = new_request_id()
    response = httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body(model="gpt-badca"), headers={"x-request-id": rid}, timeout=20)
    assert response.status_code == 502
    assert response.headers["x-sluice-error-code"] == "upstream_error"
    error = response.json()["error"]
    assert error["code"] == "upstream_error" and error["type"] == "server_error"
    assert "tlsbadca" in error["message"]
    assert tls_mock.stats()["requests"] == 0, "no request may be sent over an untrusted connection"
    line = sidecar.log_for(rid)
    assert line["status"] == 502 and line["error_code"] == "upstream_error"


def test_tls_upstream_with_the_wrong_ca_is_a_connect_failure(sidecar, tls_mock):
    """The connection could not be set up (CA, proxy, egress policy: the operator's side), which
    is what `connect` means to the runbook; `closed` sends them to the provider's status page."""
    rid = new_request_id()
    response = httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body(model="gpt-badca"), headers={"x-request-id": rid}, timeout=20)
    assert response.status_code == 502
    assert sidecar.log_for(rid)["upstream_failure"] == "connect"
