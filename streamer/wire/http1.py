"""HTTP/1.1 framing that streamer writes itself, past gunicorn's ``Response.write``.

Stdlib only, no I/O: the chunk framing of RFC 9112 section 7.1 and the WSGI environ key by
which streamer's worker tells the response that the socket already has ``TCP_NODELAY``.

>>> http_chunk(b"hello")
b'5\\r\\nhello\\r\\n'
"""

from __future__ import annotations


def http_chunk(data: bytes) -> bytes:
    """``data`` as one HTTP/1.1 chunk (size in hex, CRLF, data, CRLF), as gunicorn frames it:
    for the writers that bypass gunicorn's ``Response.write`` (streamer.worker.fastpath, and the
    inline strategy's flush of records held while the handler is inside the producer)."""
    return b"%X\r\n%s\r\n" % (len(data), data)


#: The WSGI environ key saying the client socket already has ``TCP_NODELAY``: streamer's
#: worker (streamer.worker.fastpath) sets it for connections accepted from a listener that has the
#: option (Linux copies it to accepted sockets; gunicorn sets it on its TCP listeners), and
#: :func:`streamer.server.response.stream_response` then skips its own ``setsockopt``.
NODELAY_ENVIRON = "streamer.nodelay"
