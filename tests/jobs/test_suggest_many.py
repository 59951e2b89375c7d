"""``suggest(profiles=[...])``: several profiles in one pass, each exactly as its own call,
and the report's ready profiles asking for them in that one pass."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import duckdb
import pytest

from armorwatch.cli import main
from armorwatch.jobs import report as R
from armorwatch.jobs.report import suggestions
from armorwatch.jobs.suggest import SuggestResult, suggest
from armorwatch.jobs.validate import ApparmorParser
from armorwatch.sinks.store import open_store

T0 = 1763882115  # 2025-11-23T07:15:15Z


def avc(serial: int, profile: str, name: str, mask: str = "r", decision: str = "DENIED") -> str:
    """One AppArmor file record as auditd writes it."""
    return (
        f"node=web-{serial % 3:02d} type=AVC msg=audit({T0 + 60 * serial}.000:{serial}): "
        f'apparmor="{decision}" operation="open" class="file" profile="{profile}" '
        f'name="{name}" pid={2000 + serial} comm="app" requested_mask="{mask}" '
        f'denied_mask="{mask}" fsuid=0 ouid=0\n'
    )


# Plain profiles, a hat, a stack sharing one rule with a plain profile, complain mode.
RECORDS = [
    ("/usr/sbin/nginx", "/etc/nginx/a.conf", "r", "DENIED"),
    ("/usr/sbin/nginx", "/etc/nginx/b.conf", "r", "DENIED"),
    ("/usr/sbin/nginx", "/var/log/nginx/x.log", "w", "DENIED"),
    ("/usr/sbin/nginx//worker", "/srv/www/index.html", "r", "DENIED"),
    ("/usr/sbin/mysqld", "/etc/mysql/my.cnf", "r", "DENIED"),
    ("/usr/sbin/mysqld//&/usr/sbin/nginx", "/etc/shared.conf", "r", "DENIED"),
    ("/usr/sbin/mysqld", "/etc/shared.conf", "r", "DENIED"),
    ("/usr/bin/learner", "/opt/learner/data.db", "rw", "ALLOWED"),
    ("/usr/bin/learner", "/opt/learner/cache/1", "r", "ALLOWED"),
    ("/usr/bin/other", "/etc/other.conf", "r", "DENIED"),
]
ASKED = ["/usr/sbin/nginx", "/usr/sbin/nginx//worker", "/usr/bin/learner", "/no/such"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    """The records above, stored by ``armorwatch run`` as auditd logs them, read-only."""
    tmp = tmp_path_factory.mktemp("many")
    log = tmp / "audit.log"
    log.write_text("".join(avc(i + 1, *rec) for i, rec in enumerate(RECORDS * 2)))
    db = tmp / "store.duckdb"
    with contextlib.redirect_stdout(io.StringIO()):
        assert 0 == main(["run", str(log), "--db", str(db), "--no-report"])
    con = open_store(db, read_only=True)
    yield con
    con.close()


def alone(con: duckdb.DuckDBPyConnection, **kw: Any) -> list[dict[str, Any]]:
    """The profiles of one ``suggest(profile=p)`` call per asked profile, each once, as
    ``suggest`` orders them (most hosts, then events, then name)."""
    seen: dict[str, dict[str, Any]] = {}
    for p in ASKED:
        for ps in suggest(con, profile=p, **kw).to_dict()["profiles"]:
            seen.setdefault(ps["profile"], ps)
    together = [ps["profile"] for ps in suggest(con, profiles=ASKED, **kw).to_dict()["profiles"]]
    return [seen[name] for name in together if name in seen]


def test_many_equals_each_alone(store: duckdb.DuckDBPyConnection) -> None:
    """Each asked profile's suggestion in the one pass equals its own call's, nothing else."""
    got = suggest(store, profiles=ASKED, validate=False)
    names = [ps.profile for ps in got.profiles]
    assert {"/usr/sbin/nginx", "/usr/sbin/nginx//worker", "/usr/bin/learner"} == set(names)
    assert [] == got.selinux
    assert alone(store, validate=False) == got.to_dict()["profiles"]


def test_many_equals_each_alone_with_a_window_end(store: duckdb.DuckDBPyConnection) -> None:
    """``until`` bounds the one pass as it bounds each call."""
    until = datetime.fromtimestamp(T0 + 60 * 12).astimezone()
    got = suggest(store, profiles=ASKED, until=until, validate=False)
    assert alone(store, until=until, validate=False) == got.to_dict()["profiles"]


def test_many_equals_each_alone_compiled(store: duckdb.DuckDBPyConnection) -> None:
    """With apparmor_parser, the checked rules and snippets are the same as well."""
    if ApparmorParser.find() is None:
        pytest.skip("apparmor_parser is not installed")
    got = suggest(store, profiles=ASKED)
    assert alone(store) == got.to_dict()["profiles"]


def test_profile_and_profiles_together_is_an_error(store: duckdb.DuckDBPyConnection) -> None:
    """Asking for one profile and a list at once is refused, not silently narrowed."""
    with pytest.raises(ValueError, match="profile or profiles"):
        suggest(store, profile="/usr/sbin/nginx", profiles=ASKED, validate=False)


def test_no_profiles_suggests_nothing(store: duckdb.DuckDBPyConnection) -> None:
    """An empty list reads nothing and suggests nothing."""
    assert [] == suggest(store, profiles=[], validate=False).profiles


class OnePass:
    """A suggest engine that records its calls and suggests nothing."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, con: duckdb.DuckDBPyConnection, **kw: Any) -> SuggestResult:
        self.calls.append(kw)
        return SuggestResult(profiles=[], selinux=[], since=None, parser=None)


def test_rules_to_enforce_asks_once(
    store: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report asks for its first MAX_READY_RULES ready profiles in one call."""
    fake = OnePass()
    monkeypatch.setattr(suggestions, "suggest", fake)
    names = [f"p{i}" for i in range(R.MAX_READY_RULES + 5)]
    assert {} == R.rules_to_enforce(store, names)
    assert [{"since": None, "profiles": names[: R.MAX_READY_RULES]}] == fake.calls


def test_rules_to_enforce_snippets_equal_each_alone(store: duckdb.DuckDBPyConnection) -> None:
    """The ready profiles' snippets from the one pass are those of one call each."""
    got = R.rules_to_enforce(store, ASKED)
    assert {"/usr/sbin/nginx", "/usr/sbin/nginx//worker", "/usr/bin/learner"} == set(got)
    for p, snippet in got.items():
        (own,) = [s for s in suggestions._snippets(suggest(store, profile=p)) if s.subject == p]
        assert own == snippet
