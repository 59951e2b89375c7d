"""``armorwatch review``: aa-logprof's workflow over the fleet's suggestions, in a terminal.

One screen per profile: its suggested rules (those ``armorwatch suggest`` would write
active start as allow, the others as skip), and the evidence of the selected rule
(events, hosts, commands, example line, risk, severity rank, notes). Keys:

  j/k or arrows  move        a  allow      d  deny      s  skip
  g  glob the path one step (/a/b/c → /a/b/* → /a/** …, aa-logprof's Glob)
  e  glob keeping the extension (/a/b/c.conf → /a/b/*.conf → /a/**.conf)
  b  the broader directory glob suggest offers (with ≥3 paths)   u  back to the exact rule
  i  use the next abstraction that allows it (include) / back to the rule
  n/p  next / previous profile
  w  write the files and quit      r  write, reload the profiles (apparmor_parser -r), quit
  q  quit without writing

``w`` writes one ``local/`` file per profile with a decision into ``-o DIR``, never
overwriting: an existing file is kept and the text goes to ``NAME.suggested`` beside it
(as ``armorwatch suggest -o`` does), or with ``--merge`` the reviewed lines it lacks are
appended to it after a ``NAME.bak`` copy. ``r`` then runs ``apparmor_parser -r`` on the
installed policy file of each profile whose local file it changed in place (only when
``-o`` is ``POLICY-DIR/local``, the directory those files include). Uses the standard
library's curses.
"""

from __future__ import annotations

import argparse
import curses
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import duckdb

from armorwatch import logging as awlog
from armorwatch.commands import COMMANDS, options
from armorwatch.commands import suggest as suggest_cmd
from armorwatch.jobs import apparmor_rules as R
from armorwatch.jobs import risky
from armorwatch.jobs import suggest as SG
from armorwatch.jobs.abstractions import Policy
from armorwatch.jobs.installed import Installed
from armorwatch.jobs.validate import ApparmorParser
from armorwatch.parsers import sanitize
from armorwatch.sinks.duckdb import StoreNotFoundError, open_reader

ALLOW, DENY, SKIP = "allow", "deny", "skip"
_RELOAD_TIMEOUT: Final = 120.0  # a bound on one apparmor_parser -r, not an estimate
# A file or exec rule: optional owner, the path token (quoted or not), the rest.
_PATH_RULE: Final = re.compile(r'^((?:audit\s+)?(?:owner\s+)?)("(?:[^"\\]|\\.)*"|/\S*)(\s.*)$')


