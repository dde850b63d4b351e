"""Fast tier: streamer.worker.logsink's formatter and handler write what the standard ones write."""

from __future__ import annotations

import io
import logging
import os
import threading
from typing import Any

from streamer.worker.logsink import Formatter, StderrHandler

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _record(
    created: float, msg: str = "hello %s", args: tuple[object, ...] = ("x",)
) -> logging.LogRecord:
    record = logging.LogRecord("streamer.access", logging.INFO, "", 0, msg, args, None)
    record.created, record.msecs = created, (created - int(created)) * 1000
    return record


def test_formatter_writes_what_logging_formatter_writes() -> None:
    ours, theirs = Formatter(FORMAT), logging.Formatter(FORMAT)
    for created in (
        1_700_000_000.123,
        1_700_000_000.999,
        1_700_000_001.0,
        1_700_003_600.5,
        1_700_000_000.5,
    ):
        record = _record(created)
        assert ours.format(record) == theirs.format(_record(created))


def test_formatter_with_a_datefmt_is_the_standard_one() -> None:
    ours = Formatter("%(asctime)s %(message)s", datefmt="%H:%M")
    theirs = logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M")
    assert ours.format(_record(1_700_000_000.5)) == theirs.format(_record(1_700_000_000.5))


def test_handler_writes_lines_from_threads_whole() -> None:
    stream = io.StringIO()
    handler = StderrHandler(stream)
    handler.setFormatter(Formatter("%(message)s"))

    def emit(n: int) -> None:
        for i in range(200):
            handler.handle(_record(1_700_000_000.0, "%s-%s", (n, i)))

    threads = [threading.Thread(target=emit, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = stream.getvalue().splitlines()
    assert sorted(lines) == sorted(f"{n}-{i}" for n in range(4) for i in range(200))


def test_handler_lock_is_free_in_a_forked_child() -> None:
    handler = StderrHandler(io.StringIO())
    held, done = threading.Event(), threading.Event()

    def hold() -> None:  # another thread holds the lock while this one forks
        with handler.lock:
            held.set()
            done.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    try:
        pid = os.fork()
        if pid == 0:  # the child: the parent's held lock must not block it
            ok = handler.lock.acquire(timeout=2)
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
    finally:
        done.set()
        holder.join()
    assert os.waitstatus_to_exitcode(status) == 0


def test_handler_keeps_a_c_lock_when_gevent_hands_it_another() -> None:
    # What gevent's monkey.patch_thread(logging=True) does to every handler in each worker.
    handler = StderrHandler(io.StringIO())
    handler.lock = threading._PyRLock()  # type: ignore[attr-defined]
    assert type(handler.lock) is type(threading._CRLock())  # type: ignore[attr-defined,misc]
    handler.handle(_record(1_700_000_000.0))
    assert handler.stream.getvalue() == "hello x\n"


def test_handler_flushes_only_a_stream_that_may_buffer(tmp_path: Any) -> None:
    for unbuffered in (False, True):
        path = tmp_path / f"log{unbuffered}"
        raw = open(path, "wb", buffering=0)  # noqa: SIM115
        binary = raw if unbuffered else io.BufferedWriter(raw)
        stream = io.TextIOWrapper(binary, write_through=True)  # type: ignore[arg-type]
        handler = StderrHandler(stream)
        handler.setFormatter(Formatter("%(message)s"))
        handler.handle(_record(1_700_000_000.0))
        # The line is in the file at once either way: flushed, or never buffered.
        assert path.read_bytes() == b"hello x\n"
        flushes = []
        stream.flush = lambda: flushes.append(1)  # type: ignore[method-assign]  # noqa: B023
        handler.handle(_record(1_700_000_000.0))
        assert flushes == ([] if unbuffered else [1])
        stream.close()
