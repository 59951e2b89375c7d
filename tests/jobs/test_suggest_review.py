"""``armorwatch review`` (issue 20): aa-logprof's allow / deny / skip workflow in a terminal,
driven in a real tmux terminal; it writes local/ files and never overwrites one.

The store is written by ``armorwatch run`` from an audit.log as auditd writes it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from armorwatch.cli import main

TMUX = shutil.which("tmux")
CLI = Path(sys.executable).parent / "armorwatch"
NTPD = "/usr/sbin/ntpd"


def avc(serial: int, name: str) -> str:
    """One AppArmor file-read DENIED record of audit.log."""
    return (
        f"node=web-01 type=AVC msg=audit(1763882115.{serial:03d}:{serial}): "
        f'apparmor="DENIED" operation="open" class="file" profile="{NTPD}" '
        f'name="{name}" pid={2000 + serial} comm="ntpd" requested_mask="r" '
        f'denied_mask="r" fsuid=1000 ouid=0\n'
    )


def wait_for(check: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    """Poll ``check()`` until true (a bound on waiting, not a speed assertion)."""
    end = time.monotonic() + limit
    while not check():
        if time.monotonic() > end:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.2)


@pytest.mark.skipif(TMUX is None or not CLI.is_file(), reason="needs tmux and the CLI")
def test_review_in_a_terminal(tmp_path: Path) -> None:
    """Deny the first rule, skip the second, write: the existing local file is kept and
    the reviewed rules go to NAME.suggested."""
    assert TMUX is not None
    log = tmp_path / "audit.log"
    log.write_text(avc(1, "/etc/ntp/a.conf") + avc(2, "/var/lib/ntp/x") + avc(3, "/srv/t"))
    db = tmp_path / "store.duckdb"
    subprocess.run([str(CLI), "run", str(log), "--db", str(db), "--no-report"], check=True,
                   stdout=subprocess.DEVNULL)
    out = tmp_path / "out"
    out.mkdir()
    (out / "usr.sbin.ntpd").write_text("# hand-written\n/etc/ntp.conf r,\n")
    done = tmp_path / "done"
    sock = f"aw-review-{os.getpid()}"
    cmd = (f"{CLI} review --db {db} -o {out} --no-validate --policy-dir {tmp_path / 'none'}"
           f"; echo $? > {done}; sleep 30")
    tmux = [TMUX, "-L", sock, "-f", "/dev/null"]
    subprocess.run([*tmux, "new-session", "-d", "-x", "160", "-y", "40", cmd], check=True)
    try:
        def screen() -> str:
            return subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True,
                                  text=True).stdout

        wait_for(lambda: "[A] /etc/ntp/a.conf r," in screen(), "the rules on screen")
        assert "evidence: 1 event(s)" in screen()
        for key in ("d", "s"):
            subprocess.run([*tmux, "send-keys", key], check=True)
        wait_for(lambda: "[D] deny /etc/ntp/a.conf r," in screen(), "the deny decision")
        subprocess.run([*tmux, "send-keys", "w"], check=True)
        wait_for(done.is_file, "review to exit")
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    assert "0" == done.read_text().strip()
    assert "# hand-written\n/etc/ntp.conf r,\n" == (out / "usr.sbin.ntpd").read_text()
    lines = [ln for ln in (out / "usr.sbin.ntpd.suggested").read_text().splitlines()
             if not ln.startswith("#")]
    assert ["deny /etc/ntp/a.conf r,", "/srv/t r,"] == lines


def test_review_needs_a_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without a terminal review refuses with a usage error instead of hanging."""
    assert 2 == main(["review", "--db", str(tmp_path / "x.duckdb"), "-o", str(tmp_path)])
    assert "needs a terminal" in capsys.readouterr().err
