"""Load for scripts/soak: N asyncio clients (httpx) sending a mix of OpenAI chat and
Anthropic messages requests, JSON and streaming, some with mock fault headers, and the
classification of every answer.

An answer is one of:
  - a status with a JSON body (any status: a relayed or written error is an answer);
  - a stream (200, text/event-stream) that completed (OpenAI `data: [DONE]`, Anthropic
    `message_stop`) or ended with a well-formed error event in the caller's format.
Anything else is a failure of the soak: a transport error (connect, reset, client timeout),
a stream cut without an error event, a body that is not what its content type says.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import time
from dataclasses import dataclass, field

import httpx

# Client-facing model names of the soak policy (see scripts/soak, policy_yaml).
OPENAI_MODEL = "soak-gpt"
ANTHROPIC_MODEL = "soak-claude"

KINDS = ("openai-json", "openai-stream", "anthropic-json", "anthropic-stream")


def fault_choices(rng: random.Random) -> tuple[str, dict[str, str]]:
    """One fault, drawn evenly among the mock's per-request faults."""
    pick = rng.randrange(7)
    if pick == 0:
        return "status-503", {"x-mock-status": "503"}
    if pick == 1:
        return "status-429", {"x-mock-status": "429"}
    if pick == 2:
        return "status-500", {"x-mock-status": "500"}
    if pick == 3:
        return "hang-head", {"x-mock-hang": "head"}
    if pick == 4:
        return "reset-before", {"x-mock-reset": "before"}
    if pick == 5:
        return "reset-mid", {"x-mock-reset": "mid"}
    # Mostly under the route's first_token timeout (3 s), some over it.
    ttft = rng.choice((200, 800, 1500, 2500, 4000))
    return "ttft", {"x-mock-ttft-ms": str(ttft)}


