"""Providers and resilience, end to end: retries under a budget, circuit breakers, failover
down the fallbacks (across vendors, translated), static fallback, degradation, timeout
budgets, Azure OpenAI, with the official SDKs against the real binary and the mock
provider's scripted faults (``POST /mock/faults``), whose per-model counts are compared
with the attempts Sluice logged."""

from __future__ import annotations

import json
import time

import httpx
import pytest

import support
from support import ANTHROPIC_HEADERS, chat_body, messages_body, new_request_id

BREAKER_OPEN_MS = 1200


def _policy(mock_port: int, dead_port: int) -> str:
    key = support.OPENAI_KEY_ENV
    akey = support.ANTHROPIC_KEY_ENV
    return f"""\
providers:
  oa:
    kind: openai
    base_url: http://127.0.0.1:{mock_port}
    credential: {{ env: {key} }}
    breaker: {{ consecutive_failures: 1000, min_calls: 1000 }}
  ok:
    kind: openai
    base_url: http://127.0.0.1:{mock_port}
    credential: {{ env: {key} }}
    breaker: {{ consecutive_failures: 3, failure_ratio: 1.0, window: 10s, min_calls: 100, open_for: {BREAKER_OPEN_MS}ms, probes: 1 }}
  ob:
    kind: openai
    base_url: http://127.0.0.1:{mock_port}
    credential: {{ env: {key} }}
    breaker: {{ consecutive_failures: 1000, min_calls: 1000 }}
  an:
    kind: anthropic
    base_url: http://127.0.0.1:{mock_port}
    credential: {{ env: {akey} }}
  az:
    kind: azure-openai
    base_url: http://127.0.0.1:{mock_port}
    api_version: "2024-10-21"
    deployments: {{ az-up: prod-az }}
    headers: {{ x-team: resilience }}
    credential: {{ env: {key} }}
  dead:
    kind: openai
    base_url: http://127.0.0.1:{dead_port}
    credential: {{ env: {key} }}
models:
  r-primary: {{ provider: oa, upstream_model: up-primary, prices: {{ input: 1, output: 2 }} }}
  r-fallback: {{ provider: oa, upstream_model: up-fallback, prices: {{ input: 1, output: 2 }} }}
  b-primary: {{ provider: ob, upstream_model: up-budget, prices: {{ input: 1, output: 2 }} }}
  k-primary: {{ provider: ok, upstream_model: up-breaker, prices: {{ input: 1, output: 2 }} }}
  x-primary: {{ provider: oa, upstream_model: up-cross, prices: {{ input: 1, output: 2 }} }}
  claude-x: {{ provider: an, upstream_model: claude-up, prices: {{ input: 3, output: 15 }} }}
  y-primary: {{ provider: an, upstream_model: claude-primary, prices: {{ input: 3, output: 15 }} }}
  gpt-x: {{ provider: oa, upstream_model: up-gpt-x, prices: {{ input: 1, output: 2 }} }}
  d-primary: {{ provider: ok, upstream_model: up-degrade, prices: {{ input: 1, output: 2 }} }}
  d-cheap: {{ provider: oa, upstream_model: up-cheap, prices: {{ input: 0.5, output: 1 }} }}
  t-primary: {{ provider: oa, upstream_model: up-slow, prices: {{ input: 1, output: 2 }} }}
  t-fallback: {{ provider: oa, upstream_model: up-slow-fallback, prices: {{ input: 1, output: 2 }} }}
  claude-slow: {{ provider: an, upstream_model: claude-slow-up, prices: {{ input: 3, output: 15 }} }}
  r-az: {{ provider: az, upstream_model: az-up, prices: {{ input: 1, output: 2 }} }}
  r-dead: {{ provider: dead, prices: {{ input: 1, output: 2 }} }}
routes:
  - name: retry
    match: {{ model: retry-chat }}
    targets: [ {{ model: r-primary }} ]
    fallbacks: [ r-fallback ]
    retry: {{ attempts: 3, backoff: 20ms, max_backoff: 200ms, budget_percent: 100, budget_floor: 100 }}
  - name: budget
    match: {{ model: budget-chat }}
    targets: [ {{ model: b-primary }} ]
    retry: {{ attempts: 3, backoff: 1ms, max_backoff: 2ms, budget_percent: 0, budget_floor: 2 }}
  - name: breaker
    match: {{ model: breaker-chat }}
    targets: [ {{ model: k-primary }} ]
  - name: cross
    match: {{ model: cross-chat }}
    targets: [ {{ model: x-primary }} ]
    fallbacks: [ claude-x ]
  - name: cross-reverse
    match: {{ model: cross-messages }}
    targets: [ {{ model: y-primary }} ]
    fallbacks: [ gpt-x ]
  - name: degrade
    match: {{ model: degrade-chat }}
    targets: [ {{ model: d-primary }} ]
    degrade: {{ when: {{ breaker_open: true }}, to: d-cheap }}
  - name: slow
    match: {{ model: slow-chat }}
    targets: [ {{ model: t-primary }} ]
    fallbacks: [ t-fallback ]
    timeouts: {{ head: 700ms, first_token: 400ms, total: 10s }}
  - name: slow-claude
    match: {{ model: slow-messages }}
    targets: [ {{ model: claude-slow }} ]
    fallbacks: [ claude-x ]
    timeouts: {{ first_token: 400ms }}
  - name: static
    match: {{ model: static-chat }}
    targets: [ {{ model: r-dead }} ]
    retry: {{ attempts: 2, backoff: 1ms, max_backoff: 2ms }}
    fallback_reply: {{ content: "The assistant is busy; try again shortly." }}
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("resilience")
    mock = support.start_mock(workdir, "mock-resilience")
    dead = support.refusing_port()
    policy = workdir / "policy.yaml"
    policy.write_text(_policy(mock.port, dead.getsockname()[1]))
    sidecar = support.start_sidecar(workdir, policy, "sidecar-resilience")
    yield sidecar, mock
    sidecar.proc.stop()
    mock.proc.stop()
    dead.close()


@pytest.fixture
def sidecar(env):
    return env[0]


@pytest.fixture
def mock(env):
    mock = env[1]
    mock.reset()  # counts and fault scripts
    yield mock
    httpx.delete(mock.base_url + "/mock/faults", timeout=5).raise_for_status()


def faults(mock, model: str, items: list[dict], then: dict | None = None) -> None:
    body = {"model": model, "faults": items}
    if then is not None:
        body["then"] = then
    httpx.post(mock.base_url + "/mock/faults", json=body, timeout=5).raise_for_status()


def served(mock, model: str) -> int:
    return mock.stats().get("models", {}).get(model, {}).get("requests", 0)


def openai_client(sidecar):
    import openai

    return openai.OpenAI(base_url=sidecar.openai_base, api_key=support.APP_KEY, max_retries=0, timeout=20.0)


def anthropic_client(sidecar):
    import anthropic

    return anthropic.Anthropic(base_url=sidecar.base_url, api_key=support.APP_KEY, max_retries=0, timeout=20.0)


def targets(line: dict) -> list[tuple[str, str]]:
    return [(a["target"], a["outcome"]) for a in line["attempts"]]


# Retries


def test_retryable_statuses_are_retried_and_every_attempt_is_logged_and_counted(sidecar, mock):
    faults(mock, "up-primary", [{"status": 503}, {"status": 500}])
    rid = new_request_id("retry")
    with openai_client(sidecar) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="retry-chat", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-request-id": rid},
        )
    completion = raw.parse()
    assert completion.choices[0].message.content
    assert raw.headers["x-sluice-attempts"] == "3"
    line = sidecar.log_for(rid)
    assert targets(line) == [("oa/r-primary", "error_status"), ("oa/r-primary", "error_status"), ("oa/r-primary", "ok")]
    assert [a.get("status") for a in line["attempts"]] == [503, 500, 200]
    assert served(mock, "up-primary") == 3
    samples = support.scrape(sidecar)
    assert support.metric(samples, "sluice_upstream_attempts_total", provider="oa", model="r-primary", outcome="error_status") >= 2


def test_retry_after_ms_is_honoured(sidecar, mock):
    faults(mock, "up-primary", [{"status": 429, "retry_after_ms": 150}])
    rid = new_request_id("retry-after")
    started = time.monotonic()
    response = httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body("retry-chat"), headers={"x-request-id": rid}, timeout=20)
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert elapsed >= 0.15
    assert response.headers["x-sluice-attempts"] == "2"


def test_exhausted_retries_fail_over_to_the_fallback(sidecar, mock):
    faults(mock, "up-primary", [], then={"status": 502})
    rid = new_request_id("failover")
    response = httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body("retry-chat"), headers={"x-request-id": rid}, timeout=20)
    assert response.status_code == 200, response.text
    assert response.headers["x-sluice-model"] == "r-fallback"
    line = sidecar.log_for(rid)
    assert targets(line) == [("oa/r-primary", "error_status")] * 3 + [("oa/r-fallback", "ok")]
    assert served(mock, "up-primary") == 3 and served(mock, "up-fallback") == 1


def test_the_retry_budget_caps_retries(sidecar, mock):
    faults(mock, "up-budget", [], then={"status": 500})
    rids = [new_request_id("budget") for _ in range(5)]
    for rid in rids:
        response = httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body("budget-chat"), headers={"x-request-id": rid}, timeout=20)
        # The provider's own error is relayed once nothing else may answer.
        assert response.status_code == 500
        assert "(mock; request ID" in response.text
    lines = sidecar.logs_for(rids)
    attempts = sum(len(line["attempts"]) for line in lines)
    # 5 calls, a budget of 0 % plus a floor of 2 retries: 7 upstream calls, not 15.
    assert attempts == 7
    assert served(mock, "up-budget") == attempts


# Circuit breaker


def test_the_breaker_opens_skips_probes_and_recovers(sidecar, mock):
    faults(mock, "up-breaker", [], then={"status": 503})
    for _ in range(3):
        assert httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body("breaker-chat"), timeout=20).status_code == 503
    assert served(mock, "up-breaker") == 3
    debug = httpx.get(f"http://127.0.0.1:{sidecar.admin}/debug/upstreams", timeout=5).json()
    entry = next(t for t in debug["targets"] if t["model"] == "k-primary")
    assert entry["state"] == "open"
    assert support.metric(support.scrape(sidecar), "sluice_circuit_state", provider="ok", model="k-primary") == 2

    # Open: answered at once without a call, in the caller's shape.
    skipped = httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body("breaker-chat"), timeout=20)
    assert skipped.status_code == 503
    assert skipped.json()["error"]["code"] == "no_healthy_upstream"
    assert skipped.headers["x-sluice-error-code"] == "no_healthy_upstream"
    assert served(mock, "up-breaker") == 3

    # After open_for, one probe goes through; it succeeds and the breaker closes.
    httpx.delete(mock.base_url + "/mock/faults", timeout=5).raise_for_status()
    time.sleep(BREAKER_OPEN_MS / 1000 + 0.1)
    probe = httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body("breaker-chat"), timeout=20)
    assert probe.status_code == 200
    assert served(mock, "up-breaker") == 4
    debug = httpx.get(f"http://127.0.0.1:{sidecar.admin}/debug/upstreams", timeout=5).json()
    assert next(t for t in debug["targets"] if t["model"] == "k-primary")["state"] == "closed"
    assert support.metric(support.scrape(sidecar), "sluice_circuit_state", provider="ok", model="k-primary") == 0


def test_degradation_sends_calls_to_the_cheaper_target_while_the_breaker_is_open(sidecar, mock):
    faults(mock, "up-degrade", [], then={"status": 500})
    for _ in range(3):
        httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body("degrade-chat"), timeout=20)
    response = httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body("degrade-chat"), timeout=20)
    assert response.status_code == 200, response.text
    assert response.headers["x-sluice-degraded"] == "breaker_open"
    assert response.headers["x-sluice-model"] == "d-cheap"
    assert served(mock, "up-cheap") == 1


# Streams and timeouts


def test_a_stream_cut_mid_way_is_ended_with_an_error_event_and_never_retried(sidecar, mock):
    rid = new_request_id("midcut")
    response = httpx.post(
        sidecar.openai_base + "/chat/completions", json=chat_body("retry-chat", stream=True),
        headers={"x-request-id": rid, "x-mock-reset": "mid"}, timeout=20,
    )
    assert response.status_code == 200
    events = support.sse_events(response.text)
    assert json.loads(events[-1]["data"])["error"]["code"] == "upstream_error"
    assert sum(1 for e in events if e["data"] == "[DONE]") == 0
    line = sidecar.log_for(rid)
    assert len(line["attempts"]) == 1 and line["attempts"][0]["outcome"] == "broken_stream"
    assert served(mock, "up-primary") == 1


def test_a_stream_reset_before_its_head_fails_over_without_splicing(sidecar, mock):
    faults(mock, "up-primary", [{"reset": "before"}])
    rid = new_request_id("reset-before")
    with openai_client(sidecar) as client:
        chunks = list(client.chat.completions.create(
            model="retry-chat", messages=[{"role": "user", "content": "stream please"}], stream=True,
            extra_headers={"x-request-id": rid},
        ))
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] in (["stop"], ["length"])
    line = sidecar.log_for(rid)
    assert [a["outcome"] for a in line["attempts"]] == ["closed", "ok"]
    assert line["attempts"][1]["target"] == "oa/r-fallback"
    assert line["outcome"] == "completed"


def test_a_hang_before_the_head_fails_over_at_the_head_timeout(sidecar, mock):
    faults(mock, "up-slow", [{"hang": "head"}])
    rid = new_request_id("hang")
    started = time.monotonic()
    response = httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body("slow-chat"), headers={"x-request-id": rid}, timeout=20)
    assert response.status_code == 200, response.text
    assert 0.6 < time.monotonic() - started < 5
    line = sidecar.log_for(rid)
    assert [a["outcome"] for a in line["attempts"]] == ["timeout", "ok"]
    assert served(mock, "up-slow-fallback") == 1


def test_a_slow_first_token_fails_over_before_the_stream_reaches_the_client(sidecar, mock):
    faults(mock, "up-slow", [{"ttft_ms": 3000}])
    rid = new_request_id("ttft")
    with openai_client(sidecar) as client:
        stream = client.chat.completions.with_raw_response.create(
            model="slow-chat", messages=[{"role": "user", "content": "stream please"}], stream=True,
            extra_headers={"x-request-id": rid},
        )
        assert stream.headers["x-sluice-model"] == "t-fallback"
        chunks = list(stream.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    line = sidecar.log_for(rid)
    assert [a["outcome"] for a in line["attempts"]] == ["timeout", "ok"]


def test_a_client_deadline_shortens_the_call(sidecar, mock):
    faults(mock, "up-slow", [{"hang": "head"}, {"hang": "head"}])
    faults(mock, "up-slow-fallback", [{"hang": "head"}])
    rid = new_request_id("deadline")
    started = time.monotonic()
    response = httpx.post(
        sidecar.openai_base + "/chat/completions", json=chat_body("slow-chat"),
        headers={"x-request-id": rid, "x-sluice-timeout-ms": "300"}, timeout=20,
    )
    assert time.monotonic() - started < 2
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


def test_a_bad_client_deadline_is_a_clear_400(sidecar, mock):
    response = httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body("retry-chat"), headers={"x-sluice-timeout-ms": "soon"}, timeout=20)
    assert response.status_code == 400
    assert "x-sluice-timeout-ms" in response.json()["error"]["message"]


# Static fallback


@pytest.mark.parametrize("stream", [False, True])
def test_the_static_fallback_answers_in_the_callers_format(sidecar, mock, stream):
    rid = new_request_id("static")
    with openai_client(sidecar) as client:
        if stream:
            raw = client.chat.completions.with_raw_response.create(
                model="static-chat", messages=[{"role": "user", "content": "hi"}], stream=True, extra_headers={"x-request-id": rid},
            )
            text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
        else:
            raw = client.chat.completions.with_raw_response.create(
                model="static-chat", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-request-id": rid},
            )
            text = raw.parse().choices[0].message.content
    assert text == "The assistant is busy; try again shortly."
    assert raw.headers["x-sluice-fallback"] == "static"
    line = sidecar.log_for(rid)
    assert line["fallback"] == "static"
    assert [a["outcome"] for a in line["attempts"]] == ["connect", "connect"]


# Cross-vendor failover and translation


def test_an_openai_client_fails_over_to_an_anthropic_model(sidecar, mock):
    faults(mock, "up-cross", [], then={"status": 503})
    rid = new_request_id("cross")
    with openai_client(sidecar) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="cross-chat", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
            extra_headers={"x-request-id": rid},
        )
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content
    # The mock stops at its default length (Anthropic max_tokens → OpenAI length).
    assert completion.choices[0].finish_reason in ("stop", "length")
    assert raw.headers["x-sluice-provider"] == "an"
    line = sidecar.log_for(rid)
    assert targets(line) == [("oa/x-primary", "error_status"), ("an/claude-x", "ok")]
    assert line["attempts"][1].get("translated") is True
    sent = mock.stats()["models"]["claude-up"]
    assert completion.usage.completion_tokens == sent["sent_output_tokens"]
    assert (line["input_tokens"], line["output_tokens"]) == (completion.usage.prompt_tokens, completion.usage.completion_tokens)


def test_an_openai_stream_fails_over_to_anthropic_and_stays_openai_shaped(sidecar, mock):
    faults(mock, "up-cross", [], then={"status": 503})
    rid = new_request_id("cross-stream")
    with openai_client(sidecar) as client:
        chunks = list(client.chat.completions.create(
            model="cross-chat", messages=[{"role": "user", "content": "stream across"}], stream=True,
            stream_options={"include_usage": True}, extra_headers={"x-request-id": rid},
        ))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens > 0
    line = sidecar.log_for(rid)
    assert line["outcome"] == "completed"
    assert (line["input_tokens"], line["output_tokens"]) == (usage.prompt_tokens, usage.completion_tokens)


def test_an_anthropic_client_fails_over_to_an_openai_model(sidecar, mock):
    faults(mock, "claude-primary", [], then={"status": 529})
    rid = new_request_id("cross-rev")
    with anthropic_client(sidecar) as client:
        message = client.messages.create(
            model="cross-messages", max_tokens=64, system="Be brief.", messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-request-id": rid},
        )
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text" and message.content[0].text
    assert message.stop_reason in ("end_turn", "max_tokens")
    line = sidecar.log_for(rid)
    assert targets(line) == [("an/y-primary", "error_status"), ("oa/gpt-x", "ok")]
    assert (line["input_tokens"], line["output_tokens"]) == (message.usage.input_tokens, message.usage.output_tokens)


def test_an_anthropic_stream_from_an_openai_model(sidecar, mock):
    faults(mock, "claude-primary", [], then={"status": 529})
    rid = new_request_id("cross-rev-stream")
    with anthropic_client(sidecar) as client:
        with client.messages.stream(
            model="cross-messages", max_tokens=64, messages=[{"role": "user", "content": "stream across"}],
            extra_headers={"x-request-id": rid},
        ) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
    assert text and final.stop_reason in ("end_turn", "max_tokens")
    line = sidecar.log_for(rid)
    assert line["outcome"] == "completed"
    assert line["output_tokens"] == final.usage.output_tokens


WEATHER_TOOL_OPENAI = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
WEATHER_TOOL_ANTHROPIC = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.mark.parametrize("stream", [False, True])
def test_openai_tool_calls_served_by_anthropic(sidecar, mock, stream):
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    with openai_client(sidecar) as client:
        if stream:
            chunks = list(client.chat.completions.create(model="claude-x", messages=messages, tools=[WEATHER_TOOL_OPENAI], stream=True))
            calls: dict[int, dict] = {}
            finish = None
            for chunk in chunks:
                if not chunk.choices:
                    continue
                finish = chunk.choices[0].finish_reason or finish
                for delta in chunk.choices[0].delta.tool_calls or []:
                    entry = calls.setdefault(delta.index, {"id": None, "name": None, "arguments": ""})
                    entry["id"] = delta.id or entry["id"]
                    if delta.function and delta.function.name:
                        entry["name"] = delta.function.name
                    if delta.function and delta.function.arguments:
                        entry["arguments"] += delta.function.arguments
            call = calls[0]
            name, arguments, call_id = call["name"], call["arguments"], call["id"]
        else:
            completion = client.chat.completions.create(model="claude-x", messages=messages, tools=[WEATHER_TOOL_OPENAI])
            finish = completion.choices[0].finish_reason
            tool_call = completion.choices[0].message.tool_calls[0]
            name, arguments, call_id = tool_call.function.name, tool_call.function.arguments, tool_call.id
        assert finish == "tool_calls"
        assert name == "get_weather" and isinstance(json.loads(arguments), dict) and call_id
        # The tool's result goes back the same way and the model answers with text.
        follow = client.chat.completions.create(model="claude-x", tools=[WEATHER_TOOL_OPENAI], messages=messages + [
            {"role": "assistant", "content": None, "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": call_id, "content": "Sunny, 21 C"},
        ])
    assert follow.choices[0].finish_reason in ("stop", "length") and follow.choices[0].message.content


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_tool_use_served_by_openai(sidecar, mock, stream):
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    with anthropic_client(sidecar) as client:
        if stream:
            with client.messages.stream(model="gpt-x", max_tokens=128, messages=messages, tools=[WEATHER_TOOL_ANTHROPIC]) as s:
                message = s.get_final_message()
        else:
            message = client.messages.create(model="gpt-x", max_tokens=128, messages=messages, tools=[WEATHER_TOOL_ANTHROPIC])
        assert message.stop_reason == "tool_use"
        use = next(block for block in message.content if block.type == "tool_use")
        assert use.name == "get_weather" and isinstance(use.input, dict) and use.id
        follow = client.messages.create(model="gpt-x", max_tokens=128, tools=[WEATHER_TOOL_ANTHROPIC], messages=messages + [
            {"role": "assistant", "content": [{"type": "tool_use", "id": use.id, "name": use.name, "input": use.input}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "Sunny, 21 C"}]},
        ])
    assert follow.stop_reason in ("end_turn", "max_tokens") and follow.content[0].text


def test_an_untranslatable_request_is_a_400_in_the_callers_shape(sidecar, mock):
    response = httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body("claude-x", n=2), timeout=20)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert served(mock, "claude-up") == 0


def test_a_provider_error_across_vendors_reaches_the_client_in_its_own_shape(sidecar, mock):
    faults(mock, "claude-up", [{"status": 400}])
    response = httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body("claude-x"), timeout=20)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]


# Azure OpenAI


def test_azure_openai_gets_its_deployment_path_version_and_key(sidecar, mock):
    rid = new_request_id("azure")
    with openai_client(sidecar) as client:
        completion = client.chat.completions.create(model="r-az", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-request-id": rid})
    assert completion.choices[0].message.content
    stats = mock.stats()
    azure = stats["azure"]
    assert azure["deployments"]["prod-az"] >= 1
    assert azure["last_api_version"] == "2024-10-21"
    assert azure["last_api_key"] == support.OPENAI_POLICY_KEY
    assert stats["last_request"]["path"] == "/openai/deployments/prod-az/chat/completions"
    line = sidecar.log_for(rid)
    assert line["provider"] == "az" and line["output_tokens"] == completion.usage.completion_tokens


def test_metrics_expose_attempts_and_breakers_to_promtool(sidecar, mock):
    httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body("retry-chat"), timeout=20)
    text = httpx.get(f"http://127.0.0.1:{sidecar.admin}/metrics", timeout=5).text
    assert "sluice_upstream_attempts_total{" in text
    assert "sluice_circuit_state{" in text


def test_the_connection_stays_usable_after_a_broken_stream(sidecar, mock):
    """A cut stream ends with an error event and the final chunk; the keep-alive connection
    then serves the client's next request (closing it lost that request; found by the soak)."""
    first = support.request_bytes("/v1/chat/completions", chat_body("retry-chat", stream=True), {"x-mock-reset": "mid"})
    second = support.request_bytes("/v1/chat/completions", chat_body("retry-chat"))
    with support.RawConnection(sidecar.egress) as connection:
        connection.send(first)
        broken = connection.read_response()
        assert broken.status == 200 and '"upstream_error"' in broken.body.decode()
        connection.send(second)
        answer = connection.read_response()
        assert answer.status == 200
        assert json.loads(answer.body)["choices"][0]["message"]["content"]


