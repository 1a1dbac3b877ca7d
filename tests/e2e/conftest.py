"""Fixtures for the end-to-end suite: real `sluice` processes on kernel-picked ports.

Session-scoped (shared, for speed): a plain-HTTP mock provider, a TLS mock provider with a
test CA, and a sidecar whose policy points at both. The mocks' counters are reset before
every test, so each test sees only its own traffic. Tests that need special flags start
their own processes through ``make_sidecar`` / ``make_mock``, which stop them at teardown.
Every process started is killed at the end, on failure too (fixture finalizers plus an
``atexit`` hook in ``support``).
"""

from __future__ import annotations

import os
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

import support
from support import Mock, Sidecar

# Session processes that exist so far, by role, for the per-test reset and liveness check.
_SESSION: dict[str, object] = {}


def pytest_configure(config):
    binary = support.sluice_bin()
    if not os.access(binary, os.X_OK):
        raise pytest.UsageError(f"sluice binary not found at {binary}: build it (swift build --product sluice) or set SLUICE_BIN")


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sluice-e2e")


# ---------------------------------------------------------------------------------------
# Test PKI


@dataclass
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    wrong_ca: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_ca(directory: Path, name: str, common_name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(cert), "-days", "3", "-subj", f"/CN={common_name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )
    return key, cert


@pytest.fixture(scope="session")
def certs(workdir) -> Certs:
    """A test CA, a server certificate for 127.0.0.1/localhost signed by it, and an unrelated CA."""
    directory = workdir / "pki"
    directory.mkdir()
    ca_key, ca = _make_ca(directory, "ca", "Sluice E2E Test CA")
    _, wrong_ca = _make_ca(directory, "wrong-ca", "Sluice E2E Unrelated CA")
    server_key, csr, server_cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(server_key), "-out", str(csr), "-subj", "/CN=127.0.0.1", cwd=directory,
    )
    extensions = directory / "server.ext"
    extensions.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
        "-out", str(server_cert), "-days", "3", "-extfile", str(extensions), cwd=directory,
    )
    return Certs(ca=ca, server_cert=server_cert, server_key=server_key, wrong_ca=wrong_ca)


# ---------------------------------------------------------------------------------------
# Session processes


@pytest.fixture(scope="session")
def mock(workdir) -> Mock:
    instance = support.start_mock(workdir, "mock")
    _SESSION["mock"] = instance
    yield instance
    _SESSION.pop("mock", None)
    instance.proc.stop()


@pytest.fixture(scope="session")
def tls_mock(workdir, certs) -> Mock:
    instance = support.start_mock(
        workdir, "tls-mock",
        ["--mock-tls-cert", str(certs.server_cert), "--mock-tls-key", str(certs.server_key)],
        verify=certs.client_context(),
    )
    _SESSION["tls_mock"] = instance
    yield instance
    _SESSION.pop("tls_mock", None)
    instance.proc.stop()


@pytest.fixture(scope="session")
def key_file(workdir) -> Path:
    """The file credential of provider ``filekeyed`` (tests may rotate it)."""
    path = workdir / "secrets" / "filekeyed-key"
    path.parent.mkdir()
    path.write_text("sk-file-key-v1\n")
    return path


@pytest.fixture(scope="session")
def scripted() -> support.ScriptedUpstream:
    """An in-process upstream for misbehaviour the mock cannot produce (see ScriptedUpstream)."""
    server = support.ScriptedUpstream()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def policy_file(workdir, mock, tls_mock, certs, key_file, scripted) -> Path:
    path = workdir / "policy.yaml"
    path.write_text(support.policy_yaml(mock.port, tls_mock.port, str(certs.ca), str(certs.wrong_ca), str(key_file), scripted.port))
    return path


@pytest.fixture(scope="session")
def sidecar(workdir, policy_file) -> Sidecar:
    instance = support.start_sidecar(workdir, policy_file, "sidecar")
    _SESSION["sidecar"] = instance
    yield instance
    _SESSION.pop("sidecar", None)
    instance.proc.stop()


# ---------------------------------------------------------------------------------------
# Per-test processes


@pytest.fixture
def make_sidecar(workdir, policy_file, request):
    """Starts a sidecar of its own (``extra`` flags, optional other policy); stopped at teardown."""
    started: list[Sidecar] = []

    def start(extra: list[str] | None = None, policy: Path | None = None, env: dict[str, str] | None = None) -> Sidecar:
        name = f"sidecar-{request.node.name}-{len(started)}".replace("/", "_").replace("[", "_").replace("]", "_")
        instance = support.start_sidecar(workdir / "per-test", policy or policy_file, name, extra, env)
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.proc.stop()


@pytest.fixture
def make_mock(workdir, request):
    started: list[Mock] = []

    def start(extra: list[str] | None = None) -> Mock:
        name = f"mock-{request.node.name}-{len(started)}".replace("/", "_").replace("[", "_").replace("]", "_")
        instance = support.start_mock(workdir / "per-test", name, extra)
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.proc.stop()


@pytest.fixture(autouse=True)
def _isolate_session_processes():
    """Zeroes the shared mocks' counters before each test; fails a test that killed a process."""
    for role in ("mock", "tls_mock"):
        instance = _SESSION.get(role)
        if instance is not None and instance.proc.alive():
            instance.reset()
    yield
    for role, instance in list(_SESSION.items()):
        if not instance.proc.alive():
            pytest.fail(f"session {role} died during this test: {instance.proc.describe()}")
    sidecar = _SESSION.get("sidecar")
    if sidecar is not None:
        broken = support.invalid_log_lines(sidecar.proc.stdout_text())
        if broken:
            pytest.fail(f"the access log has lines that are not JSON objects: {broken[:3]}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attaches the shared sidecar's recent stderr and access log to failure reports."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        instance = _SESSION.get("sidecar")
        if instance is not None:
            report.sections.append(("sidecar stderr (tail)", instance.proc.stderr_text()[-2000:]))
            report.sections.append(("sidecar access log (tail)", "\n".join(instance.proc.stdout_text().splitlines()[-8:])))


# ---------------------------------------------------------------------------------------
# SDK clients pointed at the shared sidecar


@pytest.fixture
def openai_client(sidecar):
    import openai

    with openai.OpenAI(base_url=sidecar.openai_base, api_key=support.APP_KEY, max_retries=0, timeout=20.0) as client:
        yield client


@pytest.fixture
def anthropic_client(sidecar):
    import anthropic

    with anthropic.Anthropic(base_url=sidecar.base_url, api_key=support.APP_KEY, max_retries=0, timeout=20.0) as client:
        yield client
