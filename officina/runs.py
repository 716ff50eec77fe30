"""Run folders: ``runs/<task>-<timestamp>/`` with config.yaml, metrics.json (written last,
atomically), the MCAP state log, plots and an optional video."""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

__all__ = ["check_out_file", "make_out_dir", "new_run_dir", "atomic_write_text", "write_json_atomic", "write_yaml_atomic"]


def make_out_dir(out: str | Path, what: str = "--out") -> Path:
    """Create the folder ``out`` (and its parents) if absent; BadInput with one line naming
    ``what`` when it is a file or cannot be created."""
    from officina.errors import BadInput

    d = Path(out)
    if d.exists() and not d.is_dir():
        raise BadInput(f"{what} {out}: a file, not a folder; expected a folder")
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"{what} {out}: cannot create the folder ({exc.strerror or exc}); "
                       "expected a folder that can be written") from None
    return d


def check_out_file(out: str | Path, example: str, what: str = "--out") -> Path:
    """The path of a file a command is to write: BadInput with one line naming ``what`` when it
    is a folder, lies under a file, or its folder cannot be written. Nothing is created."""
    from officina.errors import BadInput

    p = Path(out)
    if p.is_dir():
        raise BadInput(f"{what} {out}: a folder; expected the file to write, e.g. {p / example}")
    anc = p.parent
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    if not anc.is_dir():
        raise BadInput(f"{what} {out}: {anc} is a file, not a folder")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise BadInput(f"{what} {out}: cannot write in {anc} (permission denied)")
    return p


def new_run_dir(task: str, out: str | Path | None, root: str | Path = "runs") -> Path:
    """Create the run folder. ``out`` given: that folder (must be empty or absent)."""
    if out is not None:
        d = Path(out)
        if d.is_dir() and any(d.iterdir()):
            from officina.errors import BadInput

            raise BadInput(f"--out {out}: folder exists and is not empty; expected a new or empty folder")
        return make_out_dir(d)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{task}-{stamp}"
    make_out_dir(root, "runs folder")
    d = base
    k = 1
    while True:
        try:
            d.mkdir(parents=True, exist_ok=False)
            return d
        except FileExistsError:
            k += 1
            d = base.with_name(f"{base.name}-{k}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: readers see the old file
    or the whole new one. The file gets the permissions of any file the process creates (0666
    less the umask), not the temporary file's private 0600."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json_atomic(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_yaml_atomic(path: str | Path, data: Any) -> None:
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))
