"""Resume and stop for the AI SDK's ``useChat``: a chat's answer found by its chat id, from any
worker or instance.

The view that answers starts a resumable stream named by the chat id; two more views serve
``useChat({resume: true})`` (``DefaultChatTransport.reconnectToStream``: ``GET
{api}/{chatId}/stream``, read from ``ai`` 6.0.333) and a stop::

    @app.post("/api/chat")
    def chat():
        body = request.get_json()
        return stream(answer(body["messages"]), format="ui-message", resumable=True,
                      name=body["id"])

    @app.get("/api/chat/<chat_id>/stream")
    def resume(chat_id):
        return resume_chat(chat_id)

    @app.delete("/api/chat/<chat_id>/stream")
    def stop(chat_id):
        return stop_chat(chat_id)

- a resume replays the answer from its first part, then follows it live: the transport
  replaces the message it had (``resumeStreamIsReplay``), so nothing is duplicated. A 204
  when the chat has no answer in the store (never started, expired, or another key's);
- a stop cancels the producer (wherever it runs) and keeps what it produced: readers, live
  and later, get those parts, an ``abort`` part and ``[DONE]``, so the chat ends ``ready``
  with the partial message.
"""

from __future__ import annotations

from flask import Response, jsonify

from ..errors import NotFound
from ..server.resumable import check_owner, follow_response
from ..server.state import current_state
from .ui_message import UI_MESSAGE, UIMessageFormat

__all__ = ["resume_chat", "stop_chat"]


def resume_chat(chat_id: str, format: UIMessageFormat = UI_MESSAGE) -> Response:
    """In a view: the chat's latest answer from its start, then live; 204 if there is none."""
    state = current_state()
    try:
        stream_id = _stream_of(chat_id)
        if stream_id is None:
            return Response(status=204)
        return follow_response(
            stream_id,
            headers=dict(format.headers),
            encoder=state.encoder_for(format.encoder),
            cancelled=format.cancelled,
        )
    except NotFound:  # expired since it was named
        return Response(status=204)


def stop_chat(chat_id: str) -> Response:
    """In a view: cancel the chat's running answer, keeping its parts so far: 202 if it was
    running, 204 if there is none or it had finished."""
    try:
        stream_id = _stream_of(chat_id)
        if stream_id is None or not current_state().store.cancel(stream_id):
            return Response(status=204)
    except NotFound:
        return Response(status=204)
    response = jsonify({"chat": chat_id, "status": "stopped"})
    response.status_code = 202
    return response


def _stream_of(chat_id: str) -> str | None:
    """The chat's stream id, if the caller may read it (with client keys: the key that
    started it; anybody else gets what an unknown chat gets)."""
    stream_id = current_state().store.named(chat_id)
    return None if stream_id is None else check_owner(stream_id)
