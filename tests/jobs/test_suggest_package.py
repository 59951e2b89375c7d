"""The seams of the ``jobs.suggest`` package: immutable results, validation on copies,
the jobs error base."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from armorwatch.jobs import sqlfiles
from armorwatch.jobs import suggest as SG
from armorwatch.jobs.abstractions import Policy
from armorwatch.jobs.errors import JobsError
from armorwatch.jobs.risky import SeverityDB
from armorwatch.jobs.suggest.builder import Builder
from armorwatch.jobs.suggest.validation import validate
from armorwatch.jobs.validate import ValidationError
from tests.jobs.test_suggest import Store, file_row, no_parser


class FakeParser:
    """Stands in for apparmor_parser: a body fails when it holds a line of ``bad`` or
    every line of ``conflict``."""

    def __init__(self, bad: tuple[str, ...] = (), conflict: tuple[str, ...] = ()) -> None:
        self.bad, self.conflict = bad, conflict

    def check(self, bodies: list[str]) -> list[str | None]:
        """None for a body that compiles, else an error naming the offending line."""
        out: list[str | None] = []
        for body in bodies:
            lines = {ln.strip() for ln in body.splitlines()}
            bad = sorted(lines & set(self.bad))
            clash = bool(self.conflict) and set(self.conflict) <= lines
            out.append(f"bad: {bad[0]}" if bad else "conflict" if clash else None)
        return out


def profile(*rules: SG.Suggestion, includes: tuple[SG.Include, ...] = ()) -> SG.ProfileSuggestion:
    """A top-level profile holding ``rules``."""
    return SG.ProfileSuggestion("/usr/bin/app", None, ["/usr/bin/app"], "usr.bin.app",
                                rules=list(rules), includes=list(includes))


class TestImmutable:
    def test_builder_makes_frozen_suggestions(self, make_rows_store: Store) -> None:
        """suggest() returns frozen objects that still carry the access they allow."""
        con = make_rows_store([file_row(0, "/srv/a", "r"), file_row(1, "/srv/a", "w")])
        (ps,) = no_parser(con).profiles
        (s,) = ps.rules
        with pytest.raises(dataclasses.FrozenInstanceError):
            s.rule = "x"  # type: ignore[misc]
        with pytest.raises(dataclasses.FrozenInstanceError):
            ps.rules = []  # type: ignore[misc]
        assert (frozenset({"/srv/a"}), frozenset({"r", "w"}), False) == (s.paths, s.perms,
                                                                         s.owner)

    def test_access_fields_stay_out_of_json(self) -> None:
        """paths/perms/owner/fallback are for callers, not part of the JSON output."""
        s = SG.Suggestion("file", "/srv/a r,", paths=frozenset({"/srv/a"}),
                          perms=frozenset({"r"}), fallback="network inet,")
        assert not {"paths", "perms", "owner", "fallback"} & set(s.to_dict())


class TestValidation:
    def test_returns_checked_copies(self) -> None:
        """Statuses are set on new objects; the input is left as it was."""
        ok = SG.Suggestion("file", "/srv/a r,")
        bad = SG.Suggestion("file", "/srv/b r,")
        before = profile(ok, bad)
        (after,) = validate([before], FakeParser(bad=("/srv/b r,",)))
        assert [SG.STATUS_COMPILED, SG.STATUS_REJECTED] == [s.status for s in after.rules]
        assert "bad: /srv/b r," == after.rules[1].parser_error
        assert SG.STATUS_COMPILED == after.snippet_status
        assert [SG.STATUS_UNCHECKED] * 2 == [s.status for s in before.rules]

    def test_fallback_is_only_named(self) -> None:
        """A rule the parser rejects whose older form compiles: unsupported, with a note."""
        s = SG.Suggestion("network", "network (create) inet stream,",
                          fallback="network inet stream,")
        (ps,) = validate([profile(s)], FakeParser(bad=("network (create) inet stream,",)))
        (got,) = ps.rules
        assert SG.STATUS_UNSUPPORTED == got.status and not got.emitted
        assert "'network inet stream,' would compile" in got.notes[0]

    def test_rejected_include_gives_rules_back(self) -> None:
        """Rules covered by an include the parser rejects are written for themselves."""
        inc = SG.Include("include <abstractions/x>", "x", ["/srv/a r,"], 0, None, True)
        s = SG.Suggestion("file", "/srv/a r,", covered_by=inc.include)
        (ps,) = validate([profile(s, includes=(inc,))], FakeParser(bad=(inc.include,)))
        assert SG.STATUS_REJECTED == ps.includes[0].status
        assert (None, True) == (ps.rules[0].covered_by, ps.rules[0].emitted)

    def test_conflicting_rules_keep_a_prefix(self) -> None:
        """Rules that compile alone but not together: the later one is rejected."""
        a, b = SG.Suggestion("exec", "/bin/x ix,"), SG.Suggestion("exec", "/bin/x Px,")
        (ps,) = validate([profile(a, b)], FakeParser(conflict=(a.rule, b.rule)))
        assert [SG.STATUS_COMPILED, SG.STATUS_REJECTED] == [s.status for s in ps.rules]
        assert (SG.STATUS_COMPILED, "conflict") == (ps.snippet_status, ps.snippet_error)


def test_validation_error_is_a_jobs_error() -> None:
    """ValidationError joins the jobs error tree and stays a RuntimeError."""
    assert issubclass(ValidationError, JobsError) and issubclass(ValidationError, RuntimeError)


class TestOneProfileInSql:
    def test_events_query_reads_only_the_bound_labels(self, make_rows_store: Store) -> None:
        """suggest_events with $labels groups only those labels' records (the filter is SQL)."""
        con = make_rows_store([
            file_row(1, "/etc/a", profile="/usr/bin/app"),
            file_row(2, "/etc/b", profile="/usr/bin/other"),
            file_row(3, "/etc/c", profile="/usr/bin/app//&/usr/bin/other"),
        ])
        job = sqlfiles.load("suggest_events")
        scope = {"since": None, "until": None, "host": None}
        names = sorted(r[0] for r in job.execute(
            con, {**scope, "labels": ["/usr/bin/app"]}).fetchall())
        every = job.execute(con, {**scope, "labels": None}).fetchall()
        assert (["DENIED"], 3) == (names, len(every))

    def test_concerning_keeps_the_profile_and_its_stack_partners(self) -> None:
        """A profile's labels are its own and those of profiles stacked with it, no others."""
        builder = Builder(frozenset(), Policy.load(Path("/nonexistent")), SeverityDB.load())
        logged = ["/usr/bin/app", "/usr/bin/app//&/usr/bin/other", "/usr/bin/other",
                  "/usr/bin/third"]
        assert logged[:3] == builder.concerning("/usr/bin/app", logged)
        assert [] == builder.concerning("/usr/bin/absent", logged)
