"""Fast tier of streamer.llm.openai_chunks: the chunk encoders, the chunk objects and OpenAI's
error shape (the /v1 API's own use of them: test_service_openai_api_chunks.py)."""

from __future__ import annotations

import json

from openai.types.chat import ChatCompletionChunk

from streamer.llm.openai_chunks import Answer, ChunkSSE, ResumableChunkSSE, error_object


def test_encoders_are_data_only_and_end_with_done() -> None:
    assert ChunkSSE.data(7, {"a": "é"}) == 'data: {"a":"é"}\n\n'.encode()
    assert ResumableChunkSSE.data(7, {"a": 1}) == b'id: 7\ndata: {"a":1}\n\n'
    assert ChunkSSE.end(1) == b"data: [DONE]\n\n"
    assert ChunkSSE.ping() == b": ping\n"
    error = json.loads(ChunkSSE.error("upstream_timeout", "too slow")[6:])
    assert error == {"error": error_object("upstream_timeout", "too slow")}
    assert error["error"]["type"] == "server_error"


def test_an_sdk_chunk_model_is_encoded_as_the_api_sent_it() -> None:
    # orjson does not know the model: the encoder falls back to json_bytes (model_dump).
    wire = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"content": "Hi"}}], "x_extra": 1}  # fmt: skip
    chunk = ChatCompletionChunk.model_validate(wire)
    assert json.loads(ChunkSSE.data(1, chunk)[6:]) == wire


def test_an_answers_chunks_share_its_id_model_and_time() -> None:
    answer = Answer("m", id="chatcmpl-1", created=5)
    first, usage = answer.chunk({"content": "a"}), answer.usage_chunk({"total_tokens": 1})
    assert first["choices"] == [
        {"index": 0, "delta": {"content": "a"}, "logprobs": None, "finish_reason": None}
    ]
    assert (first["id"], first["model"], first["created"]) == ("chatcmpl-1", "m", 5)
    assert usage["choices"] == [] and usage["usage"] == {"total_tokens": 1}
