"""Live policy reload without a control plane: the sidecar watches its `--policy` file
(plain edits, write-and-rename, a ConfigMap's `..data` swap) and SIGHUP forces a check;
a valid edit is served within moments, a bad one is logged and ignored."""

from __future__ import annotations

import os
import re
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

import support
from support import OPENAI_KEY_ENV, UPSTREAM, chat_body, new_request_id, wait_until

RELOAD_SECONDS = 2.0


def policy_text(mock_port: int, alias: str | None = None, extra_provider: str = "", extra_model: str = "", price: float = 1.5) -> str:
    aliases = f"    aliases: [{alias}]\n" if alias else ""
    return f"""\
# tests/e2e/test_policy_reload.py
providers:
  mockai:
    kind: openai
    base_url: http://127.0.0.1:{mock_port}
    credential: {{ env: {OPENAI_KEY_ENV} }}
{extra_provider}models:
  gpt-e2e:
    provider: mockai
    upstream_model: {UPSTREAM["gpt-e2e"]}
    prices: {{ input: {price}, output: 6, cached_input: 0.75 }}
{aliases}{extra_model}"""


def new_policy(tmp_path: Path, text: str) -> Path:
    directory = tmp_path / "policy"
    directory.mkdir()
    path = directory / "policy.yaml"
    path.write_text(text)
    return path


def replace_file(path: Path, text: str) -> None:
    """Writes aside, then renames over (how most tools save)."""
    aside = path.with_name(path.name + ".tmp")
    aside.write_text(text)
    os.replace(aside, path)


def model_ids(sidecar) -> set[str]:
    response = httpx.get(sidecar.openai_base + "/models", timeout=5)
    assert response.status_code == 200, response.text
    return {entry["id"] for entry in response.json()["data"]}


def chat_status(sidecar, model: str) -> int:
    return httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body(model=model), timeout=20).status_code


def metrics_text(sidecar) -> str:
    return httpx.get(f"http://127.0.0.1:{sidecar.admin}/metrics", timeout=5).text


