"""Results tables: one row per run (or per design point), as CSV always and as Parquet when
pyarrow is installed, written so that a study killed half-way keeps every row it finished.

`ResultsJournal` is the writer of a sweep: each finished attempt is one JSON line appended to
``results.jsonl`` (flushed and fsynced: the record a resumed sweep reads back), and the tables
follow it: a new run's row is appended to ``results.csv``; when a run is rerun or a row brings a
column the file does not have, ``results.csv`` is rewritten whole (through a temporary file and a
rename, so a reader sees the old table or the new one). ``results.parquet`` (a file that cannot
be appended to) is rewritten whole: at most every ``parquet_every_s`` while rows come (rewriting it
after every row would cost time growing with the square of the runs), and by `flush` at the end.
The tables hold the latest attempt of each run.

`write_table(rows, folder)` writes a finished table at once (``officina exo sweep``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

from officina.runs import atomic_write_text

__all__ = ["ResultsJournal", "write_table", "read_table", "read_journal", "parquet_available", "columns_of"]

JOURNAL = "results.jsonl"
CSV = "results.csv"
PARQUET = "results.parquet"


def parquet_available() -> bool:
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def columns_of(rows: Iterable[dict[str, Any]], leading: Sequence[str] = ()) -> list[str]:
    """The columns of ``rows``: ``leading`` first, then every other key in order of appearance."""
    cols = list(leading)
    seen = set(cols)
    for r in rows:
        for k in r:
            if k not in seen:
                seen.add(k)
                cols.append(k)
    return cols


def _cell(v: Any) -> Any:
    """A value as a CSV cell: numbers and strings as they are, booleans as true/false, None empty,
    anything nested as JSON."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, (int, float, str)):
        return v
    return json.dumps(v, sort_keys=True)


def _csv_text(rows: Sequence[dict[str, Any]], columns: Sequence[str], header: bool = True) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if header:
        w.writerow(columns)
    for r in rows:
        w.writerow([_cell(r.get(c)) for c in columns])
    return buf.getvalue()


def _arrow_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]):
    """A pyarrow Table with one type per column: bool, int64, float64, or string (anything mixed
    or nested is written as its text)."""
    import pyarrow as pa

    arrays = []
    for c in columns:
        vals = [r.get(c) for r in rows]
        present = [v for v in vals if v is not None]
        if present and all(isinstance(v, bool) for v in present):
            arrays.append(pa.array(vals, type=pa.bool_()))
        elif present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            arrays.append(pa.array(vals, type=pa.int64()))
        elif present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            arrays.append(pa.array([None if v is None else float(v) for v in vals], type=pa.float64()))
        else:
            arrays.append(pa.array([None if v is None else (v if isinstance(v, str) else json.dumps(v, sort_keys=True))
                                    for v in vals], type=pa.string()))
    return pa.Table.from_arrays(arrays, names=list(columns))


def _write_parquet(path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(_arrow_table(rows, columns), tmp)
    os.replace(tmp, path)


def write_table(rows: Sequence[dict[str, Any]], folder: str | Path, *, leading: Sequence[str] = (),
                stem: str = "results") -> list[Path]:
    """Write ``rows`` as ``STEM.csv`` (and ``STEM.parquet`` with pyarrow); returns the files."""
    folder = Path(folder)
    cols = columns_of(rows, leading)
    out = [folder / f"{stem}.csv"]
    atomic_write_text(out[0], _csv_text(rows, cols))
    if parquet_available():
        out.append(folder / f"{stem}.parquet")
        _write_parquet(out[1], rows, cols)
    return out


def read_table(path: str | Path) -> list[dict[str, str]]:
    """The rows of a CSV results table, as text (for a reader without type information)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_journal(folder: str | Path) -> list[dict[str, Any]]:
    """Every attempt recorded in ``folder/results.jsonl``, in order (a line torn by a kill while it
    was written is skipped)."""
    p = Path(folder) / JOURNAL
    if not p.is_file():
        return []
    out = []
    for line in p.read_text().splitlines():
        try:
            e = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(e, dict) and isinstance(e.get("run"), str):
            out.append(e)
    return out


class ResultsJournal:
    """The results of a sweep in ``folder``: the journal and the tables that follow it.

    Rows are flat dicts with a ``run`` key (the run's name). ``leading`` columns come first in
    the tables (the run, its status, its grid values and seed, the key metrics)."""

    def __init__(self, folder: str | Path, leading: Sequence[str] = ("run", "status"), *,
                 parquet_every_s: float = 30.0) -> None:
        self.folder = Path(folder)
        self.leading = list(leading)
        self.parquet_every_s = float(parquet_every_s)
        self._parquet_at: float | None = None  # when results.parquet was last written (monotonic)
        self._parquet_stale = False
        self._entries: list[dict[str, Any]] = read_journal(self.folder)
        self._latest: dict[str, dict[str, Any]] = {}
        for e in self._entries:
            self._latest[e["run"]] = e
        self._columns: list[str] = []
        self.rewrite()

    def latest(self) -> dict[str, dict[str, Any]]:
        """Run name -> its latest row."""
        return dict(self._latest)

    def rows(self) -> list[dict[str, Any]]:
        return list(self._latest.values())

    def attempts(self, run: str) -> int:
        return sum(1 for e in self._entries if e["run"] == run)

    # -- writing
    def append(self, row: dict[str, Any]) -> None:
        """Record a finished attempt: the journal first (fsynced), then the tables."""
        line = json.dumps(row, sort_keys=False, default=str) + "\n"
        p = self.folder / JOURNAL
        with open(p, "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        rerun = row["run"] in self._latest
        self._entries.append(row)
        self._latest[row["run"]] = row
        if rerun or any(k not in self._columns for k in row) or not (self.folder / CSV).is_file():
            self.rewrite()
            return
        with open(self.folder / CSV, "a", newline="") as f:
            f.write(_csv_text([row], self._columns, header=False))
            f.flush()
            os.fsync(f.fileno())
        self._parquet_stale = True
        if self._parquet_at is None or time.monotonic() - self._parquet_at >= self.parquet_every_s:
            self.flush()

    def flush(self) -> None:
        """Bring ``results.parquet`` up to date with the rows (when pyarrow is installed)."""
        if self._parquet_stale and parquet_available():
            _write_parquet(self.folder / PARQUET, self.rows(), self._columns)
            self._parquet_at = time.monotonic()
        self._parquet_stale = False

    def rewrite(self) -> None:
        """Write the tables from the journal: the latest attempt of each run, with the columns of
        every attempt (a column does not vanish when the row that brought it is replaced)."""
        rows = self.rows()
        self._columns = columns_of(self._entries, self.leading)
        atomic_write_text(self.folder / CSV, _csv_text(rows, self._columns))
        self._parquet_stale = True
        self.flush()
