"""The ``/v1`` blueprint: ``POST /v1/chat/completions``, ``GET /v1/models``,
``GET /v1/models/<id>`` and ``GET /v1/streams/<id>`` (a resumable answer, continued).

Same providers, stream engine, keys, per-key limits, heartbeats, metrics and shutdown as
``POST /chat``; only the wire format (:mod:`.chunks`) and the error shape (:mod:`.errors`)
are OpenAI's. See docs/openai.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from ...llm import ChatProvider
from ...llm.events import AnswerEvent
from ...quote import clip
from ...server.durable.routes import BLUEPRINT as DURABLE_BLUEPRINT
from ...server.resumable import check_owner, follow_response, resumable_response
from ...server.resumable.routes import last_event_id
from ...server.state import current_state, state_of
from ...store import valid_stream_id
from ..echo_provider import EchoProvider
from .chunks import Answer, ChunkSSE, ResumableChunkSSE, chunks, collected
from .echo_relay import EchoRelay
from .errors import error_object
from .handlers import (
    collect_watched,
    error_response,
    metered_stream,
    openai_errors,
    relayed_whole,
)
from .relay import RelayRequest, answer_usage, parse_relay_body, relayed
from .request import parse_completion_body
from .responses import STREAM_ENDPOINTS as RESPONSES_STREAM_ENDPOINTS
from .responses import register as register_responses
from .usage import UsageCounters, UsageMeter

bp = Blueprint("openai", __name__, url_prefix="/v1")
openai_errors(bp)
_T = TypeVar("_T")

#: Endpoints whose responses are streams (they take a per-key slot while open).
STREAM_ENDPOINTS = frozenset(
    {"openai.chat_completions", "openai.follow_stream", *RESPONSES_STREAM_ENDPOINTS}
)
_ROUTE = "/v1/chat/completions"
_API = "streamer.openai_api"  # app.extensions: this module's own, set by register()


@dataclass(frozen=True, slots=True)
class _Api:
    provider: ChatProvider
    model: str  # the one model /v1/models lists
    usage: UsageCounters | None
    #: The provider's pass-through (:mod:`.relay`): an upstream's own ``relay``, the echo's
    #: :class:`.echo_relay.EchoRelay`; None: answers are built from the provider's events.
    relay: Callable[[dict[str, Any]], Iterator[list[str]]] | None = None


def register(app: Flask, provider: ChatProvider, *, model: str) -> None:
    """Serve the OpenAI-compatible API on ``app`` (after ``Streamer(app)``): answers come from
    ``provider``; ``model`` is the model ``/v1/models`` lists."""
    metrics = state_of(app).metrics
    relay = getattr(provider, "relay", None)
    if relay is None and isinstance(provider, EchoProvider):
        relay = EchoRelay(provider)
    app.extensions[_API] = _Api(
        provider, model, UsageCounters(metrics.registry) if metrics is not None else None, relay
    )
    app.register_blueprint(bp)
    register_responses(app, provider, app.extensions[_API].usage)  # /v1/responses
    app.after_request(_openai_error_shape)


def _api() -> _Api:
    api: _Api = current_app.extensions[_API]
    return api


# -- routes -----------------------------------------------------------------------------------


@bp.post("/chat/completions")
def chat_completions() -> Response:
    raw = request.get_data(cache=False)
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if request.content_length is None and limit is not None and len(raw) >= limit:
        # A chunked body is cut at the limit by Werkzeug: refuse it rather than parse it.
        raise RequestEntityTooLarge()
    resumable_header = request.headers.get("X-Streamer-Resumable", "").strip() == "1"
    api = _api()
    relay = api.relay
    if relay is not None:
        return _relayed(
            relay, parse_relay_body(request.content_type, raw, resumable_header=resumable_header)
        )
    body = parse_completion_body(request.content_type, raw, resumable_header=resumable_header)
    provider = api.provider
    meter = UsageMeter(api.usage, _ROUTE, body.model, current_state().owners.owner())
    answer = Answer(body.model, include_usage=body.include_usage)
    if not body.stream:
        return _whole_answer(provider.stream(body.chat), answer, meter)
    if body.resumable:
        # Runs to its end detached from this request; X-Stream-Id names it for resumes.
        return resumable_response(
            chunks(provider.stream(body.chat), answer, meter, detached=True),
            encoder=ResumableChunkSSE,
        )
    return metered_stream(chunks(provider.stream(body.chat), answer, meter), meter, ChunkSSE)


def _relayed(
    relay: Callable[[dict[str, Any]], Iterator[list[str]]], body: RelayRequest
) -> Response:
    """A pass-through answer (:mod:`.relay`): the upstream's chunks or whole answer as sent."""
    meter = UsageMeter(_api().usage, _ROUTE, body.model, current_state().owners.owner())
    if not body.stream:
        return relayed_whole(relay(body.body), meter, answer_usage)
    if body.resumable:
        return resumable_response(
            relayed(relay(body.body), meter, body.include_usage, detached=True),
            encoder=ResumableChunkSSE,
        )
    return metered_stream(relayed(relay(body.body), meter, body.include_usage), meter, ChunkSSE)


@bp.get("/streams/<stream_id>")
def follow_stream(stream_id: str) -> Response:
    """A resumable answer from after ``Last-Event-ID`` (or ``?last_event_id=``), in the same
    chunk format, ids included, until ``data: [DONE]``."""
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id") or "0"
    return follow_response(
        check_owner(valid_stream_id(stream_id)), last_event_id(raw), encoder=ResumableChunkSSE
    )


@bp.get("/models")
def models() -> Response:
    return jsonify({"object": "list", "data": [_model(_api().model)]})


@bp.get("/models/<path:model>")
def model(model: str) -> Response:
    if model != _api().model:
        return error_response(
            404,
            "model_not_found",
            f"The model `{clip(model)}` does not exist or you do not have access to it.",
            param="model",
        )
    return jsonify(_model(model))


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "streamer"}


# -- stream: false ----------------------------------------------------------------------------


def _whole_answer(events: Iterator[AnswerEvent], answer: Answer, meter: UsageMeter) -> Response:
    """Collect the answer, then one ``chat.completion``."""
    whole = collect_watched(lambda: collected(events, meter), events, on_end=meter.finish)
    return jsonify(
        answer.completion(
            whole.text,
            whole.reason,
            meter.usage(),
            refusal=whole.refusal,
            tool_calls=whole.tool_calls,
        )
    )


# -- errors in OpenAI's shape -----------------------------------------------------------------


def _openai_error_shape(response: Response) -> Response:
    """Errors answered before a /v1 view ran (a missing key: 401, the per-key limit: 429, an
    unknown /v1 path: 404) come in streamer's shape; give them OpenAI's, keeping status and
    headers. App-wide (a blueprint's hooks do not see paths that match none of its routes).
    The Durable Streams URLs under /v1/stream keep streamer's shape: they are not OpenAI's."""
    if (
        response.status_code < 400
        or not response.is_json
        or not request.path.startswith(bp.url_prefix or "/v1")
        or request.blueprint == DURABLE_BLUEPRINT
    ):
        return response
    body = response.get_json(silent=True)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and "param" not in error:
        code, message = str(error.get("type", "error")), str(error.get("message", ""))
        response.set_data(
            current_app.json.dumps({"error": error_object(code, message, response.status_code)})
        )
    return response
