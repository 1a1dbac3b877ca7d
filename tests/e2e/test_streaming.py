"""Streams are relayed event by event as they arrive, and a client leaving stops the upstream."""

from __future__ import annotations

import json
import statistics
import time

import httpx

import support
from support import UPSTREAM, RawConnection, chat_body, new_request_id, wait_until


def timed_stream(url: str, body: dict, headers: dict[str, str]) -> tuple[float, list[float]]:
    """Sends a streaming request on a raw socket; returns (time of the response head, times of
    each content event) in seconds after the request was written."""
    payload = json.dumps(body).encode()
    host_path = url.split("://", 1)[1]
    hostport, path = host_path.split("/", 1)
    port = int(hostport.rsplit(":", 1)[1])
    request = (
        f"POST /{path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    ).encode() + payload
    with RawConnection(port, timeout=20) as connection:
        start = time.perf_counter()
        connection.send(request)
        head_at = None
        events: list[float] = []
        pending = b""
        while True:
            chunk = connection.sock.recv(65536)
            now = time.perf_counter() - start
            if not chunk:
                break
            if head_at is None:
                head_at = now
            pending += chunk
            # Count complete content events seen in this read (chunk framing bytes are harmless here).
            while b"\n\n" in pending:
                event, pending = pending.split(b"\n\n", 1)
                if b'"delta":{"content":"' in event:
                    events.append(now)
    return head_at or 0.0, events


def test_events_arrive_one_by_one(sidecar, mock):
    head_at, events = timed_stream(
        sidecar.openai_base + "/chat/completions", chat_body(stream=True),
        {"x-mock-ttft-ms": "150", "x-mock-tps": "20", "x-mock-output-tokens": "10"},
    )
    assert len(events) == 10
    assert head_at < 0.12, f"the head must not wait for the first token ({head_at:.3f}s)"
    assert events[0] >= 0.13, f"first token before the provider's time to first token ({events[0]:.3f}s)"
    gaps = [b - a for a, b in zip(events, events[1:])]
    # 20 tokens/s = 50 ms apart; buffering would bunch them up at the end.
    assert statistics.median(gaps) >= 0.03, gaps
    assert events[-1] - events[0] >= 0.3, events
    assert sum(1 for gap in gaps if gap < 0.005) <= 2, gaps


def test_first_byte_through_the_sidecar_is_as_fast_as_direct(sidecar, mock):
    """Time to first token via the sidecar vs straight from the mock (median of alternating runs)."""
    headers = {"x-mock-ttft-ms": "50", "x-mock-tps": "100", "x-mock-output-tokens": "3"}
    direct_body = chat_body(model=UPSTREAM["gpt-e2e"], stream=True, stream_options={"include_usage": True})
    proxied_body = chat_body(stream=True)
    for _ in range(2):  # warm up: upstream connection pool, first-call paths
        timed_stream(sidecar.openai_base + "/chat/completions", proxied_body, headers)
        timed_stream(mock.base_url + "/v1/chat/completions", direct_body, headers)
    direct, proxied = [], []
    for _ in range(7):
        proxied.append(timed_stream(sidecar.openai_base + "/chat/completions", proxied_body, headers)[1][0])
        direct.append(timed_stream(mock.base_url + "/v1/chat/completions", direct_body, headers)[1][0])
    extra = statistics.median(proxied) - statistics.median(direct)
    assert extra < 0.020, f"sidecar adds {extra * 1000:.1f} ms to the first token (direct {direct}, proxied {proxied})"


def test_client_disconnect_mid_stream_stops_the_upstream(make_mock, make_sidecar, workdir, certs):
    mock = make_mock()
    policy = workdir / "policy-disconnect.yaml"
    policy.write_text(support.policy_yaml(mock.port, mock.port, str(certs.ca), str(certs.wrong_ca), "/nonexistent/key"))
    sidecar = make_sidecar(policy=policy)
    rid = new_request_id()
    body = json.dumps(chat_body(stream=True)).encode()
    with RawConnection(sidecar.egress) as connection:
        connection.send(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"x-request-id: {rid}\r\nx-mock-tps: 20\r\nx-mock-output-tokens: 200\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        )
        received = b""
        while received.count(b'"delta":{"content":"') < 4:
            chunk = connection.sock.recv(65536)
            assert chunk, "stream ended early"
            received += chunk
    # The client is gone. The sidecar must record it and drop the upstream call.
    line = sidecar.log_for(rid, timeout=5)
    assert line["outcome"] == "client_closed"

    def settled():
        first = mock.stats()["streamed_events"]
        time.sleep(0.3)
        return first == mock.stats()["streamed_events"]

    wait_until(settled, 3.0, "the mock to stop streaming", mock.proc)
    stats = mock.stats()
    assert stats["completed_responses"] == 0, "the abandoned stream was served to completion"
    assert stats["streamed_events"] < 40, stats["streamed_events"]
    assert sidecar.is_ready()
    assert httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body(), timeout=20).status_code == 200


def test_h2_stream_cancel_stops_the_upstream_and_keeps_the_connection(make_mock, make_sidecar, workdir, certs):
    """RST_STREAM(CANCEL) on one HTTP/2 stream ends that call upstream; the connection lives on."""
    mock = make_mock()
    policy = workdir / "policy-h2-cancel.yaml"
    policy.write_text(support.policy_yaml(mock.port, mock.port, str(certs.ca), str(certs.wrong_ca), "/nonexistent/key"))
    sidecar = make_sidecar(policy=policy)
    rid = new_request_id()
    body = json.dumps(chat_body(stream=True)).encode()
    with support.H2Client(sidecar.egress) as client:
        stream_id = client.request(
            "POST", "/v1/chat/completions",
            {"content-type": "application/json", "x-request-id": rid, "x-mock-tps": "20", "x-mock-output-tokens": "200"}, body,
        )
        client.wait(lambda: client.streams[stream_id].data.count(b'"delta":{"content":"') >= 3)
        client.cancel(stream_id)
        assert sidecar.log_for(rid)["outcome"] == "client_closed"
        after = client.exchange("POST", "/v1/chat/completions", {"content-type": "application/json"}, json.dumps(chat_body()).encode())
        assert after.headers[":status"] == "200"
        assert json.loads(after.data)["object"] == "chat.completion"

    def settled():
        first = mock.stats()["streamed_events"]
        time.sleep(0.3)
        return first == mock.stats()["streamed_events"]

    wait_until(settled, 3.0, "the mock to stop streaming", mock.proc)
    stats = mock.stats()
    assert stats["streamed_events"] < 40
    assert stats["completed_responses"] == 1, "only the follow-up call completes"


def test_client_giving_up_before_the_answer_cancels_the_upstream_call(make_mock, make_sidecar, workdir, certs):
    """An app timing out while the provider still thinks: the provider's work is dropped too."""
    mock = make_mock()
    policy = workdir / "policy-give-up.yaml"
    policy.write_text(support.policy_yaml(mock.port, mock.port, str(certs.ca), str(certs.wrong_ca), "/nonexistent/key"))
    sidecar = make_sidecar(policy=policy)
    rid = new_request_id()
    try:
        httpx.post(
            sidecar.openai_base + "/chat/completions", json=chat_body(),
            headers={"x-request-id": rid, "x-mock-latency-ms": "1000"}, timeout=0.3,
        )
        raise AssertionError("the call should have timed out on the client")
    except httpx.TimeoutException:
        pass
    line = sidecar.log_for(rid)
    assert line["outcome"] == "client_closed" and line["status"] == 499
    # Past the provider's latency: had the upstream connection stayed open, it would have answered.
    time.sleep(1.0)
    stats = mock.stats()
    assert stats["requests"] == 1
    assert stats["statuses"] == {} and stats["completed_responses"] == 0
