"""Fast tier of the streamer.wire package: its face, and that it needs nothing but the stdlib."""

from __future__ import annotations

import subprocess
import sys

import streamer.wire
from streamer.wire import decoders, framing, records


def test_the_face_is_the_modules_own_objects() -> None:
    for name in streamer.wire.__all__:
        owner = next(m for m in (records, framing, decoders) if hasattr(m, name))
        assert getattr(streamer.wire, name) is getattr(owner, name), name


def test_the_wire_layer_imports_no_third_party_package() -> None:
    code = (
        "import sys; import streamer.wire, streamer.wire.negotiate, streamer.wire.http1; "
        "bad = {'flask', 'werkzeug', 'gevent', 'requests', 'greenlet'} & set(sys.modules); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
