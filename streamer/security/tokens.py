"""Short-lived, stream-scoped read tokens: how a browser's ``EventSource`` authenticates.

``EventSource`` cannot send ``Authorization``. So with client keys configured, a resumable
stream's response carries ``X-Stream-Token``: a token that ``GET /streams/<id>?token=...``
accepts *for that stream only*, until it expires (``STREAMER_TOKEN_TTL_S``). The stream's
Durable Streams URL accepts it too, for reads (``<prefix>/resumable/<id>``; a Durable
Stream's own token, minted by its create, ``HEAD`` and reads with the key, names its path:
:mod:`streamer.server.durable.readers`). No other route, no write and no other stream
accepts it, and it is never a key: a token that leaks (a URL in a history, a proxy log)
reads one stream for a few minutes, nothing more.

Shape: ``<payload>.<signature>``, both base64url without padding. The payload is compact
JSON ``{"v": 1, "s": <stream id or path>, "k": <key id or "">, "e": <expiry, unix
seconds>}``; ``k`` is the id (``key<N>``) of the key that started the stream, so a reader on a
token acts for that key in ownership checks; it counts against the stream's reader budget,
not the key's stream limit, and is cut (an in-band ``error``, ``token_expired``) when the
token expires (:mod:`streamer.security.auth`). The signature is HMAC-SHA256 over the payload
with ``STREAMER_TOKEN_SECRET``, compared in constant time. Every instance behind one
balancer needs the same secret; unset, each process signs with a random one of its own
(``gunicorn.conf.py`` makes one per instance, shared by its workers) and a warning says so.

The token is a query parameter, so it must stay out of logs: streamer's access log logs
routes, not URLs, and ``deploy/nginx.conf`` logs ``$uri`` without the query string.

>>> signer = TokenSigner(b"s" * 32, ttl_s=300)
>>> token = signer.issue("3q2-7wVx0123456789abc", "key1")
>>> signer.verify(token, "3q2-7wVx0123456789abc")
'key1'
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import secrets
import time

from ..config import Config
from ..errors import InvalidToken

__all__ = ["TOKEN_HEADER", "InvalidToken", "TokenSigner", "signer_for"]

TOKEN_HEADER = "X-Stream-Token"
_VERSION = 1
_MAX_TOKEN_CHARS = 1024  # a token this service makes is ~150 characters

# Unset STREAMER_TOKEN_SECRET: one random secret for this process's life.
_PROCESS_SECRET = secrets.token_bytes(32)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and checks read tokens with one secret and one lifetime."""

    def __init__(self, secret: bytes, ttl_s: float) -> None:
        self._secret = secret
        self.ttl_s = ttl_s

    def _sign(self, payload: str) -> str:
        mac = hmac.new(
            self._secret, b"streamer-read-token." + payload.encode("ascii"), hashlib.sha256
        )
        return _b64(mac.digest())

    def issue(self, stream_id: str, key_id: str | None, now: float | None = None) -> str:
        # Whole seconds, rounded up: accepted for at least ttl_s (and less than ttl_s + 1 s).
        # Truncating made a 1 s token expire anywhere from 0 to 1 s after it was issued.
        expires = math.ceil((time.time() if now is None else now) + self.ttl_s)
        body = {"v": _VERSION, "s": stream_id, "k": key_id or "", "e": expires}
        payload = _b64(json.dumps(body, separators=(",", ":")).encode("utf-8"))
        return f"{payload}.{self._sign(payload)}"

    def verify(self, token: str, stream_id: str, now: float | None = None) -> str | None:
        """The key id the token acts for (None: the stream was started without a key).

        Raises :class:`InvalidToken` for anything but a valid, unexpired token of
        ``stream_id``. Messages never quote the token."""
        return self.claims(token, stream_id, now)[0]

    def claims(
        self, token: str, stream_id: str, now: float | None = None
    ) -> tuple[str | None, int]:
        """:meth:`verify`'s key id and the token's expiry (unix seconds): a reader on the
        token is cut then."""
        payload, dot, signature = token.partition(".")
        if not dot or len(token) > _MAX_TOKEN_CHARS or not payload.isascii():
            raise InvalidToken("the stream token is malformed")
        if not hmac.compare_digest(
            self._sign(payload).encode(), signature.encode("utf-8", "replace")
        ):
            raise InvalidToken("the stream token is not valid")
        try:
            body = json.loads(_unb64(payload))
        except (binascii.Error, ValueError) as exc:
            raise InvalidToken("the stream token is malformed") from exc
        if not isinstance(body, dict) or body.get("v") != _VERSION:
            raise InvalidToken("the stream token is malformed")
        if body.get("s") != stream_id:
            raise InvalidToken("the stream token is for another stream")
        expires = body.get("e")
        if not isinstance(expires, int) or expires <= (time.time() if now is None else now):
            raise InvalidToken("the stream token has expired")
        key = body.get("k")
        return (key if isinstance(key, str) and key else None), expires


def signer_for(config: Config) -> TokenSigner:
    """The signer for ``config``: its ``token_secret``, else this process's random one."""
    secret = config.token_secret.encode("utf-8") if config.token_secret else _PROCESS_SECRET
    return TokenSigner(secret, config.token_ttl_s)
