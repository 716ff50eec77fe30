"""Many runs: seeds x parameter grid, through Dask distributed; a sweep survives a crash and resumes.

A LocalCluster (one single-threaded worker process per core, with `DASK_WORKER_CONFIG`: Dask's
settings for workers that run one long CPU-bound task at a time) by default, or the address of an
existing scheduler (``--scheduler tcp://host:8786``: started by hand, or by dask-jobqueue on
SLURM, whose workers read the same settings through ``DASK_CONFIG``; docs/sweeps.md). Every run is
an ordinary run folder under the sweep folder.

The sweep folder:

* ``sweep.yaml``: what the sweep is (task, seeds, grid, robot, config file, overrides, the point
  names) and the fingerprint of every point's resolved configuration, written before any run;
* ``results.jsonl``, ``results.csv`` (and ``results.parquet`` with pyarrow): one row per run,
  appended as runs finish (`officina.results`): the run, its status (``ok``: it ran to the end and
  wrote its metrics, whatever the task's success; ``failed``: it raised, or its worker process
  died), seed, grid values, every scalar metric, the error, wall and CPU time;
* one run folder per point; a failed run keeps config.yaml and error.txt like any crashed run;
* ``sweep.json`` (rows, per-point summary with intervals) and ``sweep.png``, written at the end.

Running the same sweep into the same folder (the same command with ``--out DIR``, or
``officina sweep --resume DIR``) skips the runs the table has as ok, reruns the failed ones only
with ``retry_failed``, and reruns the runs that never finished. A folder holding a different
sweep (other task, seeds, grid, overrides, or the same arguments now resolving to another
configuration) is refused.

A worker process that dies in a run (a segfault in native code, the out-of-memory killer) is
noticed through a marker the run leaves when it starts (``.officina/started/NAME``, with Python's
faulthandler writing any fatal-signal traceback into it): Dask reschedules the lost task, and the
second attempt finds the marker and reports the first one as failed, with the reason, instead of
running it again. So one crashing run costs one crash, and the runs queued on the same worker are
not blamed. This needs the sweep folder on a file system every worker sees (which the run folders
need anyway).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from officina.errors import BadInput
from officina.runs import new_run_dir, write_json_atomic, write_yaml_atomic

__all__ = [
    "SweepPoint", "SweepSpec", "SweepOutcome", "parse_seeds", "parse_grid", "plan_sweep", "plan_fingerprint",
    "SweepPlan", "prepare_sweep", "create_sweep_dir", "open_sweep", "load_sweep", "connect", "local_cluster",
    "DASK_WORKER_CONFIG", "dask_worker_config", "dask_setup", "run_sweep", "finish_sweep", "summarize", "plot_summary", "scalar_metrics", "point_label", "SWEEP_FORMAT",
]

SWEEP_FORMAT = 2
INTERNAL = ".officina"
# bookkeeping columns of a results row (metrics of the same name go in as "metric.NAME")
RUN_COLUMNS = ("run", "status", "seed", "error", "run_dir", "wall_s", "cpu_s", "children_cpu_s", "worker", "attempt",
               "finished")


@dataclass(frozen=True)
class SweepPoint:
    name: str
    seed: int
    grid: dict[str, Any]  # dotted key -> value of this point
    config: dict[str, Any]  # the fully resolved run configuration


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep is, as given: the inputs every point's configuration is resolved from."""

    task: str
    seeds: list[int]
    grid: dict[str, list[Any]]
    robot: str | None = None
    config_file: str | None = None
    overrides: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"task": self.task, "seeds": list(self.seeds), "grid": dict(self.grid), "robot": self.robot,
                "config_file": self.config_file, "overrides": list(self.overrides)}


