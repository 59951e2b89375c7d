"""Conditional blocks of installed profiles (issue 20): ``if $bool { … } else { … }``,
``if defined @{VAR}``, ``else if``, nested and one-line forms are read rule by rule, each
branch kept with its condition; the taken branch's rules count for ``suggest`` and
``explain`` says which branch a matching rule is in.

The profiles are hand-written the way a site writes them and ``apparmor_parser -Q -K``
accepts them (checked when the parser is installed); the store is written by
``armorwatch run`` from an audit.log as auditd writes it.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from armorwatch.cli import main
from armorwatch.jobs import explain as EX
from armorwatch.jobs.abstractions import Policy
from armorwatch.jobs.installed import Installed

APP = "/usr/sbin/webd"
TUNABLE = "$webd_tls = false\n@{WEBD_CACHE} = /var/cache/webd\n"
PROFILE = """\
# webd, with conditional parts
include <tunables/webd>
$webd_net = true

profile webd /usr/sbin/webd {
  /etc/webd/** r,
  if $webd_net {
    network inet stream,
    /var/lib/webd/net/** rw,
  } else {
    deny network inet stream,
    /var/lib/webd/offline/** r,
  }
  if $webd_tls { /etc/webd/tls/** r, } else if defined @{WEBD_CACHE} { @{WEBD_CACHE}/** r, }
  if not defined $webd_quiet
  {
    /var/log/webd/** w,
    if $webd_tls {
      /etc/ssl/webd/** r,
    }
  }
  /srv/after/** r,
  ^worker {
    if $webd_net {
      /srv/worker/** r,
    }
  }
  include if exists <local/webd>
}
"""


def avc(serial: int, profile: str, name: str, mask: str = "r") -> str:
    """One AppArmor file DENIED record of audit.log."""
    return (
        f"node=web-01 type=AVC msg=audit(1763882115.{serial:03d}:{serial}): "
        f'apparmor="DENIED" operation="open" class="file" profile="{profile}" '
        f'name="{name}" pid={2000 + serial} comm="webd" requested_mask="{mask}" '
        f'denied_mask="{mask}" fsuid=1000 ouid=0\n'
    )


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A policy directory with the profile and the tunable it includes."""
    pol = tmp_path_factory.mktemp("cond") / "apparmor.d"
    (pol / "tunables").mkdir(parents=True)
    (pol / "tunables" / "webd").write_text(TUNABLE)
    (pol / "webd").write_text(PROFILE)
    return pol


def test_the_parser_accepts_the_profile(policy: Path) -> None:
    """The test profile is valid AppArmor policy (the reader is tested on real syntax)."""
    parser = shutil.which("apparmor_parser") or "/sbin/apparmor_parser"
    if not Path(parser).is_file():
        pytest.skip("needs apparmor_parser")
    proc = subprocess.run([parser, "-Q", "-K", "-I", str(policy), str(policy / "webd")],
                          capture_output=True, text=True, check=False)
    assert 0 == proc.returncode, proc.stderr


def test_branches_are_read_with_their_condition(policy: Path) -> None:
    """Every branch is kept with its condition and whether it holds; only taken branches'
    rules are the block's; rules and hats after the blocks are read as before."""
    webd = Installed.load(Policy.load(policy)).top("webd")
    assert webd is not None
    branches = {b.condition: (b.state, sorted(f.text for f in b.allow.files))
                for b in webd.branches}
    assert {
        "if $webd_net": ("taken", ["/var/lib/webd/net/** rw,"]),
        "else (after if $webd_net)": ("not taken", ["/var/lib/webd/offline/** r,"]),
        "if $webd_tls": ("not taken", ["/etc/webd/tls/** r,"]),
        "else if defined @{WEBD_CACHE} (after if $webd_tls)":
            ("taken", ["@{WEBD_CACHE}/** r,"]),
        "if not defined $webd_quiet": ("taken", ["/var/log/webd/** w,"]),
        "if not defined $webd_quiet → if $webd_tls": ("not taken", ["/etc/ssl/webd/** r,"]),
    } == branches
    assert {"/etc/webd/** r,", "/var/lib/webd/net/** rw,", "@{WEBD_CACHE}/** r,",
            "/var/log/webd/** w,", "/srv/after/** r,"} == {f.text for f in webd.allow.files}
    assert {("inet", "stream")} == webd.allow.networks and not webd.deny.networks
    assert "webd" == webd.local
    worker = webd.children["worker"]
    assert ["/srv/worker/** r,"] == [f.text for f in worker.allow.files]
    assert [("if $webd_net", "taken")] == [(b.condition, b.state) for b in worker.branches]


def test_undecided_condition(tmp_path: Path) -> None:
    """A boolean the reader cannot see set (defined elsewhere) leaves its branches
    undecided: their rules are kept apart, not counted as the block's."""
    (tmp_path / "p").write_text("profile p /usr/bin/p {\n  if $elsewhere {\n"
                                "    /srv/p r,\n  }\n  /srv/q r,\n}\n")
    p = Installed.load(Policy.load(tmp_path)).top("p")
    assert p is not None
    assert [("if $elsewhere", "undecided")] == [(b.condition, b.state) for b in p.branches]
    assert ["/srv/q r,"] == [f.text for f in p.allow.files]


@pytest.fixture(scope="module")
def store(policy: Path) -> Path:
    """Denials: one a taken branch allows, one only a branch not taken allows."""
    log = policy.parent / "audit.log"
    log.write_text(avc(1, APP, "/var/lib/webd/net/state", "w")
                   + avc(2, APP, "/var/lib/webd/offline/list")
                   + avc(3, APP, "/srv/after/x"))
    db = policy.parent / "store.duckdb"
    with contextlib.redirect_stdout(io.StringIO()):
        assert 0 == main(["run", str(log), "--db", str(db), "--no-report"])
    return db


def test_suggest_counts_only_the_taken_branch(store: Path, policy: Path) -> None:
    """suggest: what the taken branch allows is not suggested; what only the branch not
    taken allows is, as an active rule."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert 0 == main(["suggest", "--db", str(store), "--format", "json", "--no-validate",
                          "--policy-dir", str(policy)])
    (p,) = json.loads(buf.getvalue())["profiles"]
    state = {r["rule"]: r["emitted"] for r in p["rules"]}
    assert {"/var/lib/webd/net/state w,": False, "/var/lib/webd/offline/list r,": True,
            "/srv/after/x r,": False} == state


def explain_rule(store: Path, policy: Path, name: str,
                 capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """``armorwatch explain --line`` of a denial of ``name``: its one rule."""
    capsys.readouterr()
    assert 0 == main(["explain", "--line", avc(9, APP, name).strip(), "--db", str(store),
                      "--policy-dir", str(policy), "--format", "json", "--no-validate"])
    (rule,) = json.loads(capsys.readouterr().out)["profiles"][0]["rules"]
    out: dict[str, Any] = rule
    return out


def test_explain_names_the_branch(store: Path, policy: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """explain: a rule of the taken branch is named with its branch; one of a branch not
    taken is listed apart with its state, and the text says so."""
    rule = explain_rule(store, policy, "/var/lib/webd/net/x", capsys)
    assert ["/var/lib/webd/net/** rw,  (in 'if $webd_net', taken)"] == rule["installed_allow"]
    capsys.readouterr()
    assert 0 == main(["explain", "--line", avc(9, APP, "/var/lib/webd/offline/list").strip(),
                      "--db", str(store), "--policy-dir", str(policy), "--no-validate",
                      "--format", "json"])
    ex = json.loads(capsys.readouterr().out)
    (rule,) = ex["profiles"][0]["rules"]
    assert [] == rule["installed_allow"]
    assert [{"rule": "/var/lib/webd/offline/** r,", "deny": False,
             "branch": "else (after if $webd_net)", "state": "not taken"}] \
        == rule["installed_conditional"]
    out = EX.render_text(ex)  # the CLI's text for the same explanation
    assert ("allowed only in the branch 'else (after if $webd_net)' (not taken): "
            "/var/lib/webd/offline/** r,") in out
    assert "no installed rule allows it outside those branches" in out
