"""Atomic writing of result files: a temporary file in the same folder, then a rename."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through ``write(tmp)`` on a temporary file in its folder, then a rename.

    Raises:
        OSError: in the system's words, naming ``path`` (never the temporary file).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb") as done:
            os.fsync(done.fileno())
        # mkstemp creates the file readable by its owner only; results are ordinary files.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if not exc.errno:
            raise
        # In the system's words and naming the file meant, not the temporary one: Arrow says
        # "[Errno 28] Error writing bytes to file. Detail: [errno 28] No space left on device".
        raise OSError(exc.errno, os.strerror(exc.errno), str(path)) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_table(path: Path, frame: pd.DataFrame) -> None:
    """Write a table atomically; Parquet or CSV by the file suffix."""
    if path.suffix == ".parquet":
        atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    else:
        atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False, float_format="%.10g"))


def read_table(path: Path) -> pd.DataFrame:
    """Read a table written by ``write_table``."""
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
