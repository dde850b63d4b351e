"""``python -m streamer.client URL``: print a stream as it arrives.

Payloads go to stdout as soon as each arrives (flushed); one summary line goes to stderr at the
end; the exit status says how the stream ended (see ``EPILOG``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, BinaryIO, TextIO

from ..wire.decoders import DEFAULT_MAX_LINE, ProtocolError
from ..wire.framing import dumps
from ..wire.records import Data
from ._client import Client
from ._errors import (
    ConnectFailed,
    HTTPStatusError,
    IdleTimeout,
    IncompleteStream,
    StreamErrorRecord,
)

EXIT_COMPLETE = 0
EXIT_USAGE = 2  # argparse's
EXIT_HTTP = 3
EXIT_STREAM_ERROR = 4
EXIT_INCOMPLETE = 5
EXIT_CONNECT = 6
EXIT_PROTOCOL = 7
EXIT_INTERRUPTED = 130

EPILOG = f"""\
output:
  Payloads are printed as they arrive: text as it is, other JSON payloads one per line.
  A summary line goes to stderr at the end.

exit status:
  {EXIT_COMPLETE}    the stream completed (ndjson/sse: its end record arrived;
       text: the body ended properly)
  {EXIT_USAGE}    bad usage (arguments)
  {EXIT_HTTP}    the server refused the stream with an HTTP error status (4xx/5xx)
  {EXIT_STREAM_ERROR}    the server reported an error in the stream (an in-band error record)
  {EXIT_INCOMPLETE}    the stream is incomplete: cut, ended without its end record, or silent
       longer than --timeout (after --resume gave up, if given)
  {EXIT_CONNECT}    could not connect
  {EXIT_PROTOCOL}    the server broke the wire format (invalid UTF-8, a line over
       --max-line, a malformed record)
  1    stdout was closed (broken pipe), or an unexpected error
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)

environment:
  STREAMER_TOKEN   the API key, when --token is not given
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m streamer.client",
        description="Print a streamer stream as it arrives.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "url", help="the stream's URL, e.g. http://127.0.0.1:8000/stream/data?count=5&interval=0.5"
    )
    parser.add_argument(
        "--data", metavar="JSON", help="send a POST with this JSON body (default: GET)"
    )
    parser.add_argument(
        "--format",
        choices=("text", "ndjson", "sse"),
        default="ndjson",
        help="wire format to ask for (default: ndjson; text cannot tell an "
        "in-band error from a cut)",
    )
    parser.add_argument(
        "--token", help="API key sent as 'Authorization: Bearer ...' (default: $STREAMER_TOKEN)"
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=60.0,
        metavar="S",
        help="longest silence allowed, in seconds; heartbeats count as "
        "data (default: 60; 0: wait forever)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reconnect after a dropped connection with Last-Event-ID (ndjson, sse)",
    )
    parser.add_argument(
        "--max-retries",
        type=int,
        default=5,
        metavar="N",
        help="with --resume: failed reconnections in a row before giving up (default: 5)",
    )
    parser.add_argument(
        "--max-line",
        type=int,
        default=DEFAULT_MAX_LINE,
        metavar="N",
        help=f"longest line accepted, in characters (default: {DEFAULT_MAX_LINE})",
    )
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="NAME:VALUE",
        help="an extra request header (repeatable)",
    )
    return parser


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not 0 <= seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds: {value!r}")
    return seconds


def main(
    argv: Sequence[str] | None = None, stdout: BinaryIO | None = None, stderr: TextIO | None = None
) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = stdout if stdout is not None else sys.stdout.buffer
    err = stderr if stderr is not None else sys.stderr
    if not args.url.startswith(("http://", "https://")):
        parser.error(f"URL must start with http:// or https://: {args.url!r}")
    body: Any = None
    if args.data is not None:
        try:
            body = json.loads(args.data)
        except ValueError as exc:
            parser.error(f"--data is not valid JSON: {exc}")
    headers = {}
    for header in args.header:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            parser.error(f"--header must look like 'Name: value', got {header!r}")
        headers[name.strip()] = value.strip()
    if args.max_line < 1 or args.max_retries < 0:
        parser.error("--max-line must be 1 or more and --max-retries 0 or more")

    token = args.token or os.environ.get("STREAMER_TOKEN") or None
    started = time.monotonic()
    summary, code = "", EXIT_COMPLETE
    with Client(
        token=token, timeout=args.timeout or None, max_line=args.max_line, headers=headers
    ) as client:
        try:
            summary = _run(client, args, body, out)
        except HTTPStatusError as exc:
            summary, code = f"server error: {exc}", EXIT_HTTP
        except StreamErrorRecord as exc:
            summary, code = f"stream error: {exc}", EXIT_STREAM_ERROR
        except (IncompleteStream, IdleTimeout) as exc:
            summary, code = f"incomplete: {exc}", EXIT_INCOMPLETE
        except ConnectFailed as exc:
            summary, code = f"connection failed: {exc}", EXIT_CONNECT
        except ProtocolError as exc:
            summary, code = f"protocol error: {exc}", EXIT_PROTOCOL
        except KeyboardInterrupt:
            summary, code = "interrupted", EXIT_INTERRUPTED
        except BrokenPipeError:
            # stdout is gone (| head): stop quietly. Point stdout at devnull so the
            # interpreter's final flush does not raise again (Python docs, "Note on SIGPIPE").
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
            return 1
    err.write(f"streamer: {summary} ({time.monotonic() - started:.2f} s)\n")
    err.flush()
    return code


def _run(client: Client, args: argparse.Namespace, body: Any, out: BinaryIO) -> str:
    write, flush = out.write, out.flush
    if args.format == "text":
        with client.text(args.url, json=body) as text:
            for piece in text:
                write(piece.encode("utf-8"))
                flush()
        return f"complete: {text.received} character(s), {text.bytes} byte(s)"
    with client.records(
        args.url, format=args.format, json=body, resume=args.resume, max_retries=args.max_retries
    ) as stream:
        for record in stream:
            if type(record) is Data:
                payload = record.data
                write(
                    payload.encode("utf-8")
                    if isinstance(payload, str)
                    else dumps(payload).encode("utf-8") + b"\n"
                )
                flush()
    resumed = f", {stream.reconnects} reconnection(s)" if stream.reconnects else ""
    return f"complete: {stream.received} record(s), {stream.bytes} byte(s){resumed}"
