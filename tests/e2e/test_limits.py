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
    opened = after["connections"] - before["connections"]
    assert opened <= completed + 2, f"{opened} upstream connections for {completed} completed calls"


def closed_within(sock, seconds: float) -> float:
    """Waits for the peer to close `sock` (reading and dropping whatever it sends, e.g. a
    408); returns the time it took, or fails after `seconds`."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def test_half_sent_heads_are_closed_at_the_head_timeout_while_calls_go_on(make_sidecar, mock):
    # 300 sockets that send half a request head and stop (slowloris): all closed at the
    # head timeout (1 s here); a real call meanwhile is served normally.
    import socket

    sidecar = make_sidecar(extra=["--request-head-timeout", "1", "--request-body-timeout", "5", "--keepalive-timeout", "8"])
    sockets = []
    for _ in range(300):
        sock = socket.create_connection(("127.0.0.1", sidecar.egress))
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        sockets.append(sock)
    started = time.monotonic()
    assert httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body(), timeout=20).status_code == 200
    for sock in sockets:
        closed_within(sock, 10)
    elapsed = time.monotonic() - started
    assert elapsed < 5, f"slow heads were held {elapsed:.1f} s (head timeout 1 s)"
    for sock in sockets:
        sock.close()
    assert sidecar.proc.alive()


def test_each_client_timer_fires_at_its_own_time(make_sidecar, mock):
    # Head 1 s, body 3 s, keep-alive 5 s: a stalled body is cut near 3 s (not 1 s), an
    # idle keep-alive connection near 5 s, a connection that never speaks near 1 s.
    import socket

    sidecar = make_sidecar(extra=["--request-head-timeout", "1", "--request-body-timeout", "3", "--keepalive-timeout", "5"])

    silent = socket.create_connection(("127.0.0.1", sidecar.egress))
    stalled = socket.create_connection(("127.0.0.1", sidecar.egress))
    stalled.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\":")
    idle = support.RawConnection(sidecar.egress, timeout=20)
    idle.send(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
    assert idle.read_response().status == 200
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        times = list(pool.map(lambda s: closed_within(s, 15), [silent, stalled, idle.sock]))
    silent_s, stalled_s, idle_s = times
    assert 0.8 <= silent_s < 2.5, f"silent connection closed after {silent_s:.2f} s (head timeout 1 s)"
    assert 2.7 <= stalled_s < 4.5, f"stalled body closed after {stalled_s:.2f} s (body timeout 3 s)"
    assert 4.7 <= idle_s < 6.5, f"idle keep-alive closed after {idle_s:.2f} s (keep-alive 5 s)"
    for sock in (silent, stalled):
        sock.close()
    idle.close()


def test_idle_http2_connection_is_closed_at_the_keepalive_timeout(make_sidecar, mock):
    sidecar = make_sidecar(extra=["--keepalive-timeout", "2"])
    import h2.connection
    import h2.exceptions

    with support.H2Client(sidecar.egress, timeout=15) as client:
        stream = client.exchange("GET", "/v1/models")
        assert stream.headers.get(":status") == "200"
        started = time.monotonic()
        try:
            client.wait(lambda: client.goaway or client.closed, timeout=10)
        except h2.exceptions.ProtocolError:
            # Python's h2 refuses the PING NIO sends after its GOAWAY; the GOAWAY was read.
            assert client.conn.state_machine.state == h2.connection.ConnectionState.CLOSED
        elapsed = time.monotonic() - started
    assert 1.7 <= elapsed < 4, f"idle h2 connection got GOAWAY after {elapsed:.2f} s (keep-alive 2 s)"


def test_max_concurrent_streams_is_advertised(make_sidecar, mock):
    for flag, expected in ((None, 100), ("7", 7)):
        sidecar = make_sidecar(extra=["--max-concurrent-streams", flag] if flag else [])
        with support.H2Client(sidecar.egress) as client:
            client.exchange("GET", "/v1/models")
            assert client.conn.remote_settings.max_concurrent_streams == expected


def test_connections_beyond_the_cap_wait_until_one_closes(make_sidecar, mock):
    import socket

    sidecar = make_sidecar(extra=["--max-connections", "3"])
    held = [support.RawConnection(sidecar.egress, timeout=10) for _ in range(3)]
    for connection in held:
        connection.send(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
        assert connection.read_response().status == 200
    metrics = httpx.get(f"http://127.0.0.1:{sidecar.admin}/metrics", timeout=10).text
    assert "sluice_connections_open 3" in metrics
    # The fourth connects (kernel backlog) but is not served while three are open.
    extra = socket.create_connection(("127.0.0.1", sidecar.egress), timeout=10)
    extra.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
    extra.settimeout(1.0)
    try:
        early = extra.recv(1)
    except socket.timeout:
        early = None
    assert early is None, "served beyond --max-connections"
    held[0].close()
    extra.settimeout(10)
    assert extra.recv(12).startswith(b"HTTP/1.1 200"), "served once a slot freed"
    extra.close()
    for connection in held[1:]:
        connection.close()


def test_sigterm_with_hostile_peers_and_a_stream_still_exits_within_the_drain_time(make_sidecar, mock):
    import signal
    import socket

    sidecar = make_sidecar(extra=["--drain-seconds", "2", "--request-head-timeout", "30", "--request-body-timeout", "30"])
    half = []
    for _ in range(50):
        sock = socket.create_connection(("127.0.0.1", sidecar.egress))
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")
        half.append(sock)
    rid = new_request_id()
    stream = socket.create_connection(("127.0.0.1", sidecar.egress))
    # An Anthropic stream reports input tokens at its start and output as it goes, so a
    # cut stream still has usage to account.
    body = json.dumps(support.messages_body(stream=True, max_tokens=200)).encode()
    stream.sendall(f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nanthropic-version: 2023-06-01\r\nx-request-id: {rid}\r\nx-mock-tps: 2\r\nx-mock-output-tokens: 100\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    assert stream.recv(12).startswith(b"HTTP/1.1 200")
    started = time.monotonic()
    sidecar.proc.popen.send_signal(signal.SIGTERM)
    code = sidecar.proc.popen.wait(timeout=15)
    elapsed = time.monotonic() - started
    assert code == 0
    assert elapsed < 4.5, f"exit took {elapsed:.1f} s with --drain-seconds 2"
    line = sidecar.log_for(rid)
    assert line["outcome"] == "client_closed"
    # The mock counts input tokens from the prompt: the same prompt asked directly says how many.
    direct = httpx.post(mock.base_url + "/v1/messages", json=support.messages_body(max_tokens=200),
                        headers={"anthropic-version": "2023-06-01", "x-mock-output-tokens": "1"}, timeout=10).json()
    assert line["input_tokens"] == direct["usage"]["input_tokens"] > 0, "tokens reported before the cut are counted"
    assert line["cost_usd"] > 0
    for sock in half + [stream]:
        sock.close()


def test_an_idle_sidecar_wakes_at_most_once_a_second(make_sidecar, mock):
    sidecar = make_sidecar(extra=["--access-log", "stdout"])
    assert httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body(), timeout=20).status_code == 200
    pid = sidecar.proc.popen.pid

    def switches() -> int:
        import os

        total = 0
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/status") as status:
                for line in status:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        return total

    time.sleep(2)  # let start-up and the call settle
    before = switches()
    time.sleep(6)  # the idle period under test
    woke = switches() - before
    # The Swift runtime's own dispatch thread wakes once a second in any async program
    # (measured here on a bare `for await` over an empty AsyncStream); Sluice adds none.
    assert woke <= 7, f"{woke} wakeups in 6 s of idle (at most one a second, plus one at the window's edge)"
