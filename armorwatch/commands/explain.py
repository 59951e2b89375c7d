"""``armorwatch explain``: why one record was denied and what would allow it (audit2why).

``armorwatch explain RID`` explains a stored record (its ``rid``, or a unique prefix of it,
as ``armorwatch query`` shows); ``armorwatch explain --line 'RAW LINE'`` a pasted audit.log,
kern.log/syslog or ``journalctl -o json`` line. It prints the profile and the installed
policy file defining it, the installed allow or ``deny`` rule that matches (and which),
the rule ``armorwatch suggest`` would write for it with its risk and severity rank, the
abstractions that also allow it, and how many stored records show the same access (from
``--db`` when that store exists). For an SELinux record: the allow rule and, as audit2why
does, which boolean would allow it (``setsebool -P NAME 1``), looked up with Debian's
``setools`` (``sesearch``) in ``--selinux-policy`` (default: the loaded policy, else the
installed one of /etc/selinux/config).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import orjson

from armorwatch import logging as awlog
from armorwatch.commands import COMMANDS, options
from armorwatch.ingest.collector import CollectorError
from armorwatch.ingest.errors import IngestError
from armorwatch.jobs import explain as EX
from armorwatch.jobs import sqlfiles
from armorwatch.jobs import suggest as SG
from armorwatch.jobs.abstractions import Policy
from armorwatch.jobs.suggest import selinux as SE
from armorwatch.jobs.validate import ApparmorParser
from armorwatch.parsers import sanitize
from armorwatch.parsers import schema as S
from armorwatch.sinks.duckdb import DuckDBConfig, StoreNotFoundError, open_reader
from armorwatch.sinks.errors import SinkError

# File names that make the runner read a raw line with the right framing.
_FILE_FOR_SOURCE = {S.SOURCE_JOURNALD: "journal.json", S.SOURCE_AUDITLOG: "audit.log"}


def register(subparsers: Any) -> None:
    """Add the ``explain`` subcommand."""
    p = subparsers.add_parser(
        "explain", help=COMMANDS["explain"],
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("rid", nargs="?", help="a stored record's rid (or a unique prefix)")
    p.add_argument("--line", help="explain this raw log line instead of a stored record")
    options.add_store(p)
    p.add_argument("--host", help="with --line: host name when the line names none")
    p.add_argument("--format", choices=("text", "json"), default="text")
    options.add_policy(p)
    p.add_argument("--selinux-policy", type=Path, metavar="FILE",
                   help="binary SELinux policy to look booleans up in (default: the loaded "
                   "policy, else the newest /etc/selinux/TYPE/policy/policy.N)")
    awlog.add_arguments(p)
    p.set_defaults(func=run)


class _Failure(Exception):
    """A message and an exit code."""

    def __init__(self, msg: str, code: int) -> None:
        super().__init__(msg)
        self.code = code


def _rows(con: duckdb.DuckDBPyConnection, job: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cur = sqlfiles.load(job).execute(con, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def _stored(db: Path, rid: str) -> dict[str, Any]:
    try:
        con, _ = open_reader(db)
    except (StoreNotFoundError, duckdb.Error, OSError) as exc:
        raise _Failure(f"cannot open the store: {exc}", 2) from None
    try:
        rows = _rows(con, "suggest_record", {"rid": rid.lower().replace("-", "")})
    finally:
        con.close()
    if not rows:
        raise _Failure(f"no stored record has rid {rid!r}", 1)
    if len(rows) > 1:
        raise _Failure(f"rid {rid!r} is ambiguous: give more of it", 2)
    return rows[0]


def _source_of_line(line: str) -> str:
    s = line.lstrip()
    if s.startswith("{"):
        return S.SOURCE_JOURNALD
    return S.SOURCE_AUDITLOG if s.startswith(("type=", "node=")) else S.SOURCE_KERNLOG


def _scratch(raw: bytes, source: str, host: str | None, tmp: Path) -> Path:
    """A store holding only the record of ``raw`` (parsed as the real pipeline does)."""
    log = tmp / _FILE_FOR_SOURCE.get(source, "kern.log")
    log.write_bytes(raw if raw.endswith(b"\n") else raw + b"\n")
    db = tmp / "scratch.duckdb"
    # Imported here: the assembly pulls in the whole pipeline, which only --line needs.
    from armorwatch.assembly.oneshot import InputError, run_once
    from armorwatch.assembly.settings import FileInput, RunConfig

    config = RunConfig(inputs=(FileInput(log),), store=DuckDBConfig(path=db),
                       dead_letter=tmp / "rejected.jsonl", host=host)
    try:
        outcome = asyncio.run(run_once(config))
    except InputError as exc:
        raise _Failure(sanitize.for_terminal(str(exc)), 2) from None
    if outcome.stored.rows_received == 0:
        raise _Failure("the line holds no AppArmor/SELinux record armorwatch can parse", 1)
    return db


def _similar(db: Path, rec: dict[str, Any], result: SG.SuggestResult) -> dict[str, Any] | None:
    if not db.is_file():
        return None
    try:
        con, _ = open_reader(db)
    except (StoreNotFoundError, duckdb.Error, OSError) as exc:
        raise _Failure(f"cannot open the store: {exc}", 2) from None
    try:
        if rec.get(S.LSM) == S.LSM_SELINUX and result.selinux:
            se = result.selinux[0]
            return _rows(con, "suggest_similar_selinux", {
                "source_type": se.source_type, "target_type": se.target_type,
                "tclass": se.tclass, "perms": se.perms})[0]
        return _rows(con, "suggest_similar", {k: rec.get(k) for k in (
            "profile", "operation", "class", "name", "capname", "denied_mask")})[0]
    finally:
        con.close()


def _selinux_why(result: SG.SuggestResult, policy: Path | None) -> list[SE.Why] | str | None:
    """audit2why for the record's SELinux rule, or the one line saying why it cannot be had."""
    return SE.lookup(result.selinux, policy) if result.selinux else None


