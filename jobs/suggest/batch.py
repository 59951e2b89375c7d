"""Step 6's checker for many snippets: ``apparmor_parser`` on many files in one call.

``ApparmorParser.check`` compiles a batch in one file and bisects it when it fails: every
rejected snippet then costs about two parser runs of its own (on a fleet, 1 200 network
rules the 3.0 parser does not know took 2 400 runs, 10 s). ``apparmor_parser -v`` given
many files goes on after a file that fails, prints ``Addition succeeded for "NAME".``
for each profile it compiled and names the file (or the profile) in each error, so
``BatchChecker`` needs a few calls:

1. the whole batch in one file (as ``ApparmorParser.check``): rc 0 means all compile;
2. the batch as files of ``CHUNK`` snippets, all in one call: each ``aw_check_N`` that
   succeeded compiles;
3. each other snippet in a file of its own, all in one call: it compiles if it succeeded,
   else its error lines are what a run on it alone prints (same file and profile names).

Results equal ``ApparmorParser.check``'s. Whenever the output cannot be attributed (a
line naming no file or profile, a snippet with neither a success nor an error, no
success line at all) the snippets concerned are bisected as ``ApparmorParser.check`` does.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Sequence
from typing import Final

from armorwatch.jobs.validate import ApparmorParser, ValidationError

CHUNK: Final = 16
"""Snippets per file in step 2."""
FILES_PER_CALL: Final = 1000
"""Files on one command line (far below ARG_MAX)."""
_NOISE: Final = ("Cache read/write disabled", "Warning: unable to find a suitable fs")
"""Lines every run prints (as ``jobs.validate`` drops them)."""
_PROFILE: Final = re.compile(r"\baw_check_(\d+)\b")
_SUCCEEDED: Final = re.compile(r'^Addition succeeded for "aw_check_(\d+)"\.$')


def _scratch() -> str | None:
    """Where the snippet files go: memory (/dev/shm) when there is one; writing and
    removing 1 500 small files took 1.5 s on a disk-backed /tmp, 0.07 s there."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


class _Unattributed(Exception):
    """The parser printed something this checker cannot pin on one file or snippet."""


class BatchChecker:
    """``Checker`` over an installed ``ApparmorParser`` (same results, far fewer runs)."""

    def __init__(self, parser: ApparmorParser) -> None:
        self.parser = parser

    def check(self, bodies: list[str]) -> list[str | None]:
        """For each profile body (rule lines), None if it compiles, else the parser's error."""
        p = self.parser
        p.stats.snippets += len(bodies)
        results: list[str | None] = [None] * len(bodies)
        with tempfile.TemporaryDirectory(prefix="aw-check-", dir=_scratch()) as tmp:
            self._check(tmp, bodies, results)
        p.stats.failures += sum(r is not None for r in results)
        return results

    def _check(self, tmp: str, bodies: list[str], results: list[str | None]) -> None:
        everything = list(range(len(bodies)))
        if not everything or self._one_file(tmp, bodies, everything)[0] == 0:
            return
        try:
            chunks = [everything[i : i + CHUNK] for i in range(0, len(everything), CHUNK)]
            ok, _ = self._files(tmp, bodies, chunks)
            if not ok:
                # no success line at all: a parser that does not print them
                raise _Unattributed("no 'Addition succeeded' line")
            rest = [i for i in everything if i not in ok]
            ok, lines_of = self._files(tmp, bodies, [[i] for i in rest])
        except _Unattributed:
            self._bisect(tmp, bodies, everything, results)
            return
        unknown = []
        for n, i in enumerate(rest):
            if i in ok:
                continue
            if n in lines_of:
                results[i] = lines_of[n]
            else:
                unknown.append(i)
        self._bisect(tmp, bodies, unknown, results)

    def _text(self, bodies: Sequence[str], idx: Sequence[int]) -> str:
        return "include <tunables/global>\n" + "".join(
            f"profile aw_check_{i} {{\n{bodies[i]}\n}}\n" for i in idx
        )

    def _run(self, paths: list[str]) -> tuple[int, list[str], list[str]]:
        """rc, stdout lines and stderr lines (without the noise) of one parser run."""
        p = self.parser
        cmd = [p.path, "-Q", "-K", "-v"]
        if p.include_dir:
            cmd += ["-I", p.include_dir]
        p.stats.calls += 1
        try:
            out = subprocess.run([*cmd, *paths], capture_output=True, text=True,
                                 timeout=p.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ValidationError(f"apparmor_parser failed to run: {exc}") from exc
        errors = [ln for ln in out.stderr.splitlines() if ln and not ln.startswith(_NOISE)]
        return out.returncode, out.stdout.splitlines(), errors

    def _write(self, path: str, text: str) -> str:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def _one_file(self, tmp: str, bodies: Sequence[str], idx: Sequence[int]) -> tuple[int, str]:
        """rc and message of ``idx`` compiled in one file (as ``ApparmorParser._run``)."""
        path = self._write(os.path.join(tmp, "batch.aa"), self._text(bodies, idx))
        rc, _, lines = self._run([path])
        return rc, "\n".join(lines).replace(path, "<snippet>")

    def _files(
        self, tmp: str, bodies: Sequence[str], groups: list[list[int]]
    ) -> tuple[set[int], dict[int, str]]:
        """Each group in a file of its own: the snippets that compiled, and
        ``{group number: its error lines}`` for the groups with an error."""
        ok: set[int] = set()
        errors: dict[int, str] = {}
        named = re.compile(re.escape(tmp) + r"/g(\d+)\.aa")
        for start in range(0, len(groups), FILES_PER_CALL):
            part = groups[start : start + FILES_PER_CALL]
            paths = [
                self._write(os.path.join(tmp, f"g{start + n}.aa"), self._text(bodies, g))
                for n, g in enumerate(part)
            ]
            group_of = {i: start + n for n, g in enumerate(part) for i in g}
            _, out, lines = self._run(paths)
            ok.update(int(m.group(1)) for ln in out if (m := _SUCCEEDED.match(ln)))
            lines_of: dict[int, list[str]] = {}
            for ln in lines:
                found = {int(m) for m in named.findall(ln)}
                found |= {group_of[int(m)] for m in _PROFILE.findall(ln) if int(m) in group_of}
                if len(found) != 1:
                    raise _Unattributed(ln)
                lines_of.setdefault(found.pop(), []).append(ln)
            for n, ls in lines_of.items():
                errors[n] = "\n".join(ls).replace(paths[n - start], "<snippet>")
        return ok, errors

    def _bisect(
        self, tmp: str, bodies: Sequence[str], idx: list[int], results: list[str | None]
    ) -> None:
        """``ApparmorParser._bisect``: halve a failing batch down to single snippets."""
        if not idx:
            return
        rc, err = self._one_file(tmp, bodies, idx)
        if rc == 0:
            return
        if len(idx) == 1:
            results[idx[0]] = err or f"apparmor_parser exited with {rc}"
            return
        mid = len(idx) // 2
        self._bisect(tmp, bodies, idx[:mid], results)
        self._bisect(tmp, bodies, idx[mid:], results)
