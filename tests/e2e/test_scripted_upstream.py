"""Provider misbehaviour the mock cannot produce, from an in-process scripted upstream."""

from __future__ import annotations

import json

import httpx

import support
from support import ANTHROPIC_HEADERS, chat_body, messages_body, new_request_id


def call(sidecar, script: str, body: dict, path: str = "/v1/chat/completions", headers: dict | None = None) -> tuple[httpx.Response, dict]:
    rid = new_request_id()
    response = httpx.post(sidecar.base_url + path, json=body, headers={"x-script": script, "x-request-id": rid, **(headers or {})}, timeout=20)
    return response, sidecar.log_for(rid)




def test_openai_stream_ending_without_done_is_a_broken_stream(sidecar, scripted):
    response, line = call(sidecar, "openai-no-done", chat_body(model="scripted-openai", stream=True))
    assert response.status_code == 200
    last = support.sse_events(response.text)[-1]
    assert json.loads(last["data"])["error"]["code"] == "upstream_error", response.text[-300:]
    assert line["outcome"] == "upstream_broken" and line["upstream_failure"] == "broken_stream"


def test_anthropic_stream_ending_without_message_stop_is_a_broken_stream(sidecar, scripted):
    response, line = call(sidecar, "anthropic-no-stop", messages_body(model="scripted-anthropic", stream=True), "/v1/messages", ANTHROPIC_HEADERS)
    assert response.status_code == 200
    assert support.sse_events(response.text)[-1]["event"] == "error", response.text[-300:]
    assert line["outcome"] == "upstream_broken"


def test_stream_cut_without_chunk_terminator_ends_with_an_error_event(sidecar, scripted):
    response, line = call(sidecar, "openai-eof", chat_body(model="scripted-openai", stream=True))
    assert response.status_code == 200
    last = json.loads(support.sse_events(response.text)[-1]["data"])
    assert last["error"]["code"] == "upstream_error"
    assert line["outcome"] == "upstream_broken" and line["upstream_failure"] == "broken_stream"


def test_stream_dribbled_byte_by_byte_is_reassembled(sidecar, scripted):
    response, line = call(sidecar, "openai-dribble", chat_body(model="scripted-openai", stream=True))
    assert response.status_code == 200
    assert '"usage"' not in response.text, "the injected usage chunk must be hidden however it arrives"
    events = support.sse_events(response.text)
    assert [e["data"] for e in events][-1] == "[DONE]"
    assert json.loads(events[0]["data"])["choices"][0]["delta"]["content"] == "slow"
    assert (line["input_tokens"], line["output_tokens"]) == (3, 2)


def test_stream_with_crlf_line_ends_is_counted(sidecar, scripted):
    response, line = call(sidecar, "openai-crlf", chat_body(model="scripted-openai", stream=True, stream_options={"include_usage": True}))
    assert response.status_code == 200
    assert (line["input_tokens"], line["output_tokens"]) == (3, 2)
    support.assert_cost(str(line["cost_usd"]), support.expected_cost_at(1, 2, 3, 2))


def test_json_answer_cut_short_is_502(sidecar, scripted):
    response, line = call(sidecar, "json-short", chat_body(model="scripted-openai"))
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"
    assert line["error_code"] == "upstream_error"


def test_non_json_200_is_relayed_unpriced(sidecar, scripted):
    response, line = call(sidecar, "json-garbage", chat_body(model="scripted-openai"))
    assert response.status_code == 200
    assert response.text.startswith("<html>")
    assert "input_tokens" not in line and "cost_usd" not in line


def test_upstream_that_does_not_speak_http_is_502(sidecar, scripted):
    response, line = call(sidecar, "not-http", chat_body(model="scripted-openai"))
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"
    assert sidecar.is_ready()


def test_provider_credential_reaches_the_scripted_upstream(sidecar, scripted):
    response, _ = call(sidecar, "openai-crlf", chat_body(model="scripted-openai", stream=True), headers={"authorization": "Bearer app-key"})
    assert response.status_code == 200
    assert scripted.requests[-1]["headers"]["authorization"] == f"Bearer {support.OPENAI_POLICY_KEY}"


def test_provider_cannot_spoof_sluice_headers(sidecar, scripted):
    response, line = call(sidecar, "json-spoofed-headers", chat_body(model="scripted-openai"))
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    assert response.headers["x-sluice-upstream-request-id"] == "upstream-id-1"
    assert response.headers["x-request-id"] == line["request_id"]
    assert response.headers.get_list("x-sluice-cost-usd") == [support.format_cost(support.expected_cost_at(1, 2, 3, 2))]
    assert response.headers.get_list("x-sluice-provider") == ["scripted"]


def test_informational_answer_before_the_real_one(sidecar, scripted):
    response, line = call(sidecar, "early-hints", chat_body(model="scripted-openai"))
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "hi"
    assert (line["input_tokens"], line["output_tokens"]) == (3, 2)


def test_base_url_path_prefix_and_query_string_are_kept(sidecar, scripted):
    rid = new_request_id()
    response = httpx.post(
        sidecar.openai_base + "/chat/completions?api-version=2024-06-01&x=1", json=chat_body(model="scripted-prefixed"),
        headers={"x-script": "early-hints", "x-request-id": rid}, timeout=20,
    )
    assert response.status_code == 200
    request = scripted.requests[-1]
    assert request["line"] == "POST /gateway/openai/v1/chat/completions?api-version=2024-06-01&x=1 HTTP/1.1"
    assert request["headers"]["host"] == f"127.0.0.1:{scripted.port}"
    assert json.loads(request["body"])["model"] == "scripted-prefixed"
    assert sidecar.log_for(rid)["path"] == "/v1/chat/completions"
