"""``armorwatch explain`` for SELinux records (issue 20): audit2why's answer — which boolean
of the policy would allow the denial (``setsebool -P NAME 1``), or that none does — looked
up with Debian's ``setools`` in the real installed policy (``selinux-policy-default``);
the tests that need it skip when it or ``sesearch`` is absent.

The store is written by ``armorwatch run`` from an audit.log as auditd writes it.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from armorwatch.cli import main
from armorwatch.jobs import explain as EX
from armorwatch.jobs.suggest import selinux as SE
from armorwatch.jobs.suggest.model import SELinuxSuggestion
from armorwatch.sinks.store import open_store

POLICY = SE.default_policy()
needs_policy = pytest.mark.skipif(
    SE.unavailable(POLICY) is not None,
    reason=f"{SE.unavailable(POLICY)} (apt-get install setools selinux-policy-default)")


def avc(serial: int, host: str, perms: str, src: str, tgt: str, tclass: str) -> str:
    """One SELinux AVC denial of audit.log."""
    return (
        f"node={host} type=AVC msg=audit(1763866880.{serial:03d}:{serial}): avc:  denied  "
        f"{{ {perms} }} for  pid={3300 + serial} comm=\"httpd\" "
        f"scontext=system_u:system_r:{src}:s0 tcontext=system_u:object_r:{tgt}:s0 "
        f"tclass={tclass} permissive=0\n"
    )


DB_CONNECT = ("name_connect", "httpd_t", "postgresql_port_t", "tcp_socket")
SHADOW = ("read", "httpd_t", "shadow_t", "file")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """httpd's connect to PostgreSQL denied on two hosts, its read of shadow_t on one."""
    tmp = tmp_path_factory.mktemp("explain-selinux")
    log = tmp / "audit.log"
    log.write_text(avc(1, "web-01", *DB_CONNECT) + avc(2, "web-02", *DB_CONNECT)
                   + avc(3, "web-01", *SHADOW))
    db = tmp / "store.duckdb"
    with contextlib.redirect_stdout(io.StringIO()):
        assert 0 == main(["run", str(log), "--db", str(db), "--no-report"])
    return db


def rid_of(db: Path, tclass: str) -> str:
    """The rid of the first stored SELinux record of this class."""
    con = open_store(db, read_only=True)
    try:
        row = con.execute("SELECT CAST(rid AS VARCHAR) FROM records WHERE tclass = ? "
                          "ORDER BY host LIMIT 1", [tclass]).fetchone()
    finally:
        con.close()
    assert row is not None
    return str(row[0])


def explain(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    """``armorwatch explain --format json``."""
    capsys.readouterr()
    assert 0 == main(["explain", *args, "--format", "json", "--no-validate"])
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


@pytest.fixture(scope="module")
def connect(store: Path) -> dict[str, Any]:
    """``armorwatch explain --format json`` of the PostgreSQL connect denial (once)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert 0 == main(["explain", rid_of(store, "tcp_socket"), "--db", str(store),
                          "--format", "json", "--no-validate"])
    out: dict[str, Any] = json.loads(buf.getvalue())
    return out


@needs_policy
def test_boolean_that_allows_a_denial(connect: dict[str, Any]) -> None:
    """httpd_t -> postgresql_port_t name_connect: httpd_can_network_connect_db, the
    narrowest of the booleans that allow it, comes first; the same access on two hosts."""
    (se,) = connect["selinux"]
    assert "allow httpd_t postgresql_port_t:tcp_socket name_connect;" == se["rule"]
    assert "boolean" == se["verdict"]
    commands = [b["command"] for b in se["booleans"]]
    assert "setsebool -P httpd_can_network_connect_db 1" == commands[0]
    assert "setsebool -P httpd_can_network_connect 1" in commands
    assert {"httpd_can_network_connect_db": True} == se["booleans"][0]["set"]
    assert (2, 2) == (connect["similar"]["events"], connect["similar"]["hosts"])


@needs_policy
def test_text_says_setsebool(connect: dict[str, Any]) -> None:
    """The terminal text (the CLI's renderer of that explanation) gives the setsebool
    command and the access in SELinux terms."""
    out = EX.render_text(connect)
    assert "httpd_t -> postgresql_port_t:tcp_socket { name_connect }" in out
    assert "boolean: setsebool -P httpd_can_network_connect_db 1" in out


@needs_policy
def test_no_boolean_allows_it(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """httpd_t reading shadow_t: no boolean allows it, the allow rule is needed."""
    (se,) = explain(capsys, rid_of(store, "file"), "--db", str(store))["selinux"]
    assert "missing" == se["verdict"] and [] == se["booleans"]
    assert "no boolean allows read" in se["detail"]


def test_no_policy_is_said(store: Path, capsys: pytest.CaptureFixture[str],
                           tmp_path: Path) -> None:
    """Without a policy file the output says in one line that booleans were not checked."""
    missing = tmp_path / "policy.33"
    ex = explain(capsys, rid_of(store, "tcp_socket"), "--db", str(store),
                 "--selinux-policy", str(missing))
    assert f"SELinux booleans not checked: no policy file {missing}" == ex["selinux_note"]
    assert "verdict" not in ex["selinux"][0]
    assert 1 == EX.render_text(ex).count("SELinux booleans not checked")


def test_a_broken_policy_file_is_an_error_said(tmp_path: Path) -> None:
    """A file that is not a policy: the query's failure is reported, not taken as 'none'."""
    if SE.unavailable(POLICY) is not None and "sesearch" in str(SE.unavailable(POLICY)):
        pytest.skip("needs sesearch (apt-get install setools)")
    bad = tmp_path / "policy.33"
    bad.write_bytes(b"not a policy")
    item = SELinuxSuggestion("allow a_t b_t:file read;", "a_t", "b_t", "file", ["read"],
                             False)
    with pytest.raises(SE.SELinuxPolicyError, match=r"querying .* failed"):
        SE.why([item], bad)


def test_verdict_needs_one_setting_for_every_permission() -> None:
    """Two denied permissions: a boolean that turns on a rule for only one of them is not
    offered, one whose rules cover both is; a permission no rule grants needs the allow
    rule; when rules already on grant both, the policy already allows it."""
    item = SELinuxSuggestion("allow a_t b_t:file { read write };", "a_t", "b_t", "file",
                             ["read", "write"], False)
    only_read = {"rule": "allow a_t b_t:file read; [ r_only ]:True", "attribute": False,
                 "set": {"r_only": True}}
    both = {"rule": "allow a_t b_attr:file { read write }; [ rw ]:True", "attribute": True,
            "set": {"rw": True}}
    per = {"read": {"rules": [only_read, both]}, "write": {"rules": [both]}}
    why = SE._verdict(item, per)
    assert "boolean" == why.verdict
    assert ["setsebool -P rw 1"] == [f.command for f in why.fixes]
    on = {"rule": "allow a_t b_t:file read;", "attribute": False, "set": {}}
    per = {"read": {"rules": [on]}, "write": {"rules": []}}
    assert "no boolean allows write" in SE._verdict(item, per).detail
    per = {"read": {"rules": [on]}, "write": {"rules": [on]}}
    assert "allowed" == SE._verdict(item, per).verdict