def test_tokens_an_abandoned_stream_reported_are_still_counted(sidecar, mock):
    """Anthropic's message_start carries the input tokens before the first token: a stream
    dropped for a slow first token has been billed for them, so the call counts them."""
    faults(mock, "claude-slow-up", [{"ttft_ms": 3000}])
    rid = new_request_id("abandoned-usage")
    with anthropic_client(sidecar) as client:
        with client.messages.stream(
            model="slow-messages", max_tokens=32, messages=[{"role": "user", "content": "count me twice"}],
            extra_headers={"x-request-id": rid},
        ) as stream:
            final = stream.get_final_message()
    line = sidecar.log_for(rid)
    assert [a["outcome"] for a in line["attempts"]] == ["timeout", "ok"]
    stats = mock.stats()
    slow = support.sent_usage(stats, "claude-slow-up")
    served_by_fallback = support.sent_usage(stats, "claude-up")
    assert slow[0] > 0
    assert line["input_tokens"] == slow[0] + served_by_fallback[0]
    assert line["output_tokens"] == slow[1] + served_by_fallback[1]
    assert final.usage.input_tokens == served_by_fallback[0]


def test_a_json_answer_broken_mid_body_fails_over_unseen(sidecar, mock):
    """A non-stream answer is held until it ends while a fallback could still answer: a
    reset mid-body then fails over instead of becoming a 502."""
    faults(mock, "up-primary", [{"reset": "mid"}])
    rid = new_request_id("json-mid")
    with openai_client(sidecar) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="retry-chat", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-request-id": rid},
        )
    assert raw.parse().choices[0].message.content
    assert raw.headers["x-sluice-model"] == "r-fallback"
    line = sidecar.log_for(rid)
    assert [a["outcome"] for a in line["attempts"]] == ["broken_stream", "ok"]
    assert line["outcome"] == "completed"
