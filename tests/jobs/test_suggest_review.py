"""``armorwatch review`` (issue 20): aa-logprof's allow / deny / skip / glob / glob-ext
workflow in a terminal, driven in a real tmux terminal; it writes local/ files and never
overwrites one, merges into one with ``--merge`` and reloads the profile
(``apparmor_parser -r``) when asked.

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
from armorwatch.commands.review import (
    ALLOW,
    DENY,
    Choice,
    _reload,
    glob_path,
    glob_path_ext,
    merge_additions,
    render,
)
from armorwatch.jobs import suggest as SG
from armorwatch.jobs.abstractions import Policy

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


@pytest.mark.skipif(TMUX is None or not CLI.is_file(), reason="needs tmux and the CLI")
def test_review_globs_merges_and_reloads(tmp_path: Path) -> None:
    """Glob-ext one rule, glob another twice, then write-and-reload with --merge into the
    installed policy's local/ directory: the reviewed lines are appended to the existing
    local file (kept byte-for-byte as its prefix, a .bak copy made), the rule its existing
    line already allows is not repeated, and apparmor_parser -r (a fake on PATH that
    records its arguments) is run on the profile's policy file."""
    assert TMUX is not None
    log = tmp_path / "audit.log"
    log.write_text(avc(1, "/etc/ntp/a.conf") + avc(2, "/var/lib/ntp/x") + avc(3, "/srv/t"))
    db = tmp_path / "store.duckdb"
    subprocess.run([str(CLI), "run", str(log), "--db", str(db), "--no-report"], check=True,
                   stdout=subprocess.DEVNULL)
    pol = tmp_path / "apparmor.d"
    (pol / "local").mkdir(parents=True)
    (pol / "usr.sbin.ntpd").write_text(
        "/usr/sbin/ntpd {\n  /etc/ntp.conf r,\n  include if exists <local/usr.sbin.ntpd>\n}\n")
    old = "# hand-written\n/srv/t r,\n"
    (pol / "local" / "usr.sbin.ntpd").write_text(old)
    fake = tmp_path / "bin"
    fake.mkdir()
    calls = tmp_path / "parser-calls"
    (fake / "apparmor_parser").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (fake / "apparmor_parser").chmod(0o755)
    done = tmp_path / "done"
    sock = f"aw-review-r-{os.getpid()}"
    cmd = (f"PATH={fake}:$PATH {CLI} review --db {db} -o {pol / 'local'} --merge "
           f"--no-validate --policy-dir {pol}; echo $? > {done}; sleep 30")
    tmux = [TMUX, "-L", sock, "-f", "/dev/null"]
    subprocess.run([*tmux, "new-session", "-d", "-x", "160", "-y", "40", cmd], check=True)
    try:
        def screen() -> str:
            return subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True,
                                  text=True).stdout

        def keys(*ks: str) -> None:
            for k in ks:
                subprocess.run([*tmux, "send-keys", k], check=True)

        wait_for(lambda: "[A] /etc/ntp/a.conf r," in screen(), "the rules on screen")
        keys("e")
        wait_for(lambda: "[A] /etc/ntp/*.conf r," in screen(), "the glob-ext")
        keys("a", "g", "g")
        wait_for(lambda: "[A] /var/lib/** r," in screen(), "two glob steps")
        keys("r")
        wait_for(done.is_file, "review to exit")
        wait_for(lambda: "reloaded" in screen(), "the reload report")
        out = screen()
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    assert "0" == done.read_text().strip(), out
    text = (pol / "local" / "usr.sbin.ntpd").read_text()
    assert text.startswith(old)
    added = [ln for ln in text[len(old):].splitlines() if ln and not ln.startswith("#")]
    assert ["/etc/ntp/*.conf r,", "/var/lib/** r,"] == added
    assert old == (pol / "local" / "usr.sbin.ntpd.bak").read_text()
    assert [f"-r -I {pol} {pol / 'usr.sbin.ntpd'}"] == calls.read_text().splitlines()
    assert f"reloaded {pol / 'usr.sbin.ntpd'} (apparmor_parser -r)" in out


