"""Fast tier of streamer.store.sentinel_url: the ``redis+sentinel://`` form."""

from __future__ import annotations

import pytest

from streamer.config import Config
from streamer.errors import ConfigError
from streamer.store.sentinel_url import SentinelURL, is_sentinel_url, parse_sentinel_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "redis+sentinel://10.0.0.1:26379/mymaster",
            SentinelURL([("10.0.0.1", 26379)], "mymaster"),
            id="one",
        ),
        pytest.param(
            "redis+sentinel://a,b:26380,c:1/streams/3",
            SentinelURL([("a", 26379), ("b", 26380), ("c", 1)], "streams", db=3),
            id="several-default-port-db",
        ),
        pytest.param(
            "rediss+sentinel://user:p%40ss@a:1/m?sentinel_password=s3",
            SentinelURL(
                [("a", 1)], "m", username="user", password="p@ss", sentinel_password="s3", ssl=True
            ),
            id="tls-auth",
        ),
        pytest.param(
            "redis+sentinel://:pw@[::1]:26379/m/",
            SentinelURL([("::1", 26379)], "m", password="pw"),
            id="password-only-trailing-slash",
        ),
    ],
)
def test_the_sentinel_url_form(url: str, expected: SentinelURL) -> None:
    assert is_sentinel_url(url)
    assert parse_sentinel_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("redis+sentinel://:hunter2@a:1", id="no-master"),
        pytest.param("redis+sentinel://:hunter2@a:1/m/x", id="db-not-a-number"),
        pytest.param("redis+sentinel://:hunter2@a:1/m/0/extra", id="too-long"),
        pytest.param("redis+sentinel://:hunter2@a:x/m", id="port"),
        pytest.param("redis+sentinel://:hunter2@a:1,/m", id="empty-host"),
        pytest.param("redis+sentinel://:hunter2@a:99999/m", id="port-range"),
        pytest.param("redis+sentinel://:hunter2@a:1/m?ssl_cert_reqs=none", id="option"),
        pytest.param("redis://:hunter2@a:1/m", id="scheme"),
    ],
)
def test_a_bad_sentinel_url_names_the_variable_and_never_its_password(url: str) -> None:
    with pytest.raises(ConfigError, match="STREAMER_REDIS_URL") as caught:
        parse_sentinel_url(url)
    assert "hunter2" not in str(caught.value)


def test_the_repr_hides_the_passwords() -> None:
    parsed = parse_sentinel_url("redis+sentinel://:hunter2@a:1/m?sentinel_password=hunter3")
    assert "hunter" not in repr(parsed)


def test_the_config_takes_the_sentinel_schemes() -> None:
    for scheme in ("redis+sentinel", "rediss+sentinel"):
        assert Config.from_env({"REDIS_URL": f"{scheme}://a:1/m"}).redis_url
    with pytest.raises(ConfigError, match="redis\\+sentinel://"):
        Config.from_env({"REDIS_URL": "sentinel://a:1/m"})


def test_the_store_refuses_a_bad_sentinel_url_when_it_is_made() -> None:
    from streamer.store import open_store

    with pytest.raises(ConfigError, match="master"):
        open_store(Config(redis_url="redis+sentinel://a:1"))
