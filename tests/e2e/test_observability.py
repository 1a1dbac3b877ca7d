"""Observability and lifecycle end to end: a live /metrics scrape checked by promtool,
metric counts against the mock's own counts, trace propagation, the shipped alert rules,
and a SIGTERM during a live stream."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import threading
import time
from decimal import Decimal
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


def mixed_workload(sidecar) -> str:
    """Eight calls of every kind (JSON, stream, embeddings, Anthropic, 404, 400, provider 500);
    returns the request id of the one with feature `search`."""
    search_rid = support.new_request_id("search")
    client = openai.OpenAI(base_url=sidecar.openai_base, api_key="app-key", max_retries=0)
    client.chat.completions.create(**support.chat_body())
    client.chat.completions.create(**support.chat_body(), extra_headers={"x-sluice-feature": "search", "x-request-id": search_rid})
    with client.chat.completions.create(**support.chat_body(stream=True)) as stream:
        for _ in stream:
            pass
    client.embeddings.create(model="embed-e2e", input=["one", "two"])
    httpx.post(sidecar.base_url + "/v1/messages", json=support.messages_body(), timeout=10).raise_for_status()
    assert httpx.get(sidecar.base_url + "/v1/nowhere", timeout=5).status_code == 404
    assert httpx.post(sidecar.base_url + "/v1/chat/completions", content=b"{bad", timeout=5).status_code == 400
    failed = httpx.post(sidecar.base_url + "/v1/chat/completions", json=support.chat_body(), headers={"x-mock-status": "500"}, timeout=5)
    assert failed.status_code == 500
    return search_rid


def test_live_scrape_passes_promtool_and_counts_match_the_mock(make_sidecar, mock):
    sidecar = make_sidecar()
    search_rid = mixed_workload(sidecar)
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
    search = sidecar.log_for(search_rid)
    assert total(text, "sluice_tokens_total", feature="search") == search["input_tokens"] + search["output_tokens"] > 0
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
    upstream = seen["traceparent"]
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
    rid = support.new_request_id()

    def stream() -> None:
        body = support.chat_body(stream=True, max_tokens=50)
        headers = {"x-mock-tps": "25", "x-request-id": rid}  # 50 tokens at 25/s: about 2 s of stream
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

    assert finished.wait(20), f"the stream did not finish during the drain; mock: {mock.stats()}; {sidecar.proc.describe()}"
    text = b"".join(received).decode()
    assert text.rstrip().endswith("data: [DONE]")
    assert '"error"' not in text
    assert sidecar.proc.popen.wait(timeout=20) == 0
    line = sidecar.log_for(rid)
    assert line["outcome"] == "completed"
    assert support.log_usage(line) == support.sent_usage(mock.stats()) and line["output_tokens"] == 50


# ---------------------------------------------------------------------------------------
# Label cap


def test_tenant_and_feature_labels_are_capped_at_100_then_other(make_sidecar, mock):
    """The first 100 distinct tenants (and features) get their own label value, later ones
    `other`; a value admitted before the cap keeps its own label after it. The access log
    keeps every real value."""
    sidecar = make_sidecar()
    rids = []
    with httpx.Client(timeout=20) as client:
        for index in list(range(102)) + [5]:
            rid = support.new_request_id("cap")
            response = client.post(
                sidecar.openai_base + "/chat/completions", json=support.chat_body(),
                headers={
                    "x-request-id": rid, "x-sluice-tenant": f"cap-tenant-{index:03}", "x-sluice-feature": f"cap-feature-{index:03}",
                    "x-mock-output-tokens": str(1 + index % 7),
                },
            )
            assert response.status_code == 200
            rids.append(rid)
    lines = sidecar.logs_for(rids)
    samples = support.scrape(sidecar)
    admitted = set(range(100))  # 0 … 99: the cap is 100 distinct values; 100 and 101 are over it
    assert support.label_values(samples, "sluice_cost_usd_total", "tenant") == {f"cap-tenant-{i:03}" for i in admitted} | {"other"}
    features = {f"cap-feature-{i:03}" for i in admitted} | {"other"}
    assert support.label_values(samples, "sluice_cost_usd_total", "feature") == features
    assert support.label_values(samples, "sluice_tokens_total", "feature") == features

    def cost(*indices: int) -> Decimal:
        return sum((Decimal(str(lines[i]["cost_usd"])) for i in indices), Decimal(0))

    over = (100, 101)
    assert abs(Decimal(str(support.metric(samples, "sluice_cost_usd_total", tenant="other"))) - cost(*over)) < Decimal("1e-9")
    assert support.metric(samples, "sluice_tokens_total", feature="other", type="output") == sum(lines[i]["output_tokens"] for i in over)
    # cap-tenant-005 came back after the cap (the last call): still its own label, both calls in it.
    assert abs(Decimal(str(support.metric(samples, "sluice_cost_usd_total", tenant="cap-tenant-005"))) - cost(5, 102)) < Decimal("1e-9")
    assert [lines[i]["tenant"] for i in over] == ["cap-tenant-100", "cap-tenant-101"]
    assert mock.stats()["output_tokens"] == support.metric(samples, "sluice_tokens_total", type="output")


# ---------------------------------------------------------------------------------------
# The dashboard and the rules name only metrics that exist


OBSERVABILITY = REPO / "config" / "observability"

# Metrics the dashboard and rules already use, which arrive with their stage. Each must not be
# emitted yet (else it is no longer "coming": take it off) and must still be used somewhere.
COMING_WITH_THEIR_STAGE = {
    "sluice_limiter_waits_total": "admission (rate limits)",
    "sluice_sheds_total": "admission (lanes and shedding)",
    "sluice_lane_queue_depth": "admission (lanes)",
    "sluice_cache_entries": "cache",
    "sluice_cache_bytes": "cache",
}

_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def base_name(name: str) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def names_in(text: str) -> tuple[set[str], set[str]]:
    """Crudely, the metric names (``sluice_…``, histogram suffixes stripped) and the
    recording-rule names (``…:sluice…:…``) a PromQL text mentions."""
    metrics, rules = set(), set()
    for token in _IDENTIFIER.findall(text):
        if ":" in token:
            if "sluice" in token:
                rules.add(token)
        elif token.startswith("sluice_"):
            metrics.add(base_name(token))
    return metrics, rules


def dashboard_expressions(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        for value in node.values():
            found += dashboard_expressions(value)
        return found
    if isinstance(node, list):
        return [expr for item in node for expr in dashboard_expressions(item)]
    return []


def referenced_metrics() -> tuple[dict[str, set[str]], set[str], set[str]]:
    """{metric: files naming it}, the recording rules used, the recording rules defined."""
    sources = {}
    for name in ("alerts.yaml", "alerts.test.yaml"):
        # Comments may talk about anything; expressions, annotations and series may not.
        sources[name] = "\n".join(line for line in (OBSERVABILITY / name).read_text().splitlines() if not line.lstrip().startswith("#"))
    sources["sluice-dashboard.json"] = "\n".join(dashboard_expressions(json.loads((OBSERVABILITY / "sluice-dashboard.json").read_text())))
    assert sources["sluice-dashboard.json"].count("sluice_") > 10, "no expressions found in the dashboard: has its layout changed?"
    metrics: dict[str, set[str]] = {}
    used_rules: set[str] = set()
    for source, text in sources.items():
        found, rules = names_in(text)
        used_rules |= rules
        for metric in found:
            metrics.setdefault(metric, set()).add(source)
    defined = set(re.findall(r"^\s*- record:\s*(\S+)", (OBSERVABILITY / "alerts.yaml").read_text(), re.MULTILINE))
    return metrics, used_rules, defined


def test_dashboard_and_rules_name_only_metrics_the_binary_emits(make_sidecar, mock):
    sidecar = make_sidecar()
    mixed_workload(sidecar)
    failed = httpx.post(sidecar.base_url + "/v1/chat/completions", json=support.chat_body(), headers={"x-mock-reset": "before"}, timeout=10)
    assert failed.status_code == 502  # an upstream error, for sluice_upstream_errors_total
    emitted = {base_name(name) for name, _ in support.scrape(sidecar)}
    assert {"sluice_requests_total", "sluice_upstream_errors_total", "sluice_tokens_total"} <= emitted, emitted

    metrics, used_rules, defined_rules = referenced_metrics()
    unknown = {name: sorted(files) for name, files in metrics.items() if name not in emitted and name not in COMING_WITH_THEIR_STAGE}
    assert not unknown, f"named in config/observability but not emitted, nor listed as coming with a stage: {unknown}"
    arrived = sorted(set(COMING_WITH_THEIR_STAGE) & emitted)
    assert not arrived, f"emitted now, so no longer 'coming with its stage': take them off COMING_WITH_THEIR_STAGE: {arrived}"
    unused = sorted(set(COMING_WITH_THEIR_STAGE) - set(metrics))
    assert not unused, f"listed as coming but named nowhere in config/observability: {unused}"
    assert used_rules <= defined_rules, f"recording rules used but not defined: {sorted(used_rules - defined_rules)}"
