"""The official `openai` SDK against the sidecar (base_url http://127.0.0.1:P/v1)."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

import support
from support import UPSTREAM, assert_cost, chat_body, expected_cost, new_request_id


def _headers(rid: str, **extra: str) -> dict[str, str]:
    return {"x-request-id": rid, **extra}


def test_chat_completion_non_stream(sidecar, mock, openai_client):
    rid = new_request_id()
    raw = openai_client.chat.completions.with_raw_response.create(
        model="gpt-e2e", messages=[{"role": "user", "content": "Tell me about sidecars."}],
        extra_headers=_headers(rid, **{"x-mock-output-tokens": "12"}),
    )
    completion = raw.parse()
    assert raw.status_code == 200
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == 12
    assert raw.headers["x-request-id"] == rid
    assert raw.headers["x-sluice-provider"] == "mockai"
    assert raw.headers["x-sluice-model"] == "gpt-e2e"
    assert raw.headers["x-sluice-route"] == "direct"
    assert raw.headers["content-type"].startswith("application/json")
    assert_cost(raw.headers.get("x-sluice-cost-usd"), expected_cost("gpt-e2e", completion.usage.prompt_tokens, 12))

    stats = mock.stats()
    assert stats["requests"] == 1
    assert stats["paths"] == {"/v1/chat/completions": 1}
    model = stats["models"][UPSTREAM["gpt-e2e"]]
    assert model["completed_responses"] == 1
    assert model["input_tokens"] == completion.usage.prompt_tokens
    assert model["output_tokens"] == 12
    sent = json.loads(stats["last_request"]["body"])
    assert sent["model"] == UPSTREAM["gpt-e2e"], "model must be rewritten to the upstream name"
    assert "stream_options" not in sent, "non-stream calls must not get a stream option"
    assert stats["last_request"]["headers"]["x-request-id"] == rid

    line = sidecar.log_for(rid)
    assert line["status"] == 200 and line["upstream_status"] == 200
    assert line["outcome"] == "completed"
    assert line["endpoint"] == "chat_completions" and line["transport"] == "h1"
    assert line["requested_model"] == "gpt-e2e" and line["model"] == "gpt-e2e"
    assert line["upstream_model"] == UPSTREAM["gpt-e2e"] and line["provider"] == "mockai"
    assert line["stream"] is False
    assert (line["input_tokens"], line["output_tokens"], line["cached_input_tokens"]) == (model["input_tokens"], 12, 0)
    assert_cost(str(line["cost_usd"]), Decimal(raw.headers["x-sluice-cost-usd"]))


def test_chat_completion_by_alias(sidecar, mock, openai_client):
    rid = new_request_id()
    raw = openai_client.chat.completions.with_raw_response.create(
        model="e2e-fast", messages=[{"role": "user", "content": "hi"}], extra_headers=_headers(rid),
    )
    assert raw.status_code == 200
    assert raw.headers["x-sluice-model"] == "gpt-e2e"
    assert json.loads(mock.stats()["last_request"]["body"])["model"] == UPSTREAM["gpt-e2e"]
    assert sidecar.log_for(rid)["requested_model"] == "e2e-fast"


@pytest.mark.parametrize(
    "stream_options",
    [None, {"include_usage": False}, {}],
    ids=["no-stream-options", "include-usage-false", "empty-stream-options"],
)
def test_chat_stream_without_usage_hides_injected_usage(sidecar, mock, openai_client, stream_options):
    rid = new_request_id()
    extra = {} if stream_options is None else {"stream_options": stream_options}
    stream = openai_client.chat.completions.create(
        model="gpt-e2e", messages=[{"role": "user", "content": "Stream to me."}], stream=True,
        extra_headers=_headers(rid, **{"x-mock-output-tokens": "7"}), **extra,
    )
    assert stream.response.headers["x-request-id"] == rid
    chunks = list(stream)
    assert chunks, "no chunks"
    for chunk in chunks:
        assert chunk.object == "chat.completion.chunk"
        assert chunk.usage is None
        assert "usage" not in chunk.to_dict(), f"client did not ask for usage but got a usage field: {chunk.to_dict()}"
        assert chunk.choices, "the usage-only chunk (empty choices) must be hidden"
    content = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(content) == 7
    assert chunks[-1].choices[0].finish_reason == "stop"

    stats = mock.stats()
    sent = json.loads(stats["last_request"]["body"])
    assert sent["stream_options"]["include_usage"] is True, "the sidecar must ask upstream for stream usage"
    model = stats["models"][UPSTREAM["gpt-e2e"]]
    assert model["completed_responses"] == 1 and model["output_tokens"] == 7
    line = sidecar.log_for(rid)
    assert line["stream"] is True and line["outcome"] == "completed"
    assert (line["input_tokens"], line["output_tokens"]) == (model["input_tokens"], 7)
    assert_cost(str(line["cost_usd"]), expected_cost("gpt-e2e", model["input_tokens"], 7))


@pytest.mark.parametrize(
    "extra, sent_options",
    [({}, {"include_usage": True}), ({"stream_options": None}, {"include_usage": True}), ({"stream_options": {"other": 1}}, {"other": 1, "include_usage": True})],
    ids=["plain", "null-options", "other-options"],
)
def test_chat_stream_raw_bytes_carry_no_usage(sidecar, mock, extra, sent_options):
    """Below the SDK: not one byte of injected usage (chunk or `"usage":null`) reaches the client."""
    rid = new_request_id()
    with httpx.Client(timeout=20) as client:
        response = client.post(
            sidecar.openai_base + "/chat/completions", json=chat_body(stream=True, **extra),
            headers={"x-request-id": rid, "x-mock-output-tokens": "5"},
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert '"usage"' not in response.text
    events = support.sse_events(response.text)
    assert events[-1]["data"] == "[DONE]"
    payloads = support.sse_json(response.text)
    assert all(p["choices"] for p in payloads)
    # The mock did produce usage (it was asked on the client's behalf).
    stats = mock.stats()
    assert stats["models"][UPSTREAM["gpt-e2e"]]["output_tokens"] == 5
    sent = json.loads(stats["last_request"]["body"])
    # Sluice asks for usage on the client's behalf and keeps the client's other options.
    assert sent["stream_options"] == sent_options
    assert sidecar.log_for(rid)["output_tokens"] == 5


def test_chat_stream_with_include_usage_sees_exactly_one_usage_chunk(sidecar, mock, openai_client):
    rid = new_request_id()
    stream = openai_client.chat.completions.create(
        model="gpt-e2e", messages=[{"role": "user", "content": "Stream with usage."}], stream=True,
        stream_options={"include_usage": True}, extra_headers=_headers(rid, **{"x-mock-output-tokens": "6"}),
    )
    chunks = list(stream)
    with_usage = [c for c in chunks if c.usage is not None]
    assert len(with_usage) == 1
    usage_chunk = with_usage[0]
    assert usage_chunk is chunks[-1] and usage_chunk.choices == []
    assert usage_chunk.usage.completion_tokens == 6
    stats = mock.stats()
    model = stats["models"][UPSTREAM["gpt-e2e"]]
    assert usage_chunk.usage.prompt_tokens == model["input_tokens"]
    line = sidecar.log_for(rid)
    assert (line["input_tokens"], line["output_tokens"]) == (usage_chunk.usage.prompt_tokens, 6)


def test_completions_non_stream_and_stream(sidecar, mock, openai_client):
    rid = new_request_id()
    raw = openai_client.completions.with_raw_response.create(
        model="gpt-e2e", prompt="Once upon a time", extra_headers=_headers(rid, **{"x-mock-output-tokens": "9"}),
    )
    completion = raw.parse()
    assert completion.object == "text_completion" and completion.choices[0].text
    assert completion.usage.completion_tokens == 9
    assert_cost(raw.headers.get("x-sluice-cost-usd"), expected_cost("gpt-e2e", completion.usage.prompt_tokens, 9))

    rid2 = new_request_id()
    chunks = list(openai_client.completions.create(
        model="gpt-e2e", prompt="Once upon a time", stream=True, extra_headers=_headers(rid2, **{"x-mock-output-tokens": "4"}),
    ))
    assert all(c.usage is None and "usage" not in c.to_dict() for c in chunks)
    assert sum(1 for c in chunks if c.choices and c.choices[0].text) == 4
    stats = mock.stats()
    assert stats["paths"] == {"/v1/completions": 2}
    model = stats["models"][UPSTREAM["gpt-e2e"]]
    assert model["completed_responses"] == 2 and model["output_tokens"] == 13
    lines = sidecar.logs_for([rid, rid2])
    assert [l["endpoint"] for l in lines] == ["completions", "completions"]
    assert sum(l["output_tokens"] for l in lines) == 13
    assert sum(l["input_tokens"] for l in lines) == model["input_tokens"]


def test_embeddings(sidecar, mock, openai_client):
    rid = new_request_id()
    raw = openai_client.embeddings.with_raw_response.create(
        model="embed-e2e", input=["the first text to embed", "a second one"], extra_headers=_headers(rid),
    )
    result = raw.parse()
    assert len(result.data) == 2 and len(result.data[0].embedding) > 0
    assert result.usage.prompt_tokens > 0
    stats = mock.stats()
    model = stats["models"]["embed-e2e"]
    assert model["input_tokens"] == result.usage.prompt_tokens and model["output_tokens"] == 0
    assert_cost(raw.headers.get("x-sluice-cost-usd"), expected_cost("embed-e2e", result.usage.prompt_tokens, 0))
    line = sidecar.log_for(rid)
    assert line["endpoint"] == "embeddings"
    assert (line["input_tokens"], line["output_tokens"]) == (result.usage.prompt_tokens, 0)


def test_responses_non_stream(sidecar, mock, openai_client):
    rid = new_request_id()
    raw = openai_client.responses.with_raw_response.create(
        model="gpt-e2e", input="Explain sidecars briefly.", extra_headers=_headers(rid, **{"x-mock-output-tokens": "11"}),
    )
    response = raw.parse()
    assert response.object == "response" and response.status == "completed"
    assert response.output_text
    assert response.usage.output_tokens == 11
    assert_cost(raw.headers.get("x-sluice-cost-usd"), expected_cost("gpt-e2e", response.usage.input_tokens, 11))
    stats = mock.stats()
    assert stats["paths"] == {"/v1/responses": 1}
    assert stats["models"][UPSTREAM["gpt-e2e"]]["input_tokens"] == response.usage.input_tokens
    line = sidecar.log_for(rid)
    assert line["endpoint"] == "responses"
    assert (line["input_tokens"], line["output_tokens"]) == (response.usage.input_tokens, 11)


def test_responses_stream(sidecar, mock, openai_client):
    rid = new_request_id()
    stream = openai_client.responses.create(
        model="gpt-e2e", input="Stream an explanation.", stream=True, extra_headers=_headers(rid, **{"x-mock-output-tokens": "8"}),
    )
    events = list(stream)
    types = [e.type for e in events]
    assert types[0] == "response.created"
    assert types.count("response.output_text.delta") == 8
    assert types[-1] == "response.completed"
    usage = events[-1].response.usage
    assert usage.output_tokens == 8
    stats = mock.stats()
    sent = json.loads(stats["last_request"]["body"])
    assert "stream_options" not in sent, "the Responses API reports usage without stream_options"
    model = stats["models"][UPSTREAM["gpt-e2e"]]
    assert model["completed_responses"] == 1 and model["input_tokens"] == usage.input_tokens
    line = sidecar.log_for(rid)
    assert line["stream"] is True
    assert (line["input_tokens"], line["output_tokens"]) == (usage.input_tokens, 8)
    assert_cost(str(line["cost_usd"]), expected_cost("gpt-e2e", usage.input_tokens, 8))


def test_models_list_is_answered_locally(sidecar, mock, openai_client):
    ids = {model.id for model in openai_client.models.list()}
    assert ids == support.POLICY_MODELS
    assert mock.stats()["requests"] == 0


def test_cached_prompt_tokens_are_priced_at_the_cached_rate(sidecar, mock, openai_client):
    rid = new_request_id()
    raw = openai_client.chat.completions.with_raw_response.create(
        model="gpt-e2e", messages=[{"role": "user", "content": "cached " * 40}],
        extra_headers=_headers(rid, **{"x-mock-cached-tokens": "30", "x-mock-output-tokens": "3"}),
    )
    usage = raw.parse().usage
    assert usage.prompt_tokens_details.cached_tokens == 30
    assert_cost(raw.headers.get("x-sluice-cost-usd"), expected_cost("gpt-e2e", usage.prompt_tokens, 3, 30))
    line = sidecar.log_for(rid)
    assert (line["input_tokens"], line["output_tokens"], line["cached_input_tokens"]) == (usage.prompt_tokens, 3, 30)
    model = mock.stats()["models"][UPSTREAM["gpt-e2e"]]
    assert (model["input_tokens"], model["cached_input_tokens"]) == (usage.prompt_tokens, 30)


def test_mixed_workload_token_counts_match_the_provider_exactly(sidecar, mock, openai_client, anthropic_client):
    """Every request of a mixed workload, streamed or not, is counted token for token."""
    rids: list[str] = []

    def rid() -> str:
        rids.append(new_request_id("mix"))
        return rids[-1]

    messages = [{"role": "user", "content": "A mixed workload message with a few words in it."}]
    openai_client.chat.completions.create(model="gpt-e2e", messages=messages, extra_headers=_headers(rid(), **{"x-mock-output-tokens": "5"}))
    openai_client.chat.completions.create(model="e2e-fast", messages=messages, extra_headers=_headers(rid(), **{"x-mock-cached-tokens": "4"}))
    list(openai_client.chat.completions.create(model="gpt-e2e", messages=messages, stream=True, extra_headers=_headers(rid(), **{"x-mock-output-tokens": "9"})))
    list(openai_client.chat.completions.create(
        model="gpt-e2e", messages=messages, stream=True, stream_options={"include_usage": True},
        extra_headers=_headers(rid(), **{"x-mock-output-tokens": "3", "x-mock-cached-tokens": "2"}),
    ))
    list(openai_client.completions.create(model="gpt-e2e", prompt="count me", stream=True, extra_headers=_headers(rid())))
    openai_client.embeddings.create(model="embed-e2e", input="embed this please", extra_headers=_headers(rid()))
    openai_client.responses.create(model="gpt-e2e", input="respond", extra_headers=_headers(rid()))
    list(openai_client.responses.create(model="gpt-e2e", input="respond as a stream", stream=True, extra_headers=_headers(rid(), **{"x-mock-output-tokens": "6"})))
    anthropic_client.messages.create(
        model="claude-e2e", max_tokens=50, messages=messages,
        extra_headers=_headers(rid(), **{"x-mock-output-tokens": "7", "x-mock-cached-tokens": "11"}),
    )
    with anthropic_client.messages.stream(
        model="claude-e2e", max_tokens=50, messages=messages, extra_headers=_headers(rid(), **{"x-mock-output-tokens": "13"}),
    ) as stream:
        stream.get_final_message()

    lines = sidecar.logs_for(rids)
    stats = mock.stats()
    assert stats["requests"] == len(rids)
    assert stats["completed_responses"] == len(rids)
    by_upstream: dict[str, list[int]] = {}
    total_cost = Decimal(0)
    for line in lines:
        assert line["status"] == 200 and line["outcome"] == "completed", line
        sums = by_upstream.setdefault(line["upstream_model"], [0, 0, 0, 0])
        sums[0] += line["input_tokens"]
        sums[1] += line["output_tokens"]
        sums[2] += line["cached_input_tokens"]
        sums[3] += 1
        total_cost += Decimal(str(line["cost_usd"]))
    assert set(by_upstream) == set(stats["models"])
    expected_total = Decimal(0)
    for upstream, (log_in, log_out, log_cached, count) in by_upstream.items():
        provider = stats["models"][upstream]
        # Anthropic's input_tokens excludes cache reads; the sidecar's normalised count includes them.
        provider_in = provider["input_tokens"] + (provider["cached_input_tokens"] if upstream in support.ANTHROPIC_UPSTREAMS else 0)
        assert (log_in, log_out, log_cached) == (provider_in, provider["output_tokens"], provider["cached_input_tokens"]), upstream
        assert provider["completed_responses"] == count
        name = next(model for model, up in UPSTREAM.items() if up == upstream)
        expected_total += expected_cost(name, provider_in, provider["output_tokens"], provider["cached_input_tokens"])
    assert abs(total_cost - expected_total) <= Decimal("0.0000000001") * len(lines)
