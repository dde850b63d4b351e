"""Fast tier of streamer.service.views: the demo's endpoints exist under the names the auth
hooks are given (a misspelt name would leave an endpoint open or uncounted); the endpoints
themselves: test_server_response.py, test_service_chat.py, test_server_resumable.py."""

from __future__ import annotations

from app import create_app
from streamer.service import openai_api, views


def test_every_endpoint_name_handed_to_auth_is_a_real_endpoint() -> None:
    app = create_app({"STREAMER_TESTING": "1", "STREAMER_BENCH": "1"})
    endpoints = set(app.view_functions)
    for names in (
        views.OPEN_ENDPOINTS,
        views.DEMO_ENDPOINTS,
        views.STREAM_ENDPOINTS,
        openai_api.STREAM_ENDPOINTS,
    ):
        assert set(names) <= endpoints, set(names) - endpoints


def test_health_and_readiness_answer_as_json() -> None:
    client = create_app({}).test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ready", "store": "memory"}
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and missing.get_json()["error"]["type"] == "not_found"
