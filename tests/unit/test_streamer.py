"""Fast tier of streamer/__init__.py: the public names, and importing them stays light."""

from __future__ import annotations

import subprocess
import sys


def test_import_streamer_loads_neither_flask_nor_gevent() -> None:
    code = (
        "import sys, streamer; from streamer import Data, Config; "
        "from streamer.wire import NDJSONDecoder; import streamer.client; "
        "assert 'flask' not in sys.modules and 'gevent' not in sys.modules, sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_public_names() -> None:
    import streamer

    for name in streamer.__all__:
        assert getattr(streamer, name) is not None
    assert {"Streamer", "stream", "Config"} <= set(streamer.__all__)
