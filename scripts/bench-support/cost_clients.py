"""Deterministic clients for scripts/cost-guard (standard library, plus `h2` for h2c).

Each client sends `n` requests one after another on one connection and reads every answer
in full before sending the next, so the sidecar does the same work in the same order on
every run. Every request goes out in one send (head and body together), and on h2c the
client's own control frames (SETTINGS ACK, WINDOW_UPDATE) are held back and sent with the
next request: the sidecar then reads the same bytes in the same reads whatever the timing.
"""

import http.client
import socket

PATH = "/v1/chat/completions"


def _check(status, body, want, what):
    if status != 200 or want not in body:
        raise RuntimeError(f"{what}: status {status}, body {body[:300]!r}")


def h1(host, port, body, n, stream, timeout=300.0):
    """n POSTs on one keep-alive HTTP/1.1 connection (http.client)."""
    headers = {"content-type": "application/json"}
    if stream:
        headers["accept"] = "text/event-stream"
    want = b"data: [DONE]" if stream else b'"usage"'
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        for _ in range(n):
            conn.request("POST", PATH, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            _check(response.status, data, want, "HTTP/1.1 request")
    finally:
        conn.close()


def h2c(host, port, body, n, timeout=300.0):
    """n POSTs, one stream after another, on one prior-knowledge h2c connection (h2)."""
    import h2.config
    import h2.connection
    import h2.events

    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding=None))
    conn.initiate_connection()
    headers = [
        (b":method", b"POST"), (b":scheme", b"http"), (b":authority", f"{host}:{port}".encode()),
        (b":path", PATH.encode()), (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    try:
        for _ in range(n):
            stream_id = conn.get_next_available_stream_id()
            conn.send_headers(stream_id, headers)
            conn.send_data(stream_id, body, end_stream=True)
            sock.sendall(conn.data_to_send())   # with any pending ACK / WINDOW_UPDATE
            status, data, ended = None, bytearray(), False
            while not ended:
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("h2c: connection closed by the sidecar")
                for event in conn.receive_data(chunk):
                    if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream_id:
                        status = int(dict(event.headers)[b":status"])
                    elif isinstance(event, h2.events.DataReceived):
                        data += event.data
                        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream_id:
                        ended = True
                    elif isinstance(event, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                        raise RuntimeError(f"h2c: {event}")
            _check(status, bytes(data), b'"usage"', "h2c request")
        conn.close_connection()
        sock.sendall(conn.data_to_send())
    finally:
        sock.close()
