"""Streaming probes for scripts/bench (standard library only).

sequential_streams(): N streaming chat completions, one after another on one keep-alive
HTTP/1.1 connection; for each, the time to the first response byte, to the first SSE
event, the arrival time of every event and how many events arrived glued to an earlier
one in the same read (a proxy that buffers shows up as coalesced events and larger gaps).

hold_streams(): N concurrent streaming requests, each on its own HTTP/1.1 connection, held
open (and drained) while a callback samples memory, then aborted.
"""

import asyncio
import socket
import time


def _request(host, port, path, body, extra_headers=()):
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        "Accept: text/event-stream",
        f"Content-Length: {len(body)}",
    ]
    head.extend(extra_headers)
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class _Body:
    """Incremental HTTP/1.1 body decoder: chunked, Content-Length or close-delimited."""

    def __init__(self, headers):
        te = headers.get("transfer-encoding", "").lower()
        self.chunked = "chunked" in te
        self.remaining = None if self.chunked else (int(headers["content-length"]) if "content-length" in headers else None)
        self.raw = b""
        self.need = None  # bytes still to take from the current chunk (+2 for CRLF)
        self.done = False

    def feed(self, data):
        """Decoded body bytes contained in `data`."""
        if not self.chunked:
            if self.remaining is None:
                return data
            take = data[: self.remaining]
            self.remaining -= len(take)
            if self.remaining == 0:
                self.done = True
            return take
        self.raw += data
        out = []
        while not self.done:
            if self.need is None:
                eol = self.raw.find(b"\r\n")
                if eol < 0:
                    break
                size = int(self.raw[:eol].split(b";")[0].strip() or b"0", 16)
                self.raw = self.raw[eol + 2:]
                if size == 0:
                    self.done = True
                    break
                self.need = size + 2
            if len(self.raw) < self.need:
                # Hand out what we have of the chunk data now (not the trailing CRLF).
                avail = min(len(self.raw), self.need - 2)
                if avail > 0:
                    out.append(self.raw[:avail])
                    self.raw = self.raw[avail:]
                    self.need -= avail
                break
            out.append(self.raw[: self.need - 2])
            self.raw = self.raw[self.need:]
            self.need = None
        return b"".join(out)


class StreamClient:
    """One keep-alive HTTP/1.1 connection used for sequential streaming requests."""

    def __init__(self, host, port, path="/v1/chat/completions", timeout=30.0, extra_headers=()):
        self.host, self.port, self.path, self.timeout = host, port, path, timeout
        self.extra_headers = tuple(extra_headers)
        self.sock = None

    def _connect(self):
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def stream(self, body):
        if self.sock is None:
            self._connect()
        sock = self.sock
        req = _request(self.host, self.port, self.path, body, self.extra_headers)
        now = time.perf_counter
        t0 = now()
        sock.sendall(req)
        buf = b""
        first_byte = None
        while b"\r\n\r\n" not in buf:
            data = sock.recv(65536)
            t = now()
            if not data:
                self.close()
                raise ConnectionError("connection closed before the response head")
            if first_byte is None:
                first_byte = t
            buf += data
        head, rest = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        body_dec = _Body(headers)
        pending = b""
        event_times = []
        coalesced = 0
        reads_with_events = 0
        text = []
        saw_done = False

        def consume(data, t):
            nonlocal pending, coalesced, reads_with_events, saw_done
            pending += body_dec.feed(data)
            pending = pending.replace(b"\r\n", b"\n")
            n = 0
            while True:
                i = pending.find(b"\n\n")
                if i < 0:
                    break
                ev = pending[:i]
                pending = pending[i + 2:]
                if not ev.strip():
                    continue
                n += 1
                event_times.append(t - t0)
                text.append(ev)
                if b"[DONE]" in ev:
                    saw_done = True
            if n:
                reads_with_events += 1
                coalesced += n - 1

        consume(rest, t)
        while not body_dec.done:
            data = sock.recv(65536)
            t = now()
            if not data:
                self.close()
                break
            consume(data, t)
        if headers.get("connection", "").lower() == "close" or (body_dec.remaining is None and not body_dec.chunked):
            self.close()
        gaps = [b - a for a, b in zip(event_times, event_times[1:])]
        return {
            "status": status,
            "content_type": headers.get("content-type", ""),
            "ttfb": first_byte - t0,
            "first_event": event_times[0] if event_times else None,
            "total": (event_times[-1] if event_times else now() - t0),
            "events": len(event_times),
            "coalesced": coalesced,
            "gaps": gaps,
            "done_marker": saw_done,
            "usage_seen": any(b'"usage":{' in e or b'"usage": {' in e for e in text),
        }


def sequential_streams(host, port, body, n, warmup=2, path="/v1/chat/completions", extra_headers=()):
    client = StreamClient(host, port, path=path, extra_headers=extra_headers)
    try:
        for _ in range(warmup):
            client.stream(body)
        return [client.stream(body) for _ in range(n)]
    finally:
        client.close()


async def _hold_one(host, port, req, state, sem, opened_all):
    try:
        async with sem:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 30)
            state["writers"].append(writer)
            writer.write(req)
            buf = b""
            while b"data:" not in buf:
                chunk = await asyncio.wait_for(reader.read(65536), 60)
                if not chunk:
                    state["failed"] += 1
                    return
                buf += chunk
            if not buf.startswith(b"HTTP/1.1 200"):
                state["failed"] += 1
                state["bad_status"] = buf.split(b"\r\n", 1)[0].decode("latin-1")
                return
            state["opened"] += 1
            if state["opened"] + state["failed"] >= state["n"]:
                opened_all.set()
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                state["ended_early"] += 1
                return
    except (asyncio.CancelledError, ConnectionError, OSError, asyncio.TimeoutError) as err:
        if not isinstance(err, asyncio.CancelledError):
            state["failed"] += 1
            state["error"] = repr(err)
        if state["opened"] + state["failed"] >= state["n"]:
            opened_all.set()


async def _hold(host, port, body, n, hold_seconds, sample, open_timeout, connect_parallelism, path):
    req = _request(host, port, path, body)
    state = {"n": n, "opened": 0, "failed": 0, "ended_early": 0, "writers": []}
    sem = asyncio.Semaphore(connect_parallelism)
    opened_all = asyncio.Event()
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(_hold_one(host, port, req, state, sem, opened_all)) for _ in range(n)]
    try:
        await asyncio.wait_for(opened_all.wait(), open_timeout)
    except asyncio.TimeoutError:
        pass
    state["open_seconds"] = time.perf_counter() - t0
    samples = []
    end = time.perf_counter() + hold_seconds
    while time.perf_counter() < end:
        samples.append(sample())
        await asyncio.sleep(0.1)
    state["still_open"] = state["opened"] - state["ended_early"]
    for w in state["writers"]:
        try:
            w.transport.abort()
        except Exception:
            pass
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    del state["writers"]
    state["samples"] = samples
    return state


def hold_streams(host, port, body, n, hold_seconds, sample, open_timeout=60.0, connect_parallelism=100,
                 path="/v1/chat/completions"):
    """Open `n` streams, call `sample()` every 0.1 s for `hold_seconds` once all are open."""
    return asyncio.run(_hold(host, port, body, n, hold_seconds, sample, open_timeout, connect_parallelism, path))