def request_for(kind: str, rng: random.Random) -> tuple[str, dict, dict[str, str]]:
    """(path, body, headers) of one request of ``kind``."""
    tokens = rng.randint(4, 48)
    text = f"Soak request {rng.getrandbits(32):08x}: say something about sidecars."
    stream = kind.endswith("-stream")
    if kind.startswith("openai"):
        body = {"model": OPENAI_MODEL, "max_tokens": tokens, "messages": [{"role": "user", "content": text}]}
        if stream:
            body["stream"] = True
            # Most streams ask for usage; some leave it to the sidecar.
            if rng.random() < 0.75:
                body["stream_options"] = {"include_usage": True}
        return "/v1/chat/completions", body, {}
    body = {"model": ANTHROPIC_MODEL, "max_tokens": tokens, "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
    return "/v1/messages", body, {"anthropic-version": "2023-06-01"}


def sse_events(text: str) -> tuple[list[tuple[str | None, str]], bool]:
    """(event name, data) of each complete event, and whether the text ended on an event boundary."""
    text = text.replace("\r\n", "\n")
    blocks = text.split("\n\n")
    tail = blocks.pop()   # after the last blank line: empty when the stream ended cleanly
    events = []
    for block in blocks:
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith(":") or not line:
                continue
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "event":
                name = value
            elif key == "data":
                data.append(value)
        if name is None and not data:
            continue
        events.append((name, "\n".join(data)))
    return events, tail.strip() == ""


def _json(data: str):
    try:
        return json.loads(data)
    except (json.JSONDecodeError, ValueError):
        return None


def classify_stream(kind: str, text: str) -> str:
    """complete | error-event | cut | malformed, for a 200 text/event-stream answer."""
    events, clean_end = sse_events(text)
    if not events or not clean_end:
        return "cut"
    if kind.startswith("openai"):
        for _, data in events[:-1]:
            if data == "[DONE]" or _json(data) is None:
                return "malformed"
        name, data = events[-1]
        if data == "[DONE]":
            return "complete"
        last = _json(data)
        if isinstance(last, dict) and isinstance(last.get("error"), dict):
            return "error-event"
        return "malformed" if last is None else "cut"
    for name, data in events:
        if _json(data) is None:
            return "malformed"
    name, data = events[-1]
    last = _json(data)
    if name == "message_stop":
        return "complete"
    if name == "error" and isinstance(last, dict) and last.get("type") == "error" and isinstance(last.get("error"), dict):
        return "error-event"
    return "cut"


@dataclass
class Tally:
    """Everything the clients saw, shared by all of them (one asyncio thread: no locks)."""

    requests: int = 0
    by_kind: collections.Counter = field(default_factory=collections.Counter)
    faults: collections.Counter = field(default_factory=collections.Counter)
    statuses: collections.Counter = field(default_factory=collections.Counter)
    stream_outcomes: collections.Counter = field(default_factory=collections.Counter)
    fallback_static: int = 0
    header_attempts: int = 0
    client_errors: collections.Counter = field(default_factory=collections.Counter)
    bad_bodies: collections.Counter = field(default_factory=collections.Counter)
    examples: list = field(default_factory=list)      # a few failures, for the report
    request_ids: list = field(default_factory=list)
    latencies: list = field(default_factory=list)
    client_error_ids: list = field(default_factory=list)  # (request id, the same client's previous one or None)
    stopped_early: str | None = None                  # why the load stopped before its time

    def failures(self) -> int:
        return (sum(self.client_errors.values()) + sum(self.bad_bodies.values())
                + self.stream_outcomes["cut"] + self.stream_outcomes["malformed"])

    def note(self, what: str, rid: str, kind: str, fault: str, detail: str) -> None:
        if len(self.examples) < 12:
            self.examples.append(f"{what}: {rid} {kind} fault={fault}: {detail[:300]}")


def previous_rid(rid: str) -> str | None:
    """The request id the same client sent before ``rid`` (on the same connection, unless it was closed)."""
    prefix, _, seq = rid.rpartition("-")
    return f"{prefix}-{int(seq) - 1:07d}" if int(seq) > 0 else None


async def one_request(client: httpx.AsyncClient, tally: Tally, rng: random.Random, fault_rate: float, seq: int, client_no: int) -> None:
    kind = rng.choice(KINDS)
    path, body, headers = request_for(kind, rng)
    fault = "none"
    if rng.random() < fault_rate:
        fault, extra = fault_choices(rng)
        headers.update(extra)
    rid = f"soak-{client_no:03d}-{seq:07d}"
    headers["x-request-id"] = rid
    tally.requests += 1
    tally.by_kind[kind] += 1
    tally.faults[fault] += 1
    tally.request_ids.append(rid)
    started = time.monotonic()
    status = None
    try:
        async with client.stream("POST", path, json=body, headers=headers) as response:
            status = response.status_code
            chunks = []
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
            raw = b"".join(chunks)
    except Exception as error:  # noqa: BLE001 - every kind of client-side failure is counted and shown
        where = "before the head" if status is None else f"after a {status} head"
        name = f"{type(error).__name__} {where}"
        tally.client_errors[name] += 1
        tally.client_error_ids.append((rid, previous_rid(rid)))
        tally.note("client error", rid, kind, fault, f"{name}: {error!r}")
        return
    tally.latencies.append(time.monotonic() - started)
    tally.statuses[status] += 1
    if response.headers.get("x-sluice-fallback") == "static":
        tally.fallback_static += 1
    try:
        tally.header_attempts += int(response.headers.get("x-sluice-attempts", "0"))
    except ValueError:
        pass
    content_type = response.headers.get("content-type", "")
    text = raw.decode("utf-8", errors="replace")
    if content_type.startswith("text/event-stream"):
        outcome = classify_stream(kind, text)
        tally.stream_outcomes[outcome] += 1
        if outcome in ("cut", "malformed"):
            tally.note(f"stream {outcome}", rid, kind, fault, text[-300:])
        if not kind.endswith("-stream"):
            tally.bad_bodies["stream for a JSON request"] += 1
            tally.note("stream for a JSON request", rid, kind, fault, text[:200])
        return
    if _json(text) is None:
        what = f"{status} not JSON ({content_type or 'no content-type'})"
        tally.bad_bodies[what] += 1
        tally.note("bad body", rid, kind, fault, f"{what}: {text[:200]!r}")
    elif kind.endswith("-stream") and status == 200:
        tally.bad_bodies["200 JSON for a stream request"] += 1
        tally.note("200 JSON for a stream request", rid, kind, fault, text[:200])


async def client_loop(no: int, base_url: str, http2: bool, deadline: float, tally: Tally, seed: int, fault_rate: float, timeout: float) -> None:
    rng = random.Random(seed * 1_000_003 + no)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=base_url, http1=not http2, http2=http2, limits=limits, timeout=timeout) as client:
        seq = 0
        while time.monotonic() < deadline and tally.stopped_early is None:
            await one_request(client, tally, rng, fault_rate, seq, no)
            seq += 1


async def run(base_url: str, clients: int, h2_clients: int, seconds: float, seed: int, fault_rate: float,
              timeout: float, on_tick, tick: float = 1.0) -> Tally:
    """Runs the clients for ``seconds`` (in-flight requests then finish); calls
    ``on_tick(elapsed, tally)`` every ``tick`` seconds while they run. ``on_tick`` may set
    ``tally.stopped_early`` to stop the clients (the sidecar died, say)."""
    tally = Tally()
    started = time.monotonic()
    deadline = started + seconds
    tasks = [asyncio.create_task(client_loop(no, base_url, no < h2_clients, deadline, tally, seed, fault_rate, timeout))
             for no in range(clients)]
    while not all(task.done() for task in tasks):
        await asyncio.wait(tasks, timeout=tick)
        on_tick(time.monotonic() - started, tally)
    for task in tasks:
        error = task.exception()
        if error is not None:
            tally.client_errors[f"client task died: {type(error).__name__}"] += 1
            tally.examples.append(f"client task died: {error!r}")
    return tally
