"""Observability and lifecycle end to end: a live /metrics scrape checked by promtool,
metric counts against the mock's own counts, trace propagation, the shipped alert rules,
and a SIGTERM during a live stream."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

import support

REPO = Path(__file__).resolve().parents[2]


def scrape(sidecar) -> str:
    response = httpx.get(f"http://127.0.0.1:{sidecar.admin}/metrics", timeout=5.0)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def samples(text: str, name: str) -> dict[str, float]:
    """Sample lines of metric ``name`` as {label-string: value}."""
    found = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels, _, value = line.rpartition(" ")
            found[labels[len(name):]] = float(value)
    return found


def total(text: str, name: str, **labels: str) -> float:
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    return sum(value for key, value in samples(text, name).items() if all(w in key for w in wanted))


def mixed_workload(sidecar) -> None:
    client = openai.OpenAI(base_url=sidecar.openai_base, api_key="app-key", max_retries=0)
    client.chat.completions.create(**support.chat_body())
    client.chat.completions.create(**support.chat_body(), extra_headers={"x-sluice-feature": "search"})
    with client.chat.completions.create(**support.chat_body(stream=True)) as stream:
        for _ in stream:
            pass
    client.embeddings.create(model="embed-e2e", input=["one", "two"])
    httpx.post(sidecar.base_url + "/v1/messages", json=support.messages_body(), timeout=10).raise_for_status()
    assert httpx.get(sidecar.base_url + "/v1/nowhere", timeout=5).status_code == 404
    assert httpx.post(sidecar.base_url + "/v1/chat/completions", content=b"{bad", timeout=5).status_code == 400
    failed = httpx.post(sidecar.base_url + "/v1/chat/completions", json=support.chat_body(), headers={"x-mock-status": "500"}, timeout=5)
    assert failed.status_code == 500


def test_live_scrape_passes_promtool_and_counts_match_the_mock(make_sidecar, mock):
    sidecar = make_sidecar()
    mixed_workload(sidecar)
    stats = mock.stats()
    def settled():
        text = scrape(sidecar)
        return text if total(text, "sluice_requests_total") >= 8 else None

    text = support.wait_until(settled, 5.0, "all eight calls in the metrics")
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr

    for family in (
        "sluice_requests_total", "sluice_request_duration_seconds_bucket", "sluice_time_to_first_byte_seconds_bucket",
        "sluice_upstream_duration_seconds_bucket", "sluice_tokens_total", "sluice_cost_usd_total",
        "sluice_requests_in_flight", "sluice_policy_info", "sluice_policy_loaded_timestamp_seconds",
    ):
        assert samples(text, family), f"{family} missing from the scrape"

    assert total(text, "sluice_requests_total", status_class="2xx") == 5
    assert total(text, "sluice_requests_total", status_class="4xx") == 2
    assert total(text, "sluice_requests_total", status_class="5xx") == 1
    assert total(text, "sluice_requests_in_flight") == 0
    # Tokens counted by the sidecar equal what the mock reported, token for token.
    assert total(text, "sluice_tokens_total", type="output") == stats["output_tokens"]
    assert total(text, "sluice_tokens_total", type="input") == stats["input_tokens"]
    assert total(text, "sluice_tokens_total", feature="search") > 0
    # Bounded labels: no request ids, user ids or raw paths.
    assert "nowhere" not in text
    assert "request_id" not in text
    bucket_edges = {match for match in re.findall(r'le="([^"]+)"', text)}
    assert {"0.01", "300.0"} <= bucket_edges or {"0.01", "300"} <= bucket_edges


def test_traceparent_is_continued_upstream_and_reported(sidecar, mock):
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    request_id = support.new_request_id()
    response = httpx.post(
        sidecar.base_url + "/v1/chat/completions", json=support.chat_body(),
        headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01", "x-request-id": request_id}, timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["x-sluice-trace-id"] == trace_id
    seen = mock.stats()["last_request"]["headers"]
    upstream = seen.get("traceparent", "")
    version, upstream_trace, span, flags = upstream.split("-")
    assert (version, upstream_trace, flags) == ("00", trace_id, "01")
    assert span != "00f067aa0ba902b7" and len(span) == 16
    assert sidecar.log_for(request_id)["trace_id"] == trace_id


def test_a_trace_is_started_when_none_is_sent(sidecar, mock):
    response = httpx.post(sidecar.base_url + "/v1/chat/completions", json=support.chat_body(), timeout=10)
    trace_id = response.headers["x-sluice-trace-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
    assert mock.stats()["last_request"]["headers"]["traceparent"].split("-")[1] == trace_id


def test_shipped_alert_rules_check_and_their_tests_pass():
    rules = REPO / "config" / "observability" / "alerts.yaml"
    check = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run(
        ["promtool", "test", "rules", "alerts.test.yaml"], cwd=rules.parent, capture_output=True, text=True, timeout=60,
    )
    assert unit.returncode == 0, unit.stdout + unit.stderr


def test_sigterm_lets_a_live_stream_finish_and_refuses_new_connections(make_sidecar, mock):
    sidecar = make_sidecar(["--drain-seconds", "20"])
    received: list[bytes] = []
    first_bytes = threading.Event()
    finished = threading.Event()

    def stream() -> None:
        body = support.chat_body(stream=True, max_tokens=30)
        headers = {"x-mock-tps": "20"}  # 30 tokens at 20/s: about 1.5 s of stream
        with httpx.stream("POST", sidecar.base_url + "/v1/chat/completions", json=body, headers=headers, timeout=30) as response:
            for chunk in response.iter_raw():
                received.append(chunk)
                first_bytes.set()
        finished.set()

    worker = threading.Thread(target=stream, daemon=True)
    worker.start()
    assert first_bytes.wait(10), "the stream never started"
    sidecar.proc.popen.send_signal(signal.SIGTERM)

    # Not ready any more, and no new connections, while the stream is still running.
    support.wait_until(lambda: not sidecar.is_ready(), 5.0, "/ready to fail while draining")

    def refused() -> bool:
        try:
            socket.create_connection(("127.0.0.1", sidecar.egress), timeout=1).close()
            return False
        except OSError:
            return True

    support.wait_until(refused, 5.0, "the egress port to refuse new connections")
    assert not finished.is_set(), "the stream ended before the drain could be observed; slow the mock down"

    assert finished.wait(20), "the stream did not finish during the drain"
    text = b"".join(received).decode()
    assert text.rstrip().endswith("data: [DONE]")
    assert '"error"' not in text
    assert sidecar.proc.popen.wait(timeout=20) == 0
    line = [entry for entry in sidecar.access_log() if entry.get("stream")][-1]
    assert line["outcome"] == "completed"
    assert line["output_tokens"] == 30
