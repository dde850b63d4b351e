"""The :class:`Client`: a ``requests.Session`` plus streamer's conventions."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any
from urllib.parse import quote, urljoin

import requests

from ..wire.decoders import DEFAULT_MAX_LINE
from ._http import Opener, open_response
from ._stream import RecordStream, TextStream

ACCEPT = {"text": "text/plain", "ndjson": "application/x-ndjson", "sse": "text/event-stream"}


class Client:
    """Streams from a streamer service (or any server that speaks its wire contract).

    ``session``: a ``requests.Session`` to use (its adapters, proxies, certificates); the
    client closes only a session it created itself. ``token`` is sent as
    ``Authorization: Bearer <token>``. ``timeout`` is the read timeout in seconds: the longest
    silence allowed between two bytes (heartbeats count), so set it above the server's
    heartbeat interval; None waits forever. Lines longer than ``max_line`` characters are
    refused with :class:`~streamer.wire.decoders.LineTooLong`, which bounds memory.

    >>> with Client("http://127.0.0.1:8000") as client:                  # doctest: +SKIP
    ...     with client.records("/stream/data?count=3&interval=0") as stream:
    ...         for record in stream:
    ...             print(record)
    Data(id=1, data='data chunk 1\\n')
    Data(id=2, data='data chunk 2\\n')
    Data(id=3, data='data chunk 3\\n')
    End(count=3, extra={})
    """

    def __init__(
        self,
        base_url: str = "",
        *,
        session: requests.Session | None = None,
        token: str | None = None,
        timeout: float | None = 60.0,
        connect_timeout: float | None = 10.0,
        max_line: int = DEFAULT_MAX_LINE,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url
        self._own_session = session is None
        self.session = session if session is not None else requests.Session()
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_line = max_line
        self.headers = {
            # Compression would make a proxy or the server wait for a full buffer.
            "Accept-Encoding": "identity",
            "Cache-Control": "no-cache",
            **(headers or {}),
        }
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def url(self, url: str) -> str:
        """``url`` resolved against ``base_url`` (an absolute URL is kept as it is)."""
        if not self.base_url or "://" in url:
            return url
        return self.base_url.rstrip("/") + "/" + url.lstrip("/")

    def text(
        self,
        url: str,
        *,
        method: str | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> TextStream:
        """Open a stream and read its body as text (``Accept: text/plain``).

        Sends a POST with ``json`` as the body when given, else a GET. Raises
        :class:`HTTPStatusError` for a 4xx/5xx status, :class:`ConnectFailed`,
        :class:`IdleTimeout`.
        """
        response = self._open(
            method, url, params, json, {"Accept": ACCEPT["text"], **(headers or {})}
        )
        return TextStream(response, self.timeout)

    def records(
        self,
        url: str,
        *,
        format: str = "ndjson",
        method: str | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        resume: bool = False,
        resume_url: str | None = None,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
    ) -> RecordStream:
        """Open a stream of records in ``format`` (``ndjson`` or ``sse``, asked for with
        ``Accept``; the response's ``Content-Type`` decides how it is parsed).

        ``resume=True`` reconnects after a dropped connection with ``Last-Event-ID``: to
        ``resume_url`` if given, else to ``/streams/<X-Stream-Id>`` when the server named the
        stream, else by repeating the request if it is a GET (a POST is not repeated: it
        would start a second stream). See :class:`RecordStream` for the retry policy.
        """
        if format not in ("ndjson", "sse"):
            raise ValueError(f"format must be ndjson or sse, got {format!r}")
        headers = {"Accept": ACCEPT[format], **(headers or {})}
        method = method or ("POST" if json is not None else "GET")
        response = self._open(method, url, params, json, headers)
        reopen = (
            self._reopener(response, method, url, params, headers, resume_url) if resume else None
        )
        try:
            return RecordStream(
                response,
                self.timeout,
                format=format,
                max_line=self.max_line,
                reopen=reopen,
                max_retries=max_retries,
                backoff=backoff,
                max_backoff=max_backoff,
            )
        except BaseException:
            response.close()
            raise

    def _reopener(
        self,
        response: requests.Response,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str],
        resume_url: str | None,
    ) -> Opener | None:
        """How to reopen this stream after ``Last-Event-ID``; None if it cannot be."""
        if resume_url is not None:
            target, target_params = resume_url, None
        elif stream_id := response.headers.get("X-Stream-Id"):
            target = urljoin(response.url, "/streams/" + quote(stream_id, safe=""))
            target_params = None
        elif method.upper() == "GET":
            target, target_params = url, params
        else:
            return None

        def reopen(extra: Mapping[str, str]) -> requests.Response:
            return self._open("GET", target, target_params, None, {**headers, **extra})

        return reopen

    def _open(
        self,
        method: str | None,
        url: str,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str],
    ) -> requests.Response:
        return open_response(
            self.session,
            method or ("POST" if json is not None else "GET"),
            self.url(url),
            params=params,
            json_body=json,
            headers={**self.headers, **headers},
            timeout=(self.connect_timeout, self.timeout),
        )

    def close(self) -> None:
        """Close the session if this client created it."""
        if self._own_session:
            self.session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