def register(subparsers: Any) -> None:
    """Add the ``review`` subcommand."""
    p = subparsers.add_parser(
        "review", help=COMMANDS["review"],
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    options.add_store(p)
    p.add_argument("--profile", help="only this profile")
    p.add_argument("-o", "--output", type=Path, metavar="DIR", required=True,
                   help="directory for the local/ files (e.g. /etc/apparmor.d/local)")
    p.add_argument("--merge", action="store_true",
                   help="append the reviewed lines an existing local file lacks to it (its "
                   "content kept byte-for-byte, a NAME.bak copy made first) instead of "
                   "writing NAME.suggested beside it")
    options.add_policy(p)
    awlog.add_arguments(p)
    p.set_defaults(func=run)


def glob_path(path: str) -> str:
    """aa-logprof's Glob step: the last component becomes ``*``, a ``*``/``**`` last
    component widens to ``**`` one directory up (``/a/b/c`` → ``/a/b/*`` → ``/a/**``)."""
    if path.endswith("/"):
        if path.endswith(("/**/", "/*/")):
            return re.sub(r"/[^/]+/\*{1,2}/$", "/**/", path)
        if re.search(r"/[^/]+\*\*[^/]*/$", path):
            return re.sub(r"/[^/]+\*\*[^/]*/$", "/**/", path)
        if re.search(r"/\*\*[^/]+/$", path):
            return re.sub(r"/\*\*[^/]+/$", "/**/", path)
        return re.sub(r"/[^/]+/$", "/*/", path)
    if path.endswith(("/**", "/*")):
        return re.sub(r"/[^/]+/\*{1,2}$", "/**", path)
    if re.search(r"/[^/]*\*\*[^/]+$", path):
        return re.sub(r"/[^/]*\*\*[^/]+$", "/**", path)
    if re.search(r"/[^/]+\*\*$", path):
        return re.sub(r"/[^/]+\*\*$", "/**", path)
    return re.sub(r"/[^/]+$", "/*", path)


def glob_path_ext(path: str) -> str:
    """aa-logprof's Glob-with-extension step (``/a/b/c.conf`` → ``/a/b/*.conf`` →
    ``/a/**.conf``); a path without an extension is returned as it is."""
    for find, widen in (
        (r"/\*{1,2}(\.[^/]+)$", r"/[^/]+/\*{1,2}\.[^/]+$"),  # /a/*.x, /a/**.x -> /**.x up
        (r"/[^/]+\*\*[^/]*(\.[^/]+)$", r"/[^/]+\*\*[^/]*\.[^/]+$"),  # /a**b.x -> /**.x
        (r"/\*\*[^/]+(\.[^/]+)$", r"/\*\*[^/]+\.[^/]+$"),  # /**b.x -> /**.x
    ):
        if m := re.search(find, path):
            w = re.search(widen, path)
            return path[: w.start()] + "/**" + m.group(1) if w else path  # /**.x stays
    if m := re.search(r"/[^/]+(\.[^/]+)$", path):
        return path[: m.start()] + "/*" + m.group(1)
    return path


def _split(rule: str) -> tuple[str, str, str, bool] | None:
    """(before, path, after, quoted) of a file/exec rule's path token, None otherwise."""
    m = _PATH_RULE.match(rule)
    if m is None:
        return None
    token = m.group(2)
    quoted = token.startswith('"')
    return m.group(1), token[1:-1] if quoted else token, m.group(3), quoted


@dataclass
class Choice:
    """The reviewer's decision on one suggested rule."""

    sug: SG.Suggestion
    decision: str
    broad: bool = False  # the offered broader directory glob (sug.broader)
    path: str | None = None  # the path globbed with g/e, None: the rule's own
    include: int = -1  # index into sug.abstractions, -1: the rule itself

    def globbable(self) -> bool:
        """Whether g/e apply (a file or exec rule)."""
        return self.sug.kind in (R.FILE, R.EXEC) and _split(self.sug.rule) is not None

    def glob(self, step: Any) -> None:
        """Apply one glob step (``glob_path`` or ``glob_path_ext``) to the current path."""
        parts = _split(self.sug.rule)
        if parts is None or self.sug.kind not in (R.FILE, R.EXEC):
            return
        self.broad, self.include = False, -1
        self.path = step(self.path if self.path is not None else parts[1])

    def text(self) -> str:
        """The rule as chosen (before allow/deny)."""
        if self.broad and self.sug.broader:
            return self.sug.broader
        parts = _split(self.sug.rule)
        if self.path is not None and parts is not None:
            before, _, after, quoted = parts
            return before + (f'"{self.path}"' if quoted else self.path) + after
        return self.sug.rule

    def line(self) -> str:
        """The policy line this decision writes ('' for skip)."""
        if self.decision == SKIP:
            return ""
        if self.include >= 0:
            text = f"include <abstractions/{self.sug.abstractions[self.include]}>"
            return text if self.decision == ALLOW else f"# (deny of an include) {text}"
        text = self.text()
        return text if self.decision == ALLOW else f"deny {text}"

    def pattern_risk(self, policy: Policy) -> str | None:
        """What risky path a globbed pattern reaches (the exact rule's risk is the
        suggestion's own)."""
        pattern = self.sug.broader if self.broad else self.path
        if pattern is None or self.decision != ALLOW:
            return None
        if pattern.startswith('"'):
            pattern = pattern[1:-1]
        risk = risky.rule_match_pattern(lambda p: policy.matches(pattern, p))
        return f"{risk.severity}: {risk.reason} ({risk.what})" if risk else None


def render(ps: SG.ProfileSuggestion, choices: list[Choice]) -> str:
    """The local/ file text of one profile's decisions."""
    out = [f"# armorwatch review: rules for profile {sanitize.for_terminal(ps.profile)}"]
    seen: set[str] = set()  # two rules globbed to the same line are written once
    for c in choices:
        ln = c.line()
        if ln and ln not in seen:
            seen.add(ln)
            out.append(SG.comment(SG.evidence_line(c.sug.evidence)))
            out.append(ln)
    return "\n".join(out) + "\n"


def _key(line: str) -> str:
    """A policy line compared by its words (no trailing comment, single spaces)."""
    s = line.strip()
    if " #" in s and '"' not in s:
        s = s[: s.index(" #")]
    return " ".join(s.split())


def merge_additions(ps: SG.ProfileSuggestion, choices: list[Choice], existing: str,
                    policy: Policy) -> tuple[str, int]:
    """(text to append to an existing local file, lines in it): the reviewed lines it
    lacks (same line, or for an exact allow file/capability rule, a rule of the file that
    covers it), each with its evidence comment; ("", 0) when none is missing."""
    present = {_key(ln) for ln in existing.splitlines() if not ln.lstrip().startswith("#")}
    have = policy.rules_of_text(existing)
    out: list[str] = []
    for c in choices:
        ln = c.line()
        if not ln or _key(ln) in present or ln.startswith("#"):
            continue
        present.add(_key(ln))  # two rules globbed to the same line are added once
        exact = c.decision == ALLOW and c.include < 0 and not c.broad and c.path is None
        if exact and c.sug.kind == R.FILE and c.sug.paths and have.covers_file(
                c.sug.paths, frozenset(c.sug.perms), c.sug.owner):
            continue
        if exact and c.sug.kind == R.CAPABILITY and \
                c.sug.rule.removeprefix("capability ").rstrip(",") in have.caps:
            continue
        out += [SG.comment(SG.evidence_line(c.sug.evidence)), ln]
    n = len(out) // 2
    if not n:
        return "", 0
    head = SG.comment(f"added by armorwatch review --merge: {n} rule(s) for profile "
                      f"{ps.profile}")
    return "\n".join(["", head, *out]) + "\n", n


class _Screen:
    def __init__(self, profiles: list[SG.ProfileSuggestion], policy: Policy) -> None:
        self.profiles = profiles
        self.policy = policy
        self.choices = [[Choice(s, ALLOW if s.emitted else SKIP) for s in ps.rules]
                        for ps in profiles]
        self.p = 0
        self.row = 0

    def draw(self, win: Any) -> None:
        win.erase()
        h, w = win.getmaxyx()
        ps, cs = self.profiles[self.p], self.choices[self.p]

        def put(y: int, text: str, attr: int = 0) -> None:
            if 0 <= y < h:
                win.addnstr(y, 0, sanitize.for_terminal(text), max(1, w - 1), attr)

        put(0, f"profile {ps.profile} ({self.p + 1}/{len(self.profiles)}) -> "
               f"local/{ps.local_file}", curses.A_BOLD)
        put(1, "a allow  d deny  s skip  g glob  e glob-ext  b broader  u exact  i include"
               "  n/p profile  w write  r write+reload  q quit")
        top = 3
        list_h = max(1, h // 2 - top)
        first = max(0, self.row - list_h + 1)
        for i, c in enumerate(cs[first:first + list_h]):
            idx = first + i
            mark = {ALLOW: "A", DENY: "D", SKIP: " "}[c.decision]
            text = c.line() or c.text()
            put(top + i, f"[{mark}] {text}", curses.A_REVERSE if idx == self.row else 0)
        if cs:
            c = cs[self.row]
            s, e = c.sug, c.sug.evidence
            y = top + list_h + 1
            glob_risk = c.pattern_risk(self.policy)
            lines = [
                f"evidence: {e.events} event(s), {len(e.hosts)} host(s) "
                f"({', '.join(e.hosts[:5])}), commands {', '.join(e.comms[:5])}",
                f"seen: {e.first_seen} - {e.last_seen}",
                f"example: {e.example}",
                f"risk: {s.risky['severity'] + ': ' + s.risky['reason'] if s.risky else 'none'}"
                + (f"; severity {s.severity}/10" if s.severity is not None else ""),
                f"exact: {s.rule}   broader: {s.broader or '-'}   abstractions: "
                + (", ".join(s.abstractions[:4]) or "-"),
            ] + ([f"risk of this glob: {glob_risk}"] if glob_risk else []) + [
                f"note: {n}" for n in [*s.notes, *([s.known] if s.known else [])]]
            for i, ln in enumerate(lines):
                put(y + i, ln)
        win.refresh()

    def key(self, k: int) -> str | None:
        cs = self.choices[self.p]
        ch = chr(k) if 0 <= k < 256 else ""
        c = cs[self.row] if cs else None
        if k in (curses.KEY_DOWN,) or ch == "j":
            self.row = min(self.row + 1, max(0, len(cs) - 1))
        elif k in (curses.KEY_UP,) or ch == "k":
            self.row = max(0, self.row - 1)
        elif ch in "nN" and ch:
            self.p, self.row = min(self.p + 1, len(self.profiles) - 1), 0
        elif ch in "pP" and ch:
            self.p, self.row = max(self.p - 1, 0), 0
        elif ch in ("w", "q", "r"):
            return ch
        elif c is None:
            return None
        elif ch in ("a", "d", "s"):
            c.decision = {"a": ALLOW, "d": DENY, "s": SKIP}[ch]
            self.row = min(self.row + 1, len(cs) - 1)
        elif ch == "g":
            c.glob(glob_path)
        elif ch == "e":
            c.glob(glob_path_ext)
        elif ch == "b" and c.sug.broader:
            c.broad, c.path, c.include = not c.broad, None, -1
        elif ch == "u":
            c.broad, c.path, c.include = False, None, -1
        elif ch == "i":
            c.include = c.include + 1 if c.include + 1 < len(c.sug.abstractions) else -1
        return None


def _loop(stdscr: Any, screen: _Screen) -> str:
    curses.curs_set(0)
    while True:
        screen.draw(stdscr)
        done = screen.key(stdscr.getch())
        if done:
            return done


def _place(out_dir: Path, ps: SG.ProfileSuggestion, choices: list[Choice], merge: bool,
           policy: Policy) -> bool:
    """Write one profile's reviewed file; True when ``local/`` itself now holds them."""
    target = out_dir / suggest_cmd.output_name(ps)
    text = render(ps, choices)
    n = sum(1 for c in choices if c.decision != SKIP)
    if not target.is_file():
        suggest_cmd._write(target, text.encode("utf-8"))
        print(f"{target}  ({n} rule(s) reviewed)")
        return True
    old = target.read_bytes()
    if merge:
        added, k = merge_additions(ps, choices, old.decode("utf-8", "surrogateescape"),
                                   policy)
        if not k:
            print(f"{target}  unchanged: it already has every reviewed rule")
            return True
        backup = suggest_cmd._backup(target)
        sep = b"" if not old or old.endswith(b"\n") else b"\n"
        suggest_cmd._write(target, old + sep + added.encode("utf-8"), mode_from=target)
        print(f"{target}  merged: {k} reviewed rule(s) appended; the previous file is "
              f"{backup}")
        return True
    if old == text.encode("utf-8"):
        print(f"{target}  unchanged ({n} rule(s) reviewed)")
        return True
    side = target.with_name(target.name + ".suggested")
    suggest_cmd._write(side, text.encode("utf-8"))
    print(f"{target} exists and was left as it is: wrote {side}  ({n} rule(s) reviewed; "
          "--merge appends the missing ones)")
    return False


def _reload(files: list[Path], out_dir: Path, policy_dir: Path) -> int:
    """``apparmor_parser -r`` each installed profile file; 0 when all loaded."""
    if out_dir.resolve() != (policy_dir / "local").resolve():
        print(f"not reloaded: -o {out_dir} is not {policy_dir / 'local'}, the directory "
              "the installed profiles include")
        return 1
    parser = ApparmorParser.find()
    if parser is None:
        print("not reloaded: apparmor_parser is not installed")
        return 1
    rc = 0
    for f in files:
        cmd = [parser.path, "-r", "-I", str(policy_dir), str(f)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  timeout=_RELOAD_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            print(f"reload of {f} failed: {exc}")
            rc = 1
            continue
        if proc.returncode == 0:
            print(f"reloaded {f} (apparmor_parser -r)")
        else:
            msg = " / ".join(ln.strip() for ln in proc.stderr.splitlines()
                             if ln.strip() and not ln.startswith("Cache read/write"))
            print(f"reload of {f} FAILED (apparmor_parser exit {proc.returncode}): "
                  f"{sanitize.for_terminal(msg[:500] or 'no message')}")
            rc = 1
    return rc


def run(args: argparse.Namespace) -> int:
    """Run the command; 0 written or quit, 1 nothing to review or a reload failed, 2 usage
    or I/O error."""
    if not sys.stdin.isatty() or not sys.stdout.isatty():
        print("armorwatch review: needs a terminal (use armorwatch suggest for scripts)",
              file=sys.stderr)
        return 2
    try:
        con, _ = open_reader(args.db)
    except (StoreNotFoundError, duckdb.Error, OSError) as exc:
        print(f"armorwatch review: cannot open the store: {exc}", file=sys.stderr)
        return 2
    try:
        parser = None if args.no_validate else ApparmorParser.find()
        result = SG.suggest(con, profile=args.profile, validate=parser is not None,
                            parser=parser, policy_root=args.policy_dir)
    finally:
        con.close()
    profiles = [ps for ps in result.profiles if ps.rules]
    if not profiles:
        print("armorwatch review: no suggested rules to review", file=sys.stderr)
        return 1
    policy = Policy.load(args.policy_dir)
    screen = _Screen(profiles, policy)
    done = curses.wrapper(_loop, screen)
    if done == "q":
        print("armorwatch review: quit without writing")
        return 0
    installed = Installed.load(policy)
    to_reload: list[Path] = []
    try:
        for ps, cs in zip(screen.profiles, screen.choices, strict=True):
            if not any(c.decision != SKIP for c in cs):
                continue
            in_place = _place(args.output, ps, cs, args.merge, policy)
            top = None if ps.namespace else installed.top(ps.path[0])
            if done == "r":
                if top is None:
                    print(f"not reloaded: no installed profile {ps.path[0]} under "
                          f"{args.policy_dir}")
                elif not in_place:
                    print(f"not reloaded: {top.file} (its local file was kept; review the "
                          ".suggested file, or use --merge)")
                elif top.file not in to_reload:
                    to_reload.append(top.file)
    except OSError as exc:
        print(f"armorwatch review: {exc}", file=sys.stderr)
        return 2
    if done == "r" and not to_reload:
        print("nothing reloaded: no installed profile's local file changed in place")
    return _reload(to_reload, args.output, args.policy_dir) if to_reload else 0
