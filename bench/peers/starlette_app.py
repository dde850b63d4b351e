"""Peer: Starlette StreamingResponse on uvicorn (uvloop + httptools).

GET /stream?n=N&size=S&interval=MS. Usage: python starlette_app.py PORT
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route


async def records(n: int, size: int, interval_s: float) -> AsyncIterator[str]:
    payload = "x" * (size - 1) + "\n"
    for i in range(n):
        if i and interval_s:
            await asyncio.sleep(interval_s)
        yield payload


async def stream(request: Request) -> StreamingResponse:
    q = request.query_params
    n, size = int(q.get("n", 100)), int(q.get("size", 64))
    interval_s = float(q.get("interval", 0)) / 1000
    return StreamingResponse(
        records(n, size, interval_s), media_type="text/plain", headers={"Cache-Control": "no-cache"}
    )


app = Starlette(routes=[Route("/stream", stream)])

if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        backlog=4096,
        lifespan="off",
    )
