"""The Responses API routes: ``POST /v1/responses``, ``GET /v1/responses/<id>`` and ``POST
/v1/responses/<id>/cancel``, on the same providers, stream engine, keys, per-key limits,
heartbeats and metrics as ``/v1/chat/completions``.

- a provider that relays (the ``openai`` provider's ``relay_responses``): every request
  but a background one passes through to the upstream's own Responses API, the events
  relayed as it sent them (:mod:`.relay`);
- ``stream: true``: the events (:mod:`.events`) as named SSE (:mod:`.wire`); the client
  leaving closes the upstream, as for a chat stream.
- ``stream: false``: the answer collected, then the response object that
  ``response.completed`` carries.
- ``background: true``: the response runs on streamer's resumable streams, detached from the
  request (:func:`streamer.server.resumable.start_detached`): its events are appended to the
  stream store, named by the response id, so any worker or instance serves ``GET`` (the
  object, folded from the stored events, or with ``stream=true&starting_after=N`` the events
  after sequence number N, then live ones) and ``cancel`` (the store's cancel, which stops
  the producer wherever it runs, and with it the upstream request).

Only background responses are kept: streamer keeps no other state, so any other id is a 404.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from ....errors import BadRequest, NotFound
from ....llm import ChatProvider
from ....quote import clip
from ....server.response import stream_for_request
from ....server.resumable import check_owner, follow, resumable_response, start_detached
from ....server.state import current_config, current_state
from ....store import StreamStore
from ....wire.records import Data, End, Error
from ..errors import InvalidParameter
from ..handlers import collect_watched, metered_stream, openai_errors, relayed_whole
from ..usage import UsageCounters, UsageMeter
from .events import new_response_id, response_events, shell
from .fold import Fold
from .relay import (
    RelayState,
    ResponsesRelay,
    chat_usage,
    encoder_for_relay,
    parse_responses_relay,
    relayed_events,
)
from .request import parse_responses_body
from .wire import CANCELLED_MARK, encoder_for, terminal_event

bp = Blueprint("openai_responses", __name__, url_prefix="/v1")
openai_errors(bp)

#: Endpoints whose responses are streams (they take a per-key slot while open).
STREAM_ENDPOINTS = frozenset({"openai_responses.create", "openai_responses.retrieve"})
_ROUTE = "/v1/responses"
_API = "streamer.openai_responses"
_NAME = "openai-response:"  # the store's names for responses, apart from chat ids


@dataclass(frozen=True, slots=True)
class _Api:
    provider: ChatProvider
    usage: UsageCounters | None


def register(app: Flask, provider: ChatProvider, usage: UsageCounters | None) -> None:
    """Serve the Responses API on ``app``; ``usage``: the /v1 token counters."""
    app.extensions[_API] = _Api(provider, usage)
    app.register_blueprint(bp)


@bp.post("/responses")
def create() -> Response:
    raw = request.get_data(cache=False)
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if request.content_length is None and limit is not None and len(raw) >= limit:
        raise RequestEntityTooLarge()
    api: _Api = current_app.extensions[_API]
    relay = getattr(api.provider, "relay_responses", None)
    if relay is not None:
        passing = parse_responses_relay(request.content_type, raw)
        if passing is not None:
            return _relayed(relay, passing, api)
    body = parse_responses_body(request.content_type, raw)
    meter = UsageMeter(api.usage, _ROUTE, body.model, current_state().owners.owner())
    response_id = new_response_id()
    start = shell(response_id, body.echo, background=body.background)
    events = response_events(api.provider.stream(body.chat), start, meter, detached=body.background)
    if body.background:
        if body.stream:
            return resumable_response(
                events, encoder=encoder_for(), name=_NAME + response_id, cancelled=CANCELLED_MARK
            )
        started = start_detached(events, name=_NAME + response_id)
        if isinstance(started, Response):
            return started
        return jsonify(start)
    if body.stream:
        return stream_for_request(events, encoder=encoder_for())
    return _collected(events)


def _relayed(
    relay: Callable[[dict[str, Any]], Iterator[list[str]]], body: ResponsesRelay, api: _Api
) -> Response:
    """A pass-through response (:mod:`.relay`): the upstream's events or whole response as
    sent; the usage reported with the outcome, however it ends."""
    meter = UsageMeter(api.usage, _ROUTE, body.model, current_state().owners.owner())
    if not body.stream:
        return relayed_whole(relay(body.body), meter, chat_usage)
    state = RelayState()
    return metered_stream(
        relayed_events(relay(body.body), meter, state), meter, encoder_for_relay(state)
    )


def _collected(events: Iterator[dict[str, Any]]) -> Response:
    """Run a response to its end in the request (bounded by the maximum duration), then the
    object its terminal event carries (:func:`..handlers.collect_watched`: a client that
    leaves closes the upstream request at once, as for a stream)."""
    fold = Fold()

    def collect() -> None:
        for event in events:
            fold.add(event)

    collect_watched(collect, events, "response")
    return jsonify(fold.response())


@bp.get("/responses/<response_id>")
def retrieve(response_id: str) -> Response:
    """The response object, or with ``stream=true`` its events after ``starting_after``."""
    stream_id = _stream_of(response_id)
    store = current_state().store
    if request.args.get("stream", "false").lower() not in ("true", "1"):
        return jsonify(_folded(store, stream_id, response_id))
    after = _starting_after(request.args.get("starting_after"))
    fold = Fold()
    if after >= 0:
        for record in _records(store, stream_id):
            if isinstance(record, Data) and record.id <= after + 1:
                fold.add(record.data)
    # The events are records 1, 2, 3...: sequence number N is record N + 1.
    return _follow_response(stream_id, after + 1, fold)


def _follow_response(stream_id: str, after_id: int, fold: Fold) -> Response:
    reader = follow(
        current_state().store,
        stream_id,
        after_id,
        block_s=min(1.0, current_config().lease_s / 2),
        until=current_state().owners.read_until(),
        cancelled=CANCELLED_MARK,
    )
    return stream_for_request(reader, first_id=after_id + 1, encoder=encoder_for(fold))


@bp.post("/responses/<response_id>/cancel")
def cancel(response_id: str) -> Response:
    """Cancel a background response: it stops wherever it runs (the upstream request is
    closed) and ends ``cancelled``; the response object. A response that had already ended
    otherwise is a 400, as OpenAI answers."""
    stream_id = _stream_of(response_id)
    store = current_state().store
    store.cancel(stream_id)
    response = _folded(store, stream_id, response_id)
    if response["status"] != "cancelled":
        raise BadRequest(
            f"Cannot cancel a {response['status']} response.", type="response_not_cancellable"
        )
    return jsonify(response)


def _stream_of(response_id: str) -> str:
    """The stream of a background response the caller may read; else the 404 of OpenAI's."""
    missing = NotFound(f"Response with id '{clip(response_id)}' not found.")
    if not response_id.startswith("resp_") or len(response_id) > 64:
        raise missing
    stream_id = current_state().store.named(_NAME + response_id)
    if stream_id is None:
        raise missing
    try:
        return check_owner(stream_id)
    except NotFound:
        raise missing from None


def _records(store: StreamStore, stream_id: str) -> list[Data | End | Error]:
    """Every record the store holds for the stream now (no wait); the first one is waited
    for briefly (a response just started has not written it yet)."""
    records = store.read(stream_id, 0, 0)
    if not records:
        records = store.read(stream_id, 0, 1.0)
    last = records[-1] if records else None
    while isinstance(last, Data):  # a read returns what it has: read on to the end
        more = store.read(stream_id, last.id, 0)
        if not more:
            break
        records += more
        last = more[-1]
    return records


def _folded(store: StreamStore, stream_id: str, response_id: str) -> dict[str, Any]:
    fold = Fold()
    for record in _records(store, stream_id):
        if isinstance(record, Data):
            fold.add(record.data)
        elif isinstance(record, Error):
            terminal_event(fold, record.type, record.message)
    response = fold.response()
    response.setdefault("id", response_id)
    return response


def _starting_after(raw: str | None) -> int:
    if raw is None or raw == "":
        return -1
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise InvalidParameter(
            "starting_after", "'starting_after' must be a sequence number (0 or more)"
        )
    return int(raw)
