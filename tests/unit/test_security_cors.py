"""Fast tier of streamer.security.cors: CORS by allow-list, preflights before authentication."""

from __future__ import annotations

import pytest

from app import create_app
from streamer.errors import ConfigError

from .test_security_auth import CHAT, ORIGIN, bearer, client


def test_cors_allow_list_and_preflight() -> None:
    c = client(STREAMER_CORS_ORIGINS=f"{ORIGIN},http://localhost:3000")
    pre = c.options(
        "/chat",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert pre.status_code == 204  # no key needed for a preflight
    assert pre.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Authorization" in pre.headers["Access-Control-Allow-Headers"]
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in pre.headers
    got = c.post("/chat", json=CHAT, headers={"Origin": ORIGIN, **bearer("alpha-key-0001")})
    assert got.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "X-Stream-Id" in got.headers["Access-Control-Expose-Headers"]
    assert "Origin" in got.headers["Vary"]
    denied = c.post("/chat", json=CHAT, headers={"Origin": "https://evil.example"})
    assert denied.status_code == 401  # the error is readable only by allowed origins
    assert "Access-Control-Allow-Origin" not in denied.headers
    evil = c.options(
        "/chat", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "Access-Control-Allow-Origin" not in evil.headers
    assert "Access-Control-Allow-Origin" not in c.get("/healthz").headers  # no Origin


def test_cors_wildcard_never_with_credentials_and_bad_origins_stop_start_up() -> None:
    c = client(STREAMER_CORS_ORIGINS="*")
    got = c.get("/healthz", headers={"Origin": "https://any.example"})
    assert got.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in got.headers
    with pytest.raises(ConfigError, match="STREAMER_CORS_ORIGINS"):
        client(STREAMER_CORS_ORIGINS="app.example/path")
    assert (
        "Access-Control-Allow-Origin"
        not in client().get("/healthz", headers={"Origin": ORIGIN}).headers
    )


def test_a_browser_may_send_what_the_openai_npm_package_sends() -> None:
    client = create_app({"STREAMER_CORS_ORIGINS": "https://app.example"}).test_client()
    sent = (
        "authorization, content-type, x-stainless-lang, x-stainless-os, "
        "x-stainless-retry-count, x-stainless-timeout, x-streamer-resumable"
    )
    response = client.options(
        "/v1/chat/completions",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": sent,
        },
    )
    header = response.headers["Access-Control-Allow-Headers"]
    allowed = {h.strip().lower() for h in header.split(",")}
    assert {h.strip() for h in sent.split(",")} <= allowed
