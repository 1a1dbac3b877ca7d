"""The command line (validate, dev), request ids, trace context, admin, metrics and shutdown."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import threading
import time
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
        ports = support.wait_ports(proc, ports_file, ["egress", "admin"])
        egress, admin = ports["egress"], ports["admin"]
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
        if "mock" in ports:
            stats = httpx.get(f"http://127.0.0.1:{ports['mock']}/mock/stats", timeout=5).json()
            assert stats["requests"] == 4
            assert "anything" not in json.dumps(stats["credentials"])
        lines = [json.loads(l) for l in proc.stdout_text().split("\n") if l.startswith("{")]
        assert len([l for l in lines if l.get("status") == 200]) >= 4
    finally:
        proc.stop()


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


METRIC = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")


def scrape(sidecar) -> dict[tuple[str, frozenset], float]:
    text = httpx.get(f"http://127.0.0.1:{sidecar.admin}/metrics", timeout=5).text
    samples = {}
    for line in text.splitlines():
        match = METRIC.match(line)
        if match:
            labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
            samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def metric(samples, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(value for (n, l), value in samples.items() if n == name and wanted <= l)


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
    cost = sum(Decimal(str(l.get("cost_usd", 0))) for l in lines)
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
    assert to_file.proc.stdout_text() == "", "with a file, nothing goes to stdout"

    # make_sidecar passes --access-log stdout first; a later --access-log off wins.
    off = make_sidecar(extra=["--access-log", "off"])
    assert httpx.post(off.openai_base + "/chat/completions", json=chat_body(), timeout=20).status_code == 200
    assert httpx.get(f"http://127.0.0.1:{off.admin}/ready", timeout=5).status_code == 200
    assert off.proc.stdout_text() == ""


# ---------------------------------------------------------------------------------------
# Shutdown


def test_sigterm_drains_a_stream_in_flight_then_exits_zero(make_sidecar, mock):
    sidecar = make_sidecar(extra=["--drain-seconds", "10"])
    rid = new_request_id()
    result: dict = {}
    first_token = threading.Event()

    def stream():
        with httpx.Client(timeout=20) as client, client.stream(
            "POST", sidecar.openai_base + "/chat/completions", json=chat_body(stream=True),
            headers={"x-request-id": rid, "x-mock-tps": "10", "x-mock-output-tokens": "10"},
        ) as response:
            text = ""
            for piece in response.iter_text():
                text += piece
                if '"delta":{"content":"' in text:
                    first_token.set()
            result["status"] = response.status_code
            result["text"] = text

    worker = threading.Thread(target=stream)
    worker.start()
    assert first_token.wait(10), "the stream never started"
    sidecar.proc.popen.send_signal(signal.SIGTERM)

    def not_ready():
        try:
            return httpx.get(f"http://127.0.0.1:{sidecar.admin}/ready", timeout=1).status_code != 200
        except httpx.TransportError:
            return True

    wait_until(not_ready, 5, "/ready to fail while draining")
    worker.join(20)
    assert not worker.is_alive()
    assert result["status"] == 200
    assert support.sse_events(result["text"])[-1]["data"] == "[DONE]", "the stream in flight must be finished"
    assert sidecar.proc.popen.wait(timeout=15) == 0
    line = sidecar.log_for(rid)
    assert line["outcome"] == "completed" and line["output_tokens"] == 10


def test_sigterm_drain_is_bounded_by_drain_seconds(make_sidecar, mock):
    sidecar = make_sidecar(extra=["--drain-seconds", "1"])
    started = threading.Event()
    ended = threading.Event()

    def stream():
        try:
            with httpx.Client(timeout=20) as client, client.stream(
                "POST", sidecar.openai_base + "/chat/completions", json=chat_body(stream=True),
                headers={"x-mock-tps": "10", "x-mock-output-tokens": "45"},
            ) as response:
                for piece in response.iter_text():
                    if '"delta":{"content":"' in piece:
                        started.set()
        except httpx.HTTPError:
            pass
        finally:
            ended.set()

    worker = threading.Thread(target=stream, daemon=True)
    worker.start()
    assert started.wait(10), "the stream never started"
    signalled = time.monotonic()
    sidecar.proc.popen.send_signal(signal.SIGTERM)
    try:
        code = sidecar.proc.popen.wait(timeout=3.0)
    except subprocess.TimeoutExpired:
        code = None
    took = time.monotonic() - signalled
    ended.wait(10)
    assert code == 0, f"still running {took:.1f}s after SIGTERM with --drain-seconds 1"
    assert took < 3.0


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
    assert "GOAWAY" in response.frames, "draining must tell HTTP/2 clients with GOAWAY"
    events = support.sse_events(response.body)
    assert events[-1]["data"] == "[DONE]"
    assert sum(1 for e in events if '"delta":{"content":"' in e["data"]) == 8
    assert "x-sluice-cost-usd" in response.trailers
    assert sidecar.proc.popen.wait(timeout=15) == 0
    line = sidecar.log_for("drain-h2")
    assert line["outcome"] == "completed" and line["transport"] == "h2"
