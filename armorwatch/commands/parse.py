"""``armorwatch parse``: log files → MAC records (JSON lines, Arrow IPC or Parquet).

Reads each FILE (``-`` = stdin) in bounded chunks through one ``parsers.stream.Parser``
per file, so memory does not grow with the file. JSON lines carry one object per MAC
record whose keys are the schema's column names; null columns are omitted, ``ts`` is
ISO 8601 UTC, ``raw`` is the line as UTF-8 text (undecodable bytes as ``\\xNN``).
A record whose framing names no host (audit.log without ``node=``) gets ``--host`` or
this machine's name, never null. A summary goes to stderr. Exit 0 even when lines were
rejected; 2 for usage or I/O errors.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa

from armorwatch import logging as awlog
from armorwatch.commands import COMMANDS
from armorwatch.parsers import sanitize
from armorwatch.parsers import schema as S
from armorwatch.parsers.result import HostInfo, ParseResult
from armorwatch.parsers.stream import FRAMINGS, Parser

CHUNK = 8 << 20
FORMATS = ("jsonl", "arrow", "parquet")
SOURCES = (
    S.SOURCE_AUDITLOG,
    S.SOURCE_KERNLOG,
    S.SOURCE_SYSLOG,
    S.SOURCE_DMESG,
    S.SOURCE_JOURNALD,
    S.SOURCE_SAMPLE,
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``parse``."""
    p = sub.add_parser(
        "parse",
        help=COMMANDS["parse"],
        description=(
            "Parse AppArmor and SELinux records from audit.log, kern.log/syslog/dmesg "
            "or `journalctl -o json` files (framing detected per line) and write one "
            "record per MAC event record. A summary of records and rejected lines goes "
            "to stderr; rejected lines never stop the run (exit 0)."
        ),
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="input files; - reads stdin")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="jsonl",
        help="jsonl: one JSON object per record (default); arrow: Arrow IPC stream; "
        "parquet: a Parquet file",
    )
    p.add_argument(
        "-o", "--output", metavar="OUT", default="-", help="output file (default: stdout)"
    )
    p.add_argument(
        "--source",
        choices=SOURCES,
        default=None,
        help="value of the source column (default: guessed from each file name)",
    )
    p.add_argument(
        "--framing", choices=FRAMINGS, default="auto", help="input framing (default: auto)"
    )
    p.add_argument(
        "--host",
        default=None,
        help="host name for records that carry none (audit.log without node=); "
        "default: this machine's",
    )
    p.add_argument(
        "--year",
        type=int,
        default=None,
        help="year of RFC 3164 syslog timestamps, which carry none (default: this year)",
    )
    p.add_argument(
        "--rejects",
        metavar="FILE",
        default=None,
        help="also write rejected lines (reason + raw bytes) as JSON lines to FILE",
    )
    awlog.add_arguments(p)
    # a batch command: the process ends without the interpreter's teardown (cli.main)
    p.set_defaults(func=run, fast_exit=True)


def guess_source(name: str) -> str:
    """The source column value for an input file name."""
    low = Path(name).name.lower()
    if "journal" in low or low.endswith(".json"):
        return S.SOURCE_JOURNALD
    if "kern" in low:
        return S.SOURCE_KERNLOG
    if "dmesg" in low:
        return S.SOURCE_DMESG
    if "syslog" in low or "messages" in low:
        return S.SOURCE_SYSLOG
    return S.SOURCE_AUDITLOG


def _chunks(f: IO[bytes]) -> Iterator[bytes]:
    while True:
        data = f.read(CHUNK)
        if not data:
            return
        yield data


def _advise_sequential(f: IO[bytes]) -> None:
    """Ask for sequential read-ahead (helps a cold page cache; a pipe has none: ESPIPE)."""
    with suppress(OSError):
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return value


def record_json(row: dict[str, Any]) -> bytes:
    """One record as a JSON line: schema column names, nulls omitted."""
    obj = {k: _json_value(v) for k, v in row.items() if v is not None}
    return orjson.dumps(obj, option=orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE)


class _Writer:
    """Writes MAC batches in the chosen format."""

    def __init__(self, fmt: str, out: IO[bytes]) -> None:
        self.fmt = fmt
        self.out = out
        self._ipc: pa.ipc.RecordBatchStreamWriter | None = None
        self._pq: Any = None

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0 and self.fmt == "jsonl":
            return
        if self.fmt == "jsonl":
            self.out.write(b"".join(record_json(r) for r in batch.to_pylist()))
        elif self.fmt == "arrow":
            if self._ipc is None:
                self._ipc = pa.ipc.new_stream(self.out, S.MAC_SCHEMA)
            self._ipc.write_batch(batch)
        else:
            import pyarrow.parquet as pq

            if self._pq is None:
                self._pq = pq.ParquetWriter(self.out, S.MAC_SCHEMA, compression="zstd")
            if batch.num_rows:
                self._pq.write_batch(batch)

    def close(self) -> None:
        if self.fmt == "arrow":
            if self._ipc is None:
                self._ipc = pa.ipc.new_stream(self.out, S.MAC_SCHEMA)
            self._ipc.close()
        elif self.fmt == "parquet":
            if self._pq is None:
                self.write(S.empty_batch())
            self._pq.close()
        self.out.flush()


def run(args: argparse.Namespace) -> int:
    """Parse every file; 0 when all were read, 2 on an I/O error."""
    totals = {"records": 0, "rejects": 0, "loss": 0, "lines": 0}
    with ExitStack() as stack:
        try:
            if args.output == "-":
                out: IO[bytes] = sys.stdout.buffer
            else:
                out = stack.enter_context(open(args.output, "wb"))
            rej_out: IO[bytes] | None = None
            if args.rejects:
                rej_out = stack.enter_context(open(args.rejects, "wb"))
        except OSError as e:
            print(f"armorwatch parse: cannot write: {e}", file=sys.stderr)
            return 2
        writer = _Writer(args.format, out)
        # As `run` and `collect` do: a record never leaves without a host (NULL would not
        # say where it came from). Only the name: this machine's boot_id may not apply.
        host = args.host or socket.gethostname()

        def take(res: ParseResult) -> None:
            writer.write(res.records)
            totals["records"] += res.records.num_rows
            totals["rejects"] += res.rejects.num_rows
            totals["loss"] += res.loss.num_rows
            totals["lines"] += res.lines
            if rej_out is not None and res.rejects.num_rows:
                rej_out.write(b"".join(record_json(r) for r in res.rejects.to_pylist()))

        for name in args.files:
            source = args.source or (S.SOURCE_AUDITLOG if name == "-" else guess_source(name))
            parser = Parser(source, HostInfo(host=host), args.framing, year=args.year)
            try:
                with ExitStack() as fstack:
                    f: IO[bytes] = (
                        sys.stdin.buffer if name == "-" else fstack.enter_context(open(name, "rb"))
                    )
                    if name != "-":
                        _advise_sequential(f)
                    offset = 0
                    for data in _chunks(f):
                        take(parser.feed(data, offset))
                        offset += len(data)
                    take(parser.flush())
            except BrokenPipeError:
                raise  # the reader went away (| head): the CLI exits quietly
            except OSError as e:
                print(f"armorwatch parse: cannot read {name}: {e}", file=sys.stderr)
                return 2
        writer.close()
    print(
        f"armorwatch parse: {totals['records']} records, {totals['rejects']} rejected lines, "
        f"{totals['loss']} loss reports, {totals['lines']} lines read; "
        f"records that name no host were given host {sanitize.for_terminal(host)!r}",
        file=sys.stderr,
    )
    return 0
