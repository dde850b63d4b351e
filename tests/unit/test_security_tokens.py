"""Read tokens for EventSource (streamer.security.tokens): the signer alone, the views in process,
and the real tier (gunicorn's log never holds a token).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app
from streamer.engine import StreamAborted
from streamer.errors import ConfigError
from streamer.security.tokens import TOKEN_HEADER, InvalidToken, TokenSigner, signer_for
from streamer.service.settings import ServiceConfig

SID = "a" * 43
OTHER = "b" * 43
KEYS = {
    "STREAMER_API_KEYS": "k-one-1234567890,k-two-1234567890",
    "STREAMER_TOKEN_SECRET": "s" * 40,
    "STREAMER_HEARTBEAT_S": "0.2",
}
BEARER = {"Authorization": "Bearer k-two-1234567890"}


# -- the signer -------------------------------------------------------------------------------


def test_a_token_reads_its_stream_and_says_whose_it_is() -> None:
    signer = TokenSigner(b"x" * 32, ttl_s=60)
    assert signer.verify(signer.issue(SID, "key2"), SID) == "key2"
    assert signer.verify(signer.issue(SID, None), SID) is None


@pytest.mark.parametrize("issued_at", [1000.0, 1000.4, 1000.99])
def test_a_token_is_accepted_for_its_whole_lifetime_and_not_a_second_more(issued_at: float) -> None:
    signer = TokenSigner(b"x" * 32, ttl_s=1)
    token = signer.issue(SID, "key1", now=issued_at)
    assert signer.verify(token, SID, now=issued_at + 0.999) == "key1"
    with pytest.raises(InvalidToken, match="expired"):
        signer.verify(token, SID, now=issued_at + 2.0)


@pytest.mark.parametrize(
    "make, message",
    [
        pytest.param(lambda s: s.issue(OTHER, "key1"), "another stream", id="other-stream"),
        pytest.param(lambda s: s.issue(SID, "key1", now=time.time() - 61), "expired", id="expired"),
        pytest.param(
            lambda s: TokenSigner(b"y" * 32, 60).issue(SID, "key1"), "not valid", id="other-secret"
        ),
        pytest.param(lambda s: s.issue(SID, "key1")[:-2] + "AA", "not valid", id="forged-mac"),
        pytest.param(
            lambda s: "eyJ2IjoxLCJzIjoiYWFhIn0." + s.issue(SID, "k").split(".")[1],
            "not valid",
            id="swapped-payload",
        ),
        pytest.param(lambda s: "no-dot-at-all", "malformed", id="no-dot"),
        pytest.param(lambda s: "x" * 2000 + ".y", "malformed", id="huge"),
        pytest.param(lambda s: "\u00e9t\u00e9.abc", "malformed", id="not-ascii"),
        pytest.param(lambda s: "", "malformed", id="empty"),
    ],
)
def test_bad_tokens_are_refused(make: Callable[[TokenSigner], str], message: str) -> None:
    signer = TokenSigner(b"x" * 32, ttl_s=60)
    token = make(signer)
    with pytest.raises(InvalidToken, match=message) as info:
        signer.verify(token, SID)
    assert info.value.status == 401
    assert token[:20] not in info.value.message or not token


def test_the_secret_is_checked_and_never_shown() -> None:
    with pytest.raises(ConfigError, match="STREAMER_TOKEN_SECRET"):
        ServiceConfig.from_env({"STREAMER_TOKEN_SECRET": "short"})
    cfg = ServiceConfig.from_env({"STREAMER_TOKEN_SECRET": "q" * 40, "STREAMER_TOKEN_TTL_S": "30"})
    assert cfg.token_ttl_s == 30 and "q" * 40 not in repr(cfg)
    with pytest.raises(ConfigError, match="STREAMER_TOKEN_TTL_S"):
        ServiceConfig.from_env({"STREAMER_TOKEN_TTL_S": "0"})
    # Unset: one random secret per process, the same for every app in it.
    signer = signer_for(ServiceConfig())
    assert signer_for(ServiceConfig()).verify(signer.issue(SID, "key1"), SID) == "key1"


# -- the views, in process ---------------------------------------------------------------------


@pytest.fixture
def client() -> FlaskClient:
    return create_app({**KEYS, "STREAMER_OPEN_DEMO": "false"}).test_client()


def started(client: FlaskClient) -> tuple[str, str]:
    response = client.get(
        "/stream/data?count=3&interval=0&resumable=1&format=ndjson", headers=BEARER
    )
    assert response.status_code == 200, response.data
    response.close()  # its per-key slot goes with it
    return response.headers["X-Stream-Id"], response.headers[TOKEN_HEADER]


@pytest.mark.timeout(20)
def test_a_token_reads_its_own_stream_and_nothing_else(client: FlaskClient) -> None:
    sid, token = started(client)
    other_sid, other_token = started(client)
    ok = client.get(f"/streams/{sid}?format=sse&token={token}")
    assert ok.status_code == 200
    assert b"event: end" in ok.data
    assert TOKEN_HEADER not in ok.headers  # a token does not renew itself

    def refused(response: TestResponse, type_: str) -> None:
        assert response.status_code == 401
        body = response.json
        assert body is not None and body["error"]["type"] == type_, body
        assert token not in response.get_data(as_text=True)

    refused(client.get(f"/streams/{other_sid}?token={token}"), "invalid_token")
    refused(client.get(f"/streams/{sid}?token={other_token}"), "invalid_token")
    refused(client.get(f"/streams/{sid}?token={token[:-3]}xyz"), "invalid_token")
    refused(client.get(f"/streams/{sid}?token="), "invalid_token")
    expired = signer_for(ServiceConfig.from_env(KEYS)).issue(sid, "key2", now=time.time() - 1000)
    refused(client.get(f"/streams/{sid}?token={expired}"), "invalid_token")
    # Other routes and methods do not take it.
    refused(client.delete(f"/streams/{sid}?token={token}"), "unauthorized")
    refused(client.get(f"/stream/data?count=1&token={token}"), "unauthorized")
    refused(client.post(f"/chat?token={token}", json={"messages": []}), "unauthorized")
    refused(client.get(f"/streams/{sid}"), "unauthorized")  # and nothing at all


def _held(response: TestResponse) -> TestResponse:
    assert response.status_code == 200, response.data
    return response


@pytest.mark.timeout(20)
def test_token_readers_have_a_budget_of_their_own_not_the_keys() -> None:
    # The measurement this answers: 19 followers on one token with a per-key limit of 20 gave
    # the key's owner 429 on new streams and on /chat. Token readers now spend the stream's
    # reader budget (here 3), and the key keeps every one of its own slots.
    client = create_app(
        {
            **KEYS,
            "STREAMER_OPEN_DEMO": "false",
            "STREAMER_MAX_STREAMS_PER_KEY": "3",
            "STREAMER_MAX_TOKEN_READERS": "3",
            "STREAMER_ECHO_DELAY_S": "0",
        }
    ).test_client()
    start = _held(
        client.get(
            "/stream/data?count=50&interval=0.2&resumable=1&format=ndjson",
            headers=BEARER,
            buffered=False,
        )
    )
    sid, token = start.headers["X-Stream-Id"], start.headers[TOKEN_HEADER]
    start.close()  # its producer runs on, on one of key2's slots; its reader's is given back
    followers = [
        _held(client.get(f"/streams/{sid}?format=ndjson&token={token}", buffered=False))
        for _ in range(3)
    ]
    try:
        over = client.get(f"/streams/{sid}?format=ndjson&token={token}")
        assert over.status_code == 429, over.data
        assert over.headers["Retry-After"] == "1"
        assert over.get_json()["error"]["type"] == "too_many_token_readers"
        assert token not in over.get_data(as_text=True)
        # The key's owner still has its two other slots: a stream and a chat.
        plain = _held(client.get("/stream/data?count=1&interval=0", headers=BEARER, buffered=False))
        chat = _held(
            client.post(
                "/chat",
                json={"messages": [{"role": "user", "content": "hi"}]},
                headers=BEARER,
                buffered=False,
            )
        )
        plain.close()
        chat.close()
    finally:
        for follower in followers:
            follower.close()
    # A follower's slot goes back when it ends.
    _held(client.get(f"/streams/{sid}?format=ndjson&token={token}", buffered=False)).close()
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'streamer_requests_refused_total{limit="too_many_token_readers"} 1.0' in metrics


@pytest.mark.timeout(20)
def test_a_token_reader_is_cut_in_band_when_its_token_expires() -> None:
    # A token of 1 s on a stream of 10 s: the follower gets the records of its token's
    # lifetime, then an error record, and the body ends (no end record: it did not finish).
    cfg = {**KEYS, "STREAMER_OPEN_DEMO": "false", "STREAMER_TOKEN_TTL_S": "1"}
    client = create_app(cfg).test_client()
    start = _held(
        client.get(
            "/stream/data?count=100&interval=0.1&resumable=1&format=ndjson",
            headers=BEARER,
            buffered=False,
        )
    )
    sid, token = start.headers["X-Stream-Id"], start.headers[TOKEN_HEADER]
    start.close()
    begun = time.monotonic()
    follower = _held(client.get(f"/streams/{sid}?format=ndjson&token={token}", buffered=False))
    body, cut = b"", False
    try:
        for piece in follower.response:
            body += piece
    except StreamAborted:
        cut = True  # an error record, then no chunked terminator: as for any failed stream
    finally:
        follower.close()
    took = time.monotonic() - begun
    assert cut
    lines = [json.loads(line) for line in body.decode().split("\n") if line]
    assert lines[-1] == {
        "event": "error",
        "error": {
            "type": "token_expired",
            "message": "the stream token has expired; resume with Last-Event-ID and a new one",
        },
    }
    assert 0 < sum(1 for r in lines if r["event"] == "data") < 30
    assert took < 4, took  # cut at expiry (at most 2 s after the start), not at the stream's end
    # The key reads on from where the token's reader was cut, and gets a fresh token.
    last = max(r["id"] for r in lines if r["event"] == "data")
    own = client.get(
        f"/streams/{sid}?format=ndjson",
        headers={**BEARER, "Last-Event-ID": str(last)},
        buffered=False,
    )
    assert own.status_code == 200 and TOKEN_HEADER in own.headers
    first = json.loads(next(iter(own.response)).split(b"\n")[0])
    assert first["id"] == last + 1
    own.close()
    assert client.delete(f"/streams/{sid}", headers=BEARER).status_code == 202


def test_without_keys_there_is_no_token() -> None:
    client = create_app({"STREAMER_HEARTBEAT_S": "0.2"}).test_client()
    response = client.get("/stream/data?count=1&interval=0&resumable=1")
    assert response.status_code == 200 and TOKEN_HEADER not in response.headers


# -- the Durable Streams URLs, in process ------------------------------------------------------

DS_TEXT = {**BEARER, "Content-Type": "text/plain"}


def ds_created(client: FlaskClient, path: str) -> str:
    created = client.put(f"/v1/stream/{path}", data=b"hello", headers=DS_TEXT)
    assert created.status_code == 201, created.data
    return created.headers[TOKEN_HEADER]


@pytest.mark.timeout(20)
def test_a_durable_streams_token_reads_it_and_nothing_else() -> None:
    app = create_app({**KEYS, "STREAMER_DURABLE_LONG_POLL_S": "0.2"})
    client = app.test_client()
    token = ds_created(client, "chat/room-1")
    other = ds_created(client, "chat/room-2")
    read = client.get(f"/v1/stream/chat/room-1?offset=-1&token={token}")
    assert read.status_code == 200 and read.data == b"hello"
    assert TOKEN_HEADER not in read.headers  # a token does not renew itself
    tail = read.headers["Stream-Next-Offset"]
    assert client.head(f"/v1/stream/chat/room-1?token={token}").status_code == 200
    poll = client.get(f"/v1/stream/chat/room-1?offset={tail}&live=long-poll&token={token}")
    assert poll.status_code == 204
    sse = client.get(f"/v1/stream/chat/room-1?offset=-1&live=sse&token={token}", buffered=False)
    assert sse.status_code == 200 and b"data:hello" in next(iter(sse.response))
    sse.close()
    # The key renews it: HEAD with the key answers with a fresh one.
    fresh = client.head("/v1/stream/chat/room-1", headers=BEARER).headers[TOKEN_HEADER]
    assert client.get(f"/v1/stream/chat/room-1?offset=-1&token={fresh}").data == b"hello"

    def refused(response: TestResponse, status: int, type_: str) -> None:
        assert response.status_code == status, response.data
        body = response.json
        assert body is not None and body["error"]["type"] == type_, body
        assert response.headers["X-Content-Type-Options"] == "nosniff"  # the routes' shape
        assert token not in response.get_data(as_text=True)

    refused(client.get(f"/v1/stream/chat/room-2?offset=-1&token={token}"), 401, "invalid_token")
    refused(client.get(f"/v1/stream/chat/room-1?offset=-1&token={other}"), 401, "invalid_token")
    refused(client.get(f"/v1/stream/chat/room-1?token={token[:-3]}xyz"), 401, "invalid_token")
    for method in ("post", "put", "delete"):
        write = getattr(client, method)(
            f"/v1/stream/chat/room-1?token={token}",
            data=b"x",
            headers={"Content-Type": "text/plain"},
        )
        refused(write, 403, "read_only_token")
    elsewhere = client.get(f"/streams/{'c' * 20}?token={token}")
    assert elsewhere.status_code == 401 and elsewhere.get_json()["error"]["type"] == "invalid_token"
    assert client.get("/v1/stream/chat/room-1?offset=-1", headers=BEARER).data == b"hello"


@pytest.mark.timeout(20)
def test_one_stream_two_faces_one_token() -> None:
    client = create_app({**KEYS, "STREAMER_OPEN_DEMO": "false"}).test_client()
    # A view's resumable stream: its token reads its Durable Streams face.
    sid, token = started(client)
    face = client.get(f"/v1/stream/resumable/{sid}?offset=-1&token={token}")
    assert face.status_code == 200, face.data
    assert face.get_json()[0] == "data chunk 1\n" and "end" in face.get_json()[-1]
    # A Durable Stream, its path id-shaped or not: its token reads its /streams face.
    for path in ("d" * 24, "rooms/d-1/chat.v1"):
        ds_token = ds_created(client, path)
        closed = client.post(f"/v1/stream/{path}", headers={**BEARER, "Stream-Closed": "true"})
        assert closed.status_code == 204
        follow = client.get(f"/streams/{path}?format=ndjson&token={ds_token}")
        assert follow.status_code == 200, follow.data
        assert [json.loads(line) for line in follow.data.splitlines()] == [
            {"event": "data", "id": 1, "data": "hello"},
            {"event": "end", "count": 1},
        ]
        refused = client.get(f"/streams/{path}?format=ndjson&token={token}")
        assert refused.status_code == 401, path  # the resumable stream's token: not this one
    # And the token of the resumable stream reads no Durable Stream named like it.
    assert client.put(f"/v1/stream/{sid}", headers=DS_TEXT, data=b"x").status_code == 201
    named = client.get(f"/v1/stream/{sid}?offset=-1&token={token}")
    assert named.status_code == 401 and named.get_json()["error"]["type"] == "invalid_token"


@pytest.mark.timeout(20)
def test_a_durable_reader_on_a_token_is_not_kept_past_its_expiry() -> None:
    cfg = {**KEYS, "STREAMER_TOKEN_TTL_S": "1", "STREAMER_DURABLE_LONG_POLL_S": "5"}
    client = create_app(cfg).test_client()
    token = ds_created(client, "expiring")
    tail = client.head("/v1/stream/expiring", headers=BEARER).headers["Stream-Next-Offset"]
    # A long-poll still waiting at the expiry has its 204 then, not after 5 s.
    began = time.monotonic()
    poll = client.get(f"/v1/stream/expiring?offset={tail}&live=long-poll&token={token}")
    assert time.monotonic() - began < 2.5
    assert poll.status_code == 204 and poll.headers["Stream-Next-Offset"] == tail
    refused = client.get(f"/v1/stream/expiring?offset={tail}&live=long-poll&token={token}")
    assert refused.status_code == 401 and refused.get_json()["error"]["type"] == "invalid_token"
    # An SSE reader: its data, then at the expiry an in-band error event ends its response.
    token = client.head("/v1/stream/expiring", headers=BEARER).headers[TOKEN_HEADER]
    began = time.monotonic()
    sse = client.get(f"/v1/stream/expiring?offset=-1&live=sse&token={token}")
    assert sse.status_code == 200 and time.monotonic() - began < 2.5
    body = sse.data
    assert body.startswith(b"event: data\ndata:hello\n")
    last = body.split(b"\n\n")[-2]  # the last event: the error, nothing after it
    assert last.startswith(b'event: error\ndata:{"type":"token_expired","message":'), body
    # Its reconnect with the same token is refused.
    again = client.get(f"/v1/stream/expiring?offset=-1&live=sse&token={token}")
    assert again.status_code == 401 and again.get_json()["error"]["type"] == "invalid_token"


# -- the real tier -----------------------------------------------------------------------------
