"""The offline chat provider: a deterministic reply, token by token, with a realistic delay.

The default when no OpenAI key is configured, so a fresh machine runs the whole service. It
speaks the provider protocol (:class:`streamer.llm.ChatProvider`): a ``TextDelta`` per word,
then its ``Usage`` (words, not BPE tokens: it always knows them), then ``Finish("length")``
when ``max_tokens`` cut the reply, else ``Finish("stop")``. A ``stop`` sequence ends the reply
before it; the other sampling settings change nothing in a reply that has no randomness.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import gevent

from ..llm import ChatRequest
from ..llm.events import AnswerEvent, Finish, TextDelta, Usage

_TOKEN = re.compile(r"\s*\S+|\s+")


def echo_reply(prompt: str) -> str:
    said = " ".join(prompt.split())[:500] or "nothing"
    end = "" if said[-1] in ".!?" else "."
    return (
        f"You said: {said}{end} This is streamer's offline echo provider: each word arrives "
        "as it is produced, the way a model's tokens would."
    )


def tokens(text: str) -> list[str]:
    """Words with their leading spaces, so that the tokens join back to ``text``."""
    return _TOKEN.findall(text)


class EchoProvider:
    name = "echo"

    def __init__(self, delay_s: float = 0.03) -> None:
        self.delay_s = delay_s

    def stream(self, request: ChatRequest) -> Iterator[AnswerEvent]:
        reply = tokens(_until_stop(echo_reply(request.last_user_message), request.stop))
        cut = request.max_tokens is not None and len(reply) > request.max_tokens
        if cut:
            reply = reply[: request.max_tokens]
        for i, token in enumerate(reply):
            if i and self.delay_s:
                gevent.sleep(self.delay_s)
            yield TextDelta(token)
        yield _usage(request, len(reply))
        yield Finish("length" if cut else "stop")


def _until_stop(reply: str, stop: tuple[str, ...]) -> str:
    """The reply up to the first stop sequence, which is not sent (as OpenAI's models do)."""
    cuts = [i for i in (reply.find(s) for s in stop) if i >= 0]
    return reply[: min(cuts)] if cuts else reply


def _usage(request: ChatRequest, completion: int) -> Usage:
    return Usage(sum(len(tokens(m["content"])) for m in request.messages), completion)