def metric_value(sidecar, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", metrics_text(sidecar), re.MULTILINE)
    assert match, f"{name} is not exported"
    return float(match.group(1))


def policy_version(sidecar) -> str:
    versions = re.findall(r'^sluice_policy_info\{version="([0-9a-f]+)"\} 1', metrics_text(sidecar), re.MULTILINE)
    assert len(versions) == 1, versions
    return versions[0]


def test_an_edit_adding_an_alias_is_listed_and_routable_within_two_seconds(make_sidecar, mock, tmp_path):
    path = new_policy(tmp_path, policy_text(mock.port))
    sidecar = make_sidecar(policy=path)
    before = policy_version(sidecar)
    assert "reload-alias" not in model_ids(sidecar)
    assert chat_status(sidecar, "reload-alias") != 200

    path.write_text(policy_text(mock.port, alias="reload-alias"))
    wait_until(lambda: "reload-alias" in model_ids(sidecar), RELOAD_SECONDS, "the new alias in GET /v1/models", sidecar.proc, interval=0.05)
    assert chat_status(sidecar, "reload-alias") == 200
    after = policy_version(sidecar)
    assert after != before
    reloaded = [line for line in sidecar.proc.stderr_text().splitlines() if "policy reloaded" in line]
    assert len(reloaded) == 1, reloaded
    assert f"from={before}" in reloaded[0] and f"to={after}" in reloaded[0], reloaded[0]
    assert metric_value(sidecar, "sluice_policy_reload_errors_total") == 0
    assert sidecar.is_ready()


def test_a_new_provider_gets_its_file_credential_on_reload(make_sidecar, mock, tmp_path):
    path = new_policy(tmp_path, policy_text(mock.port))
    key = tmp_path / "reload-key"
    key.write_text("sk-reload-key\n")
    sidecar = make_sidecar(policy=path)
    provider = f"""\
  reloadkeyed:
    kind: openai
    base_url: http://127.0.0.1:{mock.port}
    credential: {{ file: {key} }}
"""
    model = """\
  gpt-reloaded:
    provider: reloadkeyed
    prices: { input: 1, output: 2 }
"""
    replace_file(path, policy_text(mock.port, extra_provider=provider, extra_model=model))
    wait_until(lambda: "gpt-reloaded" in model_ids(sidecar), RELOAD_SECONDS, "the new model listed", sidecar.proc, interval=0.05)
    assert chat_status(sidecar, "gpt-reloaded") == 200
    assert mock.stats()["last_request"]["headers"]["authorization"] == "Bearer sk-reload-key"

    # The new provider's key file is watched from then on: a rotation is used within
    # moments (the safety poll alone would take a minute).
    replace_file(key, "sk-reload-key-v2\n")

    def rotated() -> bool:
        assert chat_status(sidecar, "gpt-reloaded") == 200
        return mock.stats()["last_request"]["headers"]["authorization"] == "Bearer sk-reload-key-v2"

    wait_until(rotated, 5.0, "the rotated key of the reloaded provider", sidecar.proc, interval=0.1)


def test_a_bad_edit_is_logged_counted_and_ignored(make_sidecar, mock, tmp_path):
    path = new_policy(tmp_path, policy_text(mock.port, alias="old-alias"))
    sidecar = make_sidecar(policy=path)
    before = policy_version(sidecar)
    bad = policy_text(mock.port, alias="old-alias").replace("provider: mockai", "provider: nosuchai")
    path.write_text(bad)
    wait_until(lambda: metric_value(sidecar, "sluice_policy_reload_errors_total") == 1, RELOAD_SECONDS, "the rejected edit counted", sidecar.proc, interval=0.05)
    stderr = sidecar.proc.stderr_text()
    line = bad.splitlines().index("    provider: nosuchai") + 1
    assert re.search(rf"{re.escape(str(path))}:{line}:\d+: models\.gpt-e2e\.provider: ", stderr), stderr[-2000:]
    assert policy_version(sidecar) == before
    assert sidecar.is_ready()
    assert "old-alias" in model_ids(sidecar)
    assert chat_status(sidecar, "old-alias") == 200

    # Fixing the file brings the new text in; the count of rejections stays.
    replace_file(path, policy_text(mock.port, alias="fixed-alias"))
    wait_until(lambda: "fixed-alias" in model_ids(sidecar), RELOAD_SECONDS, "the fixed policy served", sidecar.proc, interval=0.05)
    assert metric_value(sidecar, "sluice_policy_reload_errors_total") == 1


def test_a_configmap_data_swap_is_picked_up(make_sidecar, mock, tmp_path):
    """The layout kubelet gives a mounted ConfigMap: `policy.yaml -> ..data/policy.yaml`,
    `..data -> ..<timestamp>`, and an update re-points `..data` atomically."""
    directory = tmp_path / "configmap"
    first = directory / "..2026_12_01_00_00_00.000000001"
    first.mkdir(parents=True)
    (first / "policy.yaml").write_text(policy_text(mock.port))
    (directory / "..data").symlink_to(first.name)
    (directory / "policy.yaml").symlink_to("..data/policy.yaml")
    sidecar = make_sidecar(policy=directory / "policy.yaml")
    assert "cm-alias" not in model_ids(sidecar)

    second = directory / "..2026_12_01_00_01_00.000000002"
    second.mkdir()
    (second / "policy.yaml").write_text(policy_text(mock.port, alias="cm-alias"))
    (directory / "..data_tmp").symlink_to(second.name)
    os.replace(directory / "..data_tmp", directory / "..data")
    (first / "policy.yaml").unlink()
    first.rmdir()
    wait_until(lambda: "cm-alias" in model_ids(sidecar), RELOAD_SECONDS, "the swapped ConfigMap served", sidecar.proc, interval=0.05)
    assert chat_status(sidecar, "cm-alias") == 200


def test_sighup_checks_the_file_again(make_sidecar, mock, tmp_path):
    path = new_policy(tmp_path, policy_text(mock.port))
    sidecar = make_sidecar(policy=path)
    # An unchanged file: SIGHUP is a no-op, not the default exit.
    sidecar.proc.popen.send_signal(signal.SIGHUP)
    wait_until(lambda: "policy unchanged" in sidecar.proc.stderr_text(), RELOAD_SECONDS, "SIGHUP to be handled", sidecar.proc, interval=0.05)
    assert sidecar.proc.alive()
    assert sidecar.is_ready()

    # A rejected text is not re-reported by the watch, but SIGHUP reports it again.
    path.write_text("providers: [\n")
    wait_until(lambda: metric_value(sidecar, "sluice_policy_reload_errors_total") == 1, RELOAD_SECONDS, "the rejected edit counted", sidecar.proc, interval=0.05)
    sidecar.proc.popen.send_signal(signal.SIGHUP)
    wait_until(lambda: metric_value(sidecar, "sluice_policy_reload_errors_total") == 2, RELOAD_SECONDS, "SIGHUP to re-check the rejected text", sidecar.proc, interval=0.05)
    assert len(re.findall(rf"{re.escape(str(path))}:\d+:\d+: ", sidecar.proc.stderr_text())) >= 2

    # An edit followed by SIGHUP is served.
    path.write_text(policy_text(mock.port, alias="hup-alias"))
    sidecar.proc.popen.send_signal(signal.SIGHUP)
    wait_until(lambda: "hup-alias" in model_ids(sidecar), RELOAD_SECONDS, "the edit served after SIGHUP", sidecar.proc, interval=0.05)
    assert chat_status(sidecar, "hup-alias") == 200
    assert sidecar.proc.alive()


def read_stream(url: str, body: dict, headers: dict[str, str], started: threading.Event) -> tuple[int, str]:
    text = ""
    with httpx.Client(timeout=30) as client, client.stream("POST", url, json=body, headers=headers) as response:
        for piece in response.iter_text():
            text += piece
            if '"delta":{"content":"' in text:
                started.set()
        return response.status_code, text


def test_a_stream_started_before_a_swap_finishes_normally(make_sidecar, mock, tmp_path):
    path = new_policy(tmp_path, policy_text(mock.port, price=1.5))
    sidecar = make_sidecar(policy=path)
    rid = new_request_id("reload-stream")
    started = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        stream = pool.submit(
            read_stream, sidecar.openai_base + "/chat/completions", chat_body(stream=True, stream_options={"include_usage": True}),
            {"x-request-id": rid, "x-mock-tps": "10", "x-mock-output-tokens": "30"}, started,
        )
        assert started.wait(10), "the stream never started"
        before = policy_version(sidecar)
        replace_file(path, policy_text(mock.port, alias="mid-stream-alias", price=99))
        wait_until(lambda: policy_version(sidecar) != before, RELOAD_SECONDS, "the swap", sidecar.proc, interval=0.05)
        assert not stream.done(), "the stream should still be running at the swap"
        status, text = stream.result(timeout=30)
    assert status == 200
    assert support.sse_events(text)[-1]["data"] == "[DONE]"
    line = sidecar.log_for(rid)
    assert line["outcome"] == "completed"
    # Priced by the policy it started under (the new one charges 99 per 1M input tokens).
    usage = support.log_usage(line)
    assert usage[1] == 30
    support.assert_cost(str(line["cost_usd"]), support.expected_cost("gpt-e2e", *usage))
    assert chat_status(sidecar, "mid-stream-alias") == 200
