"""The checker: compares a replayer's ledger with what reached DuckDB.

Figures, as reliability.md §5 names them:

- ``lost`` (L): ledger serials with no stored AVC row;
- ``duplicates_final`` (D_final): stored rows minus distinct keys, must be 0;
- ``unexpected``: stored serials the ledger never wrote (a forged or corrupted row).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from armorwatch.parsers import schema as S
from armorwatch.sinks.store import open_store


@dataclass(frozen=True)
class Verdict:
    """What the checker found."""

    written: int
    stored_rows: int
    stored_distinct: int
    lost: tuple[int, ...]
    unexpected: tuple[int, ...]

    @property
    def duplicates_final(self) -> int:
        """Rows stored more than once after dedup (must be 0)."""
        return self.stored_rows - self.stored_distinct


def stored_serials(db: Path, profile: str) -> list[int]:
    """Serials of the AVC rows stored for ``profile`` (one entry per row)."""
    con = open_store(db, read_only=True)
    try:
        rows = con.execute(
            f'SELECT "{S.SERIAL}" FROM records WHERE "{S.PROFILE}" = ? AND "{S.RECORD_TYPE}" = ?',
            [profile, "AVC"],
        ).fetchall()
    finally:
        con.close()
    return [int(r[0]) for r in rows]


def check(
    written: list[int], stored: list[int], allowed_loss: frozenset[int] = frozenset()
) -> Verdict:
    """Compare the ledger with the stored serials; ``allowed_loss`` is a documented window."""
    want, have = set(written), set(stored)
    return Verdict(
        written=len(want),
        stored_rows=len(stored),
        stored_distinct=len(have),
        lost=tuple(sorted(want - have - allowed_loss)),
        unexpected=tuple(sorted(have - want)),
    )
