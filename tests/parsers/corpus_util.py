"""Render parser output the way reference tools print it (for the corpus tests)."""

from __future__ import annotations

from typing import Any

from armorwatch.parsers import schema as S

# test_multi's print_results() labels, in its order, with the column each comes from.
TEST_MULTI_LABELS: tuple[tuple[str, str], ...] = (
    ("Operation", S.OPERATION),
    ("Mask", S.REQUESTED_MASK),
    ("Denied Mask", S.DENIED_MASK),
    ("fsuid", S.FSUID),
    ("ouid", S.OUID),
    ("Profile", S.PROFILE),
    ("Peer profile", S.PEER_LABEL),
    ("Peer", S.PEER),
    ("Name", S.NAME),
    ("Command", S.COMM),
    ("Name2", S.NAME2),
    ("Namespace", S.NAMESPACE),
    ("Attribute", S.ATTRIBUTE),
    ("Task", S.TASK),
    ("Parent", S.PARENT),
    ("Token", S.MAGIC_TOKEN),
    ("Info", S.INFO),
    ("ErrorCode", S.ERROR),
    ("PID", S.PID),
    ("Peer PID", S.PEER_PID),
    ("Net Addr", S.ADDR),
    ("Peer Addr", S.PEER_ADDR),
    ("Network family", S.FAMILY),
    ("Socket type", S.SOCK_TYPE),
    ("Protocol", S.PROTOCOL),
    ("Local addr", S.LADDR),
    ("Foreign addr", S.FADDR),
    ("Local port", S.LPORT),
    ("Foreign port", S.FPORT),
    ("DBus bus", S.BUS),
    ("DBus path", S.PATH),
    ("DBus interface", S.INTERFACE),
    ("DBus member", S.MEMBER),
    ("Signal", S.SIGNAL),
    ("FS Type", S.FSTYPE),
    ("Flags", S.FLAGS),
    ("Src name", S.SRCNAME),
    ("Execpath", S.EXECPATH),
    ("Class", S.CLASS),
)


def render_test_multi(row: dict[str, Any] | None) -> list[str]:
    """The ``Label: value`` lines test_multi prints for one record (None = invalid)."""
    if row is None:
        return ["Event type: AA_RECORD_INVALID"]
    out = [f"Event type: AA_RECORD_{row[S.APPARMOR]}"]
    ts, serial = row.get(S.TS), row.get(S.SERIAL)
    if ts is not None and serial is not None:
        ms = int(ts.timestamp() * 1000 + 0.5)
        out.append(f"Audit ID: {ms // 1000}.{ms % 1000:03d}:{serial}")
    values = dict(row)
    # libapparmor prints capname as the Name of a capability record, exe as the Command
    # of a dbus USER_AVC, and the absolute value of error=
    if values.get(S.CAPNAME) is not None and values.get(S.NAME) is None:
        values[S.NAME] = values[S.CAPNAME]
    if values.get(S.COMM) is None and row.get(S.RECORD_TYPE) == "USER_AVC":
        values[S.COMM] = values.get(S.EXE)
    if values.get(S.ERROR) is not None:
        values[S.ERROR] = abs(values[S.ERROR])
    for label, col in TEST_MULTI_LABELS:
        v = values.get(col)
        if v is None:
            continue
        if col in (S.FSUID, S.OUID) and v == -1:
            continue
        if col in (S.PID, S.PEER_PID, S.PARENT, S.TASK, S.MAGIC_TOKEN, S.ERROR) and v == 0:
            continue
        out.append(f"{label}: {v}")
    if ts is not None and serial is not None:
        out.append(f"Epoch: {ms // 1000}")
        out.append(f"Audit subid: {serial}")
    return out
