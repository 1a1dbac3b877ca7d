"""Drain without loss over HTTP/2: at SIGTERM, every stream a client already has in flight
on an HTTP/2 connection runs to its full end, new streams are refused cleanly, the
connection closes once its streams are done, and the sidecar exits 0.

Python's h2 (under httpx ``http2=True``) treats any GOAWAY as the end of the connection:
every later frame is a protocol error to it, and httpcore fails the streams it was still
reading (even one whose last events it has already queued). So the sidecar must not send
GOAWAY (or a PING after it) while streams are in flight; these tests hold it to that with
httpx, with ``nghttp``, and with a bare h2 client that also opens a stream after the drain
began. Each of them fails against the GOAWAY + PING that NIO's connection manager sends.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

import support
from support import chat_body, new_request_id, wait_until

# Long enough that every call is still running when SIGTERM arrives (they start first),
# short enough to finish well inside the drain period.
# (6 s: on a loaded CI machine the five calls may take a few seconds to all reach the mock
# before the signal; 3 s streams once ended before it.)
STREAM_TOKENS = 60
STREAM_TPS = "10"  # about 6 s a stream
HELD_LATENCY_MS = "6000"
HELD_TOKENS = 12
DRAIN_SECONDS = "30"


def _stream_call(client: httpx.Client, url: str, rid: str, started: threading.Event) -> dict:
    """One streaming chat completion; returns what the client saw (no exception swallowed)."""
    body = chat_body(stream=True, stream_options={"include_usage": True})
    headers = {"x-request-id": rid, "x-mock-tps": STREAM_TPS, "x-mock-output-tokens": str(STREAM_TOKENS)}
    text = ""
    with client.stream("POST", url, json=body, headers=headers) as response:
        for piece in response.iter_text():
            text += piece
            if '"delta":{"content":"' in text:
                started.set()
        return {
            "status": response.status_code, "text": text, "version": response.http_version,
            "connection": id(response.extensions["network_stream"]), "ended": time.monotonic(),
        }


def _held_call(client: httpx.Client, url: str, rid: str) -> dict:
    """One non-streaming chat completion that the mock holds for a while before answering."""
    headers = {"x-request-id": rid, "x-mock-latency-ms": HELD_LATENCY_MS, "x-mock-output-tokens": str(HELD_TOKENS)}
    response = client.post(url, json=chat_body(), headers=headers)
    return {
        "status": response.status_code, "text": response.text, "version": response.http_version,
        "connection": id(response.extensions["network_stream"]), "ended": time.monotonic(),
    }


def test_httpx_http2_streams_in_flight_finish_during_drain(make_sidecar, mock):
    """Three streams and two held answers share one HTTP/2 connection; SIGTERM arrives while
    all five are under way; each ends with its full body, and the sidecar exits 0."""
    sidecar = make_sidecar(extra=["--drain-seconds", DRAIN_SECONDS])
    url = sidecar.openai_base + "/chat/completions"
    stream_rids = [new_request_id("drain-h2-stream") for _ in range(3)]
    held_rids = [new_request_id("drain-h2-held") for _ in range(2)]
    started = {rid: threading.Event() for rid in stream_rids}
    with httpx.Client(http1=False, http2=True, timeout=60) as client:
        # One request first, so that the five below ride on the connection it opened.
        warm = client.post(url, json=chat_body(), headers={"x-request-id": new_request_id("drain-h2-warm")})
        assert (warm.status_code, warm.http_version) == (200, "HTTP/2")
        connection = id(warm.extensions["network_stream"])
        mock.reset()
        with ThreadPoolExecutor(max_workers=5) as pool:
            streams = {rid: pool.submit(_stream_call, client, url, rid, started[rid]) for rid in stream_rids}
            held = {rid: pool.submit(_held_call, client, url, rid) for rid in held_rids}
            assert all(event.wait(15) for event in started.values()), "the streams never started"
            wait_until(lambda: mock.stats()["requests"] == 5, 10, "all five calls to reach the provider", mock.proc)
            signalled = time.monotonic()
            sidecar.proc.popen.send_signal(signal.SIGTERM)
            wait_until(lambda: not sidecar.is_ready(), 5, "/ready to fail while draining", sidecar.proc)
            # A call that failed raises here, with what httpx saw.
            results = {rid: future.result(timeout=40) for rid, future in {**streams, **held}.items()}
    assert sidecar.proc.popen.wait(timeout=40) == 0, sidecar.proc.describe()

    for rid, result in results.items():
        assert result["ended"] > signalled, f"{rid} ended before SIGTERM: slow the mock down"
        assert result["status"] == 200, (rid, result)
        assert result["version"] == "HTTP/2"
        assert result["connection"] == connection, "every call must have used the one HTTP/2 connection"
    for rid in stream_rids:
        events = support.sse_events(results[rid]["text"])
        assert events[-1]["data"] == "[DONE]", f"{rid}: the stream was cut: {results[rid]['text'][-300:]}"
        assert sum(1 for e in events if '"delta":{"content":"' in e["data"]) == STREAM_TOKENS
        assert json.loads(events[-2]["data"])["usage"]["completion_tokens"] == STREAM_TOKENS
    for rid in held_rids:
        answer = json.loads(results[rid]["text"])
        assert answer["choices"][0]["message"]["content"], answer
        assert answer["usage"]["completion_tokens"] == HELD_TOKENS

    stats = mock.stats()
    assert stats["completed_responses"] == 5, stats
    lines = dict(zip(stream_rids + held_rids, sidecar.logs_for(stream_rids + held_rids)))
    for rid, line in lines.items():
        assert (line["outcome"], line["transport"], line["status"]) == ("completed", "h2", 200), line
    assert sum(support.log_usage(line)[1] for line in lines.values()) == 3 * STREAM_TOKENS + 2 * HELD_TOKENS


_NGHTTP_FRAME_LINE = re.compile(r"\[\s*\d+\.\d+\] recv (\w+) frame <length=(\d+), flags=(0x[0-9a-f]+), stream_id=(\d+)>")
_NGHTTP_HEADER_LINE = re.compile(r"\[\s*\d+\.\d+\] recv \(stream_id=(\d+)\) ([^:\s][^:]*|:\S+): (.*)$")
_NGHTTP_ANY_LOG = re.compile(r"\[\s*\d+\.\d+\] ")


def _nghttp_streams(trace: str) -> tuple[dict[int, dict], list[str]]:
    """Per-stream view of an ``nghttp -v`` trace: for each stream, its body (nghttp prints a
    DATA frame's bytes just before logging the frame), headers, trailers and whether it
    ended; plus every frame received in order, as ``TYPE`` for the connection's own frames
    and ``END <stream id>`` where a stream ended."""
    streams: dict[int, dict] = {}
    received: list[str] = []
    pending = ""
    for line in trace.split("\n"):
        if line.startswith("          "):  # the indented detail lines of a logged frame
            continue
        # A body without a final newline has the next log line glued to its end.
        log = _NGHTTP_ANY_LOG.search(line)
        body_part, line = (line[: log.start()], line[log.start():]) if log else (line + "\n", "")
        pending += body_part
        if not line:
            continue
        header = _NGHTTP_HEADER_LINE.match(line)
        if header:
            stream = streams.setdefault(int(header.group(1)), {"body": "", "headers": {}, "trailers": {}, "ended": False, "reset": False, "blocks": 0})
            (stream["trailers"] if stream["blocks"] else stream["headers"])[header.group(2)] = header.group(3)
            continue
        frame = _NGHTTP_FRAME_LINE.match(line)
        if frame:
            kind, flags, stream_id = frame.group(1), int(frame.group(3), 16), int(frame.group(4))
            if stream_id == 0:
                received.append(kind)
                pending = ""
                continue
            stream = streams.setdefault(stream_id, {"body": "", "headers": {}, "trailers": {}, "ended": False, "reset": False, "blocks": 0})
            if kind == "DATA":
                stream["body"] += pending
            elif kind == "HEADERS":
                stream["blocks"] += 1
            elif kind == "RST_STREAM":
                stream["reset"] = True
            if kind in ("DATA", "HEADERS") and flags & 0x1:
                stream["ended"] = True
                received.append(f"END {stream_id}")
        pending = ""
    return streams, received


def _nghttp(sidecar, body: dict, headers: dict[str, str], count: int) -> subprocess.Popen:
    path = sidecar.proc.stdout_path.with_name(f"{sidecar.proc.name}-{new_request_id('body')}.json")
    path.write_text(json.dumps(body))
    args = ["nghttp", "-v", "-m", str(count), "-H", "content-type: application/json", "-d", str(path)]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    return subprocess.Popen(args + [sidecar.openai_base + "/chat/completions"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _assert_nothing_ends_the_connection_under_its_streams(streams: dict[int, dict], received: list[str]) -> None:
    """No GOAWAY and no PING before every stream has ended: what a client that takes GOAWAY
    as the end of the connection needs (nghttp copes either way; Python's h2 does not). The
    GOAWAY that follows the last stream is not in nghttp's trace: it stops reading once its
    requests are done. The bare h2 client below checks that GOAWAY."""
    last_end = max(received.index(f"END {stream_id}") for stream_id in streams)
    early = [kind for kind in received[:last_end] if kind in ("GOAWAY", "PING")]
    assert not early, received


def test_nghttp_streams_in_flight_finish_during_drain(make_sidecar, mock):
    """nghttp with three streams on one connection and two held answers on another: SIGTERM
    while all are under way; every stream ends with its full body and trailers, no stream is
    reset, no GOAWAY or PING comes before the last one ended, both clients exit 0, and so
    does the sidecar."""
    if shutil.which("nghttp") is None:
        pytest.fail("nghttp not installed (Debian package nghttp2-client)")
    sidecar = make_sidecar(extra=["--drain-seconds", DRAIN_SECONDS])
    streaming = _nghttp(
        sidecar, chat_body(stream=True, stream_options={"include_usage": True}),
        {"x-mock-tps": STREAM_TPS, "x-mock-output-tokens": str(STREAM_TOKENS)}, 3,
    )
    held = _nghttp(
        sidecar, chat_body(),
        {"x-mock-latency-ms": HELD_LATENCY_MS, "x-mock-output-tokens": str(HELD_TOKENS)}, 2,
    )
    clients = [streaming, held]
    try:
        # Under way: the provider has all five calls and has begun streaming.
        wait_until(lambda: mock.stats()["requests"] == 5 and mock.stats()["streamed_events"] >= 3, 15, "all five calls under way", mock.proc)
        sidecar.proc.popen.send_signal(signal.SIGTERM)
        wait_until(lambda: not sidecar.is_ready(), 5, "/ready to fail while draining", sidecar.proc)
        assert all(client.poll() is None for client in clients), "a client finished before the drain could be observed"
        outputs = [client.communicate(timeout=40)[0].decode(errors="replace") for client in clients]
    finally:
        for client in clients:
            if client.poll() is None:
                client.kill()
    assert sidecar.proc.popen.wait(timeout=40) == 0, sidecar.proc.describe()
    assert [client.returncode for client in clients] == [0, 0], outputs

    streams, received = _nghttp_streams(outputs[0])
    assert len(streams) == 3, outputs[0]
    _assert_nothing_ends_the_connection_under_its_streams(streams, received)
    for stream_id, stream in streams.items():
        assert stream["ended"] and not stream["reset"], (stream_id, stream)
        assert stream["headers"][":status"] == "200"
        assert "x-sluice-cost-usd" in stream["trailers"], (stream_id, stream)
        events = support.sse_events(stream["body"])
        assert events[-1]["data"] == "[DONE]", (stream_id, stream["body"][-300:])
        assert sum(1 for e in events if '"delta":{"content":"' in e["data"]) == STREAM_TOKENS

    streams, received = _nghttp_streams(outputs[1])
    assert len(streams) == 2, outputs[1]
    _assert_nothing_ends_the_connection_under_its_streams(streams, received)
    for stream_id, stream in streams.items():
        assert stream["ended"] and not stream["reset"], (stream_id, stream)
        assert stream["headers"][":status"] == "200"
        answer = json.loads(stream["body"])
        assert answer["usage"]["completion_tokens"] == HELD_TOKENS, answer
    assert mock.stats()["completed_responses"] == 5


class _RawH2:
    """A bare HTTP/2 client that records what the tests need to see: per-stream data, end
    and reset codes, and the GOAWAY's last stream id and where it came in the frame order."""

    def __init__(self, port: int):
        import h2.config
        import h2.connection

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.data: dict[int, bytes] = {}
        self.ended: dict[int, float] = {}
        self.reset: dict[int, int] = {}
        self.goaway: tuple[int, int, float] | None = None  # (last stream id, error code, when)
        self.closed_at: float | None = None
        self.sock.sendall(self.conn.data_to_send())

    def request(self, headers: dict[str, str], body: bytes) -> int:
        stream_id = self.conn.get_next_available_stream_id()
        fields = [(":method", "POST"), (":path", "/v1/chat/completions"), (":scheme", "http"), (":authority", "127.0.0.1"),
                  ("content-type", "application/json"), ("content-length", str(len(body)))]
        self.conn.send_headers(stream_id, fields + list(headers.items()))
        self.conn.send_data(stream_id, body, end_stream=True)
        self.data[stream_id] = b""
        self.sock.sendall(self.conn.data_to_send())
        return stream_id

    def pump(self) -> None:
        import h2.events

        data = self.sock.recv(65536)
        if not data:
            self.closed_at = time.monotonic()
            return
        # h2 raises on any frame after GOAWAY other than another GOAWAY: exactly the
        # failure this file is about, so it is left to fail the test.
        for event in self.conn.receive_data(data):
            if isinstance(event, h2.events.DataReceived):
                self.data[event.stream_id] += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self.ended[event.stream_id] = time.monotonic()
            elif isinstance(event, h2.events.StreamReset):
                self.reset[event.stream_id] = int(event.error_code)
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.goaway = (event.last_stream_id, int(event.error_code), time.monotonic())
        pending = self.conn.data_to_send()
        if pending and self.goaway is None:
            self.sock.sendall(pending)

    def pump_until(self, condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.closed_at is None, f"connection closed before {what}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            self.pump()


def test_a_stream_opened_during_the_drain_is_refused_and_the_one_in_flight_finishes(make_sidecar, mock):
    """A stream opened after SIGTERM on a connection with a stream in flight is reset with
    REFUSED_STREAM (not processed: safe to retry elsewhere) and never reaches the provider;
    the stream in flight ends in full; only then comes GOAWAY, naming the stream in flight
    as the last one processed; then the sidecar closes the connection and exits 0, long
    before the drain period is over."""
    sidecar = make_sidecar(extra=["--drain-seconds", DRAIN_SECONDS])
    client = _RawH2(sidecar.egress)
    body = json.dumps(chat_body(stream=True)).encode()
    first = client.request({"x-mock-tps": STREAM_TPS, "x-mock-output-tokens": str(STREAM_TOKENS), "x-request-id": new_request_id("drain-raw")}, body)
    client.pump_until(lambda: b'"delta":{"content":"' in client.data[first], 15, "the first stream to start")
    signalled = time.monotonic()
    sidecar.proc.popen.send_signal(signal.SIGTERM)
    wait_until(lambda: not sidecar.is_ready(), 5, "/ready to fail while draining", sidecar.proc)
    late = client.request({"x-mock-output-tokens": "3", "x-request-id": new_request_id("drain-raw-late")}, json.dumps(chat_body()).encode())
    client.pump_until(lambda: late in client.reset, 10, "the late stream to be refused")
    assert client.reset[late] == 7, "REFUSED_STREAM (0x7) tells the client the stream was not processed"
    assert first not in client.ended and client.goaway is None, "the drain must not end the connection under a stream in flight"
    client.pump_until(lambda: client.goaway is not None, 20, "GOAWAY after the stream in flight")
    assert first in client.ended and first not in client.reset
    assert client.goaway[:2] == (first, 0), "GOAWAY(NO_ERROR) naming the last stream processed"
    assert client.ended[first] <= client.goaway[2]
    deadline = time.monotonic() + 10
    while client.closed_at is None:  # anything but the close after GOAWAY fails in h2
        assert time.monotonic() < deadline, "the sidecar did not close the connection after its streams"
        client.pump()
    assert sidecar.proc.popen.wait(timeout=20) == 0, sidecar.proc.describe()
    assert time.monotonic() - signalled < float(DRAIN_SECONDS) / 2, "the drain waited for its deadline instead of the streams"
    events = support.sse_events(client.data[first].decode())
    assert events[-1]["data"] == "[DONE]"
    assert sum(1 for e in events if '"delta":{"content":"' in e["data"]) == STREAM_TOKENS
    stats = mock.stats()
    assert (stats["requests"], stats["completed_responses"]) == (1, 1), stats
    client.sock.close()
