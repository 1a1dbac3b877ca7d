"""Credentials and attribution: apps never hold provider keys, and Sluice's headers stay local."""

from __future__ import annotations

import json
import os

import httpx
import pytest

import support
from support import ANTHROPIC_POLICY_KEY, APP_KEY, OPENAI_POLICY_KEY, chat_body, messages_body, new_request_id, wait_until


def test_app_credentials_never_reach_the_provider(sidecar, mock, openai_client, anthropic_client):
    openai_client.chat.completions.create(model="gpt-e2e", messages=[{"role": "user", "content": "hi"}])
    anthropic_client.messages.create(model="claude-e2e", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    with httpx.Client(base_url=sidecar.base_url, timeout=20) as client:
        # Every way an app might carry a key, on both APIs.
        leaky = {
            "authorization": f"Bearer {APP_KEY}", "x-api-key": APP_KEY, "api-key": APP_KEY,
            "proxy-authorization": f"Basic {APP_KEY}",
        }
        assert client.post("/v1/chat/completions", json=chat_body(), headers=leaky).status_code == 200
        assert client.post("/v1/embeddings", json={"model": "embed-e2e", "input": "x"}, headers=leaky).status_code == 200
        assert client.post("/v1/messages", json=messages_body(), headers={**leaky, **support.ANTHROPIC_HEADERS}).status_code == 200

    stats = mock.stats()
    assert stats["requests"] == 5
    assert stats["credentials"] == {f"Bearer {OPENAI_POLICY_KEY}": 3, ANTHROPIC_POLICY_KEY: 2}
    for name in ("api-key", "proxy-authorization"):
        assert name not in stats["headers_seen"], f"{name} was forwarded upstream"
    assert APP_KEY not in json.dumps(stats), "the app's key reached the provider"


def test_file_credential_rotation_is_picked_up(sidecar, mock, key_file):
    """A mounted Secret changing on disk is used for new calls within a few seconds."""

    def call() -> dict:
        response = httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body(model="gpt-filekey"), timeout=20)
        assert response.status_code == 200, response.text
        return mock.stats()["last_request"]["headers"]

    assert call()["authorization"] == "Bearer sk-file-key-v1"
    # Replace the file the way a Secret update does: write aside, then rename over.
    fresh = key_file.with_name("filekeyed-key.new")
    fresh.write_text("  sk-file-key-v2\n")
    os.replace(fresh, key_file)
    try:
        wait_until(lambda: call()["authorization"] == "Bearer sk-file-key-v2", 10.0, "the rotated key to be used", sidecar.proc, interval=0.2)
        assert f"Bearer {OPENAI_POLICY_KEY}" not in mock.stats()["credentials"], "the file key's provider must not use another key"
    finally:
        key_file.write_text("sk-file-key-v1\n")


def test_attribution_headers_stay_local_and_reach_the_access_log(sidecar, mock):
    rid = new_request_id()
    attribution = {
        "x-sluice-tenant": "team-e2e", "x-sluice-feature": "e2e-routed", "x-sluice-user": "user-17",
        "x-sluice-prompt-version": "v3", "x-sluice-priority": "batch",
    }
    response = httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body(), headers={"x-request-id": rid, **attribution}, timeout=20)
    assert response.status_code == 200
    assert response.headers["x-sluice-route"] == "e2e-route", "the route matching the feature must win"
    stats = mock.stats()
    leaked = [name for name in stats["headers_seen"] if name.startswith("x-sluice-")]
    assert leaked == [], f"attribution headers forwarded upstream: {leaked}"
    line = sidecar.log_for(rid)
    assert line["tenant"] == "team-e2e" and line["feature"] == "e2e-routed" and line["user"] == "user-17"
    assert line["prompt_version"] == "v3" and line["priority"] == "batch" and line["route"] == "e2e-route"


def test_default_attribution_without_headers(sidecar, mock):
    rid = new_request_id()
    assert httpx.post(sidecar.openai_base + "/chat/completions", json=chat_body(), headers={"x-request-id": rid}, timeout=20).status_code == 200
    line = sidecar.log_for(rid)
    assert line["tenant"] == "default" and line["feature"] == "default" and line["priority"] == "interactive"
    assert line["route"] == "direct"
    assert "user" not in line


@pytest.mark.parametrize(
    "header, value",
    [
        ("x-sluice-priority", "urgent"), ("x-sluice-user", 'has"quote'), ("x-sluice-tenant", "back\\slash"),
        ("x-sluice-feature", "x" * 129), ("x-sluice-prompt-version", "caf\u00e9"),
    ],
    ids=["priority", "quote", "backslash", "too-long", "not-ascii"],
)
def test_bad_attribution_header_is_refused(sidecar, mock, header, value):
    rid = new_request_id()
    response = httpx.post(
        sidecar.openai_base + "/chat/completions", json=chat_body(), headers={header: value.encode(), "x-request-id": rid}, timeout=20,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["param"] == header
    assert mock.stats()["requests"] == 0
    assert sidecar.log_for(rid)["error_code"] == "invalid_request"
