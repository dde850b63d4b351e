"""The fast tier mirrors the library: each module under ``streamer/`` has its own test module
here, named after its path (``streamer/store/memory.py`` -> ``test_store_memory.py``, a
package's ``__init__.py`` -> ``test_<package>.py``, leading underscores dropped), so its
tests are found without a search and a new module without tests fails here. A package's
private module (``streamer/adapter/_bridge.py``) is its implementation, and its ``__main__``
an entry point: the package's test module covers them unless they have one of their own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "streamer"
HERE = Path(__file__).resolve().parent

# Modules whose only tests are in the real tier (tests/real/), each with why it cannot be
# tested in-process. Keep this list short: anything that can run without a server process
# gets a fast test instead.
REAL_TIER_ONLY = {
    # The Redis backends talk to a redis-server (a Redis Cluster for the second); their
    # contract runs in tests/real/test_store_redis.py and tests/real/test_redis_cluster.py.
    "streamer/store/redis.py",
    "streamer/store/redis_cluster.py",
    "streamer/store/redis_stops.py",
}


def mirror(module: str) -> str:
    """The test module for ``module`` (a path from the repository root)."""
    parts = list(Path(module).with_suffix("").parts[1:])
    if parts[-1] == "__init__":  # a package: its name
        parts.pop()
    return "test_" + "_".join([p.lstrip("_") for p in parts] or ["streamer"]) + ".py"


def covering(module: str) -> list[str]:
    """The test modules, any of which covers ``module``."""
    path = Path(module)
    if path.stem.startswith("_") and path.stem != "__init__":  # private or __main__
        return [mirror(module), mirror(str(path.parent / "__init__.py"))]
    return [mirror(module)]


def library_modules() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py"))


def test_the_naming_rule() -> None:
    assert mirror("streamer/store/memory.py") == "test_store_memory.py"
    assert mirror("streamer/chat/_asyncio_net.py") == "test_chat_asyncio_net.py"
    assert mirror("streamer/chat/__init__.py") == "test_chat.py"
    assert mirror("streamer/__init__.py") == "test_streamer.py"
    assert mirror("streamer/config.py") == "test_config.py"
    assert covering("streamer/adapter/_bridge.py") == [
        "test_adapter_bridge.py", "test_adapter.py"]
    assert covering("streamer/store/memory.py") == ["test_store_memory.py"]


def test_every_library_module_has_a_fast_test_module() -> None:
    missing = [f"{module} -> tests/unit/{mirror(module)}" for module in library_modules()
               if module not in REAL_TIER_ONLY
               and not any((HERE / name).is_file() for name in covering(module))]
    assert not missing, "modules without a test module:\n" + "\n".join(missing)


def test_the_real_tier_allow_list_names_existing_modules_without_fast_tests() -> None:
    assert set(library_modules()) >= REAL_TIER_ONLY
    assert not [m for m in REAL_TIER_ONLY if (HERE / mirror(m)).is_file()]


@pytest.mark.parametrize("argv", [
    pytest.param([sys.executable, "-m", "gunicorn", "--version"], id="gunicorn"),
    pytest.param(["redis-server", "--version"], id="redis"),
    pytest.param(["/usr/bin/chromium", "--version"], id="chromium"),
])
def test_the_fast_tier_refuses_to_start_a_real_program(argv: list[str]) -> None:
    # tests/unit/conftest.py: a test that would start one fails, pointing at tests/real/.
    with pytest.raises(pytest.fail.Exception, match="belongs in tests/real/"):
        subprocess.run(argv, check=False, timeout=10)
    subprocess.run([sys.executable, "-c", "pass"], check=True, timeout=60)  # others run


@pytest.mark.parametrize("fixture", ["server", "make_server"])
def test_the_fast_tier_refuses_the_gunicorn_fixtures(request: pytest.FixtureRequest,
                                                     fixture: str) -> None:
    with pytest.raises(pytest.fail.Exception, match="belongs in tests/real/"):
        request.getfixturevalue(fixture)
