"""Compile suggested AppArmor rules with the real ``apparmor_parser -Q -K``.

``-Q`` does everything but load into the kernel and ``-K`` neither reads nor writes the
cache, so this runs unprivileged on any host with the ``apparmor`` package
(rule-suggestion.md §2; rc 0 = valid). Many snippets are compiled in one call, each as
its own ``profile aw_check_N { … }`` after one ``include <tunables/global>``; when the
call fails the batch is bisected to find exactly the snippets that do not compile.

``ApparmorParser.find()`` returns None when no parser is installed; callers then mark
suggestions "unchecked" instead of claiming they compile.

Errors (the ``jobs.errors.JobsError`` tree): ``ValidationError`` — the parser could not
be run at all (timeout, missing binary after discovery).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from armorwatch.jobs.errors import JobsError

_NOISE: Final = ("Cache read/write disabled", "Warning: unable to find a suitable fs")


class ValidationError(JobsError, RuntimeError):
    """apparmor_parser could not be run (a ``RuntimeError`` too, for older callers)."""


@dataclass
class ParserStats:
    """Counters of parser use."""

    calls: int = 0
    """apparmor_parser invocations."""
    snippets: int = 0
    """Snippets checked."""
    failures: int = 0
    """Snippets that did not compile."""


@dataclass
class ApparmorParser:
    """One apparmor_parser binary used to check rule snippets."""

    path: str
    """The binary."""
    include_dir: str | None = None
    """``-I`` directory for ``include <…>`` (default: the parser's own, /etc/apparmor.d)."""
    timeout: float = 120.0
    """Seconds per call."""
    stats: ParserStats = field(default_factory=ParserStats)
    """Counters."""

    @staticmethod
    def find(include_dir: str | None = None) -> ApparmorParser | None:
        """The installed parser (PATH, then /sbin), or None."""
        for cand in (shutil.which("apparmor_parser"), "/sbin/apparmor_parser",
                     "/usr/sbin/apparmor_parser"):
            if cand and Path(cand).is_file():
                return ApparmorParser(cand, include_dir)
        return None

    def version(self) -> str:
        """The first line of ``apparmor_parser --version``."""
        out = subprocess.run([self.path, "--version"], capture_output=True, text=True,
                             timeout=self.timeout, check=False)
        return (out.stdout.splitlines() or ["unknown"])[0]

    def _run(self, text: str) -> tuple[int, str]:
        with tempfile.NamedTemporaryFile("w", suffix=".aa", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            cmd = [self.path, "-Q", "-K"]
            if self.include_dir:
                cmd += ["-I", self.include_dir]
            cmd.append(f.name)
            self.stats.calls += 1
            try:
                out = subprocess.run(cmd, capture_output=True, text=True,
                                     timeout=self.timeout, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ValidationError(f"apparmor_parser failed to run: {exc}") from exc
        lines = [ln for ln in out.stderr.splitlines() if ln and not ln.startswith(_NOISE)]
        return out.returncode, "\n".join(lines).replace(f.name, "<snippet>")

    def check(self, bodies: list[str]) -> list[str | None]:
        """For each profile body (rule lines), None if it compiles, else the parser's error."""
        self.stats.snippets += len(bodies)
        results: list[str | None] = [None] * len(bodies)
        self._bisect(bodies, list(range(len(bodies))), results)
        self.stats.failures += sum(r is not None for r in results)
        return results

    def _bisect(self, bodies: list[str], idx: list[int], results: list[str | None]) -> None:
        if not idx:
            return
        text = "include <tunables/global>\n" + "".join(
            f"profile aw_check_{i} {{\n{bodies[i]}\n}}\n" for i in idx
        )
        rc, err = self._run(text)
        if rc == 0:
            return
        if len(idx) == 1:
            results[idx[0]] = err or f"apparmor_parser exited with {rc}"
            return
        mid = len(idx) // 2
        self._bisect(bodies, idx[:mid], results)
        self._bisect(bodies, idx[mid:], results)
