"""Debian's nginx for the tests, configured from deploy/nginx/streamer.conf.template.

The test renders the template with its own ports (``string.Template`` reads the same
``${NAME}`` placeholders as envsubst and leaves nginx's ``$host`` alone), makes a self-signed
certificate with ``openssl`` in its temporary folder (no private key is ever committed), and
wraps the rendered file in a small main config of its own (pid, logs and temp paths in that
folder, foreground). Fails in CI, skips elsewhere, when nginx or openssl is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from string import Template

import pytest

from .conftest import ROOT
from .ports import free_port

TEMPLATE = ROOT / "deploy" / "nginx" / "streamer.conf.template"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required in CI: run .ci/setup)", pytrace=False)
    pytest.skip(reason)


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, valid for a day."""
    openssl = shutil.which("openssl")
    if openssl is None:
        _unavailable("openssl is not installed")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            str(openssl),
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


class Nginx:
    """nginx in front of ``upstreams`` (``host:port``); ``https_url(path)`` reaches it."""

    def __init__(self, folder: Path, upstreams: list[str]) -> None:
        binary = shutil.which("nginx") or (
            "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
        )
        if binary is None:
            _unavailable("nginx is not installed (Debian: apt-get install nginx-light or nginx)")
        assert binary is not None
        self.folder = folder
        self.https_port, self.http_port = free_port(), free_port()
        self.access_log = folder / "access.log"
        self.error_log = folder / "error.log"
        cert, key = make_certificate(folder)
        site = Template(TEMPLATE.read_text()).safe_substitute(
            STREAMER_UPSTREAMS=" ".join(
                f"server {u} max_fails=1 fail_timeout=2s;" for u in upstreams
            ),
            NGINX_HTTPS_PORT=f"127.0.0.1:{self.https_port}",
            NGINX_HTTP_PORT=f"127.0.0.1:{self.http_port}",
            NGINX_SERVER_NAME="127.0.0.1",
            NGINX_ACCESS_LOG=str(self.access_log),
            NGINX_CERT=str(cert),
            NGINX_CERT_KEY=str(key),
        )
        unrendered = [
            line for line in site.split("\n") if "${" in line and not line.lstrip().startswith("#")
        ]
        assert not unrendered, unrendered
        (folder / "streamer.conf").write_text(site)
        temp = folder / "temp"
        temp.mkdir()
        user = "user root;\n" if os.geteuid() == 0 else ""  # root: workers may read the folder
        (folder / "nginx.conf").write_text(
            f"{user}worker_processes 1;\npid {folder}/nginx.pid;\n"
            f"error_log {self.error_log} warn;\nworker_rlimit_nofile 16384;\n"
            "events { worker_connections 8192; }\n"
            "http {\n"
            + "".join(
                f"  {kind}_temp_path {temp}/{kind};\n"
                for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
            )
            + f"  include {folder}/streamer.conf;\n}}\n"
        )
        self.proc = subprocess.Popen(
            [binary, "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait_listening()

    def https_url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.https_port}{path}"

    def _wait_listening(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"nginx exited with {self.proc.returncode}:\n{err}")
            try:
                socket.create_connection(("127.0.0.1", self.https_port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not listen within {timeout} s")

    def upstream_of(self) -> dict[str, str]:
        """request id (the ``X-Request-ID`` a client got) -> the instance that served it,
        from the access log (written when each request ends)."""
        found = {}
        for line in self.access_log.read_text(errors="replace").split("\n"):
            m = re.search(r" id=([0-9a-f]+) upstream=(\S+)", line)
            if m:
                # Retried requests list every instance tried: the last one answered.
                found[m.group(1)] = m.group(2).split(",")[-1].strip()
        return found

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stderr:
            self.proc.stderr.close()
