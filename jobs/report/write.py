"""Writing rendered files all-or-nothing: a failure (a full disk) leaves no half-written report."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path


def write_report(files: Mapping[str, str | bytes], out_dir: Path) -> list[Path]:
    """Write rendered files under ``out_dir`` all-or-nothing per run; return their paths.

    Files go to a private temporary directory inside ``out_dir`` first (same file system),
    then each is renamed into place; on any error the temporary directory is removed and
    the previous report stays as it was.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".report-", dir=out_dir))
    written: list[Path] = []
    try:
        for rel, content in files.items():
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            data = content.encode("utf-8") if isinstance(content, str) else content
            with open(target, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        for rel in files:
            final = out_dir / rel
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, final)
            written.append(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written
