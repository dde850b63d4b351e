"""streamer.engine.producer: what each yielded item means, and a producer's return value."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from streamer.engine.producer import Kind, kind_of, returned
from streamer.wire.records import Data, End, Error, Event, Ping


@pytest.mark.parametrize(
    ("item", "kind"),
    [
        ("text", Kind.PAYLOAD),
        ({"a": 1}, Kind.PAYLOAD),
        (b"bytes", Kind.PAYLOAD),
        (3, Kind.PAYLOAD),
        (None, Kind.PAYLOAD),
        (Data(7, "x"), Kind.DATA),
        (Ping(), Kind.PING),
        (End(2, {"usage": 1}), Kind.END),
        (Error("boom", "it broke"), Kind.ERROR),
        (Event("<tr></tr>", "row"), Kind.EVENT),
    ],
)
def test_each_item_has_one_kind(item: Any, kind: Kind) -> None:
    assert kind_of(item) is kind


def test_a_str_subclass_is_a_payload() -> None:
    class Tagged(str):
        pass

    assert kind_of(Tagged("x")) is Kind.PAYLOAD


def finish(producer: Iterator[Any]) -> StopIteration:
    for _ in producer:
        pass
    try:
        next(producer)
    except StopIteration as stop:
        return stop
    raise AssertionError("the producer did not end")


def test_a_returned_dict_is_the_extra_end_fields() -> None:
    def gen() -> Iterator[str]:
        yield "a"
        return {"usage": {"total_tokens": 3}}  # type: ignore[misc]

    it = gen()
    assert next(it) == "a"
    with pytest.raises(StopIteration) as stop:
        next(it)
    assert returned(stop.value) == {"usage": {"total_tokens": 3}}


@pytest.mark.parametrize("value", [None, 5, "done", ["a"]])
def test_any_other_return_value_adds_nothing(value: Any) -> None:
    assert returned(StopIteration(value)) == {}


def test_a_plain_iterable_ends_with_no_extra() -> None:
    assert returned(finish(iter(["a", "b"]))) == {}


def test_plain_and_resumable_streams_read_producers_through_this_module() -> None:
    import streamer.engine.core
    import streamer.server.resumable._runner

    for module in (streamer.engine.core, streamer.server.resumable._runner):
        assert module.kind_of is kind_of and module.returned is returned
