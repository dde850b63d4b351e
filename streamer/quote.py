"""Quoting a client's value back in an error message, bounded.

An error message names what was wrong and may quote the value, so a client can see its
mistake; it shows at most ``LIMIT`` characters of it (then ``…``), so a 3,000-digit ``count``
or a key pasted into the wrong parameter does not come back in full. Every message that quotes
input goes through :func:`echo` (quoted, ``repr``) or :func:`clip` (as is, for numbers).

>>> echo("abc")
"'abc'"
>>> clip("9" * 3000)[-5:]
'9999…'
"""

from __future__ import annotations

import re

LIMIT = 40


def clip(value: object, limit: int = LIMIT) -> str:
    """``value``'s text, cut to ``limit`` characters plus ``…``."""
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
    else:
        try:
            text = value if isinstance(value, str) else str(value)
        except ValueError:  # an int beyond CPython's integer-string conversion limit
            text = "(a number too long to show)"
    return text[:limit] + "…" if len(text) > limit else text


def echo(value: object, limit: int = LIMIT) -> str:
    """``repr`` of :func:`clip`: the value in quotes, with any control character escaped."""
    return repr(clip(value, limit))


_QUOTED_LAST = re.compile(r"([^'\"]*)(['\"])(.*)\2$", re.DOTALL)


def detail(text: str) -> str:
    """A server's message that quotes the client's value last, in ``%r`` quotes (gunicorn's
    ``Invalid chunk size: b'ZZ'``), with that value cut: its words to 100 characters, the
    value to ``LIMIT``. A message without a quoted tail is cut to 100 characters.

    >>> detail("Unsupported transfer coding: '" + "x" * 50 + "'")[-8:]
    "xxxxxx…'"
    """
    match = _QUOTED_LAST.match(text)
    if match is None:
        return clip(text, 100)
    return clip(match.group(1), 100) + echo(match.group(3))
