"""`sluice keygen --out DIR`: the key pair's files, their modes, and no silent overwrite."""

from __future__ import annotations

import base64
import stat
import subprocess

import pytest

import support
from support import REPO

SIGNING_HEADER = "# sluice ed25519 signing key"
PUBLIC_HEADER = "# sluice ed25519 public key"


def run_sluice(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([support.sluice_bin(), *args], capture_output=True, text=True, timeout=timeout, cwd=REPO, env=support.base_env())


def key_bytes(path, header: str) -> bytes:
    lines = path.read_text().splitlines()
    assert lines[0] == header, lines
    assert len(lines) == 2, lines
    raw = base64.b64decode(lines[1], validate=True)
    assert len(raw) == 32
    return raw


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_keygen_writes_both_files_with_their_modes(tmp_path):
    out = tmp_path / "new" / "keys"
    result = run_sluice("keygen", "--out", str(out))
    assert result.returncode == 0, result.stderr
    signing, public = out / "signing.key", out / "signing.pub"
    assert mode(signing) == 0o600
    assert mode(public) == 0o644
    assert str(signing) in result.stdout and str(public) in result.stdout
    assert key_bytes(signing, SIGNING_HEADER) != key_bytes(public, PUBLIC_HEADER)
    assert sorted(p.name for p in out.iterdir()) == ["signing.key", "signing.pub"]


def test_keygen_public_key_matches_the_private_key(tmp_path):
    ed25519 = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    assert run_sluice("keygen", "--out", str(tmp_path)).returncode == 0
    private = ed25519.Ed25519PrivateKey.from_private_bytes(key_bytes(tmp_path / "signing.key", SIGNING_HEADER))
    derived = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert derived == key_bytes(tmp_path / "signing.pub", PUBLIC_HEADER)


def test_keygen_refuses_to_overwrite_and_force_replaces(tmp_path):
    assert run_sluice("keygen", "--out", str(tmp_path)).returncode == 0
    signing, public = tmp_path / "signing.key", tmp_path / "signing.pub"
    before = (signing.read_bytes(), public.read_bytes())

    refused = run_sluice("keygen", "--out", str(tmp_path))
    assert refused.returncode == 1
    assert "already exists" in refused.stderr and "--force" in refused.stderr
    assert (signing.read_bytes(), public.read_bytes()) == before

    public.unlink()
    refused = run_sluice("keygen", "--out", str(tmp_path))
    assert refused.returncode == 1, "an existing signing.key alone must also be protected"
    assert signing.read_bytes() == before[0]
    assert not public.exists()

    forced = run_sluice("keygen", "--out", str(tmp_path), "--force")
    assert forced.returncode == 0, forced.stderr
    assert signing.read_bytes() != before[0]
    assert mode(signing) == 0o600 and mode(public) == 0o644
    key_bytes(signing, SIGNING_HEADER)
    key_bytes(public, PUBLIC_HEADER)


def test_keygen_replaces_a_too_open_key_with_a_0600_one(tmp_path):
    """--force never inherits the old file's mode: the new key is a new file created 0600."""
    signing = tmp_path / "signing.key"
    signing.write_text("old\n")
    signing.chmod(0o644)
    assert run_sluice("keygen", "--out", str(tmp_path), "--force").returncode == 0
    assert mode(signing) == 0o600


def test_keygen_requires_out():
    result = run_sluice("keygen")
    assert result.returncode != 0
    assert "--out" in result.stderr
