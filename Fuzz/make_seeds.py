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
