"""Parse a JSON request body that may be hostile: every failure is a 400 naming the problem.

Python's ``json.loads`` turns some inputs into errors that are not ``JSONDecodeError``: deep
nesting (100 KB of ``[``) raises ``RecursionError``, and an integer of more than 4,300 digits
raises a plain ``ValueError`` (CPython's integer-string conversion limit). Both ended as
500s with a traceback. Here nesting depth and number length are bounded *before* any
recursion or conversion happens, and ``NaN``/``Infinity`` (not JSON, RFC 8259 section 6) are
refused:

>>> parse_json_body(b'{"max_tokens": 5}')
{'max_tokens': 5}
>>> parse_json_body(b"[" * 100_000)
Traceback (most recent call last):
...
streamer.errors.BadRequest: the body nests deeper than 128 levels

The depth bound is serde_json's default recursion limit; a number may have at most
``max_number_chars`` characters (100: a 64-bit integer has 20, a double's shortest form 24).
The depth is measured on the raw bytes with C-speed operations (a regular expression that
drops strings, a translate that keeps the brackets), so a megabyte of brackets costs a few
milliseconds, not a recursion.
"""

from __future__ import annotations

import json
import re
from array import array
from itertools import accumulate
from typing import Any

from ..errors import BadRequest

MAX_DEPTH = 128
MAX_NUMBER_CHARS = 100

# A JSON string, possessive so an unterminated one cannot backtrack (Python 3.11+).
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
# Opening brackets become +1, closing ones -1 (as signed bytes); everything else is deleted.
_BRACKETS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class _NumberTooLong(Exception):
    pass


class _NotJson(Exception):
    pass


def parse_json_body(
    raw: bytes, *, max_depth: int = MAX_DEPTH, max_number_chars: int = MAX_NUMBER_CHARS
) -> Any:
    """``raw`` (UTF-8 JSON) as Python values, or :class:`BadRequest` (400, type
    ``invalid_json``) whose message says what is wrong: not UTF-8, not JSON (with the
    position), nested deeper than ``max_depth``, a number longer than ``max_number_chars``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not valid UTF-8", type="invalid_json") from None
    if _too_deep(raw, max_depth):
        raise BadRequest(f"the body nests deeper than {max_depth} levels", type="invalid_json")

    def integer(literal: str) -> int:
        if len(literal) > max_number_chars:
            raise _NumberTooLong
        return int(literal)

    def fraction(literal: str) -> float:
        if len(literal) > max_number_chars:
            raise _NumberTooLong
        return float(literal)

    def constant(name: str) -> Any:
        raise _NotJson(name)

    try:
        return json.loads(text, parse_int=integer, parse_float=fraction, parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"the body is not valid JSON: {exc.msg} at position {exc.pos}", type="invalid_json"
        ) from None
    except _NumberTooLong:
        raise BadRequest(
            f"the body has a number longer than {max_number_chars} characters", type="invalid_json"
        ) from None
    except _NotJson as exc:
        raise BadRequest(
            f"the body is not valid JSON: {exc.args[0]} is not a JSON value", type="invalid_json"
        ) from None
    except (RecursionError, ValueError):  # not expected after the bounds; never a 500
        raise BadRequest("the body is not valid JSON", type="invalid_json") from None


def _too_deep(raw: bytes, max_depth: int) -> bool:
    """Whether ``[``/``{`` nest deeper than ``max_depth`` in ``raw`` (brackets inside strings
    do not count)."""
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return False  # the common case: too few brackets to nest that deep
    structure = _STRING.sub(b"", raw).translate(_BRACKETS, _NOT_BRACKETS)
    return max(accumulate(array("b", structure)), default=0) > max_depth
