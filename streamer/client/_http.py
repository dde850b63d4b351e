"""The client's HTTP edge: open a response, turn statuses and low-level failures into
streamer's errors, and read a body as the chunks arrive.

requests reports a broken body in several shapes depending on where it broke (urllib3's
``ProtocolError`` wrapped into ``ChunkedEncodingError``, a read timeout wrapped into
``ConnectionError``, raw urllib3 errors from ``read1``); :class:`Body` folds them into one
private :class:`Dropped` that says whether it was silence or a cut.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests
import urllib3.exceptions

from ._errors import ConnectFailed, HTTPStatusError, IdleTimeout

MAX_ERROR_BODY = 64 * 1024  # bytes of an error body read for its message
READ1_SIZE = 64 * 1024  # most bytes per read on a body that is not chunked

Opener = Callable[[Mapping[str, str]], requests.Response]


class Dropped(Exception):
    """The body stopped early; ``timeout`` tells silence from a cut (internal)."""

    def __init__(self, timeout: bool) -> None:
        super().__init__("read timeout" if timeout else "body cut")
        self.timeout = timeout


def open_response(
    session: requests.Session,
    method: str,
    url: str,
    *,
    params: Mapping[str, Any] | None,
    json_body: Any,
    headers: Mapping[str, str],
    timeout: tuple[float | None, float | None],
) -> requests.Response:
    """Send the request and return the streaming response, or raise for a 4xx/5xx status."""
    try:
        response = session.request(
            method,
            url,
            params=params,
            json=json_body,
            headers=dict(headers),
            stream=True,
            timeout=timeout,
        )
    except requests.ReadTimeout as exc:  # waiting for the status line
        raise IdleTimeout(timeout[1] or 0.0) from exc
    except requests.ConnectionError as exc:  # ConnectTimeout included
        raise ConnectFailed(f"could not connect to {url}: {_reason(exc)}") from exc
    if response.status_code >= 400:
        try:
            raise status_error(response)
        finally:
            response.close()
    return response


def status_error(response: requests.Response) -> HTTPStatusError:
    """The server's JSON error (``{"error": {"type", "message"}}``) as an exception. Any
    content type is tried: proxies and frameworks mislabel JSON. A body that is not the
    contract's shape falls back to its first line of text, then to the reason phrase."""
    body = _read_bounded(response, MAX_ERROR_BODY)
    type_, message = _error_fields(body)
    reason = response.reason or "error"
    if type_ is None:
        type_ = reason.lower().replace(" ", "_")
    if message is None:
        first = body.decode("utf-8", "replace").strip().partition("\n")[0][:200]
        message = first or reason
    return HTTPStatusError(
        response.status_code,
        type_,
        message,
        retry_after=retry_after(response.headers.get("Retry-After")),
        url=response.url,
    )


def _read_bounded(response: requests.Response, limit: int) -> bytes:
    body = b""
    try:
        for chunk in response.iter_content(chunk_size=8192):
            body += chunk
            if len(body) >= limit:
                break
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
        pass  # a broken error body still has a status
    return body[:limit]


def _error_fields(body: bytes) -> tuple[str | None, str | None]:
    try:
        obj = json.loads(body)
    except ValueError:
        return None, None
    error = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(error, dict):
        type_, message = error.get("type"), error.get("message")
        return (
            str(type_) if type_ is not None else None,
            str(message) if message is not None else None,
        )
    if isinstance(error, str):  # {"error": "..."}, a common shape elsewhere
        return None, error
    return None, None


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds: delay-seconds or an HTTP date (RFC 9110 10.2.3).

    >>> retry_after("7"), retry_after(None), retry_after("soon")
    (7.0, None, None)
    """
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Body:
    """A response body as byte chunks, as they arrive; ``bytes`` counts them.

    Chunked bodies go through ``iter_content(chunk_size=None)`` (one item per chunk received).
    Other bodies use ``read1``: ``iter_content(None)`` would wait for the whole of a
    close-delimited body, which is the opposite of streaming.
    """

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self.bytes = 0

    def __iter__(self) -> Iterator[bytes]:
        raw = self.response.raw
        try:
            if raw.chunked:
                for chunk in self.response.iter_content(chunk_size=None):
                    self.bytes += len(chunk)
                    yield chunk
            else:
                while chunk := raw.read1(READ1_SIZE):
                    self.bytes += len(chunk)
                    yield chunk
        except (requests.ConnectionError, urllib3.exceptions.ReadTimeoutError) as exc:
            # requests turns a read timeout while streaming into ConnectionError(ReadTimeout).
            cause = exc.args[0] if exc.args and isinstance(exc, requests.ConnectionError) else exc
            raise Dropped(isinstance(cause, urllib3.exceptions.ReadTimeoutError)) from exc
        except (
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
            urllib3.exceptions.HTTPError,
            OSError,
        ) as exc:
            raise Dropped(False) from exc


def _reason(exc: BaseException) -> str:
    """The innermost message of a requests/urllib3 error chain, without the noise."""
    while exc.args and isinstance(exc.args[0], BaseException):
        exc = exc.args[0]
    reason = getattr(exc, "reason", None)
    return str(reason if reason is not None else exc)
