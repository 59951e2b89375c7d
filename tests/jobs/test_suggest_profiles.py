"""``armorwatch suggest`` gives each rule to the profile block that needs it (issue 20):
installed profiles found by name or attachment in any policy file, their hats read, no
active rule for a hat the profile lacks, ``a//null-x`` accesses to ``x`` when x has its
own profile, and a stacked denial's rule active only where it was denied.

The store is written by ``armorwatch run`` from an audit.log as auditd writes it; the
policy directory is hand-written the way a site keeps its own profiles.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from armorwatch.cli import main

NGINX, HELPER = "/usr/sbin/nginx", "/usr/bin/helper"
# A file not named after the binary, a profile named apart from its attachment.
SITE_PROFILE = """\
# site policy
profile nginx /usr/sbin/nginx flags=(attach_disconnected) {
  /etc/nginx/** r,
  deny /etc/nginx/secret.key r,
  ^php {
    /srv/php/** r,
  }
  include if exists <local/nginx-site>
}

/usr/bin/helper {
  /etc/helper.conf r,
}
"""


def avc(serial: int, profile: str, name: str, decision: str = "DENIED") -> str:
    """One AppArmor file-read record of audit.log."""
    return (
        f"node=web-01 type=AVC msg=audit(1763882115.{serial:03d}:{serial}): "
        f'apparmor="{decision}" operation="open" class="file" profile="{profile}" '
        f'name="{name}" pid={2000 + serial} comm="x" requested_mask="r" '
        f'denied_mask="r" fsuid=1000 ouid=0\n'
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(store, policy directory): the records below, stored by ``armorwatch run`` (once)."""
    tmp_path = tmp_path_factory.mktemp("profiles")
    pol = tmp_path / "apparmor.d"
    pol.mkdir()
    (pol / "site-web").write_text(SITE_PROFILE)
    log = tmp_path / "audit.log"
    log.write_text(
        avc(1, NGINX, "/etc/nginx/nginx.conf")                 # allowed by the profile
        + avc(2, NGINX, "/etc/nginx/secret.key")               # explicitly denied
        + avc(3, NGINX, "/srv/www/index.html")                 # new
        + avc(4, f"{NGINX}//php", "/srv/php/index.php")        # allowed by the hat
        + avc(5, f"{NGINX}//php", "/srv/php-data/x")           # new, in the hat
        + avc(6, f"{NGINX}//UNKNOWN_HAT", "/srv/u")            # no such hat
        + avc(7, f"{NGINX}//null-{HELPER}", "/var/lib/helper/db", "ALLOWED")
        + avc(8, f"{HELPER}//&{NGINX}", "/etc/nginx/mime.types")  # nginx allows it
        + avc(9, f"{HELPER}//&{NGINX}", "/srv/both")           # either could have denied
        # nginx alone also wrote it: its rule (rw) is not allowed, so either could have
        + avc(10, f"{HELPER}//&{NGINX}", "/etc/nginx/stack.conf")
        + avc(11, NGINX, "/etc/nginx/stack.conf").replace('_mask="r"', '_mask="w"')
    )
    db = tmp_path / "store.duckdb"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert 0 == main(["run", str(log), "--db", str(db), "--no-report"])
    return db, pol


def suggested(store: tuple[Path, Path], *extra: str) -> list[dict[str, Any]]:
    """The profiles of ``suggest --format json --policy-dir`` on the store."""
    db, pol = store
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert 0 == main(["suggest", "--db", str(db), "--format", "json", "--no-validate",
                          "--policy-dir", str(pol), *extra])
    profiles: list[dict[str, Any]] = json.loads(buf.getvalue())["profiles"]
    return profiles


@pytest.fixture(scope="module")
def data(store: tuple[Path, Path]) -> dict[str, Any]:
    """``suggest --format json --policy-dir`` on the store, by profile (once)."""
    return {p["profile"]: p for p in suggested(store)}


def state(p: dict[str, Any]) -> dict[str, str]:
    """rule → 'active' or the first words of why it is not."""
    return {r["rule"]: "active" if r["emitted"] else " ".join((r["known"] or "").split()[:2])
            for r in p["rules"]}


def test_found_by_attachment_in_any_file(data: dict[str, Any]) -> None:
    """A profile in a file not named after the binary is found by its attachment; its
    local/ include names the output file."""
    nginx = data[NGINX]
    assert {"/etc/nginx/nginx.conf r,": "already allowed",
            "/etc/nginx/secret.key r,": "explicitly denied",
            "/srv/www/index.html r,": "active"}.items() <= state(nginx).items()
    assert "nginx-site" == nginx["local_file"]


def test_installed_hat_is_read(data: dict[str, Any]) -> None:
    """The rules of an installed hat count: only the access it lacks is suggested."""
    assert {"/srv/php/index.php r,": "already allowed",
            "/srv/php-data/x r,": "active"} == state(data[f"{NGINX}//php"])


def test_missing_hat_gets_no_active_rule(data: dict[str, Any]) -> None:
    """A hat the installed profile lacks gets no rule to paste; the note says what to create."""
    hat = data[f"{NGINX}//UNKNOWN_HAT"]
    assert {"/srv/u r,": "no block"} == state(hat)
    notes = " ".join(hat["notes"])
    assert "^UNKNOWN_HAT {" in notes and "put these rules inside" not in notes


def test_null_child_goes_to_its_own_profile(data: dict[str, Any]) -> None:
    """``a//null-x`` accesses go to x when x has a profile, never to a."""
    assert "/var/lib/helper/db r," in state(data[HELPER])
    assert all("/var/lib/helper" not in r for p in data.values() if p["profile"] != HELPER
               for r in state(p))
    assert "null-" in " ".join(data[HELPER]["notes"])


def test_stack_rule_only_where_denied(data: dict[str, Any]) -> None:
    """A stacked denial is active only in the profile that denied it; when the policy does
    not tell which, it is commented out in both."""
    helper, nginx = state(data[HELPER]), state(data[NGINX])
    assert "active" == helper["/etc/nginx/mime.types r,"]
    assert "already allowed" == nginx["/etc/nginx/mime.types r,"]
    assert ("stacked with", "stacked with") == (helper["/srv/both r,"], nginx["/srv/both r,"])
    assert "stacked with" == helper["/etc/nginx/stack.conf r,"]


@pytest.mark.parametrize("name", [NGINX, f"{NGINX}//php", "php", f"{NGINX}//UNKNOWN_HAT",
                                  HELPER])
def test_one_profile_as_in_the_whole_run(store: tuple[Path, Path], data: dict[str, Any],
                                         name: str) -> None:
    """``--profile`` builds only the profiles it needs (its own, those stacked with it),
    and gives exactly what the whole run gives for it."""
    whole = [p for p in data.values() if name in (p["profile"], "//".join(p["path"]))]
    assert settled(whole) == settled(suggested(store, "--profile", name))


def settled(profiles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``profiles`` with each rule's evidence sample keys sorted: they follow the order
    the store returns groups of equal size in, which DuckDB does not fix."""
    profiles = copy.deepcopy(profiles)
    for p in profiles:
        for r in p["rules"]:
            r["evidence"]["sample_keys"].sort(key=lambda k: (k["ts"], k["serial"]))
    return profiles


def test_script_target_names_its_interpreter(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """An exec'd script readable here gets a note with its interpreter rule (as aa-logprof
    adds); an unreadable target says it could not be checked."""
    script = tmp_path / "job.py"
    script.write_text("#!/usr/bin/python3\nprint('x')\n")
    gone = tmp_path / "gone.sh"

    def ex(serial: int, name: Path) -> str:
        return (avc(serial, "/usr/sbin/cron", str(name))
                .replace('operation="open"', 'operation="exec"')
                .replace('_mask="r"', '_mask="x"'))

    log = tmp_path / "audit.log"
    log.write_text(ex(1, script) + ex(2, gone))
    db = tmp_path / "store.duckdb"
    assert 0 == main(["run", str(log), "--db", str(db), "--no-report"])
    capsys.readouterr()
    assert 0 == main(["suggest", "--db", str(db), "--format", "json", "--no-validate"])
    (p,) = json.loads(capsys.readouterr().out)["profiles"]
    notes = {r["rule"]: " ".join(r["notes"]) for r in p["rules"]}
    assert "'/usr/bin/python3 ix,'" in notes[f"{script} mrix,"]
    assert "not readable on this host" in notes[f"{gone} mrix,"]
