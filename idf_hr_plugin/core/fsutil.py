"""File-system helpers shared by every writer: recognising a full disk."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

LOW_SPACE_BYTES = 1 << 20  # under 1 MiB free, a failed write is taken as "disk full"


def free_bytes(folder: str | os.PathLike) -> int | None:
    """Free bytes in ``folder`` (None if it cannot be told)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def is_disk_full(exc: BaseException, folder: str | os.PathLike) -> bool:
    """Whether a write failure is a full disk: ENOSPC, GDAL's wording, or almost no space left.

    GDAL often reports a failed write without the reason, hence the free-space check.
    """
    text = str(exc)
    if getattr(exc, "errno", None) == errno.ENOSPC or "No space left" in text or "disk full" in text.lower():
        return True
    free = free_bytes(Path(folder))
    return free is not None and free < LOW_SPACE_BYTES
