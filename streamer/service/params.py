"""Bounded request parameters: a bad value is a 400 that names the parameter."""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..config import parse_bool
from ..errors import BadRequest
from ..quote import clip, echo


def _invalid(name: str, why: str) -> BadRequest:
    return BadRequest(f"parameter {name!r} {why}", type="invalid_parameter")


def int_param(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _invalid(name, f"must be a whole number, got {echo(raw)}") from None
    if not low <= value <= high:
        raise _invalid(name, f"must be between {low} and {high}, got {clip(value)}")
    return value


def float_param(
    args: Mapping[str, str], name: str, default: float, low: float, high: float
) -> float:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise _invalid(name, f"must be a number, got {echo(raw)}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise _invalid(name, f"must be between {low:g} and {high:g}, got {echo(raw)}")
    return value


def str_param(args: Mapping[str, str], name: str, default: str, max_len: int = 200) -> str:
    raw = args.get(name)
    if raw is None:
        return default
    if len(raw) > max_len:
        raise _invalid(name, f"must be at most {max_len} characters")
    return raw


def bool_param(args: Mapping[str, str], name: str, default: bool = False) -> bool:
    """``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off`` (any case)."""
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return parse_bool(raw)
    except ValueError:
        raise _invalid(name, f"must be true or false, got {echo(raw)}") from None
