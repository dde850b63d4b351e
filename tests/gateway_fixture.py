"""The service as a gateway over the fake upstream (tests/fake_openai.py): the openai
provider pointed at it, no retries. Shared by the /v1 test modules' fixtures::

    @pytest.fixture(scope="module")
    def gateway(upstream, tmp_path_factory):
        with gateway_over(upstream, tmp_path_factory, KEY, STREAMER_HEARTBEAT_S="0.3") as srv:
            yield srv
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from .conftest import Server
from .fake_openai import FakeOpenAI


@contextmanager
def gateway_over(
    upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory, key: str, **env: str
) -> Iterator[Server]:
    """A gunicorn service relaying ``upstream`` with the service key ``key``; on the way out,
    the key must not be in its log."""
    srv = Server(
        {
            "OPENAI_API_KEY": key,
            "OPENAI_BASE_URL": upstream.base_url,
            "STREAMER_UPSTREAM_RETRIES": "0",
            **env,
        },
        tmp_path_factory.mktemp("gateway") / "gunicorn.log",
    )
    try:
        yield srv
    finally:
        srv.stop()
    assert key not in srv.log(), "the upstream key reached a log line"
