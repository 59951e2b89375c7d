"""The import names the wheel installs (armorwatch.*) and the one direction of imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("parsers", "ingest", "sinks", "jobs")
# What each layer may import of ours: armorwatch -> ingest/sinks/jobs -> parsers.
ALLOWED = {
    "parsers": {"parsers"},
    "ingest": {"ingest", "parsers"},
    "sinks": {"sinks", "parsers"},
    "jobs": {"jobs", "parsers"},
}


def imported(path: Path) -> list[str]:
    """The absolute module names a Python file imports."""
    names = []
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def sources(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py") if ".venv" not in p.parts)


def test_nothing_imports_the_top_level_folders_by_their_own_name() -> None:
    """Code, tests and benchmarks import armorwatch.parsers etc., the installed names, never a
    top-level `parsers`/`ingest`/`sinks`/`jobs` (which another project's package could be)."""
    bad = [
        f"{p.relative_to(ROOT)}: {name}"
        for p in sources("armorwatch", *LAYERS, "tests", "bench")
        for name in imported(p)
        if name.split(".")[0] in LAYERS
    ]
    assert [] == bad


def test_the_checkout_names_the_same_folders_as_the_wheel() -> None:
    """armorwatch/parsers etc. are links to the top-level folders (the layout stays)."""
    for layer in LAYERS:
        link = ROOT / "armorwatch" / layer
        assert link.is_symlink() and link.resolve() == (ROOT / layer).resolve(), link


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_go_one_way(layer: str) -> None:
    """parsers imports nothing of ours; ingest, sinks and jobs import only parsers (and
    themselves); none of them imports the armorwatch CLI/wiring."""
    bad = []
    for p in sources(layer):
        for name in imported(p):
            parts = name.split(".")
            if parts[0] != "armorwatch" or len(parts) < 2:
                continue
            if parts[1] not in ALLOWED[layer]:
                bad.append(f"{p.relative_to(ROOT)}: {name}")
    assert [] == bad
