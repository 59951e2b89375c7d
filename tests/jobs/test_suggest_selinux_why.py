"""``armorwatch suggest`` says which SELinux boolean would allow a denial (issue 20), as
audit2why does: a ``setsebool -P NAME 1`` comment before the allow rule of the module and
``why`` in the JSON, looked up with Debian's ``setools`` in the real installed policy
(``selinux-policy-default``; skipped when absent); without a policy, one line says so.

The log is an audit.log as auditd writes it, read by ``armorwatch suggest FILE``.
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
from armorwatch.jobs.suggest import selinux as SE

POLICY = SE.default_policy()
needs_policy = pytest.mark.skipif(
    SE.unavailable(POLICY) is not None,
    reason=f"{SE.unavailable(POLICY)} (apt-get install setools selinux-policy-default)")
LOG = (
    "node=web-01 type=AVC msg=audit(1763866880.791:1): avc:  denied  { name_connect } for  "
    'pid=3300 comm="httpd" dest=5432 scontext=system_u:system_r:httpd_t:s0 '
    "tcontext=system_u:object_r:postgresql_port_t:s0 tclass=tcp_socket permissive=0\n"
)


def suggest(tmp_path: Path, *args: str) -> str:
    """``armorwatch suggest LOG`` with ``args``; its standard output."""
    log = tmp_path / "audit.log"
    log.write_text(LOG)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert 0 == main(["suggest", str(log), "--no-validate", *args])
    return buf.getvalue()


@needs_policy
def test_module_says_setsebool(tmp_path: Path) -> None:
    """The written module names the boolean before the rule, and still compiles."""
    out = tmp_path / "out"
    suggest(tmp_path, "-o", str(out))
    te = (out / "selinux-allow.te").read_text()
    lines = te.splitlines()
    i = lines.index("allow httpd_t postgresql_port_t:tcp_socket name_connect;")
    assert any(ln.startswith("# audit2why: setsebool -P httpd_can_network_connect_db 1 ")
               for ln in lines[:i])
    if shutil.which("checkmodule"):
        mod = tmp_path / "armorwatch_local.mod"  # checkmodule wants the module's name
        proc = subprocess.run(["checkmodule", "-M", "-m", "-o", str(mod),
                               str(out / "selinux-allow.te")], capture_output=True,
                              text=True, check=False)
        assert 0 == proc.returncode, proc.stderr


@needs_policy
def test_json_has_why(tmp_path: Path) -> None:
    """JSON: the rule's ``why`` gives the verdict and the settings, narrowest first."""
    data: dict[str, Any] = json.loads(suggest(tmp_path, "--format", "json"))
    (se,) = data["selinux"]
    assert "boolean" == se["why"]["verdict"] and data["selinux_note"] is None
    assert "setsebool -P httpd_can_network_connect_db 1" == se["why"]["booleans"][0]["command"]


def test_without_a_policy_one_line_says_so(tmp_path: Path) -> None:
    """A missing policy file: no ``why``, and one comment line in the module says why."""
    missing = tmp_path / "policy.33"
    text = suggest(tmp_path, "--selinux-policy", str(missing))
    assert 1 == text.count(f"# SELinux booleans not checked: no policy file {missing}")
    data = json.loads(suggest(tmp_path, "--format", "json", "--selinux-policy", str(missing)))
    assert data["selinux"][0]["why"] is None
    assert f"SELinux booleans not checked: no policy file {missing}" == data["selinux_note"]