def run(args: argparse.Namespace) -> int:
    """Run the command; 0 ok, 1 nothing to explain, 2 usage or I/O error."""
    if (args.rid is None) == (args.line is None):
        print("armorwatch explain: give a record's RID or --line 'RAW LINE'", file=sys.stderr)
        return 2
    try:
        if args.line is not None:
            raw, source, host = args.line.encode("utf-8", "surrogateescape"), \
                _source_of_line(args.line), args.host
        else:
            stored = _stored(args.db, args.rid)
            raw, source, host = bytes(stored["raw"]), stored["source"], stored["host"]
        parser = None if args.no_validate else ApparmorParser.find()
        with tempfile.TemporaryDirectory(prefix="armorwatch-explain-") as tmp:
            scratch = _scratch(raw, source, host, Path(tmp))
            con, _ = open_reader(scratch)
            try:
                recs = _rows(con, "suggest_record", {"rid": ""})
                if len(recs) != 1:
                    raise _Failure("--line holds more than one record: give one line", 2)
                rec = recs[0]
                result = SG.suggest(con, validate=parser is not None, parser=parser,
                                    policy_root=args.policy_dir)
            finally:
                con.close()
        similar = _similar(args.db, rec, result)
    except _Failure as exc:
        print(f"armorwatch explain: {exc}", file=sys.stderr)
        return exc.code
    except (CollectorError, IngestError, SinkError) as exc:
        print(f"armorwatch explain: {sanitize.for_terminal(str(exc))}", file=sys.stderr)
        return 1
    ex = EX.explain(rec, result, Policy.load(args.policy_dir), similar,
                    _selinux_why(result, args.selinux_policy))
    if args.format == "json":
        sys.stdout.write(orjson.dumps(ex, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(EX.render_text(ex))
    return 0
