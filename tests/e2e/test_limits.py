"""Bounds on what clients may hold: memory, connections, streams, time."""

from __future__ import annotations

import concurrent.futures
import json
import time

import httpx

import support
from support import chat_body, new_request_id


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def padded_chat(size: int) -> bytes:
    body = chat_body(text="x" * size)
    return json.dumps(body).encode()


def test_request_bodies_beyond_the_memory_budget_are_shed_and_the_rest_still_served(make_sidecar, mock):
    # 1 MiB for everything held: a 700 KB body held while its provider is slow leaves no
    # room for a second one, which is shed with 503 overloaded in the caller's shape; once
    # the first is done the budget is free again.
    sidecar = make_sidecar(extra=["--max-buffered-bytes", str(1 << 20)])
    body = padded_chat(700_000)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        slow = pool.submit(httpx.post, sidecar.openai_base + "/chat/completions", content=body,
                           headers={"content-type": "application/json", "x-mock-latency-ms": "1500"}, timeout=30)
        support.wait_until(lambda: mock.stats()["requests"] >= 1, 10, "the slow call to reach the provider")
        rid = new_request_id()
        shed = httpx.post(sidecar.openai_base + "/chat/completions", content=body,
                          headers={"content-type": "application/json", "x-request-id": rid}, timeout=30)
        assert shed.status_code == 503
        assert shed.json()["error"]["code"] == "overloaded"
        assert shed.headers["retry-after"] == "1"
        assert slow.result().status_code == 200
    assert mock.stats()["requests"] == 1, "the shed call never reached the provider"
    line = sidecar.log_for(rid)
    assert line["status"] == 503 and line["error_code"] == "overloaded"
    after = httpx.post(sidecar.openai_base + "/chat/completions", content=body, headers={"content-type": "application/json"}, timeout=30)
    assert after.status_code == 200, "the budget is released when calls end"


def test_memory_returns_close_to_idle_after_a_burst_of_big_bodies(make_sidecar, mock):
    # 40 concurrent 9 MiB bodies (360 MiB) against the default 256 MiB budget: some are
    # shed, none crash the process, and afterwards the freed heap goes back to the system.
    sidecar = make_sidecar()
    for _ in range(3):
        assert httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body(), timeout=30).status_code == 200
    idle = rss_kib(sidecar.proc.popen.pid)
    body = padded_chat(9 * 1024 * 1024)
    with concurrent.futures.ThreadPoolExecutor(40) as pool:
        statuses = list(pool.map(lambda _: httpx.post(
            sidecar.openai_base + "/chat/completions", content=body,
            headers={"content-type": "application/json", "x-mock-latency-ms": "500"}, timeout=120,
        ).status_code, range(40)))
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.count(200) >= 1 and statuses.count(503) >= 1, statuses
    assert sidecar.proc.alive()
    # Close to idle within a few seconds (the reclaimer runs off the event loops).
    limit = idle + 40 * 1024
    support.wait_until(lambda: rss_kib(sidecar.proc.popen.pid) <= limit, 15,
                       f"RSS to come back under {limit // 1024} MiB (idle {idle // 1024} MiB)")


def test_http2_rapid_reset_does_not_churn_upstream_connections(make_sidecar, mock):
    # CVE-2023-44487 style: requests reset in the same packet that carries them. None may
    # reach the provider or cost an upstream connection; real calls on the same
    # connection still work.
    from h2.errors import ErrorCodes

    sidecar = make_sidecar(extra=["--threads", "1"])
    body = json.dumps(chat_body()).encode()
    before = mock.stats()
    with support.H2Client(sidecar.egress) as client:
        for _ in range(10):
            for _ in range(10):
                stream_id = client.conn.get_next_available_stream_id()
                client.conn.send_headers(stream_id, [
                    (":method", "POST"), (":path", "/v1/chat/completions"), (":scheme", "http"), (":authority", "127.0.0.1"),
                    ("content-type", "application/json"), ("content-length", str(len(body))),
                ])
                client.conn.send_data(stream_id, body, end_stream=True)
                client.conn.reset_stream(stream_id, error_code=ErrorCodes.CANCEL)
            client._flush()  # one write: each request and its reset arrive together
        for _ in range(5):
            stream = client.exchange("POST", "/v1/chat/completions", {"content-type": "application/json"}, body)
            assert stream.headers.get(":status") == "200"
        assert not client.goaway
    after = mock.stats()
    assert after["requests"] - before["requests"] == 5, "no reset request reached the provider"
    completed = after["completed_responses"] - before["completed_responses"]
    # Minus the connection this test used to read the mock's stats.
    opened = after["connections"] - before["connections"] - 1
    assert opened <= completed + 2, f"{opened} upstream connections for {completed} completed calls"
