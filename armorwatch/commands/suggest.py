"""``armorwatch suggest``: AppArmor rules (and SELinux allow rules) from the stored denials.

For every profile with DENIED (or complain-mode ALLOWED) records it prints a ready file
for ``/etc/apparmor.d/local/<profile>`` with a comment per rule (event/host/process
counts, first/last seen, a sanitised example line, what the rule would allow on replay,
the narrower and broader options). Every rule was compiled with ``apparmor_parser -Q -K``;
risky rules and rules the installed parser cannot express are commented out with the
reason. ``--format json`` gives the same data for automation; ``--format markdown`` a
summary. See ``jobs/suggest/__init__.py`` for the pipeline.

``armorwatch suggest FILE...`` reads log files through a temporary store instead of
``--db`` (aa-logprof's ``-f``). ``-o DIR`` never overwrites: an existing different file
is kept and the suggestion written beside it as ``NAME.suggested``; ``--merge`` appends
only the rules an existing local file lacks (after a ``NAME.bak`` copy); ``--diff``
prints the unified diff of what would change and writes nothing.

SELinux denials give an audit2allow-style module (``selinux-allow.te``) and, as audit2why
does, which boolean would allow each one (``setsebool -P NAME 1``, in a comment), looked
up with Debian's ``setools`` in ``--selinux-policy`` (default: the loaded policy, else the
installed one); without a policy or ``sesearch`` a comment says so.

``--since`` takes a duration (``30m``, ``24h``, ``7d``, ``2w``) counted back from the
newest stored record (``--anchor latest``, the default, so old stores and the bundled
samples work) or from the current time (``--anchor now``), or an ISO timestamp.
``--until`` (an ISO timestamp) leaves out later records; a ``--since`` duration then
counts back from it. ``--host`` keeps one host's records of the store; with FILE it
names the host of records that name none instead (and filters nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import difflib
import os
import re
import shutil
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
from armorwatch.jobs import suggest as SG
from armorwatch.jobs import window
from armorwatch.jobs.abstractions import Policy
from armorwatch.jobs.suggest.selinux import with_why as selinux_why
from armorwatch.jobs.validate import ApparmorParser, ValidationError
from armorwatch.parsers import sanitize
from armorwatch.sinks.duckdb import DuckDBConfig, StoreNotFoundError, open_reader
from armorwatch.sinks.errors import SinkError

FORMATS = ("apparmor", "json", "markdown")


class UsageError(ValueError):
    """A bad argument (exit code 2)."""


def register(subparsers: Any) -> None:
    """Add the ``suggest`` subcommand."""
    p = subparsers.add_parser(
        "suggest",
        help=COMMANDS["suggest"],
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="*", type=Path, metavar="FILE",
                   help="log files (audit.log, kern.log/syslog, journalctl -o json) to "
                   "suggest from, through a temporary store, instead of --db (aa-logprof -f)")
    options.add_store(p)
    p.add_argument("--host", help="from the store: only this host's records; with FILE: "
                   "host name for records that name none (default: this machine's)")
    p.add_argument("--profile", help="only this profile (full name, e.g. /usr/sbin/nginx "
                   "or a child /usr/sbin/apache2//phpsysinfo)")
    p.add_argument("--since", help="only records since: a duration (7d, 24h) or ISO time; "
                   "default: everything stored")
    p.add_argument("--until", help="only records up to this ISO time (inclusive); a --since "
                   "duration then counts back from it")
    p.add_argument("--anchor", choices=("latest", "now"), default="latest",
                   help="what a --since duration counts back from without --until "
                   "(default: newest record)")
    p.add_argument("--format", choices=FORMATS, default="apparmor",
                   help="apparmor: local/ files (default); json: for automation; "
                   "markdown: a summary")
    p.add_argument("-o", "--output", type=Path, metavar="DIR",
                   help="write files into DIR (one per profile for apparmor) instead of stdout")
    p.add_argument("--merge", action="store_true",
                   help="with -o: append only the missing rules to an existing file, its "
                   "content kept byte-for-byte (a NAME.bak copy is made first)")
    p.add_argument("--diff", action="store_true",
                   help="with -o: print a unified diff of what would change; write nothing")
    options.add_policy(p)
    p.add_argument("--selinux-policy", type=Path, metavar="FILE",
                   help="binary SELinux policy in which to look up which boolean would allow "
                   "a denial (default: the loaded policy, else the newest "
                   "/etc/selinux/TYPE/policy/policy.N)")
    awlog.add_arguments(p)
    p.set_defaults(func=run)


def parse_until(value: str | None) -> dt.datetime | None:
    """The upper time bound of ``--until`` (an ISO time, UTC when naive), or None."""
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--until {value!r} is not an ISO time") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def parse_since(
    value: str | None,
    con: duckdb.DuckDBPyConnection,
    anchor: str,
    until: dt.datetime | None = None,
) -> dt.datetime | None:
    """The lower time bound for ``--since`` (a duration counts back from ``until``, else
    from the ``anchor``), or None for everything."""
    if not value:
        return None
    try:
        return window.since(value, until or window.window_end(con, anchor))
    except window.WindowError as e:
        raise UsageError(f"--since {e}") from None


def _safe_name(s: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._+@-]", "_", s).lstrip(".")
    return s or "_"


def output_name(ps: SG.ProfileSuggestion) -> str:
    """Relative output file for one profile: local file, ``.child`` suffixes, ns folder."""
    name = ps.local_file + "".join("." + _safe_name(c) for c in ps.path[1:])
    if ps.namespace:
        return f"namespaces/{_safe_name(ps.namespace)}/{name}"
    return name


def _write(path: Path, data: bytes, mode_from: Path | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if mode_from is not None:
            shutil.copymode(mode_from, tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _backup(path: Path) -> Path:
    """Copy ``path`` to the first free ``NAME.bak``, ``NAME.bak.1``, … (never overwritten)."""
    backup = path.with_name(path.name + ".bak")
    n = 0
    while backup.exists():
        n += 1
        backup = path.with_name(f"{path.name}.bak.{n}")
    shutil.copy2(path, backup)
    return backup


def _show(data: bytes) -> list[str]:
    return data.decode("utf-8", "replace").splitlines(keepends=True)


class _Output:
    """Writes into ``-o DIR`` without ever overwriting an existing file (see ``place``)."""

    def __init__(self, out: Path, merge: bool, diff: bool, policy: Policy) -> None:
        self.out, self.merge, self.diff, self.policy = out, merge, diff, policy

    def place(self, rel: str, text: str, what: str,
              ps: SG.ProfileSuggestion | None = None) -> None:
        """Write ``text`` as ``DIR/rel``; an existing different file is kept: the text goes
        to ``rel.suggested`` beside it, or with ``--merge`` (local files only) the missing
        rules are appended after a backup. ``--diff`` prints the change instead."""
        target = self.out / rel
        new = text.encode("utf-8")
        old = target.read_bytes() if target.is_file() else None
        if old is not None and self.merge and ps is not None:
            added, n = SG.render_additions(ps, old.decode("utf-8", "surrogateescape"),
                                           self.policy)
            sep = b"" if not old or old.endswith(b"\n") else b"\n"
            new = old + sep + added.encode("utf-8") if n else old
            what = f"{n} missing rule(s) appended"
        if self.diff:
            sys.stdout.writelines(difflib.unified_diff(
                _show(old or b""), _show(new),
                fromfile=str(target) if old is not None else "/dev/null", tofile=str(target)))
            return
        if old == new:
            print(f"{target}  unchanged ({what})")
        elif old is None:
            _write(target, new)
            print(f"{target}  ({what})")
        elif self.merge and ps is not None:
            backup = _backup(target)
            _write(target, new, mode_from=target)
            print(f"{target}  merged: {what}; the previous file is {backup}")
        else:
            side = target.with_name(target.name + ".suggested")
            _write(side, new)
            print(f"{target} exists and was left as it is: wrote {side}  ({what}; "
                  "--merge appends the missing rules, --diff shows the change)")


def run(args: argparse.Namespace) -> int:
    """Run the command; 0 ok, 2 usage or I/O error."""
    if (args.merge or args.diff) and not args.output:
        print("armorwatch suggest: --merge and --diff need -o DIR", file=sys.stderr)
        return 2
    if args.files:
        with tempfile.TemporaryDirectory(prefix="armorwatch-suggest-") as tmp:
            rc = _parse_files(args, Path(tmp))
            return rc if rc else _suggest(args)
    return _suggest(args)


def _parse_files(args: argparse.Namespace, tmp: Path) -> int:
    """Parse ``args.files`` into a store under ``tmp`` and point ``args.db`` at it."""
    # Imported here: the assembly pulls in the whole pipeline, which only FILE needs.
    from armorwatch.assembly.oneshot import InputError, run_once
    from armorwatch.assembly.settings import FileInput, RunConfig

    inputs = tuple(FileInput(p) for p in args.files)
    db = tmp / "store.duckdb"
    config = RunConfig(inputs=inputs, store=DuckDBConfig(path=db),
                       dead_letter=tmp / "rejected.jsonl", host=args.host)
    try:
        outcome = asyncio.run(run_once(config))
    except InputError as exc:
        print(f"armorwatch suggest: {exc}", file=sys.stderr)
        return 2
    except (CollectorError, IngestError, SinkError) as exc:
        print(f"armorwatch suggest: {sanitize.for_terminal(str(exc))}", file=sys.stderr)
        return 1
    st = outcome.stored
    print(f"armorwatch suggest: read {len(inputs)} file(s): {st.rows_received} MAC "
          f"record(s), {outcome.collected.rejects} rejected line(s)", file=sys.stderr)
    args.db = db
    return 0


def _suggest(args: argparse.Namespace) -> int:
    try:
        con, _ = open_reader(args.db)
    except (StoreNotFoundError, duckdb.Error, OSError) as exc:
        print(f"armorwatch suggest: cannot open the store: {exc}", file=sys.stderr)
        return 2
    try:
        until = parse_until(args.until)
        since = parse_since(args.since, con, args.anchor, until)
        parser = None if args.no_validate else ApparmorParser.find()
        if parser is None and not args.no_validate:
            print("armorwatch suggest: apparmor_parser not found; rules are NOT validated",
                  file=sys.stderr)
        # With FILE, --host named the records that name no host (every record is the
        # files'); from a store it keeps that host's records.
        host = None if args.files else args.host
        result = SG.suggest(con, since=since, profile=args.profile, until=until, host=host,
                            validate=parser is not None, parser=parser,
                            policy_root=args.policy_dir,
                            progress=awlog.progress)
    except UsageError as exc:
        print(f"armorwatch suggest: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"armorwatch suggest: {exc}", file=sys.stderr)
        return 1
    finally:
        con.close()
    result = selinux_why(result, args.selinux_policy)
    try:
        return _emit(result, args)
    except BrokenPipeError:
        raise  # the reader went away (| head): the CLI exits quietly
    except OSError as exc:
        print(f"armorwatch suggest: {exc}", file=sys.stderr)
        return 2


def _emit(result: SG.SuggestResult, args: argparse.Namespace) -> int:
    out = (_Output(args.output, args.merge, args.diff, Policy.load(args.policy_dir))
           if args.output else None)
    if args.format == "json":
        data = orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n"
        if out:
            out.place("suggestions.json", data, f"{len(result.profiles)} profile(s)")
        else:
            sys.stdout.write(data)
        return 0
    if args.format == "markdown":
        text = SG.render_markdown(result)
        if out:
            out.place("suggestions.md", text, f"{len(result.profiles)} profile(s)")
        else:
            sys.stdout.write(text)
        return 0
    if not result.profiles and not result.selinux:
        print("# no denials in range: nothing to suggest", file=sys.stderr)
    for ps in result.profiles:
        text = SG.render_apparmor(ps, result.parser)
        if out:
            out.place(output_name(ps), text,
                      f"{len(ps.rules)} rule(s), snippet {ps.snippet_status}", ps)
        else:
            sys.stdout.write(f"### /etc/apparmor.d/local/{ps.local_file}"
                             f"  (profile {sanitize.for_terminal(ps.profile)})\n{text}\n")
    if result.selinux:
        text = SG.render_selinux(result.selinux, note=result.selinux_note)
        if out:
            out.place("selinux-allow.te", text, f"{len(result.selinux)} rule(s)")
        else:
            sys.stdout.write("### SELinux (audit2allow style)\n" + text)
    return 0
