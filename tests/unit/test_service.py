"""Fast tier of the streamer.service package: the demo is not part of the library's wheel."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_leaves_the_service_out_and_ships_the_types() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    find = setuptools["packages"]["find"]
    assert "streamer" in find["include"] and "streamer.service*" in find["exclude"]
    assert "py.typed" in setuptools["package-data"]["streamer"]
    assert (ROOT / "streamer" / "py.typed").is_file()
