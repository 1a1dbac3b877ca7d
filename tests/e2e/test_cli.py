"""The command line (validate, dev), request ids, trace context, admin, metrics and shutdown."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest

import support
from support import REPO, UPSTREAM, chat_body, new_request_id, wait_until

POSITION = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<column>\d+): (?P<field>[^:]+): (?P<message>.+)$")


def run_sluice(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([support.sluice_bin(), *args], capture_output=True, text=True, timeout=timeout, cwd=REPO, env=support.base_env())


# ---------------------------------------------------------------------------------------
# validate


def test_validate_the_shipped_policy():
    result = run_sluice("validate", "config/policy.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("config/policy.yaml: ok (")
    assert result.stderr == ""


def test_validate_reports_every_problem_with_file_line_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "providers:\n"                          # 1
        "  openai:\n"                           # 2
        "    kind: openai\n"                    # 3
        "    basse_url: https://api.openai.com\n"  # 4
        "  anth:\n"                             # 5
        "    kind: antropic\n"                  # 6
        "    base_url: ftp://nowhere\n"         # 7
        "models:\n"                             # 8
        "  gpt-4o-mini:\n"                      # 9
        "    provider: opnai\n"                 # 10
        "    prices: { input: -1, output: 0.6 }\n"  # 11
        "routes:\n"                             # 12
        "  - name: r1\n"                        # 13
        "    targets: []\n"                     # 14
    )
    result = run_sluice("validate", str(bad))
    assert result.returncode == 1
    assert result.stdout == ""
    problems = [POSITION.match(line) for line in result.stderr.strip().splitlines()]
    assert all(problems), f"every stderr line must be FILE:LINE:COLUMN: field: message:\n{result.stderr}"
    found = {(int(m["line"]), m["field"]) for m in problems}
    assert {m["file"] for m in problems} == {str(bad)}
    expected = {
        (4, "providers.openai.basse_url"),
        (6, "providers.anth.kind"),
        (7, "providers.anth.base_url"),
        (10, "models.gpt-4o-mini.provider"),
        (11, "models.gpt-4o-mini.prices.input"),
        (14, "routes[0].targets"),
    }
    assert expected <= found, f"missing: {expected - found}\n{result.stderr}"
    by_field = {m["field"]: m for m in problems}
    assert 'did you mean "base_url"' in by_field["providers.openai.basse_url"]["message"]
    assert 'did you mean "openai"' in by_field["models.gpt-4o-mini.provider"]["message"]
    assert int(by_field["models.gpt-4o-mini.provider"]["column"]) == 15


def test_validate_several_files_broken_yaml_and_missing_file(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("providers: [\n")
    missing = tmp_path / "missing.yaml"
    result = run_sluice("validate", "config/policy.yaml", str(broken), str(missing))
    assert result.returncode == 1
    assert "config/policy.yaml: ok (" in result.stdout
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith(f"{broken}:2:") for line in lines), result.stderr
    assert any(line.startswith(f"{missing}:") for line in lines), result.stderr


def test_sidecar_refuses_a_bad_policy(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers: {}\nmodels:\n  m:\n    provider: nowhere\n")
    result = run_sluice("sidecar", "--policy", str(bad), "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", timeout=30)
    assert result.returncode != 0
    assert f"{bad}:4:" in result.stderr


# ---------------------------------------------------------------------------------------
# dev


def test_dev_without_keys_serves_from_the_mock(workdir):
    ports_file = workdir / "dev.ports.json"
    proc = support.start_process(
        "dev",
        [support.sluice_bin(), "dev", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--mock-listen", "127.0.0.1:0", "--ports-file", str(ports_file)],
        workdir, env=support.base_env(), cwd=REPO,
    )
    try:
        # No provider key is set, so every provider is served by the mock, whose port is listed.
        ports = support.wait_ports(proc, ports_file, ["egress", "admin", "mock"])
        egress, admin, mock_port = ports["egress"], ports["admin"], ports["mock"]
        banner = wait_until(lambda: "curl" in proc.stderr_text() and proc.stderr_text(), 30, "the dev banner", proc)
        assert f"http://127.0.0.1:{egress}/v1" in banner
        assert f"http://127.0.0.1:{egress} " in banner or f"http://127.0.0.1:{egress}\n" in banner
        assert "mock provider" in banner
        assert httpx.get(f"http://127.0.0.1:{admin}/ready", timeout=5).status_code == 200

        # The banner's curl line, run as printed.
        try_at = banner.index("curl ")
        command = banner[try_at:].split("\n\n")[0].replace("\\\n", " ")
        result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["object"] == "chat.completion"

        import anthropic
        import openai

        with openai.OpenAI(base_url=f"http://127.0.0.1:{egress}/v1", api_key="anything", max_retries=0, timeout=20) as client:
            completion = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}])
            assert completion.choices[0].message.content
            chunks = list(client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "Hello"}], stream=True))
            assert chunks and all(c.usage is None for c in chunks)
        with anthropic.Anthropic(base_url=f"http://127.0.0.1:{egress}", api_key="anything", max_retries=0, timeout=20) as client:
            message = client.messages.create(model="claude-3-5-haiku", max_tokens=20, messages=[{"role": "user", "content": "Hello"}])
            assert message.content[0].text
        stats = httpx.get(f"http://127.0.0.1:{mock_port}/mock/stats", timeout=5).json()
        assert stats["requests"] == 4
        # The mock gets dev's stand-in key, never the app's placeholder.
        assert stats["credentials"] == {"Bearer sk-sluice-dev-mock": 3, "sk-sluice-dev-mock": 1}, stats["credentials"]
    finally:
        proc.stop()
    assert proc.popen.returncode == 0, proc.describe()
    lines = [json.loads(l) for l in proc.stdout_text().split("\n") if l.startswith("{")]
    assert [l["status"] for l in lines] == [200] * 4, lines


# ---------------------------------------------------------------------------------------
# Request ids and trace context


def test_request_id_is_kept_when_given(sidecar, mock):
    rid = "client-chosen-id-0001"
    response = httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body(), headers={"x-request-id": rid}, timeout=20)
    assert response.headers["x-request-id"] == rid
    assert mock.stats()["last_request"]["headers"]["x-request-id"] == rid
    assert sidecar.log_for(rid)["status"] == 200


def test_request_id_is_generated_when_absent(sidecar, mock):
    ids = []
    for _ in range(3):
        response = httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body(), timeout=20)
        generated = response.headers.get("x-request-id")
        assert generated, "no x-request-id on the response"
        assert mock.stats()["last_request"]["headers"]["x-request-id"] == generated
        ids.append(generated)
    assert len(set(ids)) == 3, ids
    sidecar.logs_for(ids)
    # Errors answered locally carry one too.
    local = httpx.get(sidecar.openai_base + "/nowhere", timeout=20)
    assert local.status_code == 404 and local.headers.get("x-request-id")


@pytest.mark.parametrize("bad", ["x" * 200, 'has"quote', "has space"], ids=["too-long", "quote", "space"])
def test_unacceptable_request_id_is_replaced(sidecar, mock, bad):
    response = httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body(), headers={"x-request-id": bad}, timeout=20)
    assert response.status_code == 200
    generated = response.headers["x-request-id"]
    assert generated != bad and generated
    assert mock.stats()["last_request"]["headers"]["x-request-id"] == generated


def test_request_id_over_http2(sidecar, mock):
    with httpx.Client(http1=False, http2=True, timeout=20) as client:
        kept = client.post(sidecar.openai_base + "/chat/completions", json=chat_body(), headers={"x-request-id": "h2-kept-id"})
        fresh = client.post(sidecar.openai_base + "/chat/completions", json=chat_body())
    assert kept.headers["x-request-id"] == "h2-kept-id"
    assert fresh.headers.get("x-request-id") and fresh.headers["x-request-id"] != "h2-kept-id"


def test_traceparent_is_continued_upstream(sidecar, mock):
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    rid = new_request_id()
    response = httpx.post(
        sidecar.openai_base + "/chat/completions", json=chat_body(),
        headers={"traceparent": f"00-{trace_id}-{parent}-01", "x-request-id": rid}, timeout=20,
    )
    assert response.headers["x-sluice-trace-id"] == trace_id
    upstream = mock.stats()["last_request"]["headers"]["traceparent"]
    version, upstream_trace, span, flags = upstream.split("-")
    assert (version, upstream_trace, flags) == ("00", trace_id, "01")
    assert re.fullmatch(r"[0-9a-f]{16}", span) and span != parent, "Sluice forwards its own child span"
    assert sidecar.log_for(rid)["trace_id"] == trace_id

    fresh = httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body(), headers={"traceparent": "garbage"}, timeout=20)
    new_trace = fresh.headers["x-sluice-trace-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", new_trace) and new_trace != trace_id
    assert mock.stats()["last_request"]["headers"]["traceparent"].split("-")[1] == new_trace


# ---------------------------------------------------------------------------------------
# Admin and metrics


def test_admin_endpoints(sidecar):
    base = f"http://127.0.0.1:{sidecar.admin}"
    assert httpx.get(base + "/live", timeout=5).status_code == 200
    assert httpx.get(base + "/ready", timeout=5).status_code == 200
    assert httpx.get(base + "/nope", timeout=5).status_code == 404
    assert httpx.post(base + "/ready", timeout=5).status_code == 405


scrape, metric = support.scrape, support.metric


def test_metrics_count_what_was_served_and_pass_promtool(sidecar, mock, openai_client):
    feature = "metrics-e2e"
    before = scrape(sidecar)
    rids = [new_request_id() for _ in range(3)]
    openai_client.chat.completions.create(
        model="gpt-e2e", messages=[{"role": "user", "content": "metrics"}],
        extra_headers={"x-request-id": rids[0], "x-sluice-feature": feature, "x-mock-output-tokens": "5"},
    )
    list(openai_client.chat.completions.create(
        model="gpt-e2e", messages=[{"role": "user", "content": "metrics stream"}], stream=True,
        extra_headers={"x-request-id": rids[1], "x-sluice-feature": feature, "x-mock-output-tokens": "7", "x-mock-cached-tokens": "2"},
    ))
    httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body(), headers={"x-request-id": rids[2], "x-sluice-feature": feature, "x-mock-status": "500"}, timeout=20)
    lines = sidecar.logs_for(rids)
    after = scrape(sidecar)

    def delta(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    model = mock.stats()["models"][UPSTREAM["gpt-e2e"]]
    assert delta("sluice_tokens_total", feature=feature, type="output") == model["output_tokens"] == 12
    assert delta("sluice_tokens_total", feature=feature, type="input") == model["input_tokens"]
    assert delta("sluice_tokens_total", feature=feature, type="cached_input") == 2
    assert "cost_usd" not in lines[2], "a provider error costs nothing"
    cost = Decimal(str(lines[0]["cost_usd"])) + Decimal(str(lines[1]["cost_usd"]))
    assert abs(Decimal(str(delta("sluice_cost_usd_total", feature=feature))) - cost) < Decimal("1e-9")
    assert delta("sluice_requests_total", endpoint="chat_completions", status_class="2xx", provider="mockai") == 2
    assert delta("sluice_requests_total", endpoint="chat_completions", status_class="5xx", provider="mockai") == 1
    assert metric(after, "sluice_requests_in_flight") == 0
    assert metric(after, "sluice_policy_info") == 1

    if shutil.which("promtool") is None:
        pytest.fail("promtool not installed (Debian package prometheus)")
    text = httpx.get(f"http://127.0.0.1:{sidecar.admin}/metrics", timeout=5).text
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_access_log_to_a_file_or_off(make_sidecar, mock, workdir):
    path = workdir / "per-test" / "access.log"
    to_file = make_sidecar(extra=["--access-log", str(path)])
    rid = new_request_id()
    assert httpx.post(to_file.openai_base + "/chat/completions", json=chat_body(), headers={"x-request-id": rid}, timeout=20).status_code == 200

    def logged():
        return path.exists() and any(json.loads(l)["request_id"] == rid for l in path.read_text().split("\n") if l)

    wait_until(logged, 5, "the access-log line in the file", to_file.proc)

    # make_sidecar passes --access-log stdout first; a later --access-log off wins.
    off = make_sidecar(extra=["--access-log", "off"])
    off_rid = new_request_id()
    assert httpx.post(off.openai_base + "/chat/completions", json=chat_body(), headers={"x-request-id": off_rid}, timeout=20).status_code == 200
    assert mock.stats()["last_request"]["headers"]["x-request-id"] == off_rid, "the call went through"
    # Nothing on stdout: asserted once the processes have exited (shutdown flushes the log).
    for instance in (to_file, off):
        instance.proc.stop()
        assert instance.proc.popen.returncode == 0, instance.proc.describe()
    assert to_file.proc.stdout_text() == "", "with a file, nothing goes to stdout"
    assert off.proc.stdout_text() == ""
    assert [json.loads(l)["request_id"] for l in path.read_text().split("\n") if l] == [rid]


# ---------------------------------------------------------------------------------------
# Shutdown



def read_stream(url: str, body: dict, headers: dict[str, str], started: threading.Event, marker: str) -> tuple[int, str, str | None]:
    """Reads one stream to its end: (status, text, None) when it ended cleanly, or the name of
    the transport error that ended it instead (a connection cut mid-body)."""
    text, status = "", 0
    try:
        with httpx.Client(timeout=20) as client, client.stream("POST", url, json=body, headers=headers) as response:
            status = response.status_code
            for piece in response.iter_text():
                text += piece
                if marker in text:
                    started.set()
    except httpx.TransportError as error:
        return status, text, type(error).__name__
    return status, text, None


def test_sigterm_drains_a_stream_in_flight_then_exits_zero(make_sidecar, mock):
    sidecar = make_sidecar(extra=["--drain-seconds", "10"])
    rid = new_request_id()
    started = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        stream = pool.submit(
            read_stream, sidecar.openai_base + "/chat/completions", chat_body(stream=True, stream_options={"include_usage": True}),
            {"x-request-id": rid, "x-mock-tps": "10", "x-mock-output-tokens": "10"}, started, '"delta":{"content":"',
        )
        assert started.wait(10), "the stream never started"
        sidecar.proc.popen.send_signal(signal.SIGTERM)
        wait_until(lambda: not sidecar.is_ready(), 5, "/ready to fail while draining")
        status, text, cut = stream.result(timeout=20)
    assert (status, cut) == (200, None)
    assert support.sse_events(text)[-1]["data"] == "[DONE]", "the stream in flight must be finished"
    assert sidecar.proc.popen.wait(timeout=15) == 0
    line = sidecar.log_for(rid)
    assert line["outcome"] == "completed"
    sent = support.sent_usage(mock.stats(), UPSTREAM["gpt-e2e"])
    assert sent[1] == 10
    assert support.log_usage(line) == sent
    support.assert_cost(str(line["cost_usd"]), support.expected_cost("gpt-e2e", *sent))
    assert json.loads([e["data"] for e in support.sse_events(text)][-2])["usage"]["completion_tokens"] == 10


def drain_past_the_deadline(sidecar, drain: float) -> tuple[float, dict[str, tuple[int, str, str | None]], dict[str, str]]:
    """Starts an OpenAI and an Anthropic stream of about 6 s each, sends SIGTERM once both are
    under way, and waits for the exit; returns (seconds from SIGTERM to exit, each stream's
    read_stream result, each stream's request id)."""
    rids = {"openai": new_request_id("drain-openai"), "anthropic": new_request_id("drain-anthropic")}
    slow = {"x-mock-tps": "10", "x-mock-output-tokens": "60"}
    started = {name: threading.Event() for name in rids}
    with ThreadPoolExecutor(max_workers=2) as pool:
        streams = {
            "openai": pool.submit(
                read_stream, sidecar.openai_base + "/chat/completions", chat_body(stream=True),
                {**slow, "x-request-id": rids["openai"]}, started["openai"], '"delta":{"content":"',
            ),
            "anthropic": pool.submit(
                read_stream, sidecar.base_url + "/v1/messages", support.messages_body(stream=True, max_tokens=100),
                {**support.ANTHROPIC_HEADERS, **slow, "x-request-id": rids["anthropic"]}, started["anthropic"], '"text_delta"',
            ),
        }
        assert all(event.wait(10) for event in started.values()), "the streams never started"
        signalled = time.monotonic()
        sidecar.proc.popen.send_signal(signal.SIGTERM)
        code = sidecar.proc.popen.wait(timeout=drain + 10)
        took = time.monotonic() - signalled
        results = {name: future.result(timeout=10) for name, future in streams.items()}
    assert code == 0, sidecar.proc.describe()
    return took, results, rids


def test_sigterm_drain_is_bounded_by_drain_seconds(make_sidecar, mock):
    """Streams that outlast --drain-seconds hold the exit until the deadline, not longer, and
    their clients see them cut, not finished."""
    sidecar = make_sidecar(extra=["--drain-seconds", "1"])
    took, results, _ = drain_past_the_deadline(sidecar, 1.0)
    # Not before the deadline (the streams were still running), and not much after it.
    assert 0.9 <= took < 1.0 + 3.0, took
    for name, (status, text, cut) in results.items():
        assert status == 200, name
        assert cut == "RemoteProtocolError", f"{name}: the client must see the stream cut, not ended ({cut}): {text[-300:]}"
        assert "[DONE]" not in text and "message_stop" not in text, name
    assert mock.stats()["completed_responses"] == 0


def test_streams_cut_at_the_drain_deadline_are_logged_and_counted(make_sidecar, mock):
    """The calls cut at the deadline each have their access-log line, written before the exit,
    counted as far as the provider had reported them: nothing for OpenAI (its usage comes
    last), message_start's input and 1 output token for Anthropic."""
    sidecar = make_sidecar(extra=["--drain-seconds", "1"])
    _, _, rids = drain_past_the_deadline(sidecar, 1.0)
    lines = dict(zip(rids, sidecar.logs_for(rids.values(), timeout=1.0)))
    stats = mock.stats()
    for line in lines.values():
        assert line["status"] == 200 and line["outcome"] != "completed", line
    # OpenAI: nothing reported before the cut, nothing counted.
    assert support.sent_usage(stats, UPSTREAM["gpt-e2e"]) == (0, 0, 0)
    assert support.log_usage(lines["openai"]) == (0, 0, 0) and "cost_usd" not in lines["openai"]
    # Anthropic: message_start's input and 1 output token, counted and priced.
    sent = support.sent_usage(stats, UPSTREAM["claude-e2e"])
    assert sent[0] > 0 and sent[1] == 1
    assert support.log_usage(lines["anthropic"]) == sent
    support.assert_cost(str(lines["anthropic"]["cost_usd"]), support.expected_cost("claude-e2e", *sent))


def test_sigterm_lets_an_http2_stream_finish(make_sidecar, mock):
    """Draining sends HTTP/2 clients GOAWAY; a stream already under way still runs to its end."""
    if shutil.which("nghttp") is None:
        pytest.fail("nghttp not installed (Debian package nghttp2-client)")
    sidecar = make_sidecar(extra=["--drain-seconds", "10"])
    body = sidecar.proc.stdout_path.with_suffix(".body.json")
    body.write_text(json.dumps(chat_body(stream=True)))
    client = subprocess.Popen(
        ["nghttp", "-v", "-H", "content-type: application/json", "-H", "x-mock-tps: 10", "-H", "x-mock-output-tokens: 8",
         "-H", "x-request-id: drain-h2", "-d", str(body), sidecar.openai_base + "/chat/completions"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        seen = []
        while not any(b"recv DATA frame" in line for line in seen):  # the stream is under way
            line = client.stdout.readline()
            assert line, b"".join(seen).decode(errors="replace")
            seen.append(line)
        sidecar.proc.popen.send_signal(signal.SIGTERM)
        # Read the rest through the same buffered reader: communicate(timeout=...) reads the
        # raw pipe and would drop whatever readline() had already buffered.
        client.wait(timeout=20)
        rest = client.stdout.read()
    finally:
        if client.poll() is None:
            client.kill()
    trace = (b"".join(seen) + rest).decode(errors="replace")
    assert client.returncode == 0, trace
    response = support.parse_nghttp(trace)
    # No GOAWAY or PING while the stream is in flight (Python's h2 drops its streams on
    # them); the GOAWAY follows the stream's end, when nghttp has stopped reading
    # (test_drain_h2.py checks it with a client that keeps reading).
    last = len(response.frames) - 1 - response.frames[::-1].index("HEADERS")
    assert not {"GOAWAY", "PING"} & set(response.frames[:last]), response.frames
    events = support.sse_events(response.body)
    assert events[-1]["data"] == "[DONE]"
    assert sum(1 for e in events if '"delta":{"content":"' in e["data"]) == 8
    assert "x-sluice-cost-usd" in response.trailers
    assert sidecar.proc.popen.wait(timeout=15) == 0
    line = sidecar.log_for("drain-h2")
    assert line["outcome"] == "completed" and line["transport"] == "h2"
