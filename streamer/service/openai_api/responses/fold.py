"""The response object that a sequence of Responses stream events describes, at any point:
what ``GET /v1/responses/<id>`` answers (the stored events, folded), what a whole response
is (the events of :mod:`.events`, folded: the object ``response.completed`` carries), and
what a failure reports (:mod:`.wire`: the output as far as it went).
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["Fold"]

#: The delta events, and the key of the content part each adds to.
_DELTAS = {
    "response.output_text.delta": "text",
    "response.refusal.delta": "refusal",
    "response.reasoning_text.delta": "text",
}


class Fold:
    """The response object that a sequence of stream events describes, event by event.

    >>> fold = Fold()
    >>> fold.add({"type": "response.created", "sequence_number": 0,
    ...           "response": {"id": "resp_1", "status": "in_progress", "output": []}})
    >>> fold.response()["status"], fold.last
    ('in_progress', 0)
    """

    __slots__ = ("_response", "last", "output")

    def __init__(self) -> None:
        self._response: dict[str, Any] | None = None
        self.output: list[dict[str, Any]] = []
        self.last = -1  # the last sequence number seen

    @property
    def started(self) -> bool:
        return self._response is not None

    def add(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        self.last = max(self.last, int(event.get("sequence_number", self.last + 1)))
        key = _DELTAS.get(kind) if kind is not None else None
        if key is not None:
            part = self.output[event["output_index"]]["content"][event["content_index"]]
            part[key] += event["delta"]
        elif kind == "response.function_call_arguments.delta":
            self.output[event["output_index"]]["arguments"] += event["delta"]
        elif kind == "response.output_item.added":
            self.output.append(copy.deepcopy(event["item"]))
        elif kind == "response.content_part.added":
            self.output[event["output_index"]]["content"].append(copy.deepcopy(event["part"]))
        elif kind == "response.output_item.done":
            self.output[event["output_index"]] = copy.deepcopy(event["item"])
        elif kind is not None and kind.startswith("response.") and "response" in event:
            self._response = copy.deepcopy(event["response"])
            if event["response"].get("output"):
                self.output = copy.deepcopy(event["response"]["output"])

    def response(self) -> dict[str, Any]:
        """The response so far (its output as far as it went)."""
        base = self._response or {"object": "response", "status": "queued"}
        return {**base, "output": copy.deepcopy(self.output)}

    def ended(self, status: str, code: str, message: str) -> dict[str, Any]:
        """The response ended without completing: ``failed`` (with ``error``) or
        ``cancelled``; open items are left ``incomplete``."""
        response = self.response()
        for item in response["output"]:
            if item.get("status") == "in_progress":
                item["status"] = "incomplete"
        response["status"] = status
        response["error"] = {"code": code, "message": message} if status == "failed" else None
        return response
