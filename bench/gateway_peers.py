"""The gateways bench/bench_gateway.py compares, and one running gateway's life.

Each relays the same OpenAI-compatible upstream (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``) at
``POST /v1/chat/completions`` as data-only SSE chunk objects, with one worker process:

- ``streamer``: the service (``wsgi:app``, its own ``gunicorn.conf.py``: one gevent worker of
  ``streamer.worker.Worker``, the ``openai`` provider);
- ``fastapi``, ``fastapi-sse``: bench/peers/gateway_fastapi.py on uvicorn (uvloop, httptools),
  ``AsyncOpenAI``, ``StreamingResponse`` or sse-starlette's ``EventSourceResponse``;
- ``flask``: bench/peers/gateway_flask.py on gunicorn's stock gevent worker, the sync ``OpenAI``;
- ``litellm``: the LiteLLM proxy's own CLI (``litellm --config``, one uvicorn worker), a
  wildcard route to the upstream; no master key (no peer here checks one), so it needs
  ``LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY``; its bundled model cost map
  (``LITELLM_LOCAL_MODEL_COST_MAP``) instead of a fetch at start. Its access log stays on, as
  deployed by default (streamer writes an access line per stream too).

streamer and flask run on the service's interpreter (this one); the others on bench/.venv's.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from bench_chat import KEY, WORD, service_env, stop_server, threads_cpu_s
from run import VENV_PY, _raise_nofile, free_port

from tests.fake_openai import fake_model

ROOT = Path(__file__).resolve().parent.parent
PEERS_DIR = ROOT / "bench" / "peers"
PATH = "/v1/chat/completions"


@dataclass(frozen=True)
class Gateway:
    name: str
    label: str
    modules: tuple[str, ...]  # what it imports, to tell whether it is installed
    venv: bool = False  # runs on bench/.venv's interpreter
    gunicorn: bool = False  # the serving process is gunicorn's one worker, not the process

    def installed(self) -> bool:
        if not self.venv:
            return all(importlib.util.find_spec(m) is not None for m in self.modules)
        if not VENV_PY.exists():
            return False
        check = "import importlib.util as u, sys; sys.exit(any(u.find_spec(m) is None for m in "
        check += "sys.argv[1:]))"
        return subprocess.run([str(VENV_PY), "-c", check, *self.modules]).returncode == 0

    def command(self, port: int, base_url: str, work: Path) -> tuple[list[str], dict[str, str]]:
        upstream = {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": KEY, "PYTHONUNBUFFERED": "1"}
        gunicorn_peer = [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}"]
        if self.name == "streamer":
            cmd = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
            return cmd, service_env(port, base_url)
        if self.name == "flask":
            cmd = [*gunicorn_peer, "-k", "gevent", "--worker-connections", "100000"]
            cmd += ["--no-control-socket", "--chdir", str(PEERS_DIR), "gateway_flask:app"]
            return cmd, upstream
        if self.name in ("fastapi", "fastapi-sse"):
            kind = "sse" if self.name == "fastapi-sse" else "streaming"
            return [str(VENV_PY), str(PEERS_DIR / "gateway_fastapi.py"), str(port), kind], upstream
        if self.name == "litellm":
            config = work / "litellm-config.yaml"
            config.write_text(
                "model_list:\n"
                '  - model_name: "*"\n'
                "    litellm_params:\n"
                '      model: "openai/*"\n'
                f'      api_base: "{base_url}"\n'
                f'      api_key: "{KEY}"\n'
            )
            cmd = [str(VENV_PY.parent / "litellm"), "--config", str(config), "--host", "127.0.0.1"]
            cmd += ["--port", str(port), "--num_workers", "1", "--telemetry", "False"]
            env = {
                **upstream,
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
            }
            return cmd, env
        raise ValueError(self.name)


GATEWAYS = [
    Gateway("streamer", "streamer /v1 (gunicorn, gevent)", ("gevent",), gunicorn=True),
    Gateway(
        "fastapi",
        "FastAPI + AsyncOpenAI, StreamingResponse (uvicorn)",
        ("fastapi", "uvloop", "httptools", "openai"),
        venv=True,
    ),
    Gateway(
        "fastapi-sse",
        "FastAPI + AsyncOpenAI, sse-starlette (uvicorn)",
        ("fastapi", "sse_starlette", "uvloop", "httptools", "openai"),
        venv=True,
    ),
    Gateway(
        "flask",
        "Flask + OpenAI (gunicorn, gevent)",
        ("flask", "openai", "gevent"),
        gunicorn=True,
    ),
    Gateway("litellm", "LiteLLM proxy (uvicorn)", ("litellm", "apscheduler"), venv=True),
]


def chat_request(model: str) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": WORD}], "model": model, "stream": True}


class Running:
    """One gateway on ``cpu_prefix`` (a taskset argv), ready for requests when constructed."""

    def __init__(
        self, gw: Gateway, base_url: str, cpu_prefix: list[str], work: Path, timeout: float = 90
    ) -> None:
        self.gw = gw
        self.port = free_port()
        cmd, env = gw.command(self.port, base_url, work)
        self.log_path = work / f"gateway-{gw.name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop())
        full_env = {**os.environ, **env}
        for name in ("REDIS_URL", "STREAMER_API_KEYS", "STREAMER_TESTING"):
            full_env.pop(name, None)
        self.proc = subprocess.Popen(
            [*cpu_prefix, *cmd],
            cwd=work if gw.name == "litellm" else ROOT,  # litellm reads a .env in its cwd
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_raise_nofile,
        )
        self._wait_ready(timeout)
        self.pid = self._serving_pid()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}{PATH}"
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{self.gw.name} did not start:\n{log}")
            try:
                r = requests.post(url, json=chat_request(fake_model(tokens=2)), timeout=5)
                if r.status_code == 200 and b"[DONE]" in r.content:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)

    def _serving_pid(self) -> int:
        if not self.gw.gunicorn:
            return self.proc.pid
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        if len(out) != 1:
            raise RuntimeError(f"{self.gw.name}: expected one gunicorn worker, found {out}")
        return int(out[0])

    def cpu_s(self) -> float:
        """CPU time of all the serving process's threads, from /proc schedstat (ns)."""
        return threads_cpu_s(self.pid)

    def stop(self) -> None:
        # streamer's worker can hang in interpreter exit (bench_chat.stop_server).
        stop_server(self.proc, getattr(self, "pid", self.proc.pid), grace_s=10)
        self._log.close()
