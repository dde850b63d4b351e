"""No redirect is built from the request's ``Host`` header.

Werkzeug's router answers some URLs with a redirect to their canonical form: repeated slashes
merged (``/static//x`` to ``/static/x``, ``Map.merge_slashes``) and a missing trailing slash
added (``strict_slashes``). It builds that ``Location`` as an absolute URL from the request's
``Host`` header, so ``Host: evil.example`` got ``308 Location: http://evil.example/static/x``,
and the HTML body linked there too: a cache or a proxy that keys on the path alone would hand
that redirect to other clients (Host header poisoning).

:func:`install` keeps these redirects but makes them relative to the server the client is
already talking to (RFC 9110 section 10.2.2 allows a relative ``Location``): path and query
only, always starting with exactly one ``/`` (``//host`` would be another host), and no body.
Redirects a view makes on purpose are left alone.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, request
from werkzeug.routing import RequestRedirect


def install(app: Flask) -> None:
    app.after_request(_relative_routing_redirect)


def relative_location(url: str) -> str:
    """``url``'s path and query, starting with exactly one ``/``.

    >>> relative_location("http://evil.example//x/?a=1")
    '/x/?a=1'
    """
    parts = urlsplit(url)
    location = "/" + parts.path.lstrip("/\\")
    return f"{location}?{parts.query}" if parts.query else location


def _relative_routing_redirect(response: Response) -> Response:
    # Runs after every request: the status first (the router's redirects are all 308), so
    # the request proxy is looked up only for a redirect.
    if response.status_code != RequestRedirect.code:
        return response
    redirect = request.routing_exception
    if isinstance(redirect, RequestRedirect):
        response.headers["Location"] = relative_location(redirect.new_url)
        response.set_data(b"")
        response.headers.pop("Content-Type", None)
    return response
