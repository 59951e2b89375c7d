"""jobs.risky: the shared sensitive-access list (used by suggestion and alerts)."""

from __future__ import annotations

import pytest

from armorwatch.jobs import risky
from armorwatch.jobs.apparmor_rules import path_matches


class TestMatch:
    @pytest.mark.parametrize(
        ("class_", "name", "capname", "expected"),
        [
            ("file", "/etc/shadow", None, "/etc/shadow"),
            ("file", "/root/.ssh/id_rsa", None, "/root/**"),
            ("file", "/home/bob/.ssh/id_ed25519", None, "/home/*/.ssh/**"),
            ("file", "/proc/42/mem", None, "/proc/*/mem"),
            ("cap", None, "sys_admin", "sys_admin"),
            ("cap", None, "sys_module", "sys_module"),
            ("cap", None, "sys_ptrace", "sys_ptrace"),
            ("ptrace", None, None, "ptrace"),
            ("file", "/etc/hosts", None, None),
            ("cap", None, "net_bind_service", None),
        ],
    )
    def test_match(self, class_: str, name: str | None, capname: str | None,
                   expected: str | None) -> None:
        """The three-argument API finds the first matching entry (or None)."""
        got = risky.match(class_, name, capname)
        assert expected == (got.what if got else None)

    def test_glob_star_stays_in_component(self) -> None:
        """``*`` does not cross ``/``: /home/a/b/.ssh is not /home/*/.ssh."""
        assert risky.match_path("/home/a/b/.ssh/k") is None

    def test_exec_from_tmp(self) -> None:
        """exec of a file under /tmp is risky only when the operation says exec."""
        got = risky.match("file", "/tmp/.x/payload", None, operation="exec")
        assert got is not None and "world-writable" in got.reason
        assert risky.match("file", "/tmp/.x/payload", None) is None

    def test_raw_sockets(self) -> None:
        """Raw and packet sockets are risky."""
        assert risky.match("net", None, None, sock_type="raw") is not None
        assert risky.match("net", None, None, family="packet") is not None
        assert risky.match("net", None, None, sock_type="stream") is None

    def test_pattern(self) -> None:
        """A suggested pattern that would allow a sensitive path is found."""
        got = risky.match_pattern(lambda p: path_matches("/etc/*", p))
        assert got is not None and "/etc/shadow" == got.what
        assert risky.match_pattern(lambda p: path_matches("/srv/www/**", p)) is None
