"""The alert window derives subject/object exactly as the store's views do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from armorwatch.parsers import schema as S
from tests.jobs.alert_data import record

SELINUX = {S.LSM: S.LSM_SELINUX, S.SCONTEXT: "system_u:system_r:httpd_t:s0"}

# One denial (and, for AppArmor, one complain event) of every class the derivation tells
# apart, each with the fields that would mislead a wrong branch.
KINDS: dict[str, dict[str, Any]] = {
    "capability": {S.CLASS: "cap", S.CAPNAME: "sys_admin", S.NAME: None},
    "signal": {S.CLASS: "signal", S.SIGNAL: "term", S.PEER: "unconfined", S.NAME: None},
    "signal-unknown": {S.CLASS: "signal", S.NAME: None},
    "ptrace": {S.CLASS: "ptrace", S.PEER: "/usr/bin/gdb"},
    "ptrace-no-peer": {S.CLASS: "ptrace", S.NAME: "/proc/77/mem"},
    "dbus": {
        S.CLASS: "dbus",
        S.BUS: "system",
        S.NAME: "org.freedesktop.DBus",
        S.PATH: "/org/freedesktop/DBus",
        S.INTERFACE: "org.freedesktop.DBus",
        S.MEMBER: "Hello",
    },
    "dbus-by-bus": {S.CLASS: None, S.MEDIATION_CLASS: None, S.BUS: "session", S.NAME: None},
    "unix": {S.CLASS: "unix", S.ADDR: "@/tmp/.X11-unix/X0", S.NAME: "/run/x"},
    "unix-peer": {S.CLASS: "unix", S.PEER_ADDR: "/run/dbus/system_bus_socket", S.NAME: None},
    "net": {S.CLASS: "net", S.FAMILY: "inet", S.SOCK_TYPE: "stream", S.PROTOCOL: "6", S.NAME: None},
    "network-named": {S.CLASS: "network", S.FAMILY: "inet", S.NAME: "eth0"},
    "derived-class": {S.CLASS: None, S.MEDIATION_CLASS: "file", S.NAME: "/proc/1234/fd/7"},
    "file-digits": {S.CLASS: "file", S.NAME: "/proc/1234/5678/x/9"},
    "mount": {S.CLASS: "mount", S.NAME: "/mnt/12", S.SRCNAME: "/dev/sda1"},
    "exec-target": {S.CLASS: "file", S.NAME: None, S.NAME2: "/usr/bin/sh"},
    "selinux-fields-on-apparmor": {
        S.CLASS: None,
        S.NAME: None,
        S.TCLASS: "file",
        S.TCONTEXT: "system_u:object_r:etc_t:s0",
    },
    "nothing": {S.CLASS: None, S.NAME: None},
}
SELINUX_KINDS: dict[str, dict[str, Any]] = {
    "selinux-path": {S.TCLASS: "file", S.PATH: "/etc/shadow", S.TCONTEXT: "shadow_t"},
    "selinux-tcontext": {S.TCLASS: "tcp_socket", S.TCONTEXT: "system_u:object_r:port_t:s0"},
    "selinux-name": {S.TCLASS: "dir", S.NAME: "1234", S.TCONTEXT: "proc_t"},
}
DERIVED = ("subject", "object_class", "object", "object_pattern")


def rows() -> list[dict[str, Any]]:
    """Every kind as an AppArmor denial and complain event, SELinux kinds as SELinux denials."""
    out = []
    for i, over in enumerate(KINDS.values()):
        for apparmor in (S.AA_DENIED, S.AA_ALLOWED):
            out.append(record(2 * i + (apparmor == S.AA_ALLOWED), apparmor=apparmor, **over))
    for i, over in enumerate(SELINUX_KINDS.values(), start=100):
        row = record(i, profile=None, class_=None, name=None, apparmor=None)  # type: ignore[arg-type]
        out.append(row | SELINUX | {S.SERESULT: S.SE_DENIED} | over)
    return out


class TestSameDerivation:
    @pytest.mark.parametrize("table", ["denials", "complain_events"])
    def test_store_and_window_derive_equal_columns(self, tmp_path: Path, table: str) -> None:
        """The store's views and the alert window derive subject/object columns equally.

        Both run parsers/sql/derived.sql; seeded signatures (from the store) and live
        ones (from the window) only compare when these agree, for every class.
        """
        from armorwatch.jobs.alerts import AlertEngine, AlertRules, AlertState
        from tests.jobs.alert_data import store

        data = rows()
        query = f"SELECT ts, {', '.join(DERIVED)} FROM {table} ORDER BY ts"
        con = store(tmp_path, data)
        in_store = con.execute(query).fetchall()
        con.close()
        state = AlertState()
        engine = AlertEngine(AlertRules(), state)
        try:
            engine.add(S.batch_from_rows(data), None, 0.0)
            in_window = engine._con.execute(query).fetchall()
        finally:
            engine.close()
            state.close()
        assert len(in_store) == (
            len(KINDS) + len(SELINUX_KINDS) if table == "denials" else len(KINDS)
        )
        assert in_store == in_window


class TestSameNames:
    def test_store_views_match_the_window_tables(self, tmp_path: Path) -> None:
        """alert_store_views.sql gives a store the window's alert_* tables, column for column."""
        from armorwatch.jobs import sqlfiles
        from armorwatch.jobs.alerts import AlertEngine, AlertRules, AlertState
        from tests.jobs.alert_data import record, store

        con = store(tmp_path, [record(1)])
        sqlfiles.load("alert_store_views").execute(con)
        state = AlertState()
        engine = AlertEngine(AlertRules(), state)
        try:
            for name in ("alert_profile_status", "alert_forged"):
                in_store = [r[0] for r in con.execute(f"DESCRIBE {name}").fetchall()]
                in_window = [r[0] for r in engine._con.execute(f"DESCRIBE {name}").fetchall()]
                assert in_store == in_window, name
        finally:
            engine.close()
            state.close()
            con.close()
