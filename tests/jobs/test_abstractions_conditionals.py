"""Abstractions and included ``local/`` files are read statement by statement (issue 20):
a ``} else {`` no longer leaves the rules after it at the wrong depth, one-line ``if``
blocks are read, and only a taken branch's rules count as coverage.

The files are written the way a site writes them and ``apparmor_parser -Q -K`` accepts
a profile including them (checked when the parser is installed); the store is written by
``armorwatch run`` from an audit.log as auditd writes it.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from armorwatch.cli import main
from armorwatch.jobs import apparmor_rules as R
from armorwatch.jobs.abstractions import Policy
from armorwatch.jobs.installed import Installed

APP = "/usr/bin/condd"
GLOBAL = "$cond_a = true\n$cond_b = false\n@{COND_DIR} = /srv/cond\n@{HOME} = /home/*/ /root/\n"
ABSTRACTION = """\
# condd's helper files, with conditional parts
  abi <abi/3.0>,
  /etc/cond/always r,
  if $cond_a {
    /etc/cond/a-yes r,
  } else {
    /etc/cond/a-no r,
  }
  /etc/cond/after-else r,
  if $cond_b { /etc/cond/b-yes r, } else { /etc/cond/b-no r, }
  if $cond_a { capability chown, }
  if not $cond_a { network inet stream, }
  if defined @{COND_DIR} { @{COND_DIR}/** r, }
  if defined $cond_missing {
    /etc/cond/missing r,
  } else if $cond_b {
    /etc/cond/else-if r,
  } else {
    if $cond_a {
      /etc/cond/nested r,
    }
  }
  deny /etc/cond/secret r,
  /etc/cond/last r,
  owner @{HOME}/.config/#[0-9]* rw,
"""
LOCAL = """\
# site additions
if $cond_a { /srv/local/a-yes r, } else { /srv/local/a-no r, }
/srv/local/plain r,
"""
PROFILE = """\
include <tunables/global>

profile condd /usr/bin/condd {
  include <abstractions/cond>
  include if exists <local/condd>
}
"""
# rules of the abstraction that hold and those that do not
TAKEN = ["/etc/cond/always", "/etc/cond/a-yes", "/etc/cond/after-else", "/etc/cond/b-no",
         "/srv/cond/x", "/etc/cond/nested", "/etc/cond/last"]
NOT_TAKEN = ["/etc/cond/a-no", "/etc/cond/b-yes", "/etc/cond/missing", "/etc/cond/else-if",
             "/etc/cond/secret"]


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A policy directory: tunables, the abstraction, a local file and the profile."""
    pol = tmp_path_factory.mktemp("condabs") / "apparmor.d"
    for sub in ("tunables", "abstractions", "local"):
        (pol / sub).mkdir(parents=True)
    (pol / "tunables" / "global").write_text(GLOBAL)
    (pol / "abstractions" / "cond").write_text(ABSTRACTION)
    (pol / "local" / "condd").write_text(LOCAL)
    (pol / "condd").write_text(PROFILE)
    return pol


def test_the_parser_accepts_the_policy(policy: Path) -> None:
    """The profile with its abstraction and local file is valid AppArmor policy."""
    parser = shutil.which("apparmor_parser") or "/sbin/apparmor_parser"
    if not Path(parser).is_file():
        pytest.skip("needs apparmor_parser")
    abi = Path("/etc/apparmor.d/abi/3.0")
    if not abi.is_file():
        pytest.skip("needs /etc/apparmor.d/abi/3.0")
    (policy / "abi").mkdir(exist_ok=True)
    shutil.copy(abi, policy / "abi" / "3.0")
    proc = subprocess.run([parser, "-Q", "-K", "-I", str(policy), str(policy / "condd")],
                          capture_output=True, text=True, check=False)
    assert 0 == proc.returncode, proc.stderr


@pytest.mark.parametrize("path", TAKEN)
def test_taken_branches_cover(policy: Path, path: str) -> None:
    """A rule of a taken branch (multi-line, one-line, after ``} else {``, nested) covers."""
    pol = Policy.load(policy)
    assert ["cond"] == pol.covering(R.FILE, paths=[path], perms=frozenset("r"))


@pytest.mark.parametrize("path", NOT_TAKEN)
def test_other_branches_do_not_cover(policy: Path, path: str) -> None:
    """A rule of a branch not taken (or a deny rule) covers nothing."""
    pol = Policy.load(policy)
    assert [] == pol.covering(R.FILE, paths=[path], perms=frozenset("r"))


def test_capability_network_and_hash_in_a_path(policy: Path) -> None:
    """One-line ifs hold capability/network rules too; ``#`` inside a path is no comment."""
    pol = Policy.load(policy)
    assert ["cond"] == pol.covering(R.CAPABILITY, cap="chown")
    assert [] == pol.covering(R.NETWORK, network=("inet", "stream"))
    assert ["cond"] == pol.covering(R.FILE, paths=["/home/u/.config/#1234"],
                                    perms=frozenset("w"), owner=True)


def test_commented_include_is_not_followed(tmp_path: Path) -> None:
    """``# include <…>`` (a blank after ``#``) is a comment to apparmor_parser, as in
    the usage examples of abstractions/xdg-open; ``#include`` is an include."""
    (tmp_path / "abstractions").mkdir()
    (tmp_path / "abstractions" / "inner").write_text("/srv/inner r,\n")
    (tmp_path / "abstractions" / "outer").write_text(
        "#   include <abstractions/inner>\n# include <abstractions/inner>\n/srv/outer r,\n")
    (tmp_path / "abstractions" / "legacy").write_text("#include <abstractions/inner>\n")
    pol = Policy.load(tmp_path)
    assert ["inner", "legacy"] == pol.covering(R.FILE, paths=["/srv/inner"],
                                               perms=frozenset("r"))


def test_installed_profile_reads_the_includes_by_branch(policy: Path) -> None:
    """The profile's rules from its abstraction and its local file: taken branches only."""
    blk = Installed.load(Policy.load(policy)).top("condd")
    assert blk is not None and "condd" == blk.local
    texts = {f.text for f in blk.allow.files}
    assert {"/srv/local/a-yes r,", "/srv/local/plain r,", "/etc/cond/after-else r,",
            "/etc/cond/last r,", "/etc/cond/nested r,"} <= texts
    assert not {"/srv/local/a-no r,", "/etc/cond/a-no r,", "/etc/cond/b-yes r,"} & texts
    assert ["/etc/cond/secret r,"] == [f.text for f in blk.deny.files]


def test_rules_of_text_reads_one_line_ifs(policy: Path) -> None:
    """A local file's rules (what is already there) include those of one-line ifs."""
    ab = Policy.load(policy).rules_of_text(LOCAL)
    assert ["/srv/local/a-yes r,", "/srv/local/a-no r,", "/srv/local/plain r,"] \
        == [f.text for f in ab.files]


def avc(serial: int, name: str) -> str:
    """One AppArmor file DENIED record of audit.log."""
    return (
        f"node=cond-01 type=AVC msg=audit(1763882115.{serial:03d}:{serial}): "
        f'apparmor="DENIED" operation="open" class="file" profile="{APP}" '
        f'name="{name}" pid={2000 + serial} comm="condd" requested_mask="r" '
        f'denied_mask="r" fsuid=1000 ouid=0\n'
    )


def test_suggest_through_the_cli(policy: Path) -> None:
    """suggest: a denial the abstraction allows after its ``} else {`` is not suggested;
    one only a branch not taken allows is, as an active rule."""
    log = policy.parent / "audit.log"
    log.write_text(avc(1, "/etc/cond/last") + avc(2, "/etc/cond/a-no"))
    db = policy.parent / "store.duckdb"
    with contextlib.redirect_stdout(io.StringIO()):
        assert 0 == main(["run", str(log), "--db", str(db), "--no-report"])
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert 0 == main(["suggest", "--db", str(db), "--format", "json", "--no-validate",
                          "--policy-dir", str(policy)])
    (p,) = json.loads(buf.getvalue())["profiles"]
    assert {"/etc/cond/last r,": False, "/etc/cond/a-no r,": True} \
        == {r["rule"]: r["emitted"] for r in p["rules"]}
