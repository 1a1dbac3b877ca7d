#!/usr/bin/env python3
"""Writes the committed seed corpus, Fuzz/Corpus/<Target>/, from the examples below.

Run from anywhere: python3 Fuzz/make_seeds.py. It rewrites only the files it names
(regression inputs added by hand, `regress-*`, stay). Each target's input format is in its
source file (Fuzz/<Target>/<Target>.swift).
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def write(target, name, data):
    folder = os.path.join(HERE, "Corpus", target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# FuzzJSON: one flags byte (bit 0: ask for usage; bits 1-2: upstream model; bit 6: same
# model), then a request or response body.
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello! Caf\u00e9 \U0001F600"}], "temperature": 0.2,
        "max_tokens": 256, "stream": True}
BODIES = {
    "openai-chat": compact(CHAT),
    "openai-chat-pretty": json.dumps(CHAT, indent=2),
    "openai-chat-usage-false": compact({**CHAT, "stream_options": {"include_usage": False}}),
    "openai-chat-usage-true": compact({**CHAT, "stream_options": {"include_usage": True}}),
    "openai-chat-options-empty": compact({**CHAT, "stream_options": {}}),
    "openai-chat-options-null": compact({**CHAT, "stream_options": None}),
    "openai-chat-tools": compact({"model": "gpt-4o", "messages": [{"role": "user", "content": "weather?"}],
                                  "tools": [{"type": "function", "function": {"name": "get_weather",
                                             "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                            "required": ["city"]}}}], "tool_choice": "auto"}),
    "openai-completions": compact({"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 7,
                                   "stream": True, "logprobs": None, "stop": ["\n"]}),
    "openai-responses": compact({"model": "gpt-4o-mini", "input": [{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}],
                                 "stream": True, "store": False}),
    "openai-embeddings": compact({"model": "text-embedding-3-small", "input": ["a", "b"], "encoding_format": "float"}),
    "anthropic-messages": compact({"model": "claude-sonnet-4-20250514", "max_tokens": 1024,
                                   "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
                                   "messages": [{"role": "user", "content": "Hello"}], "stream": True,
                                   "metadata": {"user_id": "u-1"}}),
    "escapes": '{"model":"gpt-\\u0034o","messages":[],"note":"\\ud83d\\ude00 \\" \\\\ \\/ \\b\\f\\n\\r\\t \\u0000"}',
    "escaped-key": '{"mod\\u0065l":"x","str\\u0065am":true}',
    "numbers": '{"model":"m","a":-0,"b":1.5e-10,"c":-12.75E+3,"d":[0,1,2],"e":true,"f":false,"g":null}',
    "whitespace": ' \t\r\n{ "model" : "m" ,\n "stream" : true } \n',
    "deep": '{"model":"m","x":' + "[" * 200 + "]" * 200 + "}",
    "duplicate-model": '{"model":"a","model":"b"}',
    "model-not-string": '{"model":42}',
    "not-object": '["model","gpt-4o"]',
    "empty-object": "{}",
    "openai-response": compact({"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini-2024-07-18",
                                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
                                "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29,
                                          "prompt_tokens_details": {"cached_tokens": 0}}}),
    "anthropic-response": compact({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
                                   "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn",
                                   "usage": {"input_tokens": 25, "cache_creation_input_tokens": 0,
                                             "cache_read_input_tokens": 10, "output_tokens": 15}}),
}
for index, (name, body) in enumerate(sorted(BODIES.items())):
    flags = [0x00, 0x01, 0x03, 0x05, 0x07, 0x41][index % 6]
    write("FuzzJSON", name, bytes([flags]) + body.encode())

# FuzzSSE: a flags byte (bits 0-1: bound 4 MiB, 16, 64, 1024), a count byte n (mod 16),
# n chunk sizes (each byte + 1), then the stream.
HEAD = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1753358400, "model": "gpt-4o-mini"}


def chunk(choices, **extra):
    return compact({**HEAD, "choices": choices, **extra})


OPENAI_EVENTS = [
    chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}], usage=None),
    chunk([{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}], usage=None),
    chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}], usage=None),
    chunk([], usage={"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7,
                     "prompt_tokens_details": {"cached_tokens": 0}}),
    "[DONE]",
]
ANTHROPIC_EVENTS = [
    ("message_start", {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                       "model": "claude-sonnet-4-20250514", "content": [], "usage": {"input_tokens": 25, "output_tokens": 1}}}),
    ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ("ping", {"type": "ping"}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 15}}),
    ("message_stop", {"type": "message_stop"}),
]
RESPONSES_EVENTS = [
    ("response.created", {"type": "response.created", "sequence_number": 0, "response": {"id": "resp_1", "status": "in_progress"}}),
    ("response.output_text.delta", {"type": "response.output_text.delta", "sequence_number": 1, "delta": "Hi"}),
    ("response.completed", {"type": "response.completed", "sequence_number": 2,
                            "response": {"id": "resp_1", "status": "completed",
                                         "usage": {"input_tokens": 37, "output_tokens": 11, "total_tokens": 48,
                                                   "input_tokens_details": {"cached_tokens": 0}}}}),
]


def openai_stream(nl):
    return "".join(f"data: {e}{nl}{nl}" for e in OPENAI_EVENTS)


def named_stream(events, nl):
    return "".join(f"event: {n}{nl}data: {compact(d)}{nl}{nl}" for n, d in events)


STREAMS = {
    "openai-lf": openai_stream("\n"),
    "openai-crlf": openai_stream("\r\n"),
    "openai-cr": openai_stream("\r"),
    "anthropic-lf": named_stream(ANTHROPIC_EVENTS, "\n"),
    "anthropic-crlf": named_stream(ANTHROPIC_EVENTS, "\r\n"),
    "anthropic-cr": named_stream(ANTHROPIC_EVENTS, "\r"),
    "responses-lf": named_stream(RESPONSES_EVENTS, "\n"),
    "usage-null-middle": 'data: {"id":"x","usage":null,"choices":[]}\n\n',
    "multiline-data": 'id: 4\nretry: 10\ndata: {"id":"x",\ndata: "usage":null,\ndata: "b":2}\n\n: keep-alive\n\n',
    "errors": 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
              'data: {"error":{"message":"boom","type":"server_error"}}\n\n',
    "mixed-endings": "data: a\r\n\r\ndata: b\r\rdata: c\n\n\r\n\n\r",
}
CUTS = [b"\x00\x00", b"\x00\x01\x00", b"\x01\x03\x07\x1f\x40", b"\x02\x02\x0f\xff", b"\x03\x01\x63"]
for index, (name, stream) in enumerate(sorted(STREAMS.items())):
    write("FuzzSSE", name, CUTS[index % len(CUTS)] + stream.encode())

# FuzzPreface: a connection's first bytes.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
PREFACES = {
    "h2-preface": PREFACE,
    "h2-preface-settings": PREFACE + b"\x00\x00\x12\x04\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64",
    "h2-preface-half": PREFACE[:11],
    "h1-get": b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "h1-post": b"POST /v1/chat/completions HTTP/1.1\r\nHost: sluice\r\nContent-Length: 2\r\n\r\n{}",
    "h1-pri": b"PRI * HTTP/1.1\r\n\r\n",
    "h1-pri-lf": b"PRI * HTTP/2.0\n\nSM\n\n",
}
for name, data in PREFACES.items():
    write("FuzzPreface", name, data)

# FuzzPolicy: policy files, good and broken.
for source, name in [("config/policy.yaml", "example-policy.yaml"),
                     ("Tests/SluicePolicyTests/Fixtures/valid.yaml", "valid.yaml"),
                     ("Tests/SluicePolicyTests/Fixtures/many-errors.yaml", "many-errors.yaml")]:
    with open(os.path.join(ROOT, source), "rb") as f:
        write("FuzzPolicy", name, f.read())
BROKEN = {
    "broken-tab-indent.yaml": "providers:\n\topenai:\n\t\tkind: openai\n",
    "broken-unclosed-quote.yaml": 'providers:\n  openai:\n    kind: "openai\n    base_url: https://x\n',
    "broken-unclosed-flow.yaml": "models:\n  m: { provider: openai, prices: [1, 2\n",
    "broken-duplicate-key.yaml": "providers:\n  openai:\n    kind: openai\n    kind: anthropic\n",
    "broken-anchors.yaml": "providers:\n  a: &p\n    kind: openai\n    base_url: https://api.openai.com\n"
                           "    credential: { env: K }\n  b: *p\n  c: *missing\n",
    "broken-bad-alias-merge.yaml": "base: &b { kind: openai }\nproviders:\n  openai:\n    <<: *b\n    base_url: https://x\n",
    "broken-types.yaml": "providers: [openai]\nmodels: 3\nroutes: { a: b }\n",
    "broken-document-markers.yaml": "---\nproviders: {}\n...\n---\nmodels: {}\n",
    "broken-tags.yaml": "providers: !!binary aGVsbG8=\nmodels: !custom { a: 1 }\n",
    "broken-bom-crlf.yaml": "\ufeffproviders:\r\n  openai:\r\n    kind: openai\r\n",
    "broken-deep-flow.yaml": "models: " + "[" * 100 + "]" * 100 + "\n",
    # Aliases expanding into repeated route targets (a large version of this is refused by
    # the loader's node budget; that one is a unit test, too slow to mutate here).
    "aliases-routes.yaml": "x-targets: &t [{ model: m }, { model: m, weight: 2 }]\n"
                           "providers: { p: { kind: openai, base_url: 'https://x' } }\n"
                           "models: { m: { provider: p } }\n"
                           "routes: [{ name: a, targets: *t }, { name: b, targets: *t }, { name: a, targets: *t }]\n",
    "empty.yaml": "",
    "null-document.yaml": "~\n",
}
for name, text in BROKEN.items():
    write("FuzzPolicy", name, text)

# FuzzTranslate: a selector byte (bits 0-2: 0/1 request OpenAI→Anthropic / Anthropic→OpenAI,
# 2/3 response Anthropic→OpenAI / OpenAI→Anthropic, 4/5 error body OpenAI→Anthropic /
# Anthropic→OpenAI, 6/7 stream Anthropic→OpenAI / OpenAI→Anthropic; bits 3-7: upstream
# model, status index or "translate the unfinished last event"), then the body or stream.
REQUEST_OPENAI, REQUEST_ANTHROPIC, RESPONSE_ANTHROPIC, RESPONSE_OPENAI = 0, 1, 2, 3
ERROR_OPENAI, ERROR_ANTHROPIC, STREAM_ANTHROPIC, STREAM_OPENAI = 4, 5, 6, 7
FIXTURES = os.path.join(ROOT, "Tests", "SluiceTranslateTests", "Fixtures")


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def translate_seed(name, selector, variant, data):
    if isinstance(data, str):
        data = data.encode()
    write("FuzzTranslate", name, bytes([selector | (variant << 3)]) + data)


IMAGE = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
TRANSLATE_REQUESTS = [
    ("request-openai-tools", REQUEST_OPENAI, 0, fixture("openai-request-tools.json")),
    ("request-anthropic-tools", REQUEST_ANTHROPIC, 1, fixture("anthropic-request-tools.json")),
    ("request-openai-chat", REQUEST_OPENAI, 2, BODIES["openai-chat"]),
    ("request-openai-chat-pretty", REQUEST_OPENAI, 3, BODIES["openai-chat-pretty"]),
    ("request-anthropic-messages", REQUEST_ANTHROPIC, 0, BODIES["anthropic-messages"]),
    ("request-openai-parts", REQUEST_OPENAI, 0, compact({
        "model": "gpt-4o", "max_completion_tokens": 300, "stop": ["END", "\n\n"], "top_p": 0.9, "user": "u-7",
        "parallel_tool_calls": False, "stream": True, "stream_options": {"include_usage": False},
        "messages": [{"role": "developer", "content": "Answer in French."},
                     {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                                  {"type": "image_url", "image_url": {"url": IMAGE, "detail": "low"}},
                                                  {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}]},
                     {"role": "assistant", "content": None,
                      "tool_calls": [{"id": "call.1/x", "type": "function", "function": {"name": "look", "arguments": "{\"q\":\"cat\"}"}},
                                     {"id": "call_2", "type": "function", "function": {"name": "look", "arguments": "{}"}}]},
                     {"role": "tool", "tool_call_id": "call.1/x", "content": "a cat"},
                     {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "a dog"}]},
                     {"role": "system", "content": "Late system note."}],
        "tools": [{"type": "function", "function": {"name": "look", "description": "Looks", "strict": True,
                                                    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}],
        "tool_choice": {"type": "function", "function": {"name": "look"}}})),
    ("request-openai-refused-n", REQUEST_OPENAI, 0, compact({"model": "gpt-4o", "n": 2, "messages": [{"role": "user", "content": "hi"}]})),
    ("request-openai-refused-format", REQUEST_OPENAI, 0, compact({
        "model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "logprobs": True, "top_logprobs": 2,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}, "temperature": 1.5,
        "frequency_penalty": 0.5, "functions": [], "modalities": ["text", "audio"]})),
    ("request-anthropic-parts", REQUEST_ANTHROPIC, 1, compact({
        "model": "claude-3-5-haiku-latest", "max_tokens": 512, "stream": True, "temperature": 0.5, "top_p": 0.8,
        "stop_sequences": ["###"], "metadata": {"user_id": "u-9"}, "thinking": {"type": "enabled", "budget_tokens": 1024},
        "system": "Be short.",
        "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Weather?", "cache_control": {"type": "ephemeral"}},
                                                   {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": IMAGE.split(",")[1]}},
                                                   {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]},
                     {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "s"},
                                                        {"type": "text", "text": "Checking."},
                                                        {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}]},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "Sunny", "is_error": False},
                                                   {"type": "text", "text": "Thanks"}]}]})),
    ("request-anthropic-refused", REQUEST_ANTHROPIC, 0, compact({
        "model": "claude-sonnet-4-20250514", "max_tokens": 10, "top_k": 5, "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "web_search_20250305", "name": "web_search"}], "mcp_servers": []})),
    ("request-not-object", REQUEST_OPENAI, 0, '["messages"]'),
]
TRANSLATE_RESPONSES = [
    ("response-anthropic-tool-use", RESPONSE_ANTHROPIC, 0, fixture("anthropic-response-tool-use.json")),
    ("response-openai-tool-calls", RESPONSE_OPENAI, 0, fixture("openai-response-tool-calls.json")),
    ("response-anthropic-text", RESPONSE_ANTHROPIC, 0, BODIES["anthropic-response"]),
    ("response-openai-text", RESPONSE_OPENAI, 0, BODIES["openai-response"]),
    ("response-openai-refusal", RESPONSE_OPENAI, 0, compact({
        "id": "chatcmpl-2", "object": "chat.completion", "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": None, "refusal": "I can't."}, "finish_reason": "content_filter"}],
        "usage": {"prompt_tokens": 9223372036854775807, "completion_tokens": 1, "total_tokens": 1}})),
    ("response-anthropic-max-usage", RESPONSE_ANTHROPIC, 0, compact({
        "id": "msg_2", "type": "message", "role": "assistant", "model": "claude-opus-4-1", "stop_reason": "max_tokens",
        "content": [{"type": "thinking", "thinking": "x"}, {"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        "usage": {"input_tokens": 9007199254740993, "cache_read_input_tokens": 1.0e15, "cache_creation_input_tokens": 3, "output_tokens": 2}})),
    # Counts at the edges of Int (a hostile upstream's): one mutation from an overflow.
    ("response-anthropic-usage-edge", RESPONSE_ANTHROPIC, 0, compact({
        "id": "msg_3", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514", "stop_reason": "end_turn",
        "content": [{"type": "text", "text": "a"}],
        "usage": {"input_tokens": 9223372036854775807, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0, "output_tokens": 0}})),
    ("response-openai-usage-edge", RESPONSE_OPENAI, 0, compact({
        "id": "chatcmpl-3", "object": "chat.completion", "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "a"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": -9223372036854775808, "completion_tokens": 0, "total_tokens": 0,
                  "prompt_tokens_details": {"cached_tokens": 0}}})),
    ("response-not-json", RESPONSE_ANTHROPIC, 0, "<html>502 Bad Gateway</html>"),
]
TRANSLATE_ERRORS = [
    ("error-openai-rate-limit", ERROR_OPENAI, 8, compact({"error": {"message": "Rate limit reached", "type": "requests",
                                                                   "param": None, "code": "rate_limit_exceeded"}})),
    ("error-openai-invalid-key", ERROR_OPENAI, 1, compact({"error": {"message": "Incorrect API key", "type": "invalid_request_error",
                                                                    "param": None, "code": "invalid_api_key"}})),
    ("error-anthropic-overloaded", ERROR_ANTHROPIC, 13, compact({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"},
                                                                "request_id": "req_1"})),
    ("error-anthropic-invalid", ERROR_ANTHROPIC, 0, compact({"type": "error", "error": {"type": "invalid_request_error",
                                                                                      "message": "max_tokens: Field required"}})),
    ("error-html", ERROR_ANTHROPIC, 11, "<html><body>upstream connect error or disconnect/reset before headers</body></html>"),
    ("error-empty", ERROR_OPENAI, 9, ""),
]
TRANSLATE_STREAMS = [
    ("stream-anthropic-tool-use", STREAM_ANTHROPIC, 0, fixture("anthropic-stream-tool-use.sse")),
    ("stream-openai-tool-calls", STREAM_OPENAI, 0, fixture("openai-stream-tool-calls.sse")),
    ("stream-anthropic-text-crlf", STREAM_ANTHROPIC, 0, named_stream(ANTHROPIC_EVENTS, "\r\n")),
    ("stream-openai-text-cr", STREAM_OPENAI, 0, openai_stream("\r")),
    ("stream-anthropic-cut", STREAM_ANTHROPIC, 1, named_stream(ANTHROPIC_EVENTS, "\n")[:-40]),
    ("stream-openai-cut", STREAM_OPENAI, 1, openai_stream("\n")[:-30]),
    ("stream-anthropic-usage-edge", STREAM_ANTHROPIC, 0, named_stream([
        ("message_start", {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                           "model": "claude-sonnet-4-20250514", "content": [],
                           "usage": {"input_tokens": 9223372036854775807, "cache_read_input_tokens": 0, "output_tokens": 0}}}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 0}}),
        ("message_stop", {"type": "message_stop"})], "\n")),
    ("stream-anthropic-error", STREAM_ANTHROPIC, 0, named_stream(ANTHROPIC_EVENTS[:3], "\n") + STREAMS["errors"]),
    ("stream-openai-error", STREAM_OPENAI, 0, openai_stream("\n")[:300] + "\n\n" + STREAMS["errors"] + STREAMS["multiline-data"]),
]
for name, selector, variant, data in TRANSLATE_REQUESTS + TRANSLATE_RESPONSES + TRANSLATE_ERRORS + TRANSLATE_STREAMS:
    translate_seed(name, selector, variant, data)

# FuzzSnapshot: envelopes signed with the target's fixed key (seed: 32 bytes of 0x07), and
# near misses of each rejection reason. Needs the `cryptography` package.
import base64
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SNAPSHOT_KEY = Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32)


def envelope(snapshot_bytes, signature=None, fmt=1):
    signature = SNAPSHOT_KEY.sign(snapshot_bytes) if signature is None else signature
    return compact({"format": fmt, "signature": base64.b64encode(signature).decode(),
                    "snapshot": base64.b64encode(snapshot_bytes).decode()}).encode()


def snapshot_json(version, policy, digest=None):
    return compact({"hash": digest or hashlib.sha256(policy.encode()).hexdigest(), "issued_at": "2026-12-01T01:20:00Z",
                    "peers": ["127.0.0.1:9901", "[::1]:9902"], "policy": policy, "version": version}).encode()


SNAPSHOT_POLICY = "providers:\n  openai:\n    kind: openai\n    base_url: https://api.openai.com\n"
good = snapshot_json(3, SNAPSHOT_POLICY)
for name, data in [
    ("valid", envelope(good)),
    ("valid-version-0", envelope(snapshot_json(0, ""))),
    ("hash-mismatch", envelope(snapshot_json(4, SNAPSHOT_POLICY, "0" * 64))),
    ("bad-signature", envelope(good, signature=bytes(64))),
    ("format-2", envelope(good, fmt=2)),
    ("signed-not-a-snapshot", envelope(b'{"version":1}')),
    ("truncated", envelope(good)[:-20]),
]:
    write("FuzzSnapshot", name, data)
