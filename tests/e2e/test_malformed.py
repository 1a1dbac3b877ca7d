"""Malformed and hostile input: clear errors in the caller's API shape, and a process that survives."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest

import support
from support import ANTHROPIC_HEADERS, RawConnection, chat_body, new_request_id, raw_request

JSON = {"content-type": "application/json"}
MAX_BODY = 2048


def assert_openai_error(
    response: support.RawResponse | httpx.Response, status: int, code: str, param: str | None = None, error_type: str = "invalid_request_error",
) -> dict:
    """An OpenAI-shaped error of Sluice's own (OpenAI gives client errors, 404 and 413 included,
    the type invalid_request_error)."""
    got_status = response.status if isinstance(response, support.RawResponse) else response.status_code
    body = response.json()
    assert got_status == status, body
    header = response.header("x-sluice-error-code") if isinstance(response, support.RawResponse) else response.headers.get("x-sluice-error-code")
    assert header == code
    error = body["error"]
    assert set(error) == {"message", "type", "code", "param"}, error
    assert error["code"] == code and error["message"]
    assert error["type"] == error_type
    assert error["param"] == param, "param names the offending field, and is null when none is"
    return error


def assert_anthropic_error(response: support.RawResponse | httpx.Response, status: int, code: str, error_type: str) -> dict:
    got_status = response.status if isinstance(response, support.RawResponse) else response.status_code
    body = response.json()
    assert got_status == status, body
    assert body["type"] == "error", body
    error = body["error"]
    assert error["type"] == error_type and error["code"] == code and error["message"]
    return error


def post(sidecar, path: str, body: bytes, headers: dict[str, str] | None = None) -> support.RawResponse:
    return raw_request(sidecar.egress, "POST", path, {**JSON, **(headers or {})}, body)


def assert_healthy(sidecar, mock) -> None:
    """Admin says ready and a real call still goes through."""
    assert sidecar.proc.alive(), sidecar.proc.describe()
    assert sidecar.is_ready()
    response = httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body(), timeout=20)
    assert response.status_code == 200, response.text


# ---------------------------------------------------------------------------------------
# Bodies


def test_bad_json_openai_shape(sidecar, mock):
    error = assert_openai_error(post(sidecar, "/v1/chat/completions", b'{"model": "gpt-e2e", "messages": ['), 400, "invalid_request")
    assert error["type"] == "invalid_request_error"
    assert "JSON" in error["message"]
    assert mock.stats()["requests"] == 0


def test_bad_json_anthropic_shape(sidecar, mock):
    assert_anthropic_error(post(sidecar, "/v1/messages", b"{not json", ANTHROPIC_HEADERS), 400, "invalid_request", "invalid_request_error")
    assert mock.stats()["requests"] == 0


@pytest.mark.parametrize(
    "body, fragment, param",
    [
        (b"", "empty", None),
        (b"[1, 2]", "object", None),
        (b'{"model": 42, "messages": []}', "string", "model"),
    ],
    ids=["empty", "array", "model-not-string"],
)
def test_unusable_bodies(sidecar, mock, body, fragment, param):
    error = assert_openai_error(post(sidecar, "/v1/chat/completions", body), 400, "invalid_request", param=param)
    assert fragment in error["message"]
    assert mock.stats()["requests"] == 0


def test_deeply_nested_json_is_refused_not_fatal(sidecar, mock):
    for depth in (300, 200_000):
        body = b'{"model":"gpt-e2e","messages":' + b"[" * depth + b"]" * depth + b"}"
        error = assert_openai_error(post(sidecar, "/v1/chat/completions", body), 400, "invalid_request")
        assert "deep" in error["message"]
    assert_healthy(sidecar, mock)


def test_odd_characters_are_escaped_in_answers_and_logs(sidecar, mock):
    rid = new_request_id()
    body = '{"model":"we\\"ird\\n\\u0000\\u2028model\\\\","messages":[]}'.encode()
    user = "user 1 {x}/<y>&'z'"  # spaces and punctuation are fine in attribution values
    error = assert_openai_error(post(sidecar, "/v1/chat/completions", body, {"x-request-id": rid, "x-sluice-user": user}), 400, "invalid_request", param="model")
    assert 'we"ird\n\x00\u2028model\\' in error["message"]
    line = sidecar.log_for(rid)
    assert line["requested_model"] == 'we"ird\n\x00\u2028model\\'
    assert line["user"] == user
    rid = new_request_id()
    response = raw_request(sidecar.egress, "POST", '/v1/a"b\\c{}', {**JSON, "x-request-id": rid}, b"{}")
    assert response.status == 404
    assert sidecar.log_for(rid)["path"] == '/v1/a"b\\c{}'
    assert support.invalid_log_lines(sidecar.proc.stdout_text()) == []


def test_missing_model_both_shapes(sidecar, mock):
    assert_openai_error(post(sidecar, "/v1/chat/completions", b'{"messages": []}'), 400, "invalid_request", param="model")
    assert_anthropic_error(
        post(sidecar, "/v1/messages", b'{"max_tokens": 5, "messages": []}', ANTHROPIC_HEADERS), 400, "invalid_request", "invalid_request_error",
    )
    assert mock.stats()["requests"] == 0


def test_unknown_model(sidecar, mock):
    rid = new_request_id()
    response = post(sidecar, "/v1/chat/completions", json.dumps(chat_body(model="no-such-model")).encode(), {"x-request-id": rid})
    error = assert_openai_error(response, 400, "invalid_request", param="model")
    assert "no-such-model" in error["message"]
    assert response.header("x-request-id") == rid
    assert mock.stats()["requests"] == 0
    line = sidecar.log_for(rid)
    assert line["status"] == 400 and line["outcome"] == "local" and line["error_code"] == "invalid_request"


def test_unknown_model_with_openai_sdk(sidecar, mock, openai_client):
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == "invalid_request"
    assert caught.value.param == "model"


def test_unknown_model_with_anthropic_sdk(sidecar, mock, anthropic_client):
    import anthropic

    with pytest.raises(anthropic.BadRequestError) as caught:
        anthropic_client.messages.create(model="no-such-model", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["error"]["type"] == "invalid_request_error"


# ---------------------------------------------------------------------------------------
# Body size


@pytest.fixture(scope="module")
def small_sidecar(workdir, policy_file, mock):
    instance = support.start_sidecar(workdir / "module", policy_file, "sidecar-small-body", ["--max-body-bytes", str(MAX_BODY)])
    yield instance
    instance.proc.stop()


def padded_chat(size: int) -> bytes:
    body = chat_body(text="")
    base = len(json.dumps(body).encode())
    body["messages"][0]["content"] = "x" * (size - base)
    data = json.dumps(body).encode()
    assert len(data) == size
    return data


def test_body_at_the_limit_is_accepted(small_sidecar, mock):
    response = post(small_sidecar, "/v1/chat/completions", padded_chat(MAX_BODY))
    assert response.status == 200, response.body


def test_body_over_the_limit_with_content_length(small_sidecar, mock):
    rid = new_request_id()
    response = post(small_sidecar, "/v1/chat/completions", padded_chat(MAX_BODY + 1), {"x-request-id": rid})
    error = assert_openai_error(response, 413, "request_too_large")
    assert str(MAX_BODY) in error["message"]
    assert response.header("x-request-id") == rid
    response = post(small_sidecar, "/v1/messages", padded_chat(MAX_BODY * 4), ANTHROPIC_HEADERS)
    assert_anthropic_error(response, 413, "request_too_large", "request_too_large")
    assert mock.stats()["requests"] == 0
    assert small_sidecar.log_for(rid)["status"] == 413
    assert_healthy(small_sidecar, mock)


def test_body_over_the_limit_chunked(small_sidecar, mock):
    data = padded_chat(MAX_BODY * 3)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + 500]), data[i:i + 500]) for i in range(0, len(data), 500)) + b"0\r\n\r\n"
    with RawConnection(small_sidecar.egress) as connection:
        connection.send(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + chunks
        )
        response = connection.read_response()
    assert_openai_error(response, 413, "request_too_large")
    # Small enough chunked bodies are fine.
    with httpx.Client(timeout=20) as client:
        ok = client.post(small_sidecar.openai_base + "/chat/completions", content=iter([padded_chat(1000)]), headers=JSON)
    assert ok.status_code == 200, ok.text
    assert mock.stats()["requests"] == 1
    assert_healthy(small_sidecar, mock)


def test_body_over_the_limit_over_http2(small_sidecar, mock):
    with httpx.Client(http1=False, http2=True, timeout=20) as client:
        for size in (MAX_BODY + 1, 3_000_000):
            response = client.post(small_sidecar.openai_base + "/chat/completions", content=padded_chat(size), headers=JSON)
            assert response.http_version == "HTTP/2"
            assert_openai_error(response, 413, "request_too_large")
        # The connection is still good for the next call.
        assert client.post(small_sidecar.openai_base + "/chat/completions", json=chat_body()).status_code == 200
    assert mock.stats()["requests"] == 1


# ---------------------------------------------------------------------------------------
# Paths and methods


@pytest.mark.parametrize(
    "path, headers, shape",
    [
        ("/v1/nothing-here", {}, "openai"),
        ("/v2/chat/completions", {}, "openai"),
        ("/v1/messages/batches", {}, "anthropic"),
        ("/v1/whatever", ANTHROPIC_HEADERS, "anthropic"),
    ],
    ids=["openai-path", "wrong-version", "anthropic-path", "anthropic-header"],
)
def test_unknown_path_is_404_in_the_callers_shape(sidecar, mock, path, headers, shape):
    response = post(sidecar, path, b"{}", headers)
    if shape == "openai":
        error = assert_openai_error(response, 404, "not_found")
    else:
        error = assert_anthropic_error(response, 404, "not_found", "not_found_error")
    assert path in error["message"]
    assert mock.stats()["requests"] == 0


@pytest.mark.parametrize(
    "method, path, allowed, shape",
    [
        ("GET", "/v1/chat/completions", "POST", "openai"),
        ("PUT", "/v1/embeddings", "POST", "openai"),
        ("DELETE", "/v1/messages", "POST", "anthropic"),
        ("POST", "/v1/models", "GET", "openai"),
    ],
)
def test_wrong_method_is_405(sidecar, mock, method, path, allowed, shape):
    response = raw_request(sidecar.egress, method, path, JSON, b"{}" if method != "GET" else None)
    if shape == "openai":
        assert_openai_error(response, 405, "method_not_allowed")
    else:
        assert_anthropic_error(response, 405, "method_not_allowed", "invalid_request_error")
    assert response.header("allow") == allowed
    assert mock.stats()["requests"] == 0


# ---------------------------------------------------------------------------------------
# Broken connections


def read_until_closed(sock: socket.socket, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Everything the peer sends until it closes; and whether it closed within ``timeout``."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except ConnectionResetError:
        return data, True
    except socket.timeout:
        return data, False


def test_truncated_chunked_body_then_close(sidecar, mock):
    for _ in range(3):
        sock = socket.create_connection(("127.0.0.1", sidecar.egress), timeout=5)
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n400\r\n{\"model\": \"gpt-e2e\", \"messa"
        )
        sock.close()
    assert_healthy(sidecar, mock)
    assert mock.stats()["requests"] == 1, "only the health call may reach the provider"


def test_truncated_content_length_body_then_close(sidecar, mock):
    sock = socket.create_connection(("127.0.0.1", sidecar.egress), timeout=5)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"model\"")
    sock.shutdown(socket.SHUT_WR)
    answer, closed = read_until_closed(sock, timeout=5.0)
    sock.close()
    assert closed, "a request that can never be completed must not hold its connection"
    assert not answer.startswith(b"HTTP/1.1 2"), answer[:200]
    assert_healthy(sidecar, mock)
    assert mock.stats()["requests"] == 1


@pytest.mark.parametrize(
    "garbage",
    [b"THIS IS NOT HTTP\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n"],
    ids=["request-line", "header-line"],
)
def test_http1_garbage_gets_400_and_a_close(sidecar, garbage):
    sock = socket.create_connection(("127.0.0.1", sidecar.egress), timeout=5)
    sock.sendall(garbage)
    answer, closed = read_until_closed(sock, timeout=3.0)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert closed, "the connection must be closed after a parse error"


def h2_frame_types(data: bytes) -> list[int]:
    """The types of the HTTP/2 frames in ``data`` (a server's bytes, no preface)."""
    types, offset = [], 0
    while offset + 9 <= len(data):
        types.append(data[offset + 3])
        offset += 9 + int.from_bytes(data[offset:offset + 3], "big")
    return types


def test_h2_connection_error_sends_goaway_and_closes(sidecar):
    """RFC 9113 5.4.1: after a GOAWAY for a connection error the endpoint MUST close the TCP connection."""
    sock = socket.create_connection(("127.0.0.1", sidecar.egress), timeout=5)
    # A valid preface, then a frame header announcing a 4 MB frame (over the 16 KB maximum).
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00" + b"\x40\x00\x00\x00\x00\x00\x00\x00\x01")
    answer, closed = read_until_closed(sock, timeout=3.0)
    sock.close()
    assert 0x07 in h2_frame_types(answer), f"no GOAWAY frame in {answer!r}"
    assert closed, "the connection stayed open after GOAWAY (connection error)"


@pytest.mark.parametrize(
    "garbage, answer",
    [
        (b"THIS IS NOT HTTP\r\n\r\n", "400"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n", "400"),
        # Not the HTTP/2 preface, so HTTP/1.1, whose parser refuses it.
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)), "400"),
        # A frame header announcing 65,280 bytes, over the 16 KB maximum: FRAME_SIZE_ERROR.
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\xff" * 64, "goaway"),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", "400"),
    ],
    ids=["request-line", "header-line", "tls-hello", "h2-garbage-frames", "negative-length"],
)
def test_garbage_leaves_the_process_healthy(sidecar, mock, garbage, answer):
    sock = socket.create_connection(("127.0.0.1", sidecar.egress), timeout=5)
    sock.sendall(garbage)
    data, closed = read_until_closed(sock, timeout=5.0)
    sock.close()
    assert closed, "the connection must be closed after garbage"
    if answer == "400":
        assert data.startswith(b"HTTP/1.1 400 "), data[:200]
    else:
        assert 0x07 in h2_frame_types(data), f"no GOAWAY in {data!r}"
    assert_healthy(sidecar, mock)
    assert mock.stats()["requests"] == 1, "only the health call may reach the provider"


def test_idle_connections_that_send_nothing(sidecar, mock):
    socks = [socket.create_connection(("127.0.0.1", sidecar.egress), timeout=5) for _ in range(20)]
    try:
        assert_healthy(sidecar, mock)
    finally:
        for sock in socks:
            sock.close()
    started = time.monotonic()
    assert_healthy(sidecar, mock)
    assert time.monotonic() - started < 5
