"""Fast tier: one error tree (streamer.errors), drawn in its docstring, importable from
everywhere it was before."""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys
import textwrap

import pytest

import streamer
import streamer.errors as errors
from streamer.errors import StreamerError


def _drawn_tree() -> list[tuple[str, str | None, list[str]]]:
    """(class, drawn parent, bases named in parentheses) for each line of the drawing."""
    doc = errors.__doc__ or ""
    drawing = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    rows: list[tuple[str, str | None, list[str]]] = []
    parents: list[str] = []  # the current ancestor at each depth
    for line in drawing.splitlines():
        m = re.match(r"^ {4}([│├└─ ]*)([A-Z]\w+)(?: \*)?(?: \(([^)]*)\))?", line)
        assert m, line
        depth = len(m.group(1)) // 4
        del parents[depth:]
        rows.append(
            (
                m.group(2),
                parents[-1] if parents else None,
                [b.strip() for b in (m.group(3) or "").split(",") if b.strip()],
            )
        )
        parents.append(m.group(2))
    return rows


def test_the_docstring_draws_the_real_tree() -> None:
    rows = _drawn_tree()
    names = {name for name, _, _ in rows}
    assert {
        "StreamerError",
        "HTTPStatusError",
        "LineTooLong",
        "BodyTimeout",
        "StreamAborted",
        "InvalidParameter",
        "ConnectFailed",
    } <= names
    for name, parent, bases in rows:
        cls = getattr(errors, name)
        assert issubclass(cls, StreamerError), name
        if parent is not None:
            assert getattr(errors, parent) in cls.__mro__, (name, parent)
        for base in bases:
            builtin = getattr(__import__("builtins"), base, None)
            if builtin is not None:
                assert issubclass(cls, builtin), (name, base)


def test_every_error_class_in_streamer_is_in_the_drawing() -> None:
    drawn = {name for name, _, _ in _drawn_tree()}
    for info in pkgutil.walk_packages(streamer.__path__, "streamer."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, StreamerError):
                assert value.__name__ in drawn, (info.name, value.__name__)
                assert getattr(errors, value.__name__) is value, (info.name, value.__name__)


@pytest.mark.parametrize(
    ("module", "name"),
    [("streamer.errors", n) for n in errors.__all__ if n != "error_body"]
    + [
        ("streamer.wire.decoders", "ProtocolError"),
        ("streamer.wire.decoders", "DecodeError"),
        ("streamer.wire.decoders", "LineTooLong"),
        ("streamer.security.tokens", "InvalidToken"),
        ("streamer.client", "ClientError"),
        ("streamer.client", "HTTPStatusError"),
        ("streamer.client._errors", "IdleTimeout"),
        ("streamer", "StreamerError"),
        ("streamer", "StreamTimeout"),
        ("streamer", "UpstreamError"),
        ("streamer.errors", "BodyTimeout"),
        ("streamer.server.bodydeadline", "BodyTimeout"),
        ("streamer.errors", "MalformedBody"),
        ("streamer.server.bodydeadline", "MalformedBody"),
        ("streamer.errors", "StreamAborted"),
        ("streamer.server.response", "StreamAborted"),
        ("streamer.service.chat", "InvalidField"),
        ("streamer.service.chat_body", "InvalidField"),
        ("streamer.service.openai_api.errors", "InvalidParameter"),
    ],
)
def test_every_import_path_still_works_and_names_one_class(module: str, name: str) -> None:
    cls = getattr(__import__(module, fromlist=[name]), name)
    assert cls is getattr(errors, name)


def test_status_means_the_status_sent_and_status_code_the_status_received() -> None:
    assert errors.BadRequest("x").status == 400
    refused = errors.HTTPStatusError(429, "too_many_streams", "slow down", retry_after=1)
    assert refused.status_code == 429 and str(refused).startswith("HTTP 429 ")
    with pytest.warns(DeprecationWarning, match="status_code"):
        assert refused.status == 429


def test_subclasses_inherit_the_builtin_they_resemble() -> None:
    assert isinstance(errors.IdleTimeout(1.0), TimeoutError)
    assert isinstance(errors.IncompleteStream("cut", received=0), ConnectionError)
    assert isinstance(errors.DecodeError("bad"), UnicodeError)
    assert isinstance(errors.StoreUnavailable("down"), ConnectionError)


def test_the_error_tree_imports_without_flask_or_gevent() -> None:
    code = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("flask", "werkzeug", "gevent"):
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        import streamer.errors, streamer.client
        from streamer.errors import HTTPStatusError, ProtocolError, InvalidToken
        from streamer.client import ClientError
        assert "flask" not in sys.modules and "gevent" not in sys.modules
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr
