"""Fast tier of streamer.client._cli (``python -m streamer.client``): payloads to stdout as
they arrive, one summary line to stderr, and an exit status that says how the stream ended;
against hostile raw-socket servers (tests/hostile.py). tests/real/test_cli.py runs the command
against the service."""

from __future__ import annotations

import io

import pytest

from streamer.client._cli import EXIT_COMPLETE, EXIT_CONNECT, EXIT_INCOMPLETE, EXIT_USAGE, main
from streamer.wire.framing import NDJSON

from ..hostile import Conn, HostileServer, ndjson_body
from ..ports import free_port


def run(argv: list[str]) -> tuple[int, bytes, str]:
    out, err = io.BytesIO(), io.StringIO()
    code = main(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.timeout(20)
def test_a_complete_stream_prints_its_payloads_and_exits_0() -> None:
    def script(conn: Conn) -> None:
        conn.head()
        conn.chunks([*ndjson_body(2), NDJSON.end(2)])
        conn.terminate()

    with HostileServer(script) as srv:
        code, out, err = run([srv.url("/")])
    assert (code, out) == (EXIT_COMPLETE, b"item 1\nitem 2\n")
    assert err.startswith("streamer: complete: 2 record(s)")


@pytest.mark.timeout(20)
def test_a_cut_stream_exits_incomplete_after_what_arrived() -> None:
    def script(conn: Conn) -> None:
        conn.head()
        conn.chunks(ndjson_body(1))
        conn.cut_mid_chunk()  # before the end record

    with HostileServer(script) as srv:
        code, out, err = run([srv.url("/")])
    assert (code, out) == (EXIT_INCOMPLETE, b"item 1\n")
    assert err.startswith("streamer: incomplete:")


@pytest.mark.timeout(20)
def test_nobody_listening_exits_connect() -> None:
    code, out, err = run([f"http://127.0.0.1:{free_port()}/"])
    assert (code, out) == (EXIT_CONNECT, b"")
    assert "connection failed" in err


def test_a_url_without_a_scheme_is_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        run(["127.0.0.1:8000/stream"])
    assert info.value.code == EXIT_USAGE
    assert "must start with http://" in capsys.readouterr().err
