"""Fast tier: the benchmark endpoint is shaped like the peers' and mounted only on request."""

from __future__ import annotations

from app import create_app
from streamer.service.settings import ServiceConfig


def test_bench_endpoint_is_off_by_default() -> None:
    client = create_app(ServiceConfig()).test_client()
    assert client.get("/stream/bench?n=1").status_code == 404


def test_bench_endpoint_streams_n_records_of_size_bytes() -> None:
    assert ServiceConfig.from_env({"STREAMER_BENCH": "1"}).bench
    client = create_app(ServiceConfig(bench=True)).test_client()
    response = client.get("/stream/bench?n=5&size=10")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.get_data() == (b"x" * 9 + b"\n") * 5


def test_bench_endpoint_honours_format() -> None:
    client = create_app(ServiceConfig(bench=True)).test_client()
    body = client.get("/stream/bench?n=2&size=3&format=ndjson").get_data()
    assert body.splitlines()[-1] == b'{"event":"end","count":2}'


def test_bench_endpoint_bounds_its_parameters() -> None:
    client = create_app(ServiceConfig(bench=True)).test_client()
    assert client.get("/stream/bench?size=0").status_code == 400