def parse_seeds(text: str) -> list[int]:
    """'0-9', '1,5,7' or '0-3,10' -> sorted unique seeds."""
    seeds: set[int] = set()
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                a, b = part.split("-", 1)
                lo, hi = int(a), int(b)
                if hi < lo:
                    raise ValueError
                seeds.update(range(lo, hi + 1))
            elif part:
                seeds.add(int(part))
    except ValueError:
        raise BadInput(f"--seeds {text!r}: expected seeds like 0-9 or 1,5,7") from None
    if not seeds or min(seeds) < 0:
        raise BadInput(f"--seeds {text!r}: expected at least one seed >= 0")
    return sorted(seeds)


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """['params.n_objects=1,3', 'robot=panda,ur5e'] -> {key: [values]} (values parsed as YAML);
    ``KEY=[[0.4, 0.1], [0.5, 0.1]]`` for values that are lists themselves."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise BadInput(f"--grid {item!r}: expected KEY=V1,V2,... e.g. params.n_objects=1,3")
        key, raw = item.split("=", 1)
        try:
            if raw.strip().startswith("["):  # a YAML list, for values that hold commas themselves
                values = yaml.safe_load(raw)
                if not isinstance(values, list):
                    raise yaml.YAMLError
            else:
                values = [yaml.safe_load(v) for v in raw.split(",") if v.strip()]
        except yaml.YAMLError:
            raise BadInput(f"--grid {item!r}: expected KEY=V1,V2,... or KEY=[V1, V2, ...] (YAML)") from None
        if not key.strip() or not values:
            raise BadInput(f"--grid {item!r}: expected KEY=V1,V2,... with at least one value")
        if key.strip() in grid:
            raise BadInput(f"--grid {item!r}: {key.strip()} is given twice; expected one --grid per key")
        grid[key.strip()] = values
    return grid


def point_label(grid: dict[str, Any]) -> str:
    """A grid point as people read it: 'n_objects=1, robot=panda' ('all' without a grid)."""
    return ", ".join(f"{k.split('.')[-1]}={v}" for k, v in grid.items()) or "all"


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", text).strip("._") or "x"


def plan_sweep(task: str, *, seeds: list[int], grid: dict[str, list[Any]], robot: str | None,
               config_file: str | None, overrides: list[str]) -> list[SweepPoint]:
    """Resolve every point's configuration now, so bad input fails before anything starts."""
    from officina.runner import resolve_config

    for key, how in (("seed", "the seeds are --seeds, e.g. --seeds 0-9"), ("task", "a sweep runs one task")):
        if key in grid:
            raise BadInput(f"--grid {key}=...: {how}; expected --grid over other config keys (robot, params.*, ...)")
        if any(o.split("=", 1)[0].strip() == key for o in overrides):
            raise BadInput(f"--set {key}=...: {how}")
    keys = list(grid)
    points = []
    used: set[str] = set()
    for combo in itertools.product(*(grid[k] for k in keys)) if keys else [()]:
        g = dict(zip(keys, combo))
        g_over = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in g.items()]
        tag = "-".join(_safe(f"{k.split('.')[-1]}{v}") for k, v in g.items())
        for seed in seeds:
            cfg = resolve_config(task, config_file=config_file, robot=robot, seed=seed,
                                 overrides=list(overrides) + g_over)
            name = base = f"{tag + '-' if tag else ''}seed{seed}"
            k = 2
            while name in used:  # two grid values that read the same in a folder name
                name, k = f"{base}-{k}", k + 1
            used.add(name)
            points.append(SweepPoint(name, seed, g, cfg.model_dump(mode="json")))
    return points


