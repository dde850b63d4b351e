"""Fast tier: streamer.worker.fastpath writes what gunicorn's own Response writes, in fewer sends,
and its one-send write survives partial sends and a client that leaves mid-write."""

from __future__ import annotations

import re
import socket
from typing import Any

import gevent
import pytest
from gevent import socket as gsocket
from gunicorn.config import Config
from gunicorn.http.wsgi import Response

from streamer.wire.http1 import NODELAY_ENVIRON
from streamer.worker import fastpath
from streamer.worker.fastpath import LeanResponse, SettledConfig, send_all


class _Req:
    """What a Response asks of gunicorn's parsed request."""

    def __init__(
        self, version: tuple[int, int] = (1, 1), method: str = "GET", close: bool = False
    ) -> None:
        self.version, self.method, self._close = version, method, close

    def should_close(self) -> bool:
        return self._close


def _wire(
    cls: type[Response],
    req: _Req,
    writes: list[bytes],
    headers: list[tuple[str, str]] | None = None,
) -> tuple[bytes, int]:
    """The bytes ``cls`` puts on the wire for ``writes``, and how many sends it took."""
    pair_a, b = gsocket.socketpair()
    sends = 0

    class Counted(gsocket.socket):  # type: ignore[misc]
        def sendall(self, data: Any, flags: int = 0) -> Any:
            nonlocal sends
            sends += 1
            return super().sendall(data, flags)

    a = Counted(pair_a.family, pair_a.type, fileno=pair_a.detach())
    raw = a._sock  # the real socket: count LeanResponse's sends on it too

    class Raw:
        def send(self, data: bytes) -> int:
            nonlocal sends
            sends += 1
            return int(raw.send(data))

    resp = cls(req, a, Config())
    resp.start_response("200 OK", headers or [("Content-Type", "text/plain")])
    saved = fastpath.raw_socket, fastpath.GeventSocket
    fastpath.raw_socket, fastpath.GeventSocket = (lambda sock: Raw()), Counted
    try:
        for chunk in writes:
            resp.write(chunk)
        resp.close()
    finally:
        fastpath.raw_socket, fastpath.GeventSocket = saved
    a.close()
    data = b""
    while chunk := b.recv(65536):
        data += chunk
    b.close()
    return re.sub(rb"Date: [^\r]*", b"Date: -", data), sends


@pytest.mark.parametrize(
    ("req", "writes"),
    [
        pytest.param(_Req(), [b"one\n", b"", b"two\n"], id="chunked-keep-alive"),
        pytest.param(_Req(close=True), [b"one\n"], id="chunked-close"),
        pytest.param(_Req(), [], id="no-body"),
        pytest.param(_Req(), [b""], id="empty-first-write"),
        pytest.param(_Req(version=(1, 0)), [b"one\n", b"two\n"], id="http-1.0"),
        pytest.param(_Req(method="HEAD"), [b"dropped"], id="head"),
    ],
)
def test_same_bytes_as_gunicorn(req: _Req, writes: list[bytes]) -> None:
    theirs, their_sends = _wire(Response, req, writes)
    ours, our_sends = _wire(LeanResponse, req, writes)
    assert ours == theirs
    assert our_sends <= their_sends


def test_head_goes_out_with_the_first_chunk() -> None:
    ours, sends = _wire(LeanResponse, _Req(), [b"one\n"])
    assert sends == 2  # head + chunk, then the terminator (gunicorn: three)
    assert ours.endswith(b"\r\n\r\n4\r\none\n\r\n0\r\n\r\n")
    assert b"Connection: keep-alive\r\n" in ours


def test_content_length_is_gunicorns_path() -> None:
    headers = [("Content-Length", "3")]
    theirs, _ = _wire(Response, _Req(), [b"abcdef"], headers)
    ours, _ = _wire(LeanResponse, _Req(), [b"abcdef"], headers)
    assert ours == theirs and ours.endswith(b"\r\n\r\nabc")


def test_send_all_finishes_a_partial_send() -> None:
    a, b = gsocket.socketpair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    data = bytes(range(256)) * 8192  # 2 MiB: far more than the kernel takes at once
    got = bytearray()

    def read() -> None:
        while len(got) < len(data):
            gevent.sleep(0.001)  # a slow reader: the writer must wait, not spin or drop
            got.extend(b.recv(65536))

    reader = gevent.spawn(read)
    send_all(a, data)
    reader.join(timeout=20)
    assert bytes(got) == data
    a.close()
    b.close()


def test_send_all_raises_when_the_client_is_gone() -> None:
    a, b = gsocket.socketpair()
    b.close()
    with pytest.raises(OSError):
        for _ in range(3):  # the first send may be taken before the kernel sees the close
            send_all(a, b"x" * 65536)
    a.close()


def test_a_tls_socket_uses_its_own_sendall() -> None:
    sent: list[bytes] = []

    class Wrapped:  # not a plain gevent socket: its _sock must never be written to
        _sock = None

        def sendall(self, data: bytes) -> None:
            sent.append(bytes(data))

    send_all(Wrapped(), b"abc")
    assert sent == [b"abc"]


def test_settled_config_reads_what_gunicorns_config_reads() -> None:
    cfg = Config()
    cfg.set("keepalive", 7)
    settled = SettledConfig(cfg)
    for name in [*cfg.settings, "is_ssl", "address", "sendfile"]:
        assert getattr(settled, name) == getattr(cfg, name), name
        assert getattr(settled, name) == getattr(cfg, name), name  # the kept value, too
    with pytest.raises(AttributeError):
        _ = settled.no_such_setting


def test_accepted_sockets_inherit_the_listeners_nodelay() -> None:
    """What NODELAY relies on: Linux copies TCP_NODELAY from a listener to the sockets it
    accepts. If that stopped holding, every stream would need its own setsockopt again."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        assert fastpath.nodelay_listeners([listener]) == frozenset()
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert fastpath.nodelay_listeners([listener]) == {listener.getsockname()}
        with socket.create_connection(listener.getsockname()) as _client:
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_a_unix_listener_is_not_a_nodelay_one(tmp_path: Any) -> None:
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "s"))
        listener.listen()
        assert fastpath.nodelay_listeners([listener]) == frozenset()


@pytest.mark.parametrize("told", [False, True])
def test_stream_response_sets_nodelay_unless_told_the_socket_has_it(told: bool) -> None:
    from streamer.config import Config as StreamerConfig
    from streamer.server.response import stream_response

    calls: list[tuple[Any, ...]] = []

    class Counted(gsocket.socket):  # type: ignore[misc]
        def setsockopt(self, *args: Any) -> Any:
            calls.append(args)
            return super().setsockopt(*args)

    pair_a, b = gsocket.socketpair()
    a = Counted(pair_a.family, pair_a.type, fileno=pair_a.detach())
    environ = {"gunicorn.socket": a, **({NODELAY_ENVIRON: True} if told else {})}
    try:
        response = stream_response(
            iter(["a"]), fmt="text", config=StreamerConfig(), environ=environ
        )
        response.close()
    finally:
        a.close()
        b.close()
    assert calls == ([] if told else [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
