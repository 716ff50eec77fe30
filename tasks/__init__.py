"""The lab tasks: one explicit registry, and the loader for tasks that live elsewhere.

A task is named three ways, wherever officina takes a task (``run``, ``sweep``, ``regress``,
``ros task``, ``ros sim``):

* a built-in name: a key of `TASKS`;
* the name of an ``officina.tasks`` entry point of an installed package (a lab's own tasks:
  ``[project.entry-points."officina.tasks"] my-task = "my_lab.tasks:MyTask"``);
* ``path/to/module.py:ClassName`` or ``package.module:ClassName``.

The object named may be a task class (instantiated without arguments) or a task instance.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from officina.tasks.base import (
    Cell, MetricInfo, ProcedureOutcome, RunRecord, StrictParams, Task, TaskDefinition, TaskScene,
)
from collections.abc import Iterator, Mapping

# name -> "module:Class": a built-in task's module is imported when the task is first asked for,
# so that running one task does not import the others (and what only they use)
_BUILT_IN = {
    "pick-place": "officina.tasks.pick_place:PickPlace",
    "bin-picking": "officina.tasks.bin_picking:BinPicking",
    "shared-cell": "officina.tasks.shared_cell:SharedCell",
    "peg-in-hole": "officina.tasks.peg_in_hole:PegInHole",
    "machine-tending": "officina.tasks.machine_tending:MachineTending",
    "palletizing": "officina.tasks.palletizing:Palletizing",
}


class _Registry(Mapping):
    """The built-in tasks by name, each instantiated on first access."""

    def __init__(self, refs: dict[str, str]) -> None:
        self._refs = refs
        self._tasks: dict[str, Task] = {}

    def __getitem__(self, name: str) -> Task:
        task = self._tasks.get(name)
        if task is None:
            mod, _, cls = self._refs[name].partition(":")
            task = self._tasks[name] = getattr(importlib.import_module(mod), cls)()
        return task

    def __iter__(self) -> Iterator[str]:
        return iter(self._refs)

    def __len__(self) -> int:
        return len(self._refs)

    def __contains__(self, name: object) -> bool:
        return name in self._refs


TASKS: Mapping[str, Task] = _Registry(_BUILT_IN)

ENTRY_POINT_GROUP = "officina.tasks"

__all__ = [
    "TASKS", "Cell", "MetricInfo", "ProcedureOutcome", "RunRecord", "StrictParams", "Task",
    "TaskDefinition", "TaskScene", "get_task", "task_names", "canonical_task_ref", "ENTRY_POINT_GROUP",
]

_loaded: dict[str, Task] = {}


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def task_names() -> list[str]:
    """Built-in task names, then those of installed entry points."""
    return sorted(TASKS) + sorted(n for n in _entry_points() if n not in TASKS)


def _is_ref(name: str) -> bool:
    return ":" in name


def canonical_task_ref(name: str) -> str:
    """The task reference as a run's config.yaml keeps it: a file path made absolute, so the
    config reproduces the run from any working directory."""
    if _is_ref(name):
        mod, _, attr = name.rpartition(":")
        if mod.endswith(".py"):
            return f"{Path(mod).resolve()}:{attr}"
    return name


def _instantiate(obj: Any, ref: str) -> Task:
    from officina.errors import BadInput

    task = obj() if isinstance(obj, type) else obj
    missing = [a for a in ("name", "description", "Params", "build_scene", "make_camera", "procedure", "metrics")
               if not hasattr(task, a)]
    if missing:
        raise BadInput(f"task {ref!r} is not a task: it lacks {', '.join(missing)} (see docs/tasks.md)")
    return task


def _load_ref(ref: str) -> Task:
    from officina.errors import BadInput

    mod_name, _, attr = ref.rpartition(":")
    if not mod_name or not attr:
        raise BadInput(f"task {ref!r}: expected path/to/module.py:ClassName or package.module:ClassName")
    if mod_name.endswith(".py"):
        path = Path(mod_name).resolve()
        if not path.is_file():
            raise BadInput(f"task {ref!r}: file not found: {mod_name}")
        key = f"officina_user_task_{abs(hash(str(path)))}"
        module = sys.modules.get(key)
        if module is None:
            spec = importlib.util.spec_from_file_location(key, path)
            if spec is None or spec.loader is None:
                raise BadInput(f"task {ref!r}: cannot import {mod_name}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[key] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[key]
                raise BadInput(f"task {ref!r}: importing {mod_name} failed: {type(exc).__name__}: {exc}") from None
    else:
        try:
            module = importlib.import_module(mod_name)
        except ImportError as exc:
            raise BadInput(f"task {ref!r}: cannot import module {mod_name!r} ({exc})") from None
    if not hasattr(module, attr):
        raise BadInput(f"task {ref!r}: {mod_name} has no {attr!r}")
    return _instantiate(getattr(module, attr), ref)


def get_task(name: str) -> Task:
    """The task named ``name`` (a built-in, an entry point, or a module reference)."""
    from officina.errors import BadInput

    if name in TASKS:
        return TASKS[name]
    if name in _loaded:
        return _loaded[name]
    if _is_ref(name):
        task = _load_ref(name)
    else:
        eps = _entry_points()
        if name not in eps:
            raise BadInput(f"unknown task {name!r}; expected one of {', '.join(task_names())} "
                           "or path/to/module.py:ClassName")
        try:
            obj = eps[name].load()
        except Exception as exc:
            raise BadInput(f"task {name!r}: loading its entry point failed: {type(exc).__name__}: {exc}") from None
        task = _instantiate(obj, name)
    _loaded[name] = task
    return task