def plan_fingerprint(points: list[SweepPoint]) -> str:
    """sha256 of every point's name and resolved configuration: two plans with the same
    fingerprint run the same runs."""
    data = json.dumps([[p.name, p.config] for p in points], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()


def _spec_from_args(task: str, seeds: list[int], grid: dict[str, list[Any]], robot: str | None,
                    config_file: str | None, overrides: list[str]) -> SweepSpec:
    from officina.tasks import canonical_task_ref

    if robot is not None and robot.endswith((".yaml", ".yml")) and Path(robot).is_file():
        robot = str(Path(robot).resolve())
    return SweepSpec(canonical_task_ref(task), list(seeds), dict(grid), robot,
                     str(Path(config_file).resolve()) if config_file else None, list(overrides))


def _describe_difference(stored: dict[str, Any], spec: SweepSpec) -> str:
    new = spec.as_dict()
    for key in ("task", "seeds", "grid", "robot", "config_file", "overrides"):
        if stored.get(key) != new[key]:
            return f"its {key} is {stored.get(key)!r}, this command's is {new[key]!r}"
    return ("the same arguments now resolve to other configurations (the task's defaults, the robot "
            "or the config file changed since it started)")


@dataclass(frozen=True)
class SweepPlan:
    """A planned sweep: its inputs, every point resolved, and where it goes (``folder`` None: a new
    folder under runs/; ``resumed``: ``folder`` already holds this sweep)."""

    spec: SweepSpec
    points: list[SweepPoint]
    fingerprint: str
    folder: Path | None
    resumed: bool


def prepare_sweep(task: str, *, seeds: list[int], grid: dict[str, list[Any]], robot: str | None = None,
                  config_file: str | None = None, overrides: list[str] | None = None,
                  out: str | Path | None = None) -> SweepPlan:
    """Plan a sweep and check its folder, writing nothing: ``out`` may be new, empty, or hold this
    same sweep (resumed); a folder holding anything else is refused."""
    overrides = list(overrides or [])
    points = plan_sweep(task, seeds=seeds, grid=grid, robot=robot, config_file=config_file, overrides=overrides)
    spec = _spec_from_args(task, seeds, grid, robot, config_file, overrides)
    fp = plan_fingerprint(points)
    if out is not None:
        d = Path(out)
        if d.is_dir() and any(d.iterdir()):
            stored = _read_sweep_yaml(d, f"--out {out}")
            if stored["fingerprint"] != fp:
                raise BadInput(f"--out {out} holds another sweep ({_describe_difference(stored, spec)}); "
                               "expected a new folder, or the same command to resume it")
            return SweepPlan(spec, points, fp, d, True)
        if d.exists() and not d.is_dir():
            raise BadInput(f"--out {out}: a file, not a folder")
    return SweepPlan(spec, points, fp, Path(out) if out is not None else None, False)


def create_sweep_dir(plan: SweepPlan) -> Path:
    """The plan's folder, with its sweep.yaml (a resumed sweep's folder as it is)."""
    if plan.resumed:
        return plan.folder
    from officina.tasks import get_task

    d = new_run_dir(f"sweep-{_safe(get_task(plan.spec.task).name)}", plan.folder)
    _write_sweep_yaml(d, plan.spec, plan.points, plan.fingerprint)
    return d


def open_sweep(task: str, *, seeds: list[int], grid: dict[str, list[Any]], robot: str | None = None,
               config_file: str | None = None, overrides: list[str] | None = None,
               out: str | Path | None = None) -> tuple[Path, list[SweepPoint], bool]:
    """`prepare_sweep` and `create_sweep_dir`: (folder, points, resumed)."""
    plan = prepare_sweep(task, seeds=seeds, grid=grid, robot=robot, config_file=config_file,
                         overrides=overrides, out=out)
    return create_sweep_dir(plan), plan.points, plan.resumed


def load_sweep(folder: str | Path) -> tuple[Path, list[SweepPoint]]:
    """The plan of the sweep in ``folder`` (``officina sweep --resume DIR``), resolved again and
    checked against the fingerprint it started with."""
    d = Path(folder)
    if not d.is_dir():
        what = "a file, not a folder" if d.exists() else "no such folder"
        raise BadInput(f"--resume {folder}: {what}; expected a sweep folder")
    stored = _read_sweep_yaml(d, f"--resume {folder}")
    spec = SweepSpec(stored["task"], list(stored["seeds"]), dict(stored["grid"] or {}), stored.get("robot"),
                     stored.get("config_file"), list(stored.get("overrides") or []))
    points = plan_sweep(spec.task, seeds=spec.seeds, grid=spec.grid, robot=spec.robot,
                        config_file=spec.config_file, overrides=spec.overrides)
    if plan_fingerprint(points) != stored["fingerprint"]:
        raise BadInput(f"--resume {folder}: {_describe_difference(stored, spec)}; the runs done would not "
                       "match the runs left; start a new sweep folder")
    return d, points


def _read_sweep_yaml(d: Path, what: str) -> dict[str, Any]:
    p = d / "sweep.yaml"
    if not p.is_file():
        if what.startswith("--resume"):
            raise BadInput(f"{what}: the folder holds no sweep.yaml; expected a folder made by officina sweep")
        raise BadInput(f"{what}: the folder is not empty and holds no sweep.yaml; expected a new or "
                       "empty folder, or a sweep folder to resume")
    try:
        stored = yaml.safe_load(p.read_text())
    except yaml.YAMLError:
        stored = None
    if not isinstance(stored, dict) or stored.get("format") != SWEEP_FORMAT or "fingerprint" not in stored:
        raise BadInput(f"{what}: its sweep.yaml is not one this officina can resume (format {SWEEP_FORMAT}); "
                       "expected a new folder")
    return stored


def _write_sweep_yaml(d: Path, spec: SweepSpec, points: list[SweepPoint], fp: str) -> None:
    from officina import __version__

    write_yaml_atomic(d / "sweep.yaml", {
        "format": SWEEP_FORMAT, **spec.as_dict(), "fingerprint": fp, "officina": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "runs": [{"name": p.name, "seed": p.seed, "grid": p.grid} for p in points],
    })


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics a table can show: numbers, booleans and short strings (not the nested ones)."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, bool, str)) or v is None}


# --- one run, in a worker process ----------------------------------------------------------------

def _died_reason(marker_text: str, end: str | None = None) -> str:
    """Why the attempt that left ``marker_text`` (its start line and any fatal-signal traceback)
    ended without a result; ``end``: how its process ended, when the nanny said so."""
    lines = marker_text.splitlines()
    fatal = next((ln.strip() for ln in lines if ln.startswith("Fatal Python error")), None)
    if fatal:
        frames = [ln.strip() for ln in lines if ln.strip().startswith("File ")]
        where = f" (innermost Python frame: {frames[0]})" if frames else ""
        return f"the worker process crashed in this run: {fatal.removeprefix('Fatal Python error: ')}{where}"
    if end:
        return f"the worker process {end} in this run"
    return ("the worker process died in this run without a Python error: killed by a signal (SIGKILL: "
            "the out-of-memory killer or a user) or it exited (os._exit)")


def _run_point(config: dict[str, Any], out_dir: str, marker_path: str) -> dict[str, Any]:
    """One run in a worker process (top-level: picklable). Never raises: anything the run raises
    is a failed result with its reason. ``cpu_s``: the CPU time of the worker process during the
    run (its other threads too); ``children_cpu_s``: that of the run's child processes (the state
    log's writer, when the run asks for a writer process: ``log.writer`` "auto" encodes the log in
    the run's thread here)."""
    import faulthandler
    import resource
    import socket
    import sys
    import traceback

    os.environ.setdefault("MPLBACKEND", "Agg")
    marker = Path(marker_path)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    if marker.exists():  # an earlier attempt of this run started and its process never returned
        return {"status": "failed", "died": True, "worker": worker}
    marker.parent.mkdir(parents=True, exist_ok=True)
    was_enabled = faulthandler.is_enabled()
    wall0, cpu0, kids0 = time.perf_counter(), time.process_time(), _children_cpu(resource)
    with open(marker, "w") as fh:
        fh.write(f"pid {os.getpid()} host {socket.gethostname()} started {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
        fh.flush()
        os.fsync(fh.fileno())
        faulthandler.enable(file=fh, all_threads=False)
        try:
            from officina.config import RunConfig
            from officina.runner import execute_run
            from officina.statelog import auto_writer

            with auto_writer("inline"):  # every core runs a run: the log is encoded in the run's thread
                res = execute_run(RunConfig.model_validate(config), out_dir)
            out = {"status": "ok", "metrics": res.metrics}
        except BaseException as exc:  # anything: the project's JobFailed, any other error, SystemExit
            from officina.errors import JobFailed

            what = str(exc) if isinstance(exc, JobFailed) else f"{type(exc).__name__}: {exc}".strip()
            out = {"status": "failed", "error": what, "traceback": traceback.format_exc()}
        finally:
            faulthandler.disable()
            if was_enabled:
                faulthandler.enable(file=sys.stderr)
    marker.unlink()
    out.update(wall_s=time.perf_counter() - wall0, cpu_s=time.process_time() - cpu0,
               children_cpu_s=_children_cpu(resource) - kids0, worker=worker)
    return out


def _children_cpu(resource) -> float:
    """User + system CPU time of this process's finished child processes (a run's state log writer)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


# --- the sweep ------------------------------------------------------------------------------------

class _NannyLog(logging.Handler):
    """The LocalCluster's nannies run in this process: their log says how a worker process ended
    (pid -> what happened). Their own "Restarting worker" warnings are held back while it listens:
    the sweep reports the run that died instead."""

    _ended = re.compile(r"Worker process (\d+) (was killed by signal (\d+)|exited with status (\d+)"
                        r"|was killed by unknown signal)")
    _memory = re.compile(r"\(pid=(\d+)\) exceeded (\d+)% memory budget")
    LOGGERS = ("distributed.nanny", "distributed.nanny.memory")

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.ends: dict[int, str] = {}
        self._saved: list[tuple[logging.Logger, int]] = []

    def filter(self, record: logging.LogRecord) -> bool:  # as a logger filter: drop the restart notice
        return not record.getMessage().startswith("Restarting worker")

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        m = self._memory.search(msg)
        if m:
            self.ends[int(m.group(1))] = f"used more than {m.group(2)} % of its memory limit and was restarted"
            return
        m = self._ended.search(msg)
        if not m or int(m.group(1)) in self.ends:
            return
        pid = int(m.group(1))
        if m.group(3):
            import signal

            try:
                name = signal.Signals(int(m.group(3))).name
            except ValueError:
                name = f"signal {m.group(3)}"
            hint = {"SIGKILL": " (the out-of-memory killer, or a user)", "SIGSEGV": " (a crash in native code)"}
            self.ends[pid] = f"was killed by {name}{hint.get(name, '')}"
        elif m.group(4):
            self.ends[pid] = f"exited with status {m.group(4)} (os._exit, or a native library's exit)"
        else:
            self.ends[pid] = "was killed by an unknown signal"

    def __enter__(self) -> "_NannyLog":
        for name in self.LOGGERS:
            lg = logging.getLogger(name)
            self._saved.append((lg, lg.level))
            lg.addHandler(self)
            lg.setLevel(logging.INFO)
        logging.getLogger("distributed.nanny").addFilter(self)
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger("distributed.nanny").removeFilter(self)
        for lg, level in self._saved:
            lg.removeHandler(self)
            lg.setLevel(level)


@dataclass
class SweepOutcome:
    folder: Path
    rows: list[dict[str, Any]]  # one per point, in plan order (the sweep.json "runs")
    summary: list[dict[str, Any]]  # one per grid point
    ran: int  # runs run in this call
    skipped: int  # runs found finished
    interrupted: bool = False


def _set_aside(sweep_dir: Path, name: str) -> None:
    """Move a run folder left by an earlier attempt to .officina/previous/NAME-K."""
    src = sweep_dir / name
    if not src.exists():
        return
    prev = sweep_dir / INTERNAL / "previous"
    prev.mkdir(parents=True, exist_ok=True)
    k = 1
    while (prev / f"{name}-{k}").exists():
        k += 1
    shutil.move(str(src), str(prev / f"{name}-{k}"))


def _table_row(p: SweepPoint, r: dict[str, Any], attempt: int) -> dict[str, Any]:
    row: dict[str, Any] = {"run": p.name, "status": r["status"], "seed": p.seed}
    row.update(p.grid)
    for k, v in scalar_metrics(r.get("metrics") or {}).items():
        if k in ("seed", "task") or k in p.grid:
            continue
        row[f"metric.{k}" if k in RUN_COLUMNS else k] = v
    row.update({
        "error": r.get("error"), "run_dir": p.name,
        "wall_s": r.get("wall_s"), "cpu_s": r.get("cpu_s"), "children_cpu_s": r.get("children_cpu_s"),
        "worker": r.get("worker"), "attempt": attempt,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
    })
    return row


def _metrics_of_row(row: dict[str, Any], grid_keys: set[str]) -> dict[str, Any]:
    return {(k[len("metric."):] if k.startswith("metric.") else k): v for k, v in row.items()
            if k not in RUN_COLUMNS and k not in grid_keys}


def _recover_finished(p: SweepPoint, sweep_dir: Path) -> dict[str, Any] | None:
    """A run whose metrics.json was written but whose row was not (killed in between)."""
    mf = sweep_dir / p.name / "metrics.json"
    try:
        return {"status": "ok", "metrics": json.loads(mf.read_text())} if mf.is_file() else None
    except json.JSONDecodeError:
        return None


def _ensure_failed_folder(p: SweepPoint, sweep_dir: Path, r: dict[str, Any]) -> None:
    """A failed run's folder holds config.yaml and error.txt, like any run that crashed."""
    d = sweep_dir / p.name
    d.mkdir(parents=True, exist_ok=True)
    if not (d / "config.yaml").is_file():
        write_yaml_atomic(d / "config.yaml", p.config)
    if not (d / "error.txt").is_file() or r.get("died"):
        text = r.get("error") or "failed"
        if r.get("traceback"):
            text += "\n\n" + r["traceback"]
        if r.get("fault"):
            text += "\n\n" + r["fault"]
        (d / "error.txt").write_text(text.rstrip() + "\n")


class _Reporter:
    """Progress: a rich bar on a terminal; one plain line per finished run elsewhere (CI logs)."""

    def __init__(self, total: int, describe: Callable[[dict[str, Any]], str], enabled: bool = True) -> None:
        from officina.cli import rich_console

        self.total, self.done, self.failed = total, 0, 0
        self.describe = describe
        self.console = rich_console(stderr=True)
        self.t0 = time.perf_counter()
        self.prog = None
        self.enabled = enabled
        if enabled and self.console.is_terminal and total:
            from rich.progress import (
                BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
            )

            self.prog = Progress(
                TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(),
                TextColumn("[red]{task.fields[failed]} failed"), TimeElapsedColumn(), TextColumn("ETA"),
                TimeRemainingColumn(), console=self.console, transient=True,
                refresh_per_second=2)  # runs take seconds; rich's 10 Hz costs ~1 % of a core the runs need
            self.tid = self.prog.add_task("runs", total=total, failed=0)
            self.prog.start()

    def note(self, text: str) -> None:
        if self.enabled:
            self.console.print(text, highlight=False, soft_wrap=True)

    def update(self, row: dict[str, Any]) -> None:
        self.done += 1
        self.failed += row["status"] == "failed"
        if self.prog is not None:
            self.prog.update(self.tid, advance=1, failed=self.failed)
            if row["status"] == "failed":
                self.prog.console.print(f"[red]failed[/red] {row['run']}: {row.get('error')}", highlight=False)
            return
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.t0
        left = self.total - self.done
        eta = elapsed / self.done * left if self.done else float("nan")
        self.console.print(
            f"[{self.done}/{self.total}] {row['run']}: {self.describe(row)} | failed {self.failed} | "
            f"elapsed {_hms(elapsed)}, eta {_hms(eta) if left else '0s'}", highlight=False, soft_wrap=True,
            markup=False)

    def stop(self) -> None:
        if self.prog is not None:
            self.prog.stop()


def _hms(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{sec:02d}s" if m else f"{sec}s")


def connect(scheduler: str):
    """A Dask client of the scheduler at ``scheduler`` (BadInput when there is none)."""
    try:
        from dask.distributed import Client
    except ModuleNotFoundError:
        raise BadInput("officina sweep needs Dask: install the 'dist' extra (pip install 'officina[dist]')") from None
    try:
        return Client(scheduler, timeout="15s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise BadInput(f"--scheduler {scheduler}: cannot connect ({str(exc).splitlines()[0]}); expected the "
                       "address of a running Dask scheduler, e.g. tcp://host:8786") from None


# Dask settings for sweep workers (no profiler, glibc's own malloc trimming, no memory polling in
# the worker, a slower event-loop tick, the warm-up of `dask_setup` when a worker starts); a
# `dask worker` started by hand or by SLURM reads them
# with DASK_CONFIG=<this file>
DASK_WORKER_CONFIG = Path(__file__).parent / "data" / "dask_sweep.yaml"


def dask_setup(worker=None) -> None:
    """Dask's preload hook (`DASK_WORKER_CONFIG` names this module in
    ``distributed.worker.preload``): a worker process, as it starts, imports and loads what its
    first run would otherwise pay for as it goes (`officina.runner.warm_up`). A failure here is
    only logged: the run that needs what failed reports it."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        from officina.runner import warm_up

        warm_up()
    except Exception as exc:  # an optimisation only; never stop the worker from starting
        logging.getLogger(__name__).warning("officina's worker warm-up failed: %s: %s", type(exc).__name__, exc)


def dask_worker_config() -> dict[str, Any]:
    """`DASK_WORKER_CONFIG` as dotted keys, for ``dask.config.set`` (which replaces the value at a
    key: a nested mapping would replace the whole ``distributed`` section)."""
    def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            if isinstance(v, dict) and v:
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out

    return flat(yaml.safe_load(DASK_WORKER_CONFIG.read_text()))


def local_cluster(workers: int | None, n_runs: int):
    """(client, cluster): a LocalCluster of ``workers`` single-threaded worker processes (default
    one per core, at most ``n_runs``), with `dask_worker_config`."""
    try:
        import dask
        from dask.distributed import Client, LocalCluster
    except ModuleNotFoundError:
        raise BadInput("officina sweep needs Dask: install the 'dist' extra (pip install 'officina[dist]')") from None
    n = workers or max(1, min(n_runs, os.cpu_count() or 1))
    with dask.config.set(dask_worker_config()):  # the nannies read it as they start their workers
        # no dashboard; the scheduler's HTTP endpoints on a free port (by default 8787, which a
        # second sweep on the machine finds taken: Dask then warns "Perhaps you already have a
        # cluster running?")
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                               scheduler_kwargs={"dashboard_address": ":0"})
    return Client(cluster), cluster


def _gather(client, todo: list[SweepPoint], sweep_dir: Path, started: Path):
    """(point, result) as runs finish. A result is released once read, so that a worker dying
    later does not make Dask compute it again."""
    from dask.distributed import as_completed

    futures = {client.submit(_run_point, p.config, str(sweep_dir / p.name), str(started / p.name),
                             pure=False): p for p in todo}
    for fut in as_completed(list(futures)):
        p = futures.pop(fut)
        try:
            r = fut.result()
        except Exception as exc:  # the scheduler gave up on it (e.g. KilledWorker)
            r = {"status": "failed", "died": True, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}
        fut.release()
        yield p, r


class _FolderLock:
    """One officina sweep at a time in a folder: an exclusive lock on .officina/lock (BadInput when
    another process holds it)."""

    def __init__(self, sweep_dir: Path) -> None:
        self.path = sweep_dir / INTERNAL / "lock"
        self.fh = None

    def __enter__(self) -> "_FolderLock":
        import fcntl
        import socket

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "a+")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.seek(0)
            holder = self.fh.read().strip() or "another process"
            self.fh.close()
            raise BadInput(f"{self.path.parents[1]}: a sweep is already running in this folder ({holder}); "
                           "expected one sweep per folder at a time") from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        self.fh.flush()
        return self

    def __exit__(self, *exc) -> None:
        import fcntl

        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def run_sweep(points: list[SweepPoint], sweep_dir: str | Path, *, client=None, workers: int | None = None,
              retry_failed: bool = False, progress: bool = True) -> SweepOutcome:
    """Run the points of a sweep folder (made by `open_sweep` or `load_sweep`) that are not done:
    every run finished there is skipped, failed ones are rerun only with ``retry_failed``. One
    sweep at a time in a folder (BadInput when another one is running there).

    ``client``: a Dask client of an existing scheduler (`connect`), left open; None: a
    LocalCluster of ``workers`` processes (default one per core) for the runs to do."""
    with _FolderLock(Path(sweep_dir)):
        return _run_sweep(points, Path(sweep_dir), client, workers, retry_failed, progress)


def _run_sweep(points: list[SweepPoint], sweep_dir: Path, client, workers: int | None, retry_failed: bool,
               progress: bool) -> SweepOutcome:
    from officina.results import ResultsJournal
    from officina.tasks import get_task
    from officina.tasks.base import key_metrics, metric_label

    task = get_task(points[0].config["task"])
    grid_keys = list(points[0].grid) if points else []
    shown = [k for k in key_metrics(task)]
    journal = ResultsJournal(sweep_dir, leading=["run", "status", "seed", *grid_keys, *shown])
    latest = journal.latest()
    started = sweep_dir / INTERNAL / "started"
    todo: list[SweepPoint] = []
    skipped = kept_failed = 0
    for p in points:
        row = latest.get(p.name)
        if row is None:
            rec = _recover_finished(p, sweep_dir)
            if rec is not None:
                journal.append(_table_row(p, rec, journal.attempts(p.name) + 1))
                skipped += 1
                continue
        elif row["status"] == "ok" or (row["status"] == "failed" and not retry_failed):
            skipped += 1
            kept_failed += row["status"] == "failed"
            continue
        _set_aside(sweep_dir, p.name)  # what an unfinished or failed attempt left
        (started / p.name).unlink(missing_ok=True)
        todo.append(p)

    def describe(row: dict[str, Any]) -> str:
        if row["status"] == "failed":
            return f"FAILED ({row.get('error')})"
        parts = []
        for k in shown:
            v = row.get(f"metric.{k}" if k in RUN_COLUMNS else k)
            if isinstance(v, bool):
                parts.append(f"{metric_label(task, k)} {'yes' if v else 'no'}")
            elif isinstance(v, (int, float)):
                parts.append(f"{metric_label(task, k)} {v:.4g}")
        return f"ok in {row.get('wall_s') or 0:.1f} s" + (f" ({', '.join(parts)})" if parts else "")

    rep = _Reporter(len(todo), describe, progress)
    rep.note(f"sweep {sweep_dir}: {len(points)} runs; {len(todo)} to run" +
             (f", {skipped} already done" if skipped else "") +
             (f" ({kept_failed} failed kept; --retry-failed reruns them)" if kept_failed else ""))
    interrupted = False
    if todo:
        own = client is None
        cluster = None
        if own:
            client, cluster = local_cluster(workers, len(todo))
        try:
            with _NannyLog() as nanny_log:
                for p, r in _gather(client, todo, sweep_dir, started):
                    if r.get("died"):
                        mk = started / p.name
                        fault = mk.read_text(errors="replace") if mk.exists() else ""
                        pid = re.search(r"pid (\d+)", fault)
                        end = nanny_log.ends.get(int(pid.group(1))) if pid else None
                        r["error"] = _died_reason(fault, end) + (f" ({r['error']})" if r.get("error") else "")
                        r["fault"] = fault
                        mk.unlink(missing_ok=True)
                    if r["status"] == "failed":
                        _ensure_failed_folder(p, sweep_dir, r)
                    row = _table_row(p, r, journal.attempts(p.name) + 1)
                    journal.append(row)
                    rep.update(row)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            journal.flush()
            rep.stop()
            if own:
                client.close()
                cluster.close()
    if interrupted:
        done = sum(1 for p in points if p.name in journal.latest())
        rep.note(f"interrupted: {done} of {len(points)} runs are in {sweep_dir / 'results.csv'}; "
                 f"`officina sweep --resume {sweep_dir}` runs the rest")
        return SweepOutcome(sweep_dir, [], [], rep.done, skipped, interrupted=True)
    return finish_sweep(points, sweep_dir, journal.latest(), ran=rep.done, skipped=skipped)


def finish_sweep(points: list[SweepPoint], sweep_dir: Path, latest: dict[str, dict[str, Any]], *,
                 ran: int = 0, skipped: int = 0) -> SweepOutcome:
    """sweep.png and sweep.json (last) from the latest row of every run."""
    from officina.tasks import get_task
    from officina.tasks.base import key_metrics

    task = get_task(points[0].config["task"])
    grid_keys = set(points[0].grid)
    rows = []
    for p in points:
        r = latest.get(p.name)
        if r is None:
            continue
        m = _metrics_of_row(r, grid_keys)
        rows.append({
            "name": p.name, "seed": p.seed, "grid": p.grid, "point": point_label(p.grid), "status": r["status"],
            "success": bool(m.get("success", False)) if r["status"] == "ok" else False,
            "error": r.get("error"), "metrics": m if r["status"] == "ok" else {}, "run_dir": p.name,
            "wall_s": r.get("wall_s"), "cpu_s": r.get("cpu_s"), "attempt": r.get("attempt"),
        })
    metrics = [k for k in key_metrics(task) if k != "success"]
    summary = summarize(rows, metrics)
    plot_summary(sweep_dir / "sweep.png", summary, task, metrics)
    write_json_atomic(sweep_dir / "sweep.json", {
        "task": task.name, "task_ref": points[0].config["task"], "grid": _grid_values(points),
        "seeds": sorted({p.seed for p in points}), "runs": rows, "summary": summary,
        "success_rate": sum(r["success"] for r in rows) / max(1, len(rows)),
        "failed": sum(r["status"] == "failed" for r in rows),
        "intervals": {"success": _stats().SUCCESS_METHOD, "metrics": _stats().MEAN_METHOD},
    })
    return SweepOutcome(sweep_dir, rows, summary, ran, skipped)


def _grid_values(points: list[SweepPoint]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {k: [] for k in points[0].grid}
    for p in points:
        for k, v in p.grid.items():
            if v not in out[k]:
                out[k].append(v)
    return out


def _stats():
    from officina import stats

    return stats


def summarize(rows: list[dict[str, Any]], metrics: list[str]) -> list[dict[str, Any]]:
    """Per grid point (in the order the rows come): runs, failed runs, the success rate with its
    Wilson interval (a failed run counts as not successful) and each metric's mean with its t
    interval over the runs that finished."""
    st = _stats()
    order: list[str] = []
    by_point: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r["point"] not in by_point:
            order.append(r["point"])
            by_point[r["point"]] = []
        by_point[r["point"]].append(r)
    out = []
    for label in order:
        rs = by_point[label]
        ok = [r for r in rs if r["status"] == "ok"]
        vals = {}
        for k in metrics:
            xs = [r["metrics"][k] for r in ok if isinstance(r["metrics"].get(k), (int, float))
                  and not isinstance(r["metrics"].get(k), bool)]
            vals[k] = {**st.mean_t_interval(xs).as_dict(), "values": xs}
        out.append({
            "point": label, "grid": rs[0]["grid"], "runs": len(rs), "failed": len(rs) - len(ok),
            "success": st.wilson_interval(sum(r["success"] for r in rs), len(rs)).as_dict(), "metrics": vals,
        })
    return out


def plot_summary(path: Path, summary: list[dict[str, Any]], task: Any, metrics: list[str]) -> None:
    """Per grid point: the success rate with its Wilson interval; each key metric's runs (dots)
    and mean with its t interval."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from officina.tasks.base import metric_info, metric_label

    metrics = metrics[:4]
    n = 1 + len(metrics)
    labels = ["\n".join(f"{k.split('.')[-1]}={v}" for k, v in s["grid"].items()) or "all" for s in summary]
    lines = max(lbl.count("\n") + 1 for lbl in labels) if labels else 1
    longest = max((len(ln) for lbl in labels for ln in lbl.split("\n")), default=1)
    x = list(range(len(labels)))
    width = min(24.0 / n, max(4.2, 0.6 * len(labels) + 1.6))
    per_point_in = (width - 1.0) / max(1, len(labels))
    rotate = longest * 0.075 > per_point_in  # 8 pt text: about 0.075 in per character
    label_in = 0.2 + 0.16 * lines + (0.5 * longest * 0.075 if rotate else 0.0)
    height = 3.0 + label_in
    fig = Figure(figsize=(width * n, height), dpi=80)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n, squeeze=False)[0]
    ax = axes[0]
    rates = [100 * (s["success"]["value"] or 0.0) for s in summary]
    lo = [100 * (s["success"]["value"] - s["success"]["low"]) if s["success"]["low"] is not None else 0 for s in summary]
    hi = [100 * (s["success"]["high"] - s["success"]["value"]) if s["success"]["high"] is not None else 0
          for s in summary]
    ax.bar(x, rates, color="C2", alpha=0.8)
    ax.errorbar(x, rates, yerr=[lo, hi], fmt="none", ecolor="k", capsize=4, lw=1)
    ax.set_ylim(0, 105)
    ax.set_ylabel("success [%]")
    ax.set_title("success rate (Wilson 95 %)", fontsize=9)
    for ax, k in zip(axes[1:], metrics):
        unit = metric_info(task, k).unit
        for i, s in enumerate(summary):
            m = s["metrics"].get(k) or {}
            xs = m.get("values") or []
            if xs:
                jitter = [i - 0.22 + 0.1 * (j % 4) / 3 for j in range(len(xs))]
                ax.plot(jitter, xs, "o", color="0.6", ms=3, zorder=1)
            if m.get("value") is not None:
                if m.get("low") is not None:
                    ax.errorbar([i], [m["value"]], yerr=[[m["value"] - m["low"]], [m["high"] - m["value"]]],
                                fmt="s", color="C0", ecolor="C0", capsize=5, ms=6, zorder=2)
                else:
                    ax.plot([i], [m["value"]], "s", color="C0", ms=6, zorder=2)
        ax.set_ylabel(f"{metric_label(task, k)} [{unit}]" if unit else metric_label(task, k))
        ax.set_title("runs (dots), mean with t 95 % interval", fontsize=9)
    for a in axes:
        a.set_xticks(x)
        a.set_xticklabels(labels, rotation=30 if rotate else 0, ha="right" if rotate else "center", fontsize=8)
        a.set_xlim(-0.6, len(labels) - 0.4)
        a.grid(alpha=0.3, axis="y")
    runs = sum(s["runs"] for s in summary)
    fig.suptitle(f"sweep of {task.name}: {runs} runs, {len(summary)} grid point{'s' if len(summary) != 1 else ''}",
                 fontsize=10)
    fig.subplots_adjust(left=0.5 / (width * n) + 0.04, right=0.98, top=1 - 0.55 / height,
                        bottom=(label_in + 0.1) / height, wspace=0.35)
    fig.savefig(path, dpi=80)
