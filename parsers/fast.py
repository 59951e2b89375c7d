"""Arrow side of the C fast path (``parsers._fastscan``): scan results → MAC_SCHEMA batch.

The C scanner appends each MAC record's values to per-column buffers; here they are
wrapped without copying (``pa.Array.from_buffers``) and finished with vectorised Arrow
work that runs once per *distinct* value, not per line: dictionary encoding, protocol and
socket-type names, and label splitting (namespace / stack / parent / child) computed on the
profile dictionary and broadcast with ``take``. Lines the scanner does not handle come back
as "slow" lines and go through the reference path (``parsers.records``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from parsers import fields as F
from parsers import schema as S

_fastscan: Any
try:
    _fastscan = importlib.import_module("parsers._fastscan")
except ImportError:  # no compiler at install time: the pure-Python path does everything
    _fastscan = None

# C column name → schema column (string columns the C side fills)
_DICT: Final = pa.dictionary(pa.int32(), pa.string())


def available() -> bool:
    """Whether the compiled scanner is importable."""
    return _fastscan is not None


def scan(
    head: bytes,
    data: bytes,
    start: int,
    end: int,
    final: bool,
    prev_max_ts: int,
    window_ms: int,
) -> dict[str, Any]:
    """One pass of the C scanner over ``head + data[start:end]`` (complete lines; the
    chunk itself is not copied). See parsers/_fastscan.c for the result's keys."""
    assert _fastscan is not None
    result: dict[str, Any] = _fastscan.scan(head, data, start, end, final, prev_max_ts, window_ms)
    return result


def _mapped_dictionary(arr: pa.Array, fn: Callable[[str], str]) -> pa.Array:
    """Apply ``fn`` to each distinct value of a string array (nulls stay null)."""
    enc = pc.dictionary_encode(arr)
    values = [fn(v) for v in enc.dictionary.to_pylist()]
    return pc.take(pa.array(values, pa.string()), enc.indices)


def _const(value: str | None, n: int) -> pa.Array:
    if value is None:
        return pa.nulls(n, _DICT)
    indices = pc.fill_null(pa.nulls(n, pa.int32()), 0)
    return pa.DictionaryArray.from_arrays(indices, pa.array([value], pa.string()))


def to_batch(
    res: dict[str, Any],
    *,
    source: str,
    host: str | None,
    machine_id: str | None,
    boot_id: str | None,
    slow_events: set[int] | None = None,
    slow_mac: dict[int, list[int]] | None = None,
) -> tuple[pa.RecordBatch, dict[tuple[int, int], int]]:
    """The MAC_SCHEMA batch of the rows the scanner built, and the ordinals of slow rows.

    ``slow_events`` are events that had lines the Python path judged, ``slow_mac`` the
    member indices of those that became MAC records: ordinals count MAC records only.
    """
    n = int(res["rows"])
    ordinals: dict[tuple[int, int], int] = {}
    if n == 0:
        for ev, members in (slow_mac or {}).items():
            for rank, m in enumerate(sorted(members)):
                ordinals[(ev, m)] = rank
        return S.empty_batch(S.MAC_SCHEMA), ordinals
    strs: dict[str, pa.Array] = {}
    for name, data, offs, valid in res["str"]:
        typ = pa.binary() if name == S.RAW else pa.string()
        strs[name] = pa.Array.from_buffers(
            typ, n, [pa.py_buffer(valid), pa.py_buffer(offs), pa.py_buffer(data)]
        )
    ints: dict[str, pa.Array] = {
        name: pa.Array.from_buffers(pa.int64(), n, [pa.py_buffer(valid), pa.py_buffer(vals)])
        for name, vals, valid in res["int"]
    }
    p_offs, p_valid, c_data, c_offs = res["perms"]
    items = (len(c_offs) // 4 - 1) if c_offs else 0
    child = pa.Array.from_buffers(
        pa.string(), items, [None, pa.py_buffer(c_offs), pa.py_buffer(c_data)]
    )
    perms = pa.Array.from_buffers(
        pa.list_(pa.string()),
        n,
        [pa.py_buffer(p_valid), pa.py_buffer(p_offs)],
        children=[child],
    )

    cols: dict[str, pa.Array] = {}
    for name, arr in strs.items():
        if name in (S.RAW, S.HOST):
            continue
        cols[name] = arr
    if host is not None:
        cols[S.HOST] = pc.fill_null(strs[S.HOST], host)
    else:
        cols[S.HOST] = strs[S.HOST]
    cols[S.PROTOCOL] = _mapped_dictionary(strs[S.PROTOCOL], F.protocol_name)
    cols[S.SOCK_TYPE] = _mapped_dictionary(strs[S.SOCK_TYPE], F.numeric_name)

    # labels: split each distinct profile once
    prof = pc.dictionary_encode(strs[S.PROFILE])
    parts = [F.split_label(v) for v in prof.dictionary.to_pylist()]
    idx = prof.indices
    cols[S.PROFILE_NS] = pc.take(pa.array([p[0] for p in parts], pa.string()), idx)
    cols[S.PROFILE_STACK] = pc.take(pa.array([p[1] for p in parts], pa.list_(pa.string())), idx)
    cols[S.PROFILE_PARENT] = pc.take(pa.array([p[2] for p in parts], pa.string()), idx)
    cols[S.PROFILE_CHILD] = pc.take(pa.array([p[3] for p in parts], pa.string()), idx)

    user = pc.equal(ints["_user"], 1)
    selinux = pc.equal(ints["_selinux"], 1)
    cols[S.ORIGIN] = pc.if_else(user, S.ORIGIN_USERSPACE, S.ORIGIN_KERNEL)
    cols[S.LSM] = pc.if_else(selinux, S.LSM_SELINUX, S.LSM_APPARMOR)
    ordinal = ints[S.ORDINAL]
    if slow_events:
        ev = ints["_event"].to_pylist()
        mem = ints["_member"].to_pylist()
        by_event: dict[int, list[int]] = {e: list((slow_mac or {}).get(e, [])) for e in slow_events}
        for e, m in zip(ev, mem, strict=True):
            if e in by_event:
                by_event[e].append(m)
        for e, ms in by_event.items():
            for rank, m in enumerate(sorted(ms)):
                ordinals[(e, m)] = rank
        old = ordinal.to_pylist()
        ordinal = pa.array(
            [ordinals.get((e, m), o) for e, m, o in zip(ev, mem, old, strict=True)], pa.int64()
        )
    cols[S.ORDINAL] = ordinal
    for name in S.COLUMNS:
        if name in ints and name not in cols:
            cols[name] = ints[name]
    cols[S.PERMS] = perms
    cols[S.RAW] = strs[S.RAW]

    arrays = []
    for field in S.MAC_SCHEMA:
        name = field.name
        if name == S.SOURCE:
            arrays.append(_const(source, n))
        elif name == S.MACHINE_ID:
            arrays.append(_const(machine_id, n))
        elif name == S.BOOT_ID:
            arrays.append(_const(boot_id, n))
        elif field.type == _DICT:
            arrays.append(pc.dictionary_encode(cols[name]))
        elif name == S.PERMISSIVE:
            arrays.append(pc.not_equal(cols[name], 0))
        else:
            arrays.append(cols[name].cast(field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=S.MAC_SCHEMA), ordinals
