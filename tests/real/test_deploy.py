"""deploy/: the compose file and the nginx template are well-formed and hold no secret.
(tests/real/test_scale_out.py runs the template for real.)"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from pathlib import Path
from string import Template

import pytest
import yaml

from ..conftest import ROOT
from ..nginx_fixture import TEMPLATE, make_certificate

PLACEHOLDERS = {
    "STREAMER_UPSTREAMS",
    "NGINX_HTTPS_PORT",
    "NGINX_HTTP_PORT",
    "NGINX_SERVER_NAME",
    "NGINX_ACCESS_LOG",
    "NGINX_CERT",
    "NGINX_CERT_KEY",
}


def test_no_private_key_is_committed() -> None:
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    marker = b"PRIVATE KEY" + b"-----"  # split, so that this file does not hold it
    for name in filter(None, files):
        path = ROOT / name
        if path.is_file() and path.stat().st_size < 2_000_000:
            assert b"-----BEGIN " not in path.read_bytes() or marker not in path.read_bytes(), name


def test_compose_runs_the_projects_image_behind_nginx_on_redis() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"redis", "streamer-1", "streamer-2", "nginx", "certs"} <= set(services)
    for name in ("streamer-1", "streamer-2"):
        streamer = services[name]
        assert (ROOT / "deploy" / streamer["build"] / "Dockerfile").is_file()
        env = streamer["environment"]
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert env["STREAMER_TOKEN_SECRET"].startswith("${")  # from .env, never a value here
        assert int(streamer["stop_grace_period"].rstrip("s")) > 30  # > the graceful timeout
    nginx = services["nginx"]
    template = next(v.split(":")[0] for v in nginx["volumes"] if "template" in v)
    assert (ROOT / "deploy" / template).resolve() == TEMPLATE
    assert set(nginx["environment"]) >= PLACEHOLDERS
    # The instances trust nginx, and only nginx, to name the client (X-Forwarded-For).
    nginx_address = nginx["networks"]["default"]["ipv4_address"]
    for name in ("streamer-1", "streamer-2"):
        assert services[name]["environment"]["STREAMER_TRUSTED_PROXIES"] == nginx_address
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(nginx_address) in ipaddress.ip_network(subnet)
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in TEMPLATE.read_text()


def test_the_template_renders_to_a_config_nginx_accepts(tmp_path: Path) -> None:
    text = TEMPLATE.read_text()
    used = {
        m.group("braced")
        for m in Template.pattern.finditer(text)
        if m.group("braced") and not text[: m.start()].rsplit("\n", 1)[-1].lstrip().startswith("#")
    }
    assert used == PLACEHOLDERS
    for directive in (
        "proxy_buffering off;",
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_read_timeout 1h;",
        "ssl http2;",
        "keepalive 64;",
    ):
        assert directive in text
    # The access log must not hold query strings (a read token travels in one).
    log_format = text.split("\nlog_format", 1)[1].split(";", 1)[0]
    assert "$uri" in log_format
    assert not re.search(r"\$(request|request_uri|args|query_string|arg_\w+)\b", log_format)
    nginx = shutil.which("nginx") or shutil.which("/usr/sbin/nginx")
    if nginx is None:
        pytest.skip("nginx is not installed")
    cert, key = make_certificate(tmp_path)
    site = Template(text).safe_substitute(
        STREAMER_UPSTREAMS="server 127.0.0.1:1;",
        NGINX_HTTPS_PORT="127.0.0.1:1",
        NGINX_HTTP_PORT="127.0.0.1:2",
        NGINX_SERVER_NAME="_",
        NGINX_ACCESS_LOG=str(tmp_path / "a.log"),
        NGINX_CERT=str(cert),
        NGINX_CERT_KEY=str(key),
    )
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/e.log; events {{}}\n"
        f"http {{ include {tmp_path}/site.conf; }}\n"
    )
    checked = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
