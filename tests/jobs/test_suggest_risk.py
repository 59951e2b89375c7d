"""``armorwatch suggest`` does not pick broad grants by default (issue 20): an include is
active only when it allows little that was never denied, and rules granting TLS private
keys, ``net_admin`` or writes under /etc, /usr are flagged while a daemon's
``capability setuid`` is routine; aa-logprof's severity.db rank is shown when installed.

The store is written by ``armorwatch run`` from an audit.log as auditd writes it; the
abstractions are hand-written in a ``--policy-dir``.
"""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import pytest

from armorwatch.cli import main
from armorwatch.jobs import risky

SEVERITY = risky.SeverityDB.load()


def avc(serial: int, profile: str, name: str, mask: str = "r") -> str:
    """One AppArmor file record of audit.log."""
    return (
        f"node=web-01 type=AVC msg=audit(1763882115.{serial:03d}:{serial}): "
        f'apparmor="DENIED" operation="open" class="file" profile="{profile}" '
        f'name="{name}" pid={2000 + serial} comm="x" requested_mask="{mask}" '
        f'denied_mask="{mask}" fsuid=1000 ouid=0\n'
    )


def cap(serial: int, profile: str, capname: str) -> str:
    """One AppArmor capability record of audit.log."""
    return (
        f"node=web-01 type=AVC msg=audit(1763882115.{serial:03d}:{serial}): "
        f'apparmor="DENIED" operation="capable" class="cap" profile="{profile}" '
        f'pid={2000 + serial} comm="x" capability=12 capname="{capname}"\n'
    )


ABSTRACTIONS = {
    "tiny": "/srv/a/one r,\n/srv/a/two r,\n",
    "huge": "/srv/b/* r,\n" + "".join(f"/opt/other{i}/** r,\n" for i in range(10)),
    "keys": "/srv/c/* r,\n/etc/ssl/private/* r,\n",
}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``suggest --format json --policy-dir`` on a store of the records below (once)."""
    tmp = tmp_path_factory.mktemp("risk")
    (tmp / "apparmor.d" / "abstractions").mkdir(parents=True)
    for name, text in ABSTRACTIONS.items():
        (tmp / "apparmor.d" / "abstractions" / name).write_text(text)
    log = tmp / "audit.log"
    log.write_text(
        avc(1, "/opt/a", "/srv/a/one") + avc(2, "/opt/a", "/srv/a/two")
        + avc(3, "/opt/b", "/srv/b/one") + avc(4, "/opt/b", "/srv/b/two")
        + avc(5, "/opt/c", "/srv/c/one") + avc(6, "/opt/c", "/srv/c/two")
        + avc(7, "/usr/sbin/d", "/etc/ssl/private/snakeoil.key", "rw")
        + avc(8, "/usr/sbin/d", "/etc/d.conf", "w")
        + avc(9, "/usr/sbin/d", "/usr/lib/d/plugin.so", "w")
        + avc(10, "/usr/sbin/d", "/etc/d/site.conf")
        + cap(11, "/usr/sbin/d", "net_admin") + cap(12, "/usr/sbin/d", "setuid")
        + cap(13, "/usr/sbin/d", "sys_nice") + cap(14, "/opt/app", "setuid")
    )
    db = tmp / "store.duckdb"
    with contextlib.redirect_stdout(io.StringIO()):
        assert 0 == main(["run", str(log), "--db", str(db), "--no-report"])
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert 0 == main(["suggest", "--db", str(db), "--format", "json", "--no-validate",
                          "--policy-dir", str(tmp / "apparmor.d")])
    out: dict[str, Any] = json.loads(buf.getvalue())
    return {p["profile"]: p for p in out["profiles"]}


def includes(p: dict[str, Any]) -> list[tuple[str, bool, int]]:
    """(include, active, rules beyond the evidence) of one profile."""
    return [(i["include"], i["active"], i["beyond"]) for i in p["includes"]]


def test_include_granting_little_is_default(data: dict[str, Any]) -> None:
    """An abstraction whose every rule was needed replaces the rules it covers."""
    assert [("include <abstractions/tiny>", True, 0)] == includes(data["/opt/a"])
    assert all(not r["emitted"] for r in data["/opt/a"]["rules"])


def test_broad_include_only_offered(data: dict[str, Any]) -> None:
    """An abstraction allowing much that was never denied is only offered; rules stay."""
    assert [("include <abstractions/huge>", False, 10)] == includes(data["/opt/b"])
    assert all(r["emitted"] for r in data["/opt/b"]["rules"])


def test_include_granting_a_risky_path_only_offered(data: dict[str, Any]) -> None:
    """An abstraction that would grant TLS private keys is never the default."""
    (inc,) = data["/opt/c"]["includes"]
    assert not inc["active"] and "TLS private keys" in inc["grants_risky"]


def test_risky_and_routine(data: dict[str, Any]) -> None:
    """Private keys, net_admin and system writes are flagged; a daemon's setuid is not,
    another program's is."""
    d = {r["rule"]: (r["risky"] or {}).get("reason") for r in data["/usr/sbin/d"]["rules"]}
    assert "TLS private keys" == d["/etc/ssl/private/snakeoil.key rw,"]
    assert "write to system configuration" == d["/etc/d.conf w,"]
    assert "write to installed software" == d["/usr/lib/d/plugin.so w,"]
    assert d["capability net_admin,"]
    assert d["/etc/d/site.conf r,"] is None and d["capability setuid,"] is None
    (app,) = data["/opt/app"]["rules"]
    assert app["risky"] and not app["emitted"]


@pytest.mark.skipif(SEVERITY is None, reason="apparmor-utils' severity.db is not installed")
def test_severity_db_rank_shown(data: dict[str, Any]) -> None:
    """Each rule carries aa-logprof's severity.db rank (sys_nice: 8, not flagged)."""
    d = {r["rule"]: r for r in data["/usr/sbin/d"]["rules"]}
    assert 8 == d["capability sys_nice,"]["severity"] and d["capability sys_nice,"]["emitted"]
    assert d["capability setuid,"]["severity"] == 9
