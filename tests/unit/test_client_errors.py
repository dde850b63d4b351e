"""Fast tier of streamer.client._errors: the client's branch of the error tree, as the client
package exports it."""

from __future__ import annotations

import pytest

from streamer import client
from streamer.client import _errors
from streamer.errors import ClientError, StreamerError


@pytest.mark.parametrize("name", _errors.__all__)
def test_each_client_error_is_a_streamer_error_exported_by_the_client(name: str) -> None:
    cls = getattr(_errors, name)
    assert issubclass(cls, ClientError) and issubclass(cls, StreamerError)
    assert getattr(client, name) is cls


@pytest.mark.parametrize(
    ("name", "builtin"),
    [
        ("ConnectFailed", ConnectionError),
        ("IdleTimeout", TimeoutError),
    ],
)
def test_client_errors_are_also_the_builtin_they_resemble(name: str, builtin: type) -> None:
    assert issubclass(getattr(_errors, name), builtin)
