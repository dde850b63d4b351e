"""The client address (streamer.security.clients): the TCP peer, or what a trusted proxy says."""

from __future__ import annotations

import pytest

from streamer.security.clients import LOCAL, ClientAddresses

NGINX = "10.0.0.5"


def environ(peer: str, xff: str | None = None, forwarded: str | None = None) -> dict[str, str]:
    env = {"REMOTE_ADDR": peer}
    if xff is not None:
        env["HTTP_X_FORWARDED_FOR"] = xff
    if forwarded is not None:
        env["HTTP_FORWARDED"] = forwarded
    return env


@pytest.mark.parametrize(
    ("env", "client"),
    [
        pytest.param(environ("198.51.100.7"), "198.51.100.7", id="peer"),
        pytest.param(environ("198.51.100.7", "203.0.113.1"), "198.51.100.7", id="untrusted-xff"),
        pytest.param(environ(NGINX, "203.0.113.1"), "203.0.113.1", id="nginx"),
        pytest.param(environ(NGINX, "6.6.6.6, 203.0.113.1"), "203.0.113.1", id="spoofed-left"),
        pytest.param(environ(NGINX, "203.0.113.1, 10.9.9.9"), "203.0.113.1", id="two-proxies"),
        pytest.param(environ(NGINX, "10.1.1.1, 10.2.2.2"), "10.1.1.1", id="all-proxies"),
        pytest.param(environ(NGINX), NGINX, id="proxy-itself"),
        pytest.param(environ(NGINX, "bogus"), NGINX, id="garbage-from-proxy"),
        pytest.param(environ(NGINX, "x" * 5000 + ", 203.0.113.1"), "203.0.113.1", id="long-left"),
        pytest.param(environ(NGINX, "203.0.113.1:4711"), "203.0.113.1", id="with-port"),
        pytest.param(environ(NGINX, "[2001:db8::1]:80"), "2001:db8::/64", id="v6-port"),
        pytest.param(environ("2001:db8:1:2:a:b:c:d"), "2001:db8:1:2::/64", id="v6-slash64"),
        pytest.param(environ("::ffff:198.51.100.7"), "198.51.100.7", id="v4-mapped"),
        pytest.param(environ(NGINX, forwarded="for=203.0.113.1"), NGINX, id="other-header"),
        pytest.param(environ(""), LOCAL, id="unix-socket"),
    ],
)
def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(
    env: dict[str, str], client: str
) -> None:
    assert ClientAddresses(("10.0.0.0/8",)).of(env) == client


def test_a_proxy_on_the_unix_socket_is_trusted_when_the_list_says_unix() -> None:
    unix = environ("", "6.6.6.6, 203.0.113.1")
    assert ClientAddresses(("unix",)).of(unix) == "203.0.113.1"
    assert ClientAddresses(("unix", "10.0.0.0/8")).of(environ("", "203.0.113.1, 10.0.0.9")) == (
        "203.0.113.1"
    )
    assert ClientAddresses(("unix",)).of(environ("")) == LOCAL  # it named nobody
    assert ClientAddresses(("unix",)).of(environ("", "unknown")) == LOCAL
    assert ClientAddresses(("10.0.0.0/8",)).of(unix) == LOCAL  # not trusted: one client
    # unix trusts no TCP peer.
    assert ClientAddresses(("unix",)).of(environ(NGINX, "203.0.113.1")) == NGINX


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert ClientAddresses(()).of(environ(NGINX, "203.0.113.1")) == NGINX


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        pytest.param("for=203.0.113.1", "203.0.113.1", id="one"),
        pytest.param('for="[2001:db8::17]:4711";proto=https', "2001:db8::/64", id="v6-quoted"),
        pytest.param("for=6.6.6.6, For=203.0.113.1;by=10.0.0.5", "203.0.113.1", id="spoofed"),
        pytest.param("for=unknown", NGINX, id="unknown"),
        pytest.param("proto=https", NGINX, id="no-for"),
    ],
)
def test_forwarded_when_it_is_the_configured_header(forwarded: str, client: str) -> None:
    clients = ClientAddresses(("10.0.0.0/8",), "forwarded")
    assert clients.of(environ(NGINX, "198.51.100.9", forwarded)) == client


def test_a_proxy_list_names_addresses_or_networks_only() -> None:
    with pytest.raises(ValueError):
        ClientAddresses(("nginx",))
    with pytest.raises(ValueError):
        ClientAddresses((), "x-real-ip")
