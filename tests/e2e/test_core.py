"""The data-plane core: defects a review found, each pinned by what the provider saw."""

from __future__ import annotations

import json
import socket
import time

import httpx

import support
from support import RawConnection, chat_body, new_request_id, request_bytes


def test_a_request_the_provider_may_have_read_is_not_sent_again(make_sidecar, mock):
    # A first call leaves a keep-alive connection in the pool (one event loop, so one
    # pool); the second goes out on it and the provider resets after reading it. It may
    # have acted on it: no silent re-send.
    sidecar = make_sidecar(extra=["--threads", "1"])
    assert httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body(), timeout=20).status_code == 200
    before = mock.stats()
    rid = new_request_id()
    response = httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body(), headers={"x-request-id": rid, "x-mock-reset": "before"}, timeout=20)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"
    after = mock.stats()
    assert after["requests"] - before["requests"] == 1, "the POST reached the provider exactly once"
    assert after["resets"] - before["resets"] == 1
    # The only new connection the mock saw is the one this test used to read its stats.
    assert after["connections"] == before["connections"], "the reused connection carried it; no second upstream connection was opened"
    line = sidecar.log_for(rid)
    assert line["upstream_failure"] == "closed" and line["error_code"] == "upstream_error"


def test_oversized_json_answer_that_breaks_mid_body_is_aborted(make_sidecar, mock):
    # Held answers are capped at 64 bytes here, so the JSON answer is relayed as it comes;
    # when the provider breaks off mid-body the client must not see a complete-looking 200.
    sidecar = make_sidecar(extra=["--max-buffered-response-bytes", "64"])
    rid = new_request_id()
    with RawConnection(sidecar.egress) as connection:
        connection.send(request_bytes("/v1/chat/completions", chat_body(), {"x-request-id": rid, "x-mock-reset": "mid", "x-mock-output-tokens": "60"}))
        status, _, headers = connection.read_head()
        assert status == 200
        assert dict((k.lower(), v) for k, v in headers).get("transfer-encoding") == "chunked"
        received = b""
        ended_cleanly = False
        while True:
            try:
                chunk = connection.sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
            if received.endswith(b"\r\n0\r\n\r\n"):
                ended_cleanly = True
                break
    assert not ended_cleanly, "a broken JSON body must not end with the last-chunk marker"
    assert b"data: " not in received, "no SSE error event inside a JSON answer"
    assert mock.stats()["resets"] == 1
    line = sidecar.log_for(rid)
    assert line["outcome"] == "upstream_broken" and line["error_code"] == "upstream_error"
    assert line["upstream_failure"] == "broken_stream"


def test_a_client_that_pauses_is_not_the_provider_going_silent(make_sidecar, mock):
    # The provider streams fast; the client stops reading for three idle timeouts, then
    # reads everything. The pause is the client's: the stream must complete, not be cut
    # with a timeout error.
    sidecar = make_sidecar(extra=["--upstream-idle-timeout", "1"])
    rid = new_request_id()
    tokens = 100000  # enough to fill the socket buffers, so the sidecar must stop reading upstream
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(30)
    sock.connect(("127.0.0.1", sidecar.egress))
    connection = RawConnection.__new__(RawConnection)
    connection.sock, connection.buffer = sock, b""
    with connection:
        connection.send(request_bytes("/v1/chat/completions", chat_body(stream=True), {"x-request-id": rid, "x-mock-output-tokens": str(tokens), "x-mock-tps": "1000000"}))
        status, _, _ = connection.read_head()
        assert status == 200
        time.sleep(3.2)  # the pause under test (not a wait for an event)
        text = bytearray(connection.buffer)
        while not text.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(1 << 20)
            assert chunk, "connection closed before the stream's end"
            text += chunk
    body = bytes(text).decode("utf-8", "replace")
    assert "data: [DONE]" in body
    assert '"upstream_timeout"' not in body
    line = sidecar.log_for(rid)
    assert line["outcome"] == "completed", line
    assert line["output_tokens"] == tokens
    assert mock.stats()["completed_responses"] >= 1


def test_headers_named_in_connection_and_account_selectors_are_not_forwarded(sidecar, mock):
    response = httpx.post(
        sidecar.openai_base + "/chat/completions", json=chat_body(),
        headers={"connection": "keep-alive, x-hop-secret", "x-hop-secret": "1", "openai-organization": "org-app", "openai-project": "proj-app", "openai-beta": "assistants=v2"},
        timeout=20,
    )
    assert response.status_code == 200
    seen = mock.stats()["headers_seen"]
    for name in ("x-hop-secret", "openai-organization", "openai-project", "connection"):
        assert name not in seen, f"{name} reached the provider"
    assert seen.get("openai-beta") == 1, "ordinary headers still pass"
