"""The official `anthropic` SDK against the sidecar (base_url http://127.0.0.1:P)."""

from __future__ import annotations

import json

import httpx

import support
from support import ANTHROPIC_POLICY_KEY, UPSTREAM, assert_cost, expected_cost, new_request_id

MESSAGES = [{"role": "user", "content": "Summarise what a sidecar proxy does."}]


def test_messages_create_non_stream(sidecar, mock, anthropic_client):
    rid = new_request_id()
    raw = anthropic_client.messages.with_raw_response.create(
        model="claude-e2e", max_tokens=100, messages=MESSAGES,
        extra_headers={"x-request-id": rid, "x-mock-output-tokens": "10"},
    )
    message = raw.parse()
    assert raw.status_code == 200
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text" and message.content[0].text
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 10
    assert raw.headers["x-sluice-provider"] == "mockanthropic"
    assert raw.headers["x-sluice-model"] == "claude-e2e"
    assert raw.headers["x-request-id"] == rid
    assert_cost(raw.headers.get("x-sluice-cost-usd"), expected_cost("claude-e2e", message.usage.input_tokens, 10))

    stats = mock.stats()
    assert stats["paths"] == {"/v1/messages": 1}
    assert stats["credentials"] == {ANTHROPIC_POLICY_KEY: 1}
    sent = stats["last_request"]
    assert json.loads(sent["body"])["model"] == UPSTREAM["claude-e2e"]
    assert sent["headers"]["x-api-key"] == ANTHROPIC_POLICY_KEY
    assert sent["headers"]["anthropic-version"] == raw.http_request.headers["anthropic-version"], "the SDK's anthropic-version must reach the provider"
    assert "authorization" not in sent["headers"]
    model = stats["models"][UPSTREAM["claude-e2e"]]
    assert (model["input_tokens"], model["output_tokens"]) == (message.usage.input_tokens, 10)

    line = sidecar.log_for(rid)
    assert line["endpoint"] == "messages" and line["provider"] == "mockanthropic"
    assert (line["input_tokens"], line["output_tokens"], line["cached_input_tokens"]) == (message.usage.input_tokens, 10, 0)


def test_messages_stream(sidecar, mock, anthropic_client):
    rid = new_request_id()
    with anthropic_client.messages.stream(
        model="claude-e2e", max_tokens=100, messages=MESSAGES,
        extra_headers={"x-request-id": rid, "x-mock-output-tokens": "12"},
    ) as stream:
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) == 12
    assert final.usage.output_tokens == 12
    assert final.stop_reason == "end_turn"
    stats = mock.stats()
    model = stats["models"][UPSTREAM["claude-e2e"]]
    assert model["completed_responses"] == 1 and model["output_tokens"] == 12
    line = sidecar.log_for(rid)
    assert line["stream"] is True and line["outcome"] == "completed"
    assert (line["input_tokens"], line["output_tokens"]) == (model["input_tokens"], 12)
    assert_cost(str(line["cost_usd"]), expected_cost("claude-e2e", model["input_tokens"], 12))


def test_count_tokens(sidecar, mock, anthropic_client):
    rid = new_request_id()
    result = anthropic_client.messages.count_tokens(model="claude-e2e", messages=MESSAGES, extra_headers={"x-request-id": rid})
    stats = mock.stats()
    # The provider's count, relayed: the same body straight to the mock counts the same.
    direct = httpx.post(mock.base_url + "/v1/messages/count_tokens", content=stats["last_request"]["body"], headers=support.ANTHROPIC_HEADERS, timeout=10)
    assert result.input_tokens == direct.json()["input_tokens"] > 0
    assert stats["paths"] == {"/v1/messages/count_tokens": 1}
    assert json.loads(stats["last_request"]["body"])["model"] == UPSTREAM["claude-e2e"]
    line = sidecar.log_for(rid)
    assert line["endpoint"] == "count_tokens" and line["status"] == 200
    assert "cost_usd" not in line, "counting tokens costs nothing"


def test_cached_tokens_are_normalised(sidecar, mock, anthropic_client):
    """Anthropic reports cache reads beside input_tokens; Sluice counts them as input, priced as cached."""
    rid = new_request_id()
    raw = anthropic_client.messages.with_raw_response.create(
        model="claude-e2e", max_tokens=100, messages=MESSAGES,
        extra_headers={"x-request-id": rid, "x-mock-output-tokens": "5", "x-mock-cached-tokens": "40"},
    )
    usage = raw.parse().usage
    assert usage.cache_read_input_tokens == 40
    uncached = usage.input_tokens
    assert_cost(raw.headers.get("x-sluice-cost-usd"), expected_cost("claude-e2e", uncached + 40, 5, 40))
    line = sidecar.log_for(rid)
    assert (line["input_tokens"], line["output_tokens"], line["cached_input_tokens"]) == (uncached + 40, 5, 40)

    rid2 = new_request_id()
    with anthropic_client.messages.stream(
        model="claude-e2e", max_tokens=100, messages=MESSAGES,
        extra_headers={"x-request-id": rid2, "x-mock-output-tokens": "6", "x-mock-cached-tokens": "25"},
    ) as stream:
        final = stream.get_final_message()
    assert final.usage.cache_read_input_tokens == 25
    line2 = sidecar.log_for(rid2)
    assert (line2["input_tokens"], line2["output_tokens"], line2["cached_input_tokens"]) == (final.usage.input_tokens + 25, 6, 25)
    assert_cost(str(line2["cost_usd"]), expected_cost("claude-e2e", final.usage.input_tokens + 25, 6, 25))
    model = mock.stats()["models"][UPSTREAM["claude-e2e"]]
    assert model["cached_input_tokens"] == 65
    assert model["input_tokens"] + model["cached_input_tokens"] == line["input_tokens"] + line2["input_tokens"]


def test_models_list_in_anthropic_shape(sidecar, mock, anthropic_client):
    ids = [model.id for model in anthropic_client.models.list()]
    assert sorted(ids) == sorted(support.POLICY_MODELS)
    assert mock.stats()["requests"] == 0


def test_openai_model_through_messages_api_is_translated(sidecar, mock, anthropic_client):
    """An Anthropic client may call a model an OpenAI provider serves: the request goes out
    as chat completions and the answer comes back as a message, priced from its usage."""
    rid = new_request_id("translated")
    message = anthropic_client.messages.create(
        model="gpt-e2e", max_tokens=32, system="Be brief.", messages=[{"role": "user", "content": "Hi there"}],
        extra_headers={"x-request-id": rid},
    )
    assert message.type == "message" and message.content[0].type == "text" and message.content[0].text
    stats = mock.stats()
    assert stats["last_request"]["path"] == "/v1/chat/completions"
    line = sidecar.log_for(rid)
    assert line["attempts"][0]["translated"] is True
    assert (line["input_tokens"], line["output_tokens"]) == (message.usage.input_tokens, message.usage.output_tokens)
    assert support.sent_usage(stats, support.UPSTREAM["gpt-e2e"])[1] >= message.usage.output_tokens
