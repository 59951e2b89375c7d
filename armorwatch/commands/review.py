"""``armorwatch review``: aa-logprof's workflow over the fleet's suggestions, in a terminal.

One screen per profile: its suggested rules (those ``armorwatch suggest`` would write
active start as allow, the others as skip), and the evidence of the selected rule
(events, hosts, commands, example line, risk, severity rank, notes). Keys:

  j/k or arrows  move        a  allow      d  deny      s  skip
  g  use the broader glob (when offered) / back to the exact rule
  i  use the next abstraction that allows it (include) / back to the rule
  n/p  next / previous profile          w  write the files and quit      q  quit

``w`` writes one ``local/`` file per profile with a decision into ``-o DIR``, never
overwriting: an existing file is kept and the text goes to ``NAME.suggested`` beside it
(as ``armorwatch suggest -o`` does). Uses the standard library's curses.
"""

from __future__ import annotations

import argparse
import curses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from armorwatch import logging as awlog
from armorwatch.commands import COMMANDS, options
from armorwatch.commands import suggest as suggest_cmd
from jobs import suggest as SG
from jobs.abstractions import Policy
from jobs.validate import ApparmorParser
from parsers import sanitize
from sinks.duckdb import StoreNotFoundError, open_reader

ALLOW, DENY, SKIP = "allow", "deny", "skip"


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
    options.add_policy(p)
    awlog.add_arguments(p)
    p.set_defaults(func=run)


@dataclass
class Choice:
    """The reviewer's decision on one suggested rule."""

    sug: SG.Suggestion
    decision: str
    glob: bool = False
    include: int = -1  # index into sug.abstractions, -1: the rule itself

    def line(self) -> str:
        """The policy line this decision writes ('' for skip)."""
        if self.decision == SKIP:
            return ""
        if self.include >= 0:
            text = f"include <abstractions/{self.sug.abstractions[self.include]}>"
            return text if self.decision == ALLOW else f"# (deny of an include) {text}"
        text = self.sug.broader if self.glob and self.sug.broader else self.sug.rule
        return text if self.decision == ALLOW else f"deny {text}"


def render(ps: SG.ProfileSuggestion, choices: list[Choice]) -> str:
    """The local/ file text of one profile's decisions."""
    out = [f"# armorwatch review: rules for profile {sanitize.for_terminal(ps.profile)}"]
    for c in choices:
        ln = c.line()
        if ln:
            out.append(SG.comment(SG.evidence_line(c.sug.evidence)))
            out.append(ln)
    return "\n".join(out) + "\n"


class _Screen:
    def __init__(self, profiles: list[SG.ProfileSuggestion]) -> None:
        self.profiles = profiles
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
        put(1, "a allow  d deny  s skip  g glob  i include  n/p profile  w write  q quit")
        top = 3
        list_h = max(1, h // 2 - top)
        first = max(0, self.row - list_h + 1)
        for i, c in enumerate(cs[first:first + list_h]):
            idx = first + i
            mark = {ALLOW: "A", DENY: "D", SKIP: " "}[c.decision]
            text = c.line() or c.sug.rule
            put(top + i, f"[{mark}] {text}", curses.A_REVERSE if idx == self.row else 0)
        if cs:
            s = cs[self.row].sug
            e = s.evidence
            y = top + list_h + 1
            lines = [
                f"evidence: {e.events} event(s), {len(e.hosts)} host(s) "
                f"({', '.join(e.hosts[:5])}), commands {', '.join(e.comms[:5])}",
                f"seen: {e.first_seen} - {e.last_seen}",
                f"example: {e.example}",
                f"risk: {s.risky['severity'] + ': ' + s.risky['reason'] if s.risky else 'none'}"
                + (f"; severity {s.severity}/10" if s.severity is not None else ""),
                f"broader: {s.broader or '-'}   abstractions: "
                + (", ".join(s.abstractions[:4]) or "-"),
            ] + [f"note: {n}" for n in [*s.notes, *([s.known] if s.known else [])]]
            for i, ln in enumerate(lines):
                put(y + i, ln)
        win.refresh()

    def key(self, k: int) -> str | None:
        cs = self.choices[self.p]
        ch = chr(k) if 0 <= k < 256 else ""
        if k in (curses.KEY_DOWN,) or ch == "j":
            self.row = min(self.row + 1, max(0, len(cs) - 1))
        elif k in (curses.KEY_UP,) or ch == "k":
            self.row = max(0, self.row - 1)
        elif ch in "nN" and ch:
            self.p, self.row = min(self.p + 1, len(self.profiles) - 1), 0
        elif ch in "pP" and ch:
            self.p, self.row = max(self.p - 1, 0), 0
        elif ch in ("w", "q"):
            return ch
        elif cs and ch in ("a", "d", "s"):
            cs[self.row].decision = {"a": ALLOW, "d": DENY, "s": SKIP}[ch]
            self.row = min(self.row + 1, len(cs) - 1)
        elif cs and ch == "g":
            cs[self.row].glob = not cs[self.row].glob
        elif cs and ch == "i":
            c = cs[self.row]
            c.include = c.include + 1 if c.include + 1 < len(c.sug.abstractions) else -1
        return None


def _loop(stdscr: Any, screen: _Screen) -> str:
    curses.curs_set(0)
    while True:
        screen.draw(stdscr)
        done = screen.key(stdscr.getch())
        if done:
            return done


def run(args: argparse.Namespace) -> int:
    """Run the command; 0 written or quit, 1 nothing to review, 2 usage or I/O error."""
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
    screen = _Screen(profiles)
    if curses.wrapper(_loop, screen) != "w":
        print("armorwatch review: quit without writing")
        return 0
    out = suggest_cmd._Output(args.output, False, False, Policy.load(args.policy_dir))
    try:
        for ps, cs in zip(screen.profiles, screen.choices, strict=True):
            n = sum(1 for c in cs if c.decision != SKIP)
            if n:
                out.place(suggest_cmd.output_name(ps), render(ps, cs), f"{n} rule(s) reviewed")
    except OSError as exc:
        print(f"armorwatch review: {exc}", file=sys.stderr)
        return 2
    return 0
