"""``armorwatch explain RID | --line 'RAW LINE'`` (issue 20): audit2why for AppArmor — the
profile and its file, the installed allow/deny rule that matches, the rule that would allow
the access, its risk, the abstractions containing it, similar stored events.

The store is written by ``armorwatch run`` from an audit.log as auditd writes it; the
policy directory is hand-written.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from armorwatch.cli import main
from armorwatch.sinks.store import open_store

APP = "/usr/sbin/webd"
PROFILE = """\
profile webd /usr/sbin/webd {
  /etc/webd/** r,
  deny /etc/webd/secret r,
  deny capability sys_admin,
  deny network inet6 stream,
  include if exists <local/webd>
}
"""


def avc(serial: int, host: str, name: str) -> str:
    """One AppArmor file-read DENIED record of audit.log."""
    return (
        f"node={host} type=AVC msg=audit(1763882115.{serial:03d}:{serial}): "
        f'apparmor="DENIED" operation="open" class="file" profile="{APP}" '
        f'name="{name}" pid={2000 + serial} comm="webd" requested_mask="r" '
        f'denied_mask="r" fsuid=1000 ouid=0\n'
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(store, policy dir): /srv/site/index.html denied on two hosts, /etc/webd files."""
    tmp = tmp_path_factory.mktemp("explain")
    pol = tmp / "apparmor.d"
    (pol / "abstractions").mkdir(parents=True)
    (pol / "abstractions" / "web").write_text("/srv/site/** r,\n/srv/other/** r,\n")
    (pol / "webd").write_text(PROFILE)
    log = tmp / "audit.log"
    log.write_text(avc(1, "web-01", "/srv/site/index.html")
                   + avc(2, "web-02", "/srv/site/index.html")
                   + avc(3, "web-01", "/etc/webd/secret")
                   + avc(4, "web-01", "/var/lib/webd/cache"))
    db = tmp / "store.duckdb"
    with contextlib.redirect_stdout(io.StringIO()):
        assert 0 == main(["run", str(log), "--db", str(db), "--no-report"])
    return db, pol


def rid_of(db: Path, name: str) -> str:
    """The rid of the first stored record with this name."""
    con = open_store(db, read_only=True)
    try:
        row = con.execute("SELECT CAST(rid AS VARCHAR) FROM records WHERE name = ? "
                          "ORDER BY host LIMIT 1", [name]).fetchone()
    finally:
        con.close()
    assert row is not None
    return str(row[0])


def explain(env: tuple[Path, Path], capsys: pytest.CaptureFixture[str],
            *args: str) -> dict[str, Any]:
    """``armorwatch explain --format json`` with the test store and policy."""
    db, pol = env
    capsys.readouterr()
    assert 0 == main(["explain", *args, "--db", str(db), "--policy-dir", str(pol),
                      "--format", "json", "--no-validate"])
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


def test_explain_stored_record(env: tuple[Path, Path],
                               capsys: pytest.CaptureFixture[str]) -> None:
    """A stored record (by a rid prefix): its profile file, the rule, the abstractions
    containing it and the same access on both hosts."""
    ex = explain(env, capsys, rid_of(env[0], "/srv/site/index.html")[:13])
    (p,) = ex["profiles"]
    assert str(env[1] / "webd") == p["installed_file"] and "webd" == p["local_file"]
    (rule,) = p["rules"]
    assert "/srv/site/index.html r," == rule["rule"]
    assert ["web"] == rule["abstractions"]
    assert [] == rule["installed_allow"] == rule["installed_deny"]
    assert (2, 2) == (ex["similar"]["events"], ex["similar"]["hosts"])


def test_explain_names_the_deny_rule(env: tuple[Path, Path],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """An explicitly denied access names the installed deny rule; the rule is not offered."""
    ex = explain(env, capsys, rid_of(env[0], "/etc/webd/secret"))
    (rule,) = ex["profiles"][0]["rules"]
    assert ["/etc/webd/secret r,"] == rule["installed_deny"]
    assert ["/etc/webd/** r,"] == rule["installed_allow"]
    assert not rule["emitted"] and "explicitly denied" in rule["why_not"]


def test_explain_line_text(env: tuple[Path, Path],
                           capsys: pytest.CaptureFixture[str]) -> None:
    """A pasted line is explained without storing it: text says the rule and its risk."""
    db, pol = env
    line = avc(9, "web-03", "/etc/shadow").strip()
    assert 0 == main(["explain", "--line", line, "--db", str(db), "--policy-dir", str(pol),
                      "--no-validate"])
    out = capsys.readouterr().out
    assert "rule that would allow it: /etc/shadow r," in out
    assert "password hashes" in out and "no installed rule allows it" in out
    assert "similar stored events: 0" in out


def test_unknown_rid_and_usage(env: tuple[Path, Path],
                               capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown rid exits 1; neither or both of RID and --line is a usage error."""
    db, _ = env
    assert 1 == main(["explain", "ffffffffffff", "--db", str(db), "--no-validate"])
    assert "no stored record" in capsys.readouterr().err
    assert 2 == main(["explain", "--db", str(db)])
    assert 2 == main(["explain", "ab", "--line", "x", "--db", str(db)])


def test_explain_network_deny(env: tuple[Path, Path],
                              capsys: pytest.CaptureFixture[str]) -> None:
    """A network denial names the installed deny network rule that matches it."""
    line = (f'node=web-01 type=AVC msg=audit(1763882117.001:3): apparmor="DENIED" '
            f'operation="create" class="net" profile="{APP}" pid=1 comm="webd" '
            'family="inet6" sock_type="stream" protocol=6 requested_mask="create" '
            'denied_mask="create"')
    (rule,) = explain(env, capsys, "--line", line)["profiles"][0]["rules"]
    assert ["deny network inet6 stream,"] == rule["installed_deny"]
