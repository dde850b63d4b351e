"""The layout, written as tests: the import direction between the folders of ``streamer/``
(docs/design.md, "The pieces"), and the fast tier's mirror of the library.

The fast tier mirrors the library: each module under ``streamer/`` has its own test module
here, named after its path (``streamer/store/memory.py`` -> ``test_store_memory.py``, a
package's ``__init__.py`` -> ``test_<package>.py``, leading underscores dropped), so its
tests are found without a search and a new module without tests fails here. A package's
private module (``streamer/adapter/_bridge.py``) is its implementation, and its ``__main__``
an entry point: the package's test module covers them unless they have one of their own.
"""

from __future__ import annotations

import ast
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
    # contract runs in tests/real/test_store_redis.py and tests/real/test_redis_cluster.py
    # (the per-client counters: tests/real/test_store_redis_counters.py).
    "streamer/store/redis.py",
    "streamer/store/redis_cluster.py",
    "streamer/store/redis_stops.py",
    "streamer/store/redis_counters.py",
    # Durable Streams on Redis: its contract runs in tests/real/test_store_durable_redis.py.
    "streamer/store/durable/redis.py",
    # Its clients ask real Sentinels for the primary (tests/redis_sentinel_fixture.py); the
    # contract runs on them in tests/real/test_store_redis.py, the failover in
    # tests/real/test_redis_sentinel.py. The URL form (sentinel_url.py) has a fast test.
    "streamer/store/redis_sentinel.py",
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
    assert mirror("streamer/llm/_asyncio_net.py") == "test_llm_asyncio_net.py"
    assert mirror("streamer/service/chat.py") == "test_service_chat.py"
    assert mirror("streamer/__init__.py") == "test_streamer.py"
    assert mirror("streamer/config.py") == "test_config.py"
    assert covering("streamer/adapter/_bridge.py") == ["test_adapter_bridge.py", "test_adapter.py"]
    assert covering("streamer/store/memory.py") == ["test_store_memory.py"]


def test_every_library_module_has_a_fast_test_module() -> None:
    missing = [
        f"{module} -> tests/unit/{mirror(module)}"
        for module in library_modules()
        if module not in REAL_TIER_ONLY
        and not any((HERE / name).is_file() for name in covering(module))
    ]
    assert not missing, "modules without a test module:\n" + "\n".join(missing)


def test_the_real_tier_allow_list_names_existing_modules_without_fast_tests() -> None:
    assert set(library_modules()) >= REAL_TIER_ONLY
    assert not [m for m in REAL_TIER_ONLY if (HERE / mirror(m)).is_file()]


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([sys.executable, "-m", "gunicorn", "--version"], id="gunicorn"),
        pytest.param(["redis-server", "--version"], id="redis"),
        pytest.param(["/usr/bin/chromium", "--version"], id="chromium"),
    ],
)
def test_the_fast_tier_refuses_to_start_a_real_program(argv: list[str]) -> None:
    # tests/unit/conftest.py: a test that would start one fails, pointing at tests/real/.
    with pytest.raises(pytest.fail.Exception, match="belongs in tests/real/"):
        subprocess.run(argv, check=False, timeout=10)
    subprocess.run([sys.executable, "-c", "pass"], check=True, timeout=60)  # others run


@pytest.mark.parametrize("fixture", ["server", "make_server"])
def test_the_fast_tier_refuses_the_gunicorn_fixtures(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    with pytest.raises(pytest.fail.Exception, match="belongs in tests/real/"):
        request.getfixturevalue(fixture)


# -- the import direction -------------------------------------------------------------------

#: The folders (and top-level modules) of streamer/, in the order the imports go: each may
#: import only from those before it, and the ones in RESTRICTED only from what they list.
ORDER = (
    "errors",
    "quote",
    "config",
    "_compat",
    "wire",
    "client",
    "adapter",
    "store",
    "engine",
    "server",
    "llm",
    "security",
    "worker",
    "service",
)
RESTRICTED = {
    "errors": set(),
    "quote": set(),
    "_compat": set(),
    "config": {"errors", "quote"},
    "wire": {"errors", "quote"},
    "client": {"errors", "quote", "wire"},
}
#: The package's face (streamer/__init__.py) loads the server and the client on first use.
FACE_MAY_NOT = {"llm", "security", "worker", "service"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Every module of ``package`` and the modules of it that it imports anywhere: at the top,
    in a function, under ``TYPE_CHECKING`` (a cycle there is a design knot too)."""
    root = package.parent
    modules = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here.split(".")[: len(here.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    found.add(sub if sub in modules else target)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def folder(module: str) -> str:
    """``streamer.engine.core`` -> ``engine``; the face is ``""``."""
    return module.split(".")[1] if "." in module else ""


def wrong_imports(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, targets in sorted(graph.items()):
        mine = folder(module)
        for target in sorted(targets):
            theirs = folder(target)
            if theirs == mine:
                continue
            if theirs == "":
                wrong.append(f"{module} imports the package's face (import what it needs)")
            elif mine == "":
                if theirs in FACE_MAY_NOT:
                    wrong.append(f"the face imports {target}")
            elif mine in RESTRICTED:
                if theirs not in RESTRICTED[mine]:
                    wrong.append(f"{module} imports {target}")
            elif ORDER.index(theirs) > ORDER.index(mine):
                wrong.append(f"{module} imports {target} (later in the order)")
    return wrong


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_folder_is_in_the_order() -> None:
    folders = {folder(m) for m in import_graph()} - {""}
    assert folders == set(ORDER)


def test_imports_go_one_way_down_the_layers() -> None:
    wrong = wrong_imports(import_graph())
    assert not wrong, "imports against the layout (docs/design.md):\n" + "\n".join(wrong)


def test_there_is_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_checks_see_what_they_forbid() -> None:
    # A cycle, a library module importing the service, a client module importing the server.
    graph = {
        "streamer.engine.a": {"streamer.engine.b"},
        "streamer.engine.b": {"streamer.engine.a"},
        "streamer.server.x": {"streamer.service.views"},
        "streamer.service.views": set(),
        "streamer.client.y": {"streamer.server.x"},
        "streamer.security.auth": set(),
        "streamer.server.z": {"streamer.security.auth"},
    }
    assert cycles(graph) == [["streamer.engine.a", "streamer.engine.b"]]
    assert wrong_imports(graph) == [
        "streamer.client.y imports streamer.server.x",
        "streamer.server.x imports streamer.service.views (later in the order)",
        "streamer.server.z imports streamer.security.auth (later in the order)",
    ]


def test_the_graph_reads_relative_type_checking_and_function_level_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "streamer"
    (pkg / "engine").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "errors.py").write_text("")
    (pkg / "engine" / "__init__.py").write_text("from . import core\n")
    (pkg / "engine" / "core.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..errors import X\n"
        "def f():\n    import streamer.engine\n"
    )
    graph = import_graph(pkg)
    assert graph["streamer.engine"] == {"streamer.engine.core"}
    assert graph["streamer.engine.core"] == {"streamer.errors", "streamer.engine"}
