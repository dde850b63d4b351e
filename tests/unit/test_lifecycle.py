"""streamer.lifecycle: a stream body's states and the only edges between them."""

from __future__ import annotations

import itertools

import pytest

from streamer.lifecycle import FINAL, IllegalTransition, State, advance

EDGES = {
    (State.NEW, State.OPEN), (State.NEW, State.DONE), (State.NEW, State.ABORTED),
    (State.OPEN, State.ENDING), (State.OPEN, State.DONE), (State.OPEN, State.ABORTED),
    (State.ENDING, State.DONE), (State.ENDING, State.ABORTED),
}


@pytest.mark.parametrize(("current", "to"), sorted(EDGES, key=str))
def test_the_diagram_edges_are_allowed(current: State, to: State) -> None:
    assert advance(current, to) is to


@pytest.mark.parametrize(("current", "to"), sorted(
    set(itertools.product(State, State)) - EDGES, key=str))
def test_every_other_move_is_a_bug(current: State, to: State) -> None:
    with pytest.raises(IllegalTransition, match=f"{current.name.lower()} -> {to.name.lower()}"):
        advance(current, to)


def test_done_and_aborted_are_final() -> None:
    assert {State.DONE, State.ABORTED} == FINAL
    for state in FINAL:
        assert not any(advance_ok(state, to) for to in State)


def advance_ok(current: State, to: State) -> bool:
    try:
        advance(current, to)
    except IllegalTransition:
        return False
    return True
