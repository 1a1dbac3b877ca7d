"""Streams are relayed event by event as they arrive, and a client leaving stops the upstream
(and is counted for what the provider had reported by then).

How fast events go through (time to first byte, spacing) is measured by scripts/bench on a
release build; here only the order of things is asserted, against the mock's own progress."""

from __future__ import annotations

import json

import httpx
import pytest

import support
from support import UPSTREAM, RawConnection, chat_body, messages_body, new_request_id, scrape, sent_usage

CONTENT = b'"delta":{"content":"'


def test_head_and_events_are_relayed_as_the_provider_sends_them(sidecar, mock):
    """The head reaches the client before the provider has written its first token, and each
    content event before the provider has gone more than two events further. A relay that
    held the head for the first event, or batched events, or buffered the stream, fails."""
    tokens = 5
    body = json.dumps(chat_body(stream=True)).encode()
    with RawConnection(sidecar.egress, timeout=20) as connection:
        connection.send(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"x-mock-ttft-ms: 500\r\nx-mock-tps: 4\r\nx-mock-output-tokens: {tokens}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.sock.recv(65536)
            assert chunk, "closed before the head"
            received += chunk
        at_head = mock.stats()
        assert at_head["streamed_events"] <= 1, f"the head waited for content: the mock had written {at_head['streamed_events']} events"
        seen = received.count(CONTENT)
        progress: list[tuple[int, int, int]] = []  # (content events seen, mock events written, mock responses completed)
        while seen < tokens:
            chunk = connection.sock.recv(65536)
            assert chunk, "stream ended early"
            received += chunk
            now_seen = received.count(CONTENT)
            if now_seen > seen:
                stats = mock.stats()
                progress.append((now_seen, stats["streamed_events"], stats["completed_responses"]))
                seen = now_seen
    # The mock writes one role chunk, then content events 250 ms apart. The last two events are
    # left out: the provider may well have finished by the time the client sees them.
    early = [entry for entry in progress if entry[0] <= tokens - 2]
    assert early, progress
    for count, written, completed in early:
        assert completed == 0, f"the stream was held back: event {count} arrived after the provider finished ({progress})"
        assert written <= 1 + count + 2, f"events were batched: event {count} arrived after the mock wrote {written - 1} ({progress})"


def test_client_disconnect_mid_stream_stops_the_upstream_and_is_counted(make_mock, make_sidecar, workdir, certs):
    """The client leaves after a few events: the sidecar closes the upstream connection (the
    mock sees it close and writes nothing more) and counts the call as far as the provider
    had reported it (OpenAI: nothing yet; Anthropic: message_start's input and 1 output)."""
    mock = make_mock()
    policy = workdir / "policy-disconnect.yaml"
    policy.write_text(support.policy_yaml(mock.port, mock.port, str(certs.ca), str(certs.wrong_ca), "/nonexistent/key"))
    sidecar = make_sidecar(policy=policy)
    cases = [
        ("/v1/chat/completions", chat_body(stream=True), "gpt-e2e", {}, CONTENT),
        ("/v1/messages", messages_body(stream=True, max_tokens=500), "claude-e2e", support.ANTHROPIC_HEADERS, b'"type":"text_delta"'),
    ]
    for path, request, model, extra, marker in cases:
        mock.reset()
        rid = new_request_id()
        before = scrape(sidecar)
        body = json.dumps(request).encode()
        head = "".join(f"{k}: {v}\r\n" for k, v in {**extra, "x-request-id": rid, "x-mock-tps": "20", "x-mock-output-tokens": "200"}.items())
        with RawConnection(sidecar.egress) as connection:
            connection.send(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
            )
            received = b""
            while received.count(marker) < 4:
                chunk = connection.sock.recv(65536)
                assert chunk, "stream ended early"
                received += chunk
        # The client is gone. The sidecar must record it and drop the upstream call.
        line = sidecar.log_for(rid)
        assert (line["outcome"], line["status"]) == ("client_closed", 200), line
        stats = mock.wait_connections_closed(1)
        assert stats["completed_responses"] == 0, "the abandoned stream was served to completion"
        # 200 tokens at 20/s: the mock was stopped within about 2 s of the client leaving.
        assert stats["streamed_events"] < 40, stats["streamed_events"]
        after = scrape(sidecar)
        sent = sent_usage(stats, UPSTREAM[model])
        assert sent[1] == (1 if model == "claude-e2e" else 0), sent
        support.assert_accounted(sidecar, line, before, after, sent, model)
    assert sidecar.is_ready()
    assert httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body(), timeout=20).status_code == 200


def test_h2_stream_cancel_stops_the_upstream_and_keeps_the_connection(make_mock, make_sidecar, workdir, certs):
    """RST_STREAM(CANCEL) on one HTTP/2 stream ends that call upstream; the connection lives on."""
    mock = make_mock()
    policy = workdir / "policy-h2-cancel.yaml"
    policy.write_text(support.policy_yaml(mock.port, mock.port, str(certs.ca), str(certs.wrong_ca), "/nonexistent/key"))
    sidecar = make_sidecar(policy=policy)
    rid = new_request_id()
    before = scrape(sidecar)
    body = json.dumps(chat_body(stream=True)).encode()
    with support.H2Client(sidecar.egress) as client:
        stream_id = client.request(
            "POST", "/v1/chat/completions",
            {"content-type": "application/json", "x-request-id": rid, "x-mock-tps": "20", "x-mock-output-tokens": "200"}, body,
        )
        client.wait(lambda: client.streams[stream_id].data.count(CONTENT) >= 3)
        client.cancel(stream_id)
        line = sidecar.log_for(rid)
        assert line["outcome"] == "client_closed" and line["transport"] == "h2"
        stats = mock.wait_connections_closed(1)
        after = scrape(sidecar)
        after_call = client.exchange("POST", "/v1/chat/completions", {"content-type": "application/json"}, json.dumps(chat_body()).encode())
        assert after_call.headers[":status"] == "200"
        assert json.loads(after_call.data)["object"] == "chat.completion"
    assert stats["completed_responses"] == 0
    assert stats["streamed_events"] < 40
    assert sent_usage(stats) == (0, 0, 0)
    support.assert_accounted(sidecar, line, before, after, (0, 0, 0), "gpt-e2e")
    assert mock.stats()["completed_responses"] == 1, "only the follow-up call completes"


def test_client_giving_up_before_the_answer_cancels_the_upstream_call(make_mock, make_sidecar, workdir, certs):
    """An app timing out while the provider still thinks: the provider's work is dropped too."""
    mock = make_mock()
    policy = workdir / "policy-give-up.yaml"
    policy.write_text(support.policy_yaml(mock.port, mock.port, str(certs.ca), str(certs.wrong_ca), "/nonexistent/key"))
    sidecar = make_sidecar(policy=policy)
    rid = new_request_id()
    with pytest.raises(httpx.TimeoutException):
        httpx.post(
            sidecar.openai_base + "/chat/completions", json=chat_body(),
            headers={"x-request-id": rid, "x-mock-latency-ms": "1000"}, timeout=0.3,
        )
    line = sidecar.log_for(rid)
    assert line["outcome"] == "client_closed" and line["status"] == 499
    assert "input_tokens" not in line and "cost_usd" not in line
    # The upstream connection closes; had it closed only after the provider's 1 s, the mock
    # would have answered first (a 200 in its statuses).
    stats = mock.wait_connections_closed(1)
    assert stats["requests"] == 1
    assert stats["statuses"] == {} and stats["completed_responses"] == 0
