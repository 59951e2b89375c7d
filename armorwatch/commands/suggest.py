"""``armorwatch suggest``: AppArmor rules (and SELinux allow rules) from the stored denials.

For every profile with DENIED (or complain-mode ALLOWED) records it prints a ready file
for ``/etc/apparmor.d/local/<profile>`` with a comment per rule (event/host/process
counts, first/last seen, a sanitised example line, what the rule would allow on replay,
the narrower and broader options). Every rule was compiled with ``apparmor_parser -Q -K``;
risky rules and rules the installed parser cannot express are commented out with the
reason. ``--format json`` gives the same data for automation; ``--format markdown`` a
summary. See ``jobs/suggest.py`` for the pipeline.

``--since`` takes a duration (``30m``, ``24h``, ``7d``, ``2w``) counted back from the
newest stored record (``--anchor latest``, the default, so old stores and the bundled
samples work) or from the current time (``--anchor now``), or an ISO timestamp.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path
from typing import Any

import duckdb
import orjson

from armorwatch import logging as awlog
from jobs import suggest as SG
from jobs import window
from jobs.validate import ApparmorParser, ValidationError
from parsers import sanitize
from sinks.duckdb import StoreNotFoundError, open_reader

DEFAULT_DB = Path("armorwatch.duckdb")
FORMATS = ("apparmor", "json", "markdown")


class UsageError(ValueError):
    """A bad argument (exit code 2)."""


def register(subparsers: Any) -> None:
    """Add the ``suggest`` subcommand."""
    p = subparsers.add_parser(
        "suggest",
        help="suggest AppArmor rules (validated by apparmor_parser) and SELinux allow rules",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--db", type=Path, default=DEFAULT_DB,
                   help=f"the armorwatch DuckDB store (default: {DEFAULT_DB})")
    p.add_argument("--profile", help="only this profile (full name, e.g. /usr/sbin/nginx "
                   "or a child /usr/sbin/apache2//phpsysinfo)")
    p.add_argument("--since", help="only records since: a duration (7d, 24h) or ISO time; "
                   "default: everything stored")
    p.add_argument("--anchor", choices=("latest", "now"), default="latest",
                   help="what a --since duration counts back from (default: newest record)")
    p.add_argument("--format", choices=FORMATS, default="apparmor",
                   help="apparmor: local/ files (default); json: for automation; "
                   "markdown: a summary")
    p.add_argument("-o", "--output", type=Path, metavar="DIR",
                   help="write files into DIR (one per profile for apparmor) instead of stdout")
    p.add_argument("--no-validate", action="store_true",
                   help="do not run apparmor_parser (rules are then marked unchecked)")
    p.add_argument("--policy-dir", type=Path, default=Path("/etc/apparmor.d"),
                   help="AppArmor policy for tunables and abstractions (default: /etc/apparmor.d)")
    awlog.add_arguments(p)
    p.set_defaults(func=run)


def parse_since(
    value: str | None, con: duckdb.DuckDBPyConnection, anchor: str
) -> dt.datetime | None:
    """The lower time bound for ``--since``, or None for everything."""
    if not value:
        return None
    try:
        return window.since(value, window.window_end(con, anchor))
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


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, "utf-8")
    tmp.replace(path)


def run(args: argparse.Namespace) -> int:
    """Run the command; 0 ok, 2 usage or I/O error."""
    try:
        con, _ = open_reader(args.db)
    except (StoreNotFoundError, duckdb.Error, OSError) as exc:
        print(f"armorwatch suggest: cannot open the store: {exc}", file=sys.stderr)
        return 2
    try:
        since = parse_since(args.since, con, args.anchor)
        parser = None if args.no_validate else ApparmorParser.find()
        if parser is None and not args.no_validate:
            print("armorwatch suggest: apparmor_parser not found; rules are NOT validated",
                  file=sys.stderr)
        result = SG.suggest(con, since=since, profile=args.profile,
                            validate=parser is not None, parser=parser,
                            policy_root=args.policy_dir)
    except UsageError as exc:
        print(f"armorwatch suggest: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"armorwatch suggest: {exc}", file=sys.stderr)
        return 1
    finally:
        con.close()
    try:
        return _emit(result, args)
    except BrokenPipeError:
        raise  # the reader went away (| head): the CLI exits quietly
    except OSError as exc:
        print(f"armorwatch suggest: {exc}", file=sys.stderr)
        return 2


def _emit(result: SG.SuggestResult, args: argparse.Namespace) -> int:
    out: Path | None = args.output
    if args.format == "json":
        data = orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n"
        if out:
            _write(out / "suggestions.json", data)
        else:
            sys.stdout.write(data)
        return 0
    if args.format == "markdown":
        text = SG.render_markdown(result)
        if out:
            _write(out / "suggestions.md", text)
        else:
            sys.stdout.write(text)
        return 0
    if not result.profiles and not result.selinux:
        print("# no denials in range: nothing to suggest", file=sys.stderr)
    for ps in result.profiles:
        text = SG.render_apparmor(ps, result.parser)
        if out:
            target = out / output_name(ps)
            _write(target, text)
            print(f"{target}  ({len(ps.rules)} rule(s), snippet {ps.snippet_status})")
        else:
            sys.stdout.write(f"### /etc/apparmor.d/local/{ps.local_file}"
                             f"  (profile {sanitize.for_terminal(ps.profile)})\n{text}\n")
    if result.selinux:
        text = SG.render_selinux(result.selinux)
        if out:
            _write(out / "selinux-allow.te", text)
            print(f"{out / 'selinux-allow.te'}  ({len(result.selinux)} rule(s))")
        else:
            sys.stdout.write("### SELinux (audit2allow style)\n" + text)
    return 0