def test_glob_steps_are_aa_logprofs() -> None:
    """Glob and glob-with-extension widen one step at a time as aa-logprof's do; a path
    without an extension or already at the root is left as it is by glob-ext."""
    assert ["/a/b/*", "/a/**", "/**"] == [
        glob_path("/a/b/c"), glob_path("/a/b/*"), glob_path("/a/**")]
    assert "/a/*/" == glob_path("/a/b/")
    assert ["/a/b/*.conf", "/a/**.conf", "/**.conf", "/**.conf", "/a/b/c"] == [
        glob_path_ext("/a/b/c.conf"), glob_path_ext("/a/b/*.conf"),
        glob_path_ext("/a/**.conf"), glob_path_ext("/**.conf"), glob_path_ext("/a/b/c")]
    assert "/a/**.x" == glob_path_ext("/a/b**c.x")


def test_reload_only_into_the_policys_local_dir(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Reloading when -o is not the policy's local/ directory is refused with the reason
    (the profile would not include those files)."""
    assert 1 == _reload([tmp_path / "p"], tmp_path / "out", tmp_path / "apparmor.d")
    assert "not reloaded: -o" in capsys.readouterr().out


def file_rule(path: str) -> SG.Suggestion:
    """A suggested exact file-read rule for ``path``."""
    return SG.Suggestion(kind="file", rule=f"{path} r,", paths=frozenset({path}),
                         perms=frozenset("r"))


def test_merge_adds_only_what_the_file_lacks(tmp_path: Path) -> None:
    """Merging reviewed lines: a rule the existing file covers is not added, a new allow
    and a deny are; merging the result again adds nothing; two rules globbed to one line
    give it once."""
    ps = SG.ProfileSuggestion(profile="/usr/sbin/ntpd", namespace=None,
                              path=["/usr/sbin/ntpd"], local_file="usr.sbin.ntpd")
    choices = [Choice(file_rule("/srv/t"), ALLOW), Choice(file_rule("/etc/x"), ALLOW),
               Choice(file_rule("/etc/y"), DENY)]
    policy = Policy(tmp_path / "none")
    existing = "/srv/** r,\n"
    added, n = merge_additions(ps, choices, existing, policy)
    assert 2 == n
    assert ["/etc/x r,", "deny /etc/y r,"] == [
        ln for ln in added.splitlines() if ln and not ln.startswith("#")]
    assert ("", 0) == merge_additions(ps, choices, existing + added, policy)
    for c in choices[1:]:  # /etc/x and /etc/y globbed to one line: written once
        c.decision = ALLOW
        c.glob(glob_path)
    assert 1 == merge_additions(ps, choices, existing, policy)[1]
    assert 1 == render(ps, choices).count("/etc/* r,")


def test_a_glob_that_reaches_a_risky_path_says_so(tmp_path: Path) -> None:
    """Globbing a certificate's rule up to /etc/ssl/** shows that it now reaches the TLS
    private keys; one step (/etc/ssl/certs/*) does not."""
    policy = Policy(tmp_path / "none")
    c = Choice(file_rule("/etc/ssl/certs/site.pem"), ALLOW)
    c.glob(glob_path)
    assert ("/etc/ssl/certs/* r,", None) == (c.line(), c.pattern_risk(policy))
    c.glob(glob_path)
    assert "/etc/ssl/** r," == c.line()
    assert "TLS private keys" in str(c.pattern_risk(policy))


def test_a_failed_reload_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """apparmor_parser -r failing (a fake on PATH that fails as the real one does without
    the kernel's AppArmor) is reported with its message and exit 1."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "apparmor_parser").write_text(
        "#!/bin/sh\necho 'Warning: unable to find a suitable fs in /proc/mounts' >&2\n"
        "exit 1\n")
    (fake / "apparmor_parser").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ.get('PATH', '')}")
    pol = tmp_path / "apparmor.d"
    (pol / "local").mkdir(parents=True)
    assert 1 == _reload([pol / "webd"], pol / "local", pol)
    out = capsys.readouterr().out
    assert f"reload of {pol / 'webd'} FAILED (apparmor_parser exit 1): Warning: unable" in out
